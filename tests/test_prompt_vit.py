from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from mmengine.runner import load_checkpoint, save_checkpoint
from mmpretrain.models import VisionTransformer
from torch.utils._python_dispatch import TorchDispatchMode

import mmprompt  # noqa: F401
from mmprompt.core import PromptViT
from mmprompt.engine.hooks import TrainableParamsHook
from helpers import (TINY_VIT, bad_input_params, call, check_bad_input, text,
                     tiny_vit)

TINY = TINY_VIT
KW = dict(arch=TINY, img_size=32, patch_size=8)


def build(**kwargs):
    torch.manual_seed(0)
    model = PromptViT(**{**KW, **kwargs})
    model.init_weights()
    return model.eval()


def reference_forward(model, x, prompts, mode):
    """Hand-written VPT: [CLS, p, patches]; deep replaces the slot."""
    B = x.shape[0]
    tokens, hw = model.patch_embed(x)
    tokens = torch.cat([model.cls_token.expand(B, -1, -1), tokens], 1)
    tokens = tokens + model.pos_embed
    slot = 0
    for i, layer in enumerate(model.layers):
        if i == 0 or mode == 'deep':
            p = prompts[i].unsqueeze(0).expand(B, -1, -1)
            tokens = torch.cat([tokens[:, :1], p, tokens[:, 1 + slot:]], 1)
            slot = prompts[i].shape[0]
        tokens = layer(tokens)
    return model.ln1(tokens), slot


@pytest.mark.parametrize('out_type',
                         ['raw', 'cls_token', 'featmap', 'avg_featmap'])
def test_zero_prompts_equal_vision_transformer(out_type):
    torch.manual_seed(0)
    vit = VisionTransformer(**KW, out_type=out_type, out_indices=(1, 3))
    vit.init_weights()
    model = PromptViT(
        **KW, out_type=out_type, out_indices=(1, 3), num_prompts=0)
    incompatible = model.load_state_dict(vit.state_dict(), strict=False)
    assert incompatible.unexpected_keys == []
    assert all(k.startswith('prompts.') for k in incompatible.missing_keys)
    x = torch.randn(2, 3, 32, 48)  # non-square: pos embed is resized
    vit.eval()  # mmpretrain's BaseBackbone.train returns None
    model.eval()
    expected = vit(x)
    got = model(x)
    assert len(got) == 2
    # a classifier's last layer runs the CLS row alone: matrix products of
    # another shape, whose sums may round differently
    tol = dict(
        rtol=1e-5, atol=1e-6) if out_type == 'cls_token' else dict(
            rtol=0, atol=0)
    for e, g in zip(expected, got):
        assert g.shape == e.shape
        torch.testing.assert_close(g, e, **tol)


