"""Prompts as a shared prefix: outputs, taps and prompt gradients equal the
per-image path (``share_prompt_prefix=False``) for ViT (deep, shallow,
uneven counts, BPT generators, taps, bf16 autocast) and Swin (deep), and
the FLOPs drop by exactly the prompt rows' norm and projections."""
import pytest
import torch
import torch.nn.functional as F

import mmprompt  # noqa: F401
from mmprompt.core import PromptSwin, PromptViT
from mmprompt.core.prompt_vit import TAP_NAMES
from mmprompt.core.shared_prefix_attention import (_exported_attention,
                                                   shared_prefix_attention,
                                                   with_prefix)
from mmprompt.core.token_checkpoint import token_checkpoint
from mmprompt.evaluation.complexity import count_flops
from mmprompt.methods.bpt import BilinearPromptViT
from helpers import TINY_VIT

TINY = TINY_VIT
KW = dict(arch=TINY, img_size=32, patch_size=8)
SWIN = dict(
    arch=dict(embed_dims=16, depths=[2, 2, 2], num_heads=[2, 2, 4]),
    img_size=32,
    patch_size=2,
    window_size=4,
    out_indices=(0, 1, 2),
    drop_path_rate=0.)


def pair(cls, kw, **kwargs):
    """The same weights with and without the shared prefix."""
    torch.manual_seed(0)
    shared = cls(**kw, **kwargs)
    shared.init_weights()
    per_image = cls(**kw, **kwargs, share_prompt_prefix=False)
    per_image.load_state_dict(shared.state_dict())
    return shared, per_image


def prompt_grads(model):
    return {
        n: p.grad
        for n, p in model.prompts.named_parameters()
        if p.requires_grad and p.numel()
    }  # (layers with prompts)


def assert_same_forward_backward(shared,
                                 per_image,
                                 x,
                                 train=True,
                                 grad_tol=1e-5,
                                 **tol):
    """Outputs within ``tol``; prompt gradients within ``grad_tol`` of the
    largest gradient entry (the batch sums run in another order)."""
    tol = tol or dict(rtol=1e-5, atol=1e-6)
    for model in (shared, per_image):
        model.train(train)
    outs = shared(x), per_image(x)
    assert len(outs[0]) == len(outs[1])
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b, **tol)
    for out in outs:
        sum((o.float() * torch.linspace(-1, 1, o.numel()).view_as(o)).sum()
            for o in out).backward()
    grads = prompt_grads(shared), prompt_grads(per_image)
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for name in grads[0]:
        scale = float(grads[1][name].abs().max())
        torch.testing.assert_close(
            grads[0][name],
            grads[1][name],
            rtol=10 * grad_tol,
            atol=grad_tol * scale)
    return outs


@pytest.mark.parametrize(
    'kwargs',
    [
        dict(num_prompts=3),
        dict(num_prompts=[2, 0, 5, 1]),  # uneven, a layer without prompts
        dict(num_prompts=[0, 3, 0, 0]),
        dict(num_prompts=4, prompt_mode='shallow'),
        dict(num_prompts=3, out_type='featmap', out_indices=(1, 3)),
        dict(num_prompts=[1, 2, 3, 4], out_type='raw', out_indices=(0, 2, 3)),
        dict(num_prompts=[1, 2, 3, 4], out_type='avg_all'),
        dict(
            num_prompts=2,
            prompt_mode='shallow',
            out_type='avg_prompt',
            out_indices=(1, 3)),
    ])
def test_vit_shared_prefix_equals_per_image(kwargs):
    shared, per_image = pair(PromptViT, KW, **kwargs)
    x = torch.randn(3, 3, 32, 32)
    assert shared.shares_prompt_prefix()
    assert not per_image.shares_prompt_prefix()
    assert_same_forward_backward(shared, per_image, x)