@pytest.mark.parametrize('num_prompts', [3, [2, 0, 5, 1]])
def test_deep_equals_reference(num_prompts):
    model = build(num_prompts=num_prompts, prompt_mode='deep', out_type='raw')
    counts = [num_prompts] * 4 if isinstance(num_prompts, int) \
        else num_prompts
    prompts = [model.prompts[i].tokens for i in range(4)]
    assert [p.shape[0] for p in prompts] == counts
    x = torch.randn(2, 3, 32, 32)
    expected, slot = reference_forward(model, x, prompts, 'deep')
    got = model(x)[0]
    assert got.shape == (2, 1 + counts[-1] + 16, 32)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_deep_skips_discarded_prompt_outputs_exactly():
    """Prompt outputs that nothing reads (deep: the next layer replaces
    them; the last layer's feed no later layer) are not computed: their FFN
    rows are never formed. Nothing else changes: outputs and prompt
    gradients equal those of the model computing every prompt output (raw
    outputs at every layer)."""
    counts = [1, 2, 3, 4]
    model = build(num_prompts=counts, out_type='featmap', out_indices=(1, 3))
    full = build(num_prompts=counts, out_type='raw', out_indices=(0, 1, 2, 3))
    full.load_state_dict(model.state_dict())
    ffn_tokens = {}
    for i, layer in enumerate(model.layers):
        layer.ffn.register_forward_hook(lambda m, args, out, i=i: ffn_tokens.
                                        __setitem__(i, args[0].shape[1]))
    x = torch.randn(2, 3, 32, 32)
    got = model(x)
    assert ffn_tokens == {0: 17, 1: 17, 2: 17, 3: 17}
    raws = full(x)
    for out, raw, m in zip(got, (raws[1], raws[3]), (2, 4)):
        expected = raw[:, 1 + m:].reshape(2, 4, 4, 32).permute(0, 3, 1, 2)
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    (got[0].square().sum() + got[1].sum()).backward()
    (raws[1][:, 1 + 2:].square().sum() + raws[3][:, 1 + 4:].sum()).backward()
    for i in range(4):
        torch.testing.assert_close(
            model.prompts[i].tokens.grad,
            full.prompts[i].tokens.grad,
            rtol=1e-4,
            atol=1e-6)
    # 'raw' at an output layer keeps that layer's prompt outputs
    mid = build(num_prompts=counts, out_type='raw', out_indices=(1, 3))
    assert [o.shape[1] for o in mid(x)] == [1 + 2 + 16, 1 + 4 + 16]
    # shallow prompts travel: only the last layer's outputs are dropped
    ffn_tokens.clear()
    shallow = build(
        num_prompts=3,
        prompt_mode='shallow',
        out_type='featmap',
        out_indices=(1, 3))
    for i, layer in enumerate(shallow.layers):
        layer.ffn.register_forward_hook(lambda m, args, out, i=i: ffn_tokens.
                                        __setitem__(i, args[0].shape[1]))
    shallow_raw = build(
        num_prompts=3,
        prompt_mode='shallow',
        out_type='raw',
        out_indices=(1, 3))
    got, raws = shallow(x), shallow_raw(x)
    assert ffn_tokens == {0: 20, 1: 20, 2: 20, 3: 17}
    for out, raw in zip(got, raws):
        torch.testing.assert_close(
            out,
            raw[:, 4:].reshape(2, 4, 4, 32).permute(0, 3, 1, 2),
            rtol=1e-5,
            atol=1e-6)


@pytest.mark.parametrize('kwargs', [
    dict(num_prompts=[1, 2, 3, 4]),
    dict(num_prompts=3, prompt_mode='shallow'),
    dict(num_prompts=[1, 2, 3, 4], share_prompt_prefix=False),
    dict(num_prompts=[1, 0, 3, 2], recompute_ffn=True),
    dict(num_prompts=0, num_registers=2, out_indices=(1, 3)),
])
def test_classifier_last_layer_computes_the_cls_row_only(kwargs):
    """With ``out_type='cls_token'`` nothing reads the last layer's other
    rows: only CLS gets an attention output, projection and FFN row (every
    token still gives keys and values). Outputs and prompt gradients equal
    those of the same weights computing every row (a tap of the last
    layer's attention output keeps them)."""
    model = build(**kwargs)
    full = build(**kwargs)
    full.load_state_dict(model.state_dict())
    full.request_taps(3, ['attn_output'])
    ffn_rows = {}  # rows entering each layer's second norm, first call

    def count_rows(i):

        def hook(module, args, out):
            ffn_rows.setdefault(i, args[0].numel() // 32)

        return hook

    for i, layer in enumerate(model.layers):
        layer.ln2.register_forward_hook(count_rows(i))
    x = torch.randn(3, 3, 32, 32)
    xs = [x.clone().requires_grad_() for _ in range(2)]
    for m in (model, full):
        m.train()
    got, expected = model(xs[0]), full(xs[1])
    assert ffn_rows[3] == 3 and ffn_rows[2] >= 3 * 17
    assert len(got) == len(expected) == len(model.out_indices)
    for g, e in zip(got, expected):
        assert g.shape == e.shape == (3, 32)
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-6)
    weights = torch.linspace(-1, 1, 3 * 32).view(3, 32)
    for out in (got, expected):
        sum((o * weights).sum() for o in out).backward()
    grads = [{
        n: p.grad
        for n, p in m.named_parameters() if p.grad is not None
    } for m in (model, full)]
    assert grads[0].keys() == grads[1].keys()
    assert bool(grads[0]) == bool(sum(model.num_prompts))
    torch.testing.assert_close(xs[0].grad, xs[1].grad, rtol=1e-4, atol=1e-6)
    for n in grads[0]:
        torch.testing.assert_close(
            grads[0][n], grads[1][n], rtol=1e-4, atol=1e-6)


def test_deep_layer_receives_its_own_prompt():
    """Changing p_l changes layer l's input and nothing before it (the MedFM
    PromptedViT off-by-one would feed p_{l+1} to layer l)."""
    model = build(
        num_prompts=2,
        prompt_mode='deep',
        out_type='raw',
        out_indices=(0, 1, 2, 3))
    x = torch.randn(1, 3, 32, 32)
    before = model(x)
    with torch.no_grad():
        model.prompts[2].tokens.add_(1.)
    after = model(x)
    torch.testing.assert_close(after[0], before[0])
    torch.testing.assert_close(after[1], before[1])
    assert not torch.allclose(after[2], before[2])


def test_shallow_equals_reference():
    model = build(num_prompts=4, prompt_mode='shallow', out_type='raw')
    assert len(model.prompts) == 1
    x = torch.randn(2, 3, 32, 32)
    expected, _ = reference_forward(model, x, [model.prompts[0].tokens],
                                    'shallow')
    torch.testing.assert_close(model(x)[0], expected, rtol=1e-5, atol=1e-6)


def test_out_types_strip_or_pool_prompts():
    x = torch.randn(2, 3, 32, 32)
    raw = build(num_prompts=[1, 2, 3, 4], out_type='raw')(x)[0]
    patches = raw[:, 1 + 4:]
    featmap = build(num_prompts=[1, 2, 3, 4], out_type='featmap')(x)[0]
    assert featmap.shape == (2, 32, 4, 4)
    torch.testing.assert_close(
        featmap,
        patches.reshape(2, 4, 4, 32).permute(0, 3, 1, 2))
    for out_type, tokens in [('avg_featmap', patches),
                             ('avg_prompt', raw[:, 1:5]),
                             ('avg_all', raw[:, 1:])]:
        model = build(num_prompts=[1, 2, 3, 4], out_type=out_type)
        expected = model.ln2(tokens.mean(1))
        torch.testing.assert_close(model(x)[0], expected)


def test_multi_level_outputs_with_uneven_counts():
    model = build(
        num_prompts=[1, 2, 3, 4], out_type='featmap', out_indices=(0, 2, 3))
    outs = model(torch.randn(1, 3, 40, 32))
    assert [tuple(o.shape) for o in outs] == [(1, 32, 5, 4)] * 3


def test_vpt_parameter_counts_vit_base():
    shallow = PromptViT(arch='b', num_prompts=100, prompt_mode='shallow')
    assert shallow.prompt_parameter_count == 76_800
    assert shallow.trainable_parameter_count() == 76_800
    deep = PromptViT(arch='b', num_prompts=100, prompt_mode='deep')
    assert deep.trainable_parameter_count() == 12 * 76_800


def test_uniform_init_uses_vpt_bound():
    model = PromptViT(arch='b', num_prompts=200, prompt_mode='shallow')
    tokens = model.prompts[0].tokens
    bound = (6. / (3 * 16 * 16 + 768))**0.5
    assert bound == pytest.approx(0.0625)
    assert tokens.abs().max() <= bound
    assert tokens.abs().max() > 0.95 * bound
    normal = PromptViT(
        **KW,
        num_prompts=500,
        prompt_mode='shallow',
        prompt_init='normal',
        prompt_std=0.5)
    assert normal.prompts[0].tokens.std().item() == pytest.approx(0.5, rel=0.1)
    zeros = PromptViT(**KW, num_prompts=5, prompt_init='zeros')
    assert all(p.tokens.abs().sum() == 0 for p in zeros.prompts)