def test_vit_shared_prefix_computes_prompt_rows_once():
    """Each prompted layer projects M prompt rows, not B * M: the layer
    norm and the qkv linear see the prompts as a (M, D) tensor."""
    shared, per_image = pair(PromptViT, KW, num_prompts=[2, 0, 5, 1])
    rows = {}
    for model in (shared, per_image):
        for i, layer in enumerate(model.layers):
            layer.attn.qkv.register_forward_hook(
                lambda m, args, out, i=i, model=model: rows.setdefault(
                    id(model), {}).setdefault(i, []).append(
                        tuple(args[0].shape)))
    x = torch.randn(3, 3, 32, 32)
    shared(x)
    per_image(x)
    assert rows[id(shared)] == {
        0: [(3, 17, 32), (2, 32)],
        1: [(3, 17, 32)],
        2: [(3, 17, 32), (5, 32)],
        3: [(3, 17, 32), (1, 32)]
    }
    assert rows[id(per_image)] == {
        0: [(3, 19, 32)],
        1: [(3, 17, 32)],
        2: [(3, 22, 32)],
        3: [(3, 18, 32)]
    }


@pytest.mark.parametrize('source', ['paper', 'released'])
def test_vit_taps_equal_per_image(source):
    taps = dict(
        paper=('query', 'attn_output'),
        released=('prompts', 'layer_input', 'query'))[source]
    shared, per_image = pair(PromptViT, KW, num_prompts=[2, 3, 0, 4])
    for model in (shared, per_image):
        model.request_taps(3, taps)
        model.request_taps(1, TAP_NAMES)
    x = torch.randn(2, 3, 32, 32)
    for model in (shared, per_image):
        model.train()
        model(x)
    for layer in (1, 3):
        got, expected = shared.tap_outputs[layer], per_image.tap_outputs[layer]
        assert got.keys() == expected.keys()
        for name in got:
            torch.testing.assert_close(
                got[name], expected[name], rtol=1e-5, atol=1e-6)
    # the DA-VPT losses read them: the same values and prompt gradients
    for model in (shared, per_image):
        t = model.tap_outputs[3]
        loss = t['query'][:, 1:5].mean(0).square().sum() + \
            t['query'][:, 0].sum()
        if 'attn_output' in t:
            loss = loss + t['attn_output'].mean(1).square().sum()
        if 'layer_input' in t:
            loss = loss + t['layer_input'][:, 5:].mean(1).sum()
        loss.backward()
    for name, grad in prompt_grads(shared).items():
        expected = prompt_grads(per_image)[name]
        torch.testing.assert_close(
            grad, expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max()))


@pytest.mark.parametrize('variant', ['bilinear', 'twhiten'])
def test_bpt_shared_prefix_equals_per_image(variant):
    shared, per_image = pair(
        BilinearPromptViT, KW, variant=variant, width=8, num_prompts=3)
    if variant == 'twhiten':
        torch.manual_seed(1)
        w = torch.eye(32) + 0.1 * torch.randn(32, 32)
        for model in (shared, per_image):
            for g in model.prompts:
                g.set_whitening(w)
    assert_same_forward_backward(shared, per_image, torch.randn(2, 3, 32, 32))


def test_condensed_vit_shared_prefix_equals_per_image():
    from mmprompt.methods.pc import condense_prompts
    shared, per_image = pair(PromptViT, KW, num_prompts=4)
    keep = [
        torch.tensor([0, 3]),
        torch.tensor([], dtype=torch.long), None,
        torch.tensor([1])
    ]
    for model in (shared, per_image):
        condense_prompts(model, keep)
    assert shared.num_prompts == [2, 0, 4, 1]
    assert_same_forward_backward(shared, per_image, torch.randn(2, 3, 32, 32))


def test_vit_shared_prefix_under_bf16_autocast():
    shared, per_image = pair(PromptViT, KW, num_prompts=[3, 1, 0, 2])
    x = torch.randn(2, 3, 32, 32)
    dtypes = []
    shared.layers[0].attn.qkv.register_forward_hook(
        lambda m, args, out: dtypes.append(out.dtype))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        # bf16 keeps 8 bits of mantissa: equal up to its rounding
        outs = assert_same_forward_backward(
            shared, per_image, x, grad_tol=1e-2, rtol=2e-2, atol=2e-2)
    # the projections (the shared prompt rows' too) ran in bf16
    assert dtypes == [torch.bfloat16, torch.bfloat16]
    assert outs[0][0].shape == (2, 32)


def test_prompt_dropout_in_training_takes_the_per_image_path():
    """VPT's prompt dropout draws a mask per image: in training with
    prompt_dropout > 0 the prompts are per image (images differ), in eval
    they are the shared prefix again."""
    torch.manual_seed(0)
    model = PromptViT(
        **KW,
        num_prompts=3,
        prompt_dropout=0.5,
        out_type='raw',
        out_indices=(0, ))
    model.train()
    assert not model.shares_prompt_prefix()
    x = torch.randn(1, 3, 32, 32).expand(4, -1, -1, -1)
    out = model(x)[0]
    # same image, different dropout masks: the prompt outputs differ
    assert not torch.allclose(out[0, 1:4], out[1, 1:4])
    model.eval()
    assert model.shares_prompt_prefix()
    out = model(x)[0]
    torch.testing.assert_close(out[0], out[3])


@pytest.mark.parametrize('num_prompts', [3, [2, 0, 1], [1, 0, 2, 3, 0, 1]])
def test_swin_deep_shared_prefix_equals_per_image(num_prompts):
    shared, per_image = pair(PromptSwin, SWIN, num_prompts=num_prompts)
    x = torch.randn(2, 3, 32, 32)
    assert_same_forward_backward(shared, per_image, x)
    assert_same_forward_backward(shared, per_image, x, train=False)


def test_swin_shared_prefix_skips_prompt_queries_and_ffn():
    shared, per_image = pair(PromptSwin, SWIN, num_prompts=3)
    ffn_rows = {}
    for model in (shared, per_image):
        block = model.stages[0].blocks[1]
        block.ffn.register_forward_hook(
            lambda m, args, out, model=model: ffn_rows.__setitem__(
                id(model), args[0].shape[1]))
    x = torch.randn(2, 3, 32, 32)
    shared(x)
    per_image(x)
    assert ffn_rows == {id(shared): 256, id(per_image): 256 + 3}


def test_shallow_swin_keeps_the_per_image_path():
    shared, per_image = pair(
        PromptSwin, SWIN, num_prompts=3, prompt_mode='shallow')
    assert_same_forward_backward(shared, per_image, torch.randn(2, 3, 32, 32))


def test_flops_drop_by_the_prompt_rows_projections():
    """Per prompted layer the shared prefix saves the layer norm (5 flops
    per element, mmengine's count for an affine norm) and the qkv linear
    (3 D^2 per row) of (B - 1) * M prompt rows; nothing else changes."""
    B, D, counts = 4, 32, [2, 0, 5, 1]
    shared, per_image = pair(PromptViT, KW, num_prompts=counts)
    x = torch.randn(B, 3, 32, 32)
    saved = count_flops(per_image, (x, )) - count_flops(shared, (x, ))
    assert saved == sum((B - 1) * m * (3 * D * D + 5 * D) for m in counts)


@pytest.mark.parametrize('value', [1, 'yes', None])
def test_bad_share_prompt_prefix(value):
    with pytest.raises(
            TypeError,
            match=f'share_prompt_prefix must be a bool, got '
            f'{value!r}'):
        PromptViT(**KW, num_prompts=2, share_prompt_prefix=value)
    with pytest.raises(TypeError, match='share_prompt_prefix must be a bool'):
        PromptSwin(**SWIN, num_prompts=2, share_prompt_prefix=value)


# ------------------------------------------------------------ recompute_ffn
def saved_bytes(model, x):
    """Bytes autograd saves for the backward pass of ``model(x)``."""
    total = [0]

    def pack(t):
        total[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x)
    return total[0], out


@pytest.mark.parametrize(
    'kwargs',
    [
        dict(num_prompts=3),
        dict(num_prompts=[2, 0, 5, 1]),
        dict(num_prompts=4, prompt_mode='shallow'),
        dict(num_prompts=3, share_prompt_prefix=False),
        dict(num_prompts=3, prompt_dropout=0.5),  # per image, same masks
        # dropout in the FFN: the whole batch is recomputed, same masks
        dict(num_prompts=3, drop_rate=0.2, frozen_eval=False),
    ])