def test_frozen_backbone_and_trainable_rule():
    model = build(
        num_prompts=2, drop_path_rate=0.5, drop_rate=0.5, prompt_dropout=0.5)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {f'prompts.{i}.tokens' for i in range(4)}
    model.train()
    assert model.prompt_dropout.training
    assert not model.layers.training and not model.layers[0].training
    assert not model.drop_after_pos.training
    # Frozen layers are deterministic in train mode (no drop-path).
    x = torch.randn(2, 3, 32, 32)
    model.prompt_dropout.p = 0.
    torch.testing.assert_close(model(x)[0], model(x)[0])
    # Only prompts get gradients.
    model(x)[0].sum().backward()
    grads = {n for n, p in model.named_parameters() if p.grad is not None}
    assert grads == trainable

    kv_bias = PromptViT(
        **KW,
        num_prompts=1,
        trainable_params=[r'layers\.\d+\.attn\.qkv\.bias', 'cls_token'])
    trainable = {n for n, p in kv_bias.named_parameters() if p.requires_grad}
    assert trainable == ({f'prompts.{i}.tokens'
                          for i in range(4)}
                         | {f'layers.{i}.attn.qkv.bias'
                            for i in range(4)}
                         | {'cls_token'})
    unfrozen = PromptViT(**KW, num_prompts=1, frozen=False)
    assert all(p.requires_grad for p in unfrozen.parameters())
    unfrozen.train()
    assert unfrozen.layers.training


class AttentionKernelCalls(TorchDispatchMode):
    """The attention kernels (``aten`` ops) run inside the block."""

    def __init__(self):
        super().__init__()
        self.kernels = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if 'scaled_dot_product' in name and 'backward' not in name:
            self.kernels.append(name)
        return func(*args, **(kwargs or {}))


def test_taps_record_internals_without_changing_output():
    model = build(num_prompts=[1, 2, 3, 4], out_type='raw')
    x = torch.randn(2, 3, 32, 32)
    with AttentionKernelCalls() as plain_calls:
        plain = model(x)[0]
    model.request_taps(2, ['attn_input', 'query', 'attn_output'])
    with AttentionKernelCalls() as tapped_calls:
        tapped = model(x)[0]
    torch.testing.assert_close(tapped, plain, rtol=0, atol=1e-6)
    # the fused kernel, once per layer: the taps add no second pass
    assert tapped_calls.kernels == plain_calls.kernels == \
        ['_scaled_dot_product_flash_attention_for_cpu'] * 4

    # Reference internals of layer 2 from a hand-run of layers 0..1.
    layer = model.layers[2]
    feats = model.patch_embed(x)[0]
    tokens = torch.cat([model.cls_token.expand(2, -1, -1), feats], 1)
    tokens = tokens + model.pos_embed
    slot = 0
    for i in range(2):
        p = model.prompts[i].tokens.expand(2, -1, -1)
        tokens = model.layers[i](
            torch.cat([tokens[:, :1], p, tokens[:, 1 + slot:]], 1))
        slot = p.shape[1]
    p = model.prompts[2].tokens.expand(2, -1, -1)
    tokens = torch.cat([tokens[:, :1], p, tokens[:, 1 + slot:]], 1)
    h = layer.ln1(tokens)
    q = F.linear(h, layer.attn.qkv.weight[:32], layer.attn.qkv.bias[:32])
    record = model.tap_outputs[2]
    torch.testing.assert_close(record['attn_input'], h)
    assert record['query'].shape == (2, 1 + 3, 32)
    torch.testing.assert_close(record['query'], q[:, :4])
    attn_out = layer.attn(h)
    assert record['attn_output'].shape == (2, 16, 32)
    torch.testing.assert_close(record['attn_output'], attn_out[:, 4:])
    assert set(model.tap_outputs) == {2}
    # Taps keep the graph for losses on prompts.
    record['query'].sum().backward()
    assert model.prompts[2].tokens.grad is not None

    model.clear_taps()
    model(x)
    assert model.tap_outputs == {}
    with pytest.raises(ValueError, match='Unknown tap names'):
        model.request_taps(0, ['keys'])


def test_prompt_count_mismatch_fails_naming_both_shapes(tmp_path):
    trained = build(num_prompts=[1, 2, 3, 4])
    path = str(tmp_path / 'condensed.pth')
    save_checkpoint(
        {
            'state_dict': {
                'backbone.' + k: v
                for k, v in trained.state_dict().items()
            }
        }, path)
    fresh = build(num_prompts=2)
    with pytest.raises(ValueError) as err:
        # mmengine's loader (load_from / resume) uses strict=False.
        load_checkpoint(fresh, path, revise_keys=[(r'^backbone\.', '')])
    msg = str(err.value)
    assert 'prompts.0.tokens: checkpoint (1, 32) vs model (2, 32)' in msg
    assert 'num_prompts=[1, 2, 3, 4]' in msg
    # With the count the message suggests, it loads and matches exactly.
    matching = build(num_prompts=[1, 2, 3, 4], prompt_init='zeros')
    load_checkpoint(matching, path, revise_keys=[(r'^backbone\.', '')])
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(matching(x)[0], trained(x)[0])


@pytest.mark.parametrize('kwargs,match', [
    (dict(num_prompts=-1), r'num_prompts must be ints >= 0, got -1'),
    (dict(num_prompts=[1, 2]), r'num_prompts has 2 entries .* 4 layers'),
    (dict(num_prompts=[1, 2, -3, 4]), r'num_prompts must be ints >= 0'),
    (dict(num_prompts=[1, 2, 3, 4],
          prompt_mode='shallow'), r"prompt_mode='shallow' takes one int"),
    (dict(num_prompts='10'), r'num_prompts must be an int'),
    (dict(prompt_init='xavier'), r"Unknown prompt_init 'xavier'"),
    (dict(out_type='tokens'), r"Unknown out_type 'tokens'"),
    (dict(prompt_mode='medium'), r"Unknown prompt_mode 'medium'"),
    (dict(out_indices=(1, 4)), r'out_indices \(1, 4\) contains \[4\]'),
    (dict(num_prompts=[1, 0, 0, 0],
          out_type='avg_prompt'), r'layers \[3\] have num_prompts=0'),
    (dict(trainable_params=['layers.0.attn.qkv.biases']),
     r'match no parameter'),
])
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        PromptViT(**KW, **kwargs)


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmseg', 'mmdet'])
def test_builds_inside_each_downstream_registry(scope):
    registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    backbone = registry.build(
        dict(
            type='mmprompt.PromptViT',
            **KW,
            num_prompts=3,
            out_type='featmap',
            out_indices=(1, 3)))
    assert type(backbone) is PromptViT
    outs = backbone(torch.randn(1, 3, 32, 32))
    assert [o.shape for o in outs] == [torch.Size([1, 32, 4, 4])] * 2


def test_classifier_and_trainable_params_log():
    from mmpretrain.registry import MODELS
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='mmprompt.PromptViT', **KW, num_prompts=5),
            head=dict(type='LinearClsHead', num_classes=3, in_channels=32)))
    messages, scalars = [], []
    runner = SimpleNamespace(
        model=model,
        iter=0,
        logger=SimpleNamespace(info=messages.append),
        visualizer=SimpleNamespace(
            add_scalars=lambda d, step: scalars.append((d, step))))
    TrainableParamsHook().before_train(runner)
    total = sum(p.numel() for p in model.parameters())
    trainable = 4 * 5 * 32 + 32 * 3 + 3
    assert messages == [
        f'trainable params: {trainable} '
        f'({100 * trainable / total:.2f}% of {total})'
    ]
    assert scalars == [(dict(trainable_params=trainable,
                             total_params=total), 0)]
    data = dict(inputs=torch.randn(2, 3, 32, 32))
    model.eval()
    assert model(data['inputs'], mode='tensor').shape == (2, 3)