def test_recompute_ffn_is_exact_and_saves_the_ffn_activations(kwargs):
    """recompute_ffn: the same outputs and prompt gradients, and the
    backward pass keeps neither the FFN's norm input nor its activation's
    input (B x L x feedforward_channels floats) in any layer."""
    torch.manual_seed(0)
    plain = PromptViT(**KW, **kwargs)
    plain.init_weights()
    lean = PromptViT(**KW, **kwargs, recompute_ffn=True)
    lean.load_state_dict(plain.state_dict())
    x = torch.randn(3, 3, 32, 32)
    for model in (plain, lean):
        model.train()
    torch.manual_seed(1)  # prompt dropout draws the same masks
    plain_bytes, plain_out = saved_bytes(plain, x)
    torch.manual_seed(1)
    lean_bytes, lean_out = saved_bytes(lean, x)
    for a, b in zip(plain_out, lean_out):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for model, out in ((plain, plain_out), (lean, lean_out)):
        sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum()
            for o in out).backward()
    grads = prompt_grads(plain), prompt_grads(lean)
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name])
    # per layer at least the activation input, (B, L, F) float32, where L
    # is what the FFN sees: CLS and 16 patches (prompt rows are dropped
    # wherever nothing reads them)
    B, L, F = 3, 1 + 16, TINY['feedforward_channels']
    assert plain_bytes - lean_bytes >= TINY['num_layers'] * B * L * F * 4
    # a trace in training (as FLOP counting's) records the same ops
    assert count_flops(lean, (x, )) == count_flops(plain, (x, ))
    plain.eval(), lean.eval()
    with torch.no_grad():  # nothing to recompute for: the plain forward
        torch.testing.assert_close(plain(x)[0], lean(x)[0])


def test_recompute_ffn_in_named_layers_only():
    """recompute_ffn=[...]: exact, and each named layer saves what it saves
    alone: the saved bytes of a subset are those of no layer less the sum
    of its layers' single savings (True: every layer), each a whole
    activation input (B, L, F) float32 or more but in the last layer, which
    computes the CLS row only."""
    torch.manual_seed(0)
    num_layers = TINY['num_layers']
    plain = PromptViT(**KW, num_prompts=3)
    plain.init_weights()
    plain.train()
    x = torch.randn(3, 3, 32, 32)

    def run(recompute_ffn):
        model = PromptViT(**KW, num_prompts=3, recompute_ffn=recompute_ffn)
        model.load_state_dict(plain.state_dict())
        model.train()
        kept, out = saved_bytes(model, x)
        (out[0] * torch.linspace(-1, 1, out[0].numel()).view_as(
            out[0])).sum().backward()
        return kept, out[0], prompt_grads(model)

    none, out, grads = run(False)
    saving = {}
    for i in range(num_layers):
        kept, out_i, grads_i = run([i])
        saving[i] = none - kept
        torch.testing.assert_close(out_i, out, rtol=0, atol=0)
        for name in grads:
            torch.testing.assert_close(grads_i[name], grads[name])
    # CLS and 16 patches: every layer but the last, which reads CLS only
    B, L, F = 3, 1 + 16, TINY['feedforward_channels']
    assert all(saving[i] >= B * L * F * 4 for i in range(num_layers - 1))
    assert 0 < saving[num_layers - 1] < B * L * F * 4
    assert run(True)[0] == none - sum(saving.values())
    subset = [0, -2]  # (negative counts from the end)
    kept, out_s, grads_s = run(subset)
    assert kept == none - saving[0] - saving[num_layers - 2]
    torch.testing.assert_close(out_s, out, rtol=0, atol=0)
    for name in grads:
        torch.testing.assert_close(grads_s[name], grads[name])
    assert PromptViT(**KW, num_prompts=1, recompute_ffn=(0, -1)) \
        .recompute_ffn_layers == {0, num_layers - 1}


def token_mlp(trainable):
    """Norm, linear, GELU (as a ViT FFN's recomputed part) with the named
    parameters trainable."""
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(
        torch.nn.LayerNorm(8), torch.nn.Linear(8, 24), torch.nn.GELU())
    for name, p in mlp.named_parameters():
        p.requires_grad_(name in trainable)
    return mlp


@pytest.mark.parametrize('x_grad', [True, False])
@pytest.mark.parametrize('autocast', [False, True])
def test_token_checkpoint_equals_the_plain_backward(x_grad, autocast):
    """token_checkpoint: the same output, and the gradients of the input
    and of the trainable parameters of the plain call, from 35 tokens
    recomputed 4 at a time (the last block short); the backward pass keeps
    only the input."""
    trainable = ('0.weight', '1.bias')
    plain_mlp, lean_mlp = token_mlp(trainable), token_mlp(trainable)
    x = torch.randn(5, 7, 8, generator=torch.Generator().manual_seed(1))
    xs = [x.clone().requires_grad_(x_grad) for _ in range(2)]
    w = torch.linspace(-1, 1, 5 * 7 * 24).view(5, 7, 24)
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
        plain = plain_mlp(xs[0])
        kept, lean = saved_bytes_of(lambda: token_checkpoint(
            lean_mlp, xs[1], list(lean_mlp.parameters()), chunk_tokens=4))
    assert torch.equal(plain, lean) and lean.dtype == plain.dtype
    assert kept == x.numel() * 4
    (plain.float() * w).sum().backward()
    (lean.float() * w).sum().backward()
    if x_grad:
        torch.testing.assert_close(xs[0].grad, xs[1].grad)
    else:
        assert xs[1].grad is None
    for (name, a), b in zip(plain_mlp.named_parameters(),
                            lean_mlp.parameters()):
        if name in trainable and autocast:
            # a sum over the tokens of bfloat16 products: here in blocks,
            # each rounded to bfloat16 (8 bits), there in one
            torch.testing.assert_close(
                a.grad, b.grad, rtol=0, atol=2**-6 * a.grad.abs().max())
        elif name in trainable:
            torch.testing.assert_close(a.grad, b.grad)
        else:
            assert b.grad is None


def test_token_checkpoint_bad_chunk():
    with pytest.raises(
            ValueError, match='chunk_tokens must be a positive int, got 0'):
        token_checkpoint(torch.nn.GELU(), torch.ones(2, 3), [], 0)


def test_recompute_ffn_bad_input():
    with pytest.raises(
            TypeError,
            match="recompute_ffn must be a bool or a sequence of layer "
            "indices, got 'yes'"):
        PromptViT(**KW, num_prompts=1, recompute_ffn='yes')
    with pytest.raises(TypeError, match=r'layer indices, got \[0, 1.0\]'):
        PromptViT(**KW, num_prompts=1, recompute_ffn=[0, 1.])
    n = TINY['num_layers']
    with pytest.raises(
            ValueError,
            match=rf'recompute_ffn names layers \[{n}\], outside the {n} '
            rf'layers \(indices -{n} to {n - 1}\)'):
        PromptViT(**KW, num_prompts=1, recompute_ffn=[0, n])
    with pytest.raises(
            ValueError,
            match=rf'recompute_ffn names a layer twice: \[1, {1 - n}\]'):
        PromptViT(**KW, num_prompts=1, recompute_ffn=[1, 1 - n])