def test_prompt_dropout_only_on_prompts():
    model = build(
        num_prompts=6,
        prompt_mode='shallow',
        prompt_dropout=0.5,
        out_type='raw')
    model.train()
    x = torch.randn(2, 3, 32, 32)
    torch.manual_seed(1)
    got = model(x)[0]
    # The only random op in train mode is the prompt dropout (frozen layers
    # are in eval mode), so replaying the seed reproduces its mask.
    torch.manual_seed(1)
    dropped = F.dropout(model.prompts[0].tokens.expand(2, -1, -1), 0.5)
    assert (dropped == 0).any()
    tokens, hw = model.patch_embed(x)
    tokens = torch.cat([model.cls_token.expand(2, -1, -1), tokens], 1)
    tokens = torch.cat([tokens[:, :1], dropped, tokens[:, 1:]], 1)
    tokens[:, 7:] += model.pos_embed[:, 1:]
    tokens[:, :1] += model.pos_embed[:, :1]
    for layer in model.layers:
        tokens = layer(tokens)
    torch.testing.assert_close(got, model.ln1(tokens), rtol=1e-5, atol=1e-6)


def test_without_prompts_is_the_pretrained_vit():
    torch.manual_seed(0)
    vit = VisionTransformer(**KW, out_type='raw')
    vit.init_weights()
    vit.eval()
    model = build(num_prompts=[1, 2, 3, 4], out_type='raw')
    model.load_state_dict(vit.state_dict(), strict=False)
    x = torch.randn(2, 3, 32, 32)
    with model.without_prompts():
        torch.testing.assert_close(model(x)[0], vit(x)[0], rtol=0, atol=0)
    assert model(x)[0].shape == (2, 1 + 4 + 16, 32)  # prompts are back
    model.request_taps(1, ['layer_input'])
    model(x)
    tokens = model.tap_outputs[1]['layer_input']
    assert tokens.shape == (2, 1 + 2 + 16, 32)
    torch.testing.assert_close(tokens[:, 1:3],
                               model.prompts[1].tokens.expand(2, -1, -1))
    avg_prompt = build(num_prompts=2, out_type='avg_prompt')
    with pytest.raises(RuntimeError, match='no prompts to pool'):
        with avg_prompt.without_prompts():
            avg_prompt(x)


# ------------------------------------------------------------ bad input
# (id, expected exception or warning, pattern of its message, action)
BAD_INPUT = [
    ('vit-num_prompts-negative', ValueError,
     text('num_prompts must be ints >= 0, got -1'),
     call(tiny_vit, num_prompts=-1)),
    ('vit-num_prompts-list-negative', ValueError,
     text('num_prompts must be ints >= 0, got [1, 2, -3, 4]'),
     call(tiny_vit, num_prompts=[1, 2, -3, 4])),
    ('vit-num_prompts-list-wrong-length', ValueError,
     text('num_prompts has 2 entries but the model has 4 layers: [1, 2]'),
     call(tiny_vit, num_prompts=[1, 2])),
    ('vit-num_prompts-list-in-shallow-mode', ValueError,
     text("num_prompts=[1, 2, 3, 4]: prompt_mode='shallow' takes one int"),
     call(tiny_vit, num_prompts=[1, 2, 3, 4], prompt_mode='shallow')),
    ('vit-num_prompts-not-int', TypeError,
     text("num_prompts must be an int or a list of ints, got '10'"),
     call(tiny_vit, num_prompts='10')),
    ('vit-prompt_init-unknown', ValueError,
     text("Unknown prompt_init 'xavier'; choose from",
          'uniform'), call(tiny_vit, prompt_init='xavier')),
    ('vit-out_type-unknown', ValueError,
     text("Unknown out_type 'tokens'; choose from",
          'avg_prompt'), call(tiny_vit, out_type='tokens')),
    ('vit-prompt_mode-unknown', ValueError,
     text("Unknown prompt_mode 'medium'; choose from", 'deep',
          'shallow'), call(tiny_vit, prompt_mode='medium')),
]


@bad_input_params(BAD_INPUT)
def test_bad_input(expected, pattern, action, tmp_path, monkeypatch):
    check_bad_input(expected, pattern, action, tmp_path, monkeypatch)