# ------------------------------------------- the prefix saved once per layer
def saved_bytes_of(fn):
    """Bytes autograd saves for the backward pass of ``fn()``, and its
    result."""
    total = [0]

    def pack(t):
        total[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return total[0], out


def attention_inputs(dtype, B=3, H=2, L=17, M=5, d=16):
    g = torch.Generator().manual_seed(0)
    shapes = [(B, H, L, d)] * 3 + [(H, M, d)] * 2
    return [
        torch.randn(*s, generator=g, dtype=dtype).requires_grad_()
        for s in shapes
    ]


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('masked', [False, True])
def test_shared_prefix_attention_equals_the_concatenated_call(dtype, masked):
    """Outputs and all five gradients are those of scaled_dot_product_
    attention over the concatenated keys and values, to the bit; the
    backward pass keeps the prefix once instead of once per image."""
    B, H, L, M, d, at = 3, 2, 17, 5, 16, 1
    q, k, v, pk, pv = inputs = attention_inputs(dtype, B, H, L, M, d)
    mask = None
    if masked:  # the prompt rows see the patches only
        mask = torch.zeros(L, L + M, dtype=dtype)
        mask[at:at + 3, :at + M] = float('-inf')
    ours_bytes, out = saved_bytes_of(
        lambda: shared_prefix_attention(q, k, v, pk, pv, at, attn_mask=mask))
    concat_bytes, expected = saved_bytes_of(
        lambda: F.scaled_dot_product_attention(
            q, with_prefix(k, pk, at), with_prefix(v, pv, at), attn_mask=mask))
    assert torch.equal(out, expected)
    grad = torch.randn_like(out)
    ours = torch.autograd.grad(out, inputs, grad)
    reference = torch.autograd.grad(expected, inputs, grad)
    for name, a, b in zip('q k v prefix_k prefix_v'.split(), ours, reference):
        assert a.dtype == b.dtype and torch.equal(a, b), name
    element = torch.finfo(dtype).bits // 8
    assert concat_bytes - ours_bytes == 2 * (B - 1) * H * M * d * element


def test_shared_prefix_attention_under_bf16_autocast():
    """As autocast runs the concatenated call: float32 inputs cast to
    bfloat16, float32 gradients, the prefix's summed in float32."""
    inputs = attention_inputs(torch.float32)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = shared_prefix_attention(*inputs, 1)
        q, k, v, pk, pv = inputs
        expected = F.scaled_dot_product_attention(q, with_prefix(k, pk, 1),
                                                  with_prefix(v, pv, 1))
    assert out.dtype == torch.bfloat16 and torch.equal(out, expected)
    grad = torch.randn_like(out)
    for a, b in zip(
            torch.autograd.grad(out, inputs, grad),
            torch.autograd.grad(expected, inputs, grad)):
        assert a.dtype == torch.float32 and torch.equal(a, b)


def test_shared_prefix_attention_with_dropout_is_the_concatenated_call():
    """Attention dropout has no saving kernel: the same draws as the
    concatenated call, which the backward pass then keeps."""
    inputs = attention_inputs(torch.float32)
    q, k, v, pk, pv = inputs
    torch.manual_seed(3)
    ours_bytes, out = saved_bytes_of(
        lambda: shared_prefix_attention(*inputs, 1, dropout_p=0.5))
    torch.manual_seed(3)
    concat_bytes, expected = saved_bytes_of(
        lambda: F.scaled_dot_product_attention(
            q, with_prefix(k, pk, 1), with_prefix(v, pv, 1), dropout_p=0.5))
    assert torch.equal(out, expected) and ours_bytes == concat_bytes


def test_exported_attention_puts_the_prefix_first():
    """What an ONNX export traces: the prefix first among the keys, which
    without a mask is the same attention up to rounding."""
    q, k, v, pk, pv = attention_inputs(torch.float64)
    at = 4  # the prefix belongs after the first 4 tokens of each image
    expected = F.scaled_dot_product_attention(q, with_prefix(k, pk, at),
                                              with_prefix(v, pv, at))
    out = _exported_attention(q, k, v, pk, pv)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    # the prefix matters: without it the result differs
    assert not torch.allclose(
        F.scaled_dot_product_attention(q, k, v), expected, atol=1e-3)


def test_vit_shared_prefix_keeps_no_per_image_prompt_keys():
    """In training, no tensor the backward pass keeps has the prompt keys
    and values of every image (B, heads, 1 + M + 16, head_dims); the
    per-image path keeps them in every layer."""
    M, B = 3, 2
    shared, per_image = pair(PromptViT, KW, num_prompts=M)
    x = torch.randn(B, 3, 32, 32)
    heads = TINY['num_heads']
    head_dims = TINY['embed_dims'] // heads

    def saved_shapes(model):
        shapes = []

        def pack(t):
            shapes.append(tuple(t.shape))
            return t

        model.train()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(x)
        return shapes

    keys = (B, heads, 1 + M + 16, head_dims)
    assert keys not in saved_shapes(shared)
    assert saved_shapes(per_image).count(keys) >= TINY['num_layers']
