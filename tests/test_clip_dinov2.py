"""CLIP and DINOv2-with-registers checkpoints in PromptViT.

Every format is checked against its own library on a tiny random model
(transformers' ``CLIPVisionModel``/``CLIPModel``/``Dinov2WithRegistersModel``,
open_clip's ``CLIP``, timm's ViT with register tokens), saved the way users
get it (safetensors, ``.bin``, a ``torch.save`` state dict, a TorchScript
archive), loaded through ``init_cfg=dict(type='Pretrained')``. With 0
prompts the outputs equal the library's; with prompts, a forward and a
training step touch the prompts only.
"""

import open_clip
import pytest
import torch
import torch.nn as nn
from safetensors.torch import save_file
from timm.models.vision_transformer import VisionTransformer as TimmViT
from transformers import (CLIPConfig, CLIPModel, CLIPVisionConfig,
                          CLIPVisionModel, Dinov2WithRegistersConfig,
                          Dinov2WithRegistersModel)

from mmprompt.core import PromptSwin, PromptViT, vpt_uniform_bound
from mmprompt.utils.checkpoint_converters import (load_vit_checkpoint,
                                                  vit_arch_from_state_dict)

D, DEPTH, HEADS, FFN, PATCH, IMG, REGS, PROJ = 32, 2, 4, 64, 14, 28, 4, 16
ATOL = RTOL = 1e-5
ARCH = dict(
    embed_dims=D, num_layers=DEPTH, num_heads=HEADS, feedforward_channels=FFN)
# what a CLIP config sets (the recipes' model base does the same)
CLIP_KWARGS = dict(
    pre_norm=True,
    norm_cfg=dict(type='LN', eps=1e-5),
    layer_cfgs=dict(act_cfg=dict(type='mmpretrain.QuickGELU')))
DINOV2_KWARGS = dict(
    layer_scale_init_value=1e-5, norm_cfg=dict(type='LN', eps=1e-6))


def _images(batch=2, seed=1):
    return torch.randn(
        batch, 3, IMG, IMG, generator=torch.Generator().manual_seed(seed))


def _close(actual, expected):
    torch.testing.assert_close(actual, expected, atol=ATOL, rtol=RTOL)


def _prompt_vit(checkpoint, num_prompts=0, arch=ARCH, **kwargs):
    model = PromptViT(
        arch=arch,
        img_size=IMG,
        patch_size=PATCH,
        num_prompts=num_prompts,
        prompt_mode='deep',
        init_cfg=dict(type='Pretrained', checkpoint=str(checkpoint)),
        **kwargs)
    model.init_weights()
    return model.eval()


def _clip_vision_config():
    return CLIPVisionConfig(
        hidden_size=D,
        intermediate_size=FFN,
        num_hidden_layers=DEPTH,
        num_attention_heads=HEADS,
        image_size=IMG,
        patch_size=PATCH,
        projection_dim=PROJ)


def _open_clip_model(seed=0):
    torch.manual_seed(seed)
    model = open_clip.CLIP(
        embed_dim=PROJ,
        vision_cfg=dict(
            image_size=IMG,
            patch_size=PATCH,
            width=D,
            layers=DEPTH,
            head_width=D // HEADS,
            mlp_ratio=FFN / D),
        text_cfg=dict(
            context_length=8, vocab_size=64, width=16, heads=2, layers=1),
        quick_gelu=True)
    # random (not the init's zeros) so every tensor's mapping matters
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    return model.eval()


def _dinov2_registers(seed=0):
    torch.manual_seed(seed)
    model = Dinov2WithRegistersModel(
        Dinov2WithRegistersConfig(
            hidden_size=D,
            num_hidden_layers=DEPTH,
            num_attention_heads=HEADS,
            mlp_ratio=FFN // D,
            image_size=IMG,
            patch_size=PATCH,
            num_register_tokens=REGS,
            layerscale_value=0.5))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'register_tokens' in name or 'cls_token' in name or \
                    'position' in name:
                p.normal_(0, 0.5)
    return model.eval()


def _timm_registers(seed=0):
    torch.manual_seed(seed)
    model = TimmViT(
        img_size=IMG,
        patch_size=PATCH,
        embed_dim=D,
        depth=DEPTH,
        num_heads=HEADS,
        mlp_ratio=FFN / D,
        reg_tokens=REGS,
        no_embed_class=True,
        init_values=0.5,
        num_classes=0)
    with torch.no_grad():
        for p in (model.reg_token, model.cls_token, model.pos_embed):
            p.normal_(0, 0.5)
    return model.eval()


# ---------------------------------------------------------------------------
# CLIP
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('suffix', ['.safetensors', '.bin'])
def test_hf_clip_vision_model(tmp_path, suffix):
    torch.manual_seed(0)
    ref = CLIPVisionModel(_clip_vision_config()).eval()
    path = tmp_path / f'clip_vision{suffix}'
    if suffix == '.safetensors':
        save_file({
            k: v.contiguous()
            for k, v in ref.state_dict().items()
        }, str(path))
    else:
        torch.save(ref.state_dict(), path)
    assert load_vit_checkpoint(str(path))[1] == 'hf-clip'

    model = _prompt_vit(path, **CLIP_KWARGS)
    x = _images()
    with torch.no_grad():
        expected = ref(pixel_values=x).pooler_output  # post-LN of CLS
        _close(model(x)[0], expected)


def test_hf_clip_model_with_projection(tmp_path):
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=dict(
            vocab_size=64,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=8),
        vision_config=_clip_vision_config().to_dict(),
        projection_dim=PROJ)
    ref = CLIPModel(config).eval()
    path = tmp_path / 'clip.safetensors'
    save_file({
        k: v.contiguous()
        for k, v in ref.state_dict().items()
    }, str(path))
    state_dict, fmt = load_vit_checkpoint(str(path))
    assert fmt == 'hf-clip'
    assert not any(k.startswith('text') for k in state_dict)
    assert vit_arch_from_state_dict(state_dict)['projection_dims'] == PROJ

    x = _images()
    with torch.no_grad():
        expected = ref.get_image_features(pixel_values=x)
        _close(
            _prompt_vit(path, projection_dims=PROJ, **CLIP_KWARGS)(x)[0],
            expected)
        # the projection is off by default: the tuned feature is the CLS
        pooled = ref.vision_model(pixel_values=x).pooler_output
        _close(_prompt_vit(path, **CLIP_KWARGS)(x)[0], pooled)


@pytest.mark.parametrize('torchscript', [False, True])
def test_openai_and_open_clip(tmp_path, torchscript):
    """OpenAI's release and open_clip share the ``visual.*`` names; OpenAI
    ships TorchScript archives."""
    ref = _open_clip_model()
    path = tmp_path / 'ViT-T-14.pt'
    if torchscript:

        class Visual(nn.Module):  # the archive holds the whole model

            def __init__(self):
                super().__init__()
                self.visual = ref.visual
                self.token_embedding = ref.token_embedding

            def forward(self, x):
                return self.visual(x)

        torch.jit.save(
            torch.jit.trace(Visual(), _images(), check_trace=False), str(path))
    else:
        torch.save(ref.state_dict(), path)
    state_dict, fmt = load_vit_checkpoint(str(path))
    assert fmt == 'clip'
    assert 'projection' in state_dict and 'pre_norm.weight' in state_dict

    x = _images()
    with torch.no_grad():
        _close(
            _prompt_vit(path, projection_dims=PROJ, **CLIP_KWARGS)(x)[0],
            ref.encode_image(x))


# ---------------------------------------------------------------------------
# DINOv2 with registers
# ---------------------------------------------------------------------------
def test_hf_dinov2_with_registers(tmp_path):
    ref = _dinov2_registers()
    path = tmp_path / 'dinov2_reg.safetensors'
    save_file({
        k: v.contiguous()
        for k, v in ref.state_dict().items()
    }, str(path))
    state_dict, fmt = load_vit_checkpoint(str(path))
    assert fmt == 'hf-dinov2-registers'
    assert vit_arch_from_state_dict(state_dict)['num_registers'] == REGS

    x = _images()
    with torch.no_grad():
        out = ref(pixel_values=x)
        model = _prompt_vit(path, num_registers=REGS, **DINOV2_KWARGS)
        assert model.num_extra_tokens == 1 + REGS
        _close(model(x)[0], out.pooler_output)
        featmap = _prompt_vit(
            path, num_registers=REGS, out_type='featmap',
            **DINOV2_KWARGS)(x)[0]
        side = IMG // PATCH
        patches = out.last_hidden_state[:, 1 + REGS:]
        _close(featmap, patches.transpose(1, 2).reshape(2, D, side, side))


def test_timm_dinov2_with_registers(tmp_path):
    ref = _timm_registers()
    path = tmp_path / 'vit_small_patch14_reg4_dinov2.pth'
    torch.save(ref.state_dict(), path)
    state_dict, fmt = load_vit_checkpoint(str(path))
    assert fmt == 'timm-registers'
    # timm's pos_embed has no class row: the class row is zero
    assert state_dict['pos_embed'].shape[1] == (IMG // PATCH)**2 + 1
    assert not state_dict['pos_embed'][0, 0].any()

    x = _images()
    with torch.no_grad():
        tokens = ref.forward_features(x)  # final norm on every token
        model = _prompt_vit(
            path, num_registers=REGS, out_type='raw', **DINOV2_KWARGS)
        _close(model(x)[0], tokens)


# ---------------------------------------------------------------------------
# prompted: forward and a training step for each format
# ---------------------------------------------------------------------------
def _save_each_format(tmp_path):
    """``{name: (path, PromptViT kwargs)}``, one per format."""
    out = {}
    torch.manual_seed(0)
    hf_clip = CLIPVisionModel(_clip_vision_config())
    out['hf-clip'] = (tmp_path / 'hf_clip.bin', CLIP_KWARGS)
    torch.save(hf_clip.state_dict(), out['hf-clip'][0])
    out['clip'] = (tmp_path / 'clip.pt', CLIP_KWARGS)
    torch.save(_open_clip_model().state_dict(), out['clip'][0])
    reg = dict(num_registers=REGS, **DINOV2_KWARGS)
    out['hf-dinov2-registers'] = (tmp_path / 'dinov2.safetensors', reg)
    save_file(
        {
            k: v.contiguous()
            for k, v in _dinov2_registers().state_dict().items()
        }, str(out['hf-dinov2-registers'][0]))
    out['timm-registers'] = (tmp_path / 'timm_reg.pth', reg)
    torch.save(_timm_registers().state_dict(), out['timm-registers'][0])
    return out


@pytest.mark.parametrize(
    'fmt', ['clip', 'hf-clip', 'hf-dinov2-registers', 'timm-registers'])
def test_prompted_forward_and_training_step(tmp_path, fmt):
    path, kwargs = _save_each_format(tmp_path)[fmt]
    M = 3
    model = _prompt_vit(path, num_prompts=M, **kwargs)
    n = model.num_extra_tokens
    assert n == 1 + kwargs.get('num_registers', 0)
    # prompts go after CLS and the registers
    model.request_taps(0, ['layer_input', 'prompts'])
    model.share_prompt_prefix = False
    x = _images()
    model(x)
    taps = model.tap_outputs[0]
    _close(taps['layer_input'][:, n:n + M],
           taps['prompts'].unsqueeze(0).expand(2, -1, -1))
    # the prompt-free model's extra tokens are untouched by the prompts
    registers = taps['layer_input'][:, 1:n]
    if n > 1:
        _close(registers,
               model.register_tokens.expand(2, -1, -1) + 0 * registers)

    model.train()
    head = nn.Linear(D, 5)
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert {id(p)
            for p in trainable} == {id(p)
                                    for p in model.prompts.parameters()}
    before = [p.detach().clone() for p in model.parameters()]
    optim = torch.optim.SGD(trainable + list(head.parameters()), lr=1.0)
    loss = nn.functional.cross_entropy(head(model(x)[0]), torch.tensor([1, 3]))
    loss.backward()
    optim.step()
    changed = {
        name
        for (name, p), old in zip(model.named_parameters(), before)
        if not torch.equal(p, old)
    }
    assert changed == {
        name
        for name, _ in model.prompts.named_parameters(prefix='prompts')
    }


def test_vpt_init_bound_for_patch_14():
    model = PromptViT(
        arch=ARCH,
        img_size=IMG,
        patch_size=PATCH,
        num_prompts=2000,
        prompt_mode='shallow')
    bound = (6 / (3 * PATCH * PATCH + D))**0.5
    assert vpt_uniform_bound((PATCH, PATCH), D) == pytest.approx(bound)
    tokens = model.prompts[0].tokens
    assert tokens.abs().max() <= bound
    assert tokens.abs().max() > 0.99 * bound  # 64,000 draws fill the range


def test_featmap_strips_registers_and_prompts(tmp_path):
    path, kwargs = _save_each_format(tmp_path)['hf-dinov2-registers']
    model = _prompt_vit(path, num_prompts=3, out_type='featmap', **kwargs)
    plain = _prompt_vit(path, num_prompts=0, out_type='featmap', **kwargs)
    x = _images()
    with torch.no_grad():
        assert model(x)[0].shape == plain(x)[0].shape == (2, D, 2, 2)


@pytest.mark.parametrize('arch,dims,layers', [('dinov2-s', 384, 12),
                                              ('dinov2-b', 768, 12),
                                              ('dinov2-l', 1024, 24),
                                              ('dinov2-g', 1536, 40),
                                              ('clip-b', 768, 12),
                                              ('clip-l', 1024, 24)])
def test_arch_entries(arch, dims, layers):
    spec = PromptViT.arch_zoo[arch]
    assert (spec['embed_dims'], spec['num_layers']) == (dims, layers)


# ---------------------------------------------------------------------------
# bad input: one error naming both sides
# ---------------------------------------------------------------------------
@pytest.fixture
def dinov2_file(tmp_path):
    path = tmp_path / 'dinov2_reg.safetensors'
    save_file(
        {
            k: v.contiguous()
            for k, v in _dinov2_registers().state_dict().items()
        }, str(path))
    return path


@pytest.mark.parametrize('kwargs,message', [
    (dict(num_registers=0), 'num_registers: checkpoint 4, config 0'),
    (dict(num_registers=2), 'num_registers: checkpoint 4, config 2'),
])
def test_register_count_mismatch(dinov2_file, kwargs, message):
    with pytest.raises(ValueError, match=message):
        _prompt_vit(dinov2_file, **DINOV2_KWARGS, **kwargs)


def test_patch_size_and_width_mismatch(dinov2_file):
    with pytest.raises(
            ValueError, match='patch_size: checkpoint 14, config 16'):
        model = PromptViT(
            arch=ARCH,
            img_size=32,
            patch_size=16,
            num_prompts=0,
            num_registers=REGS,
            init_cfg=dict(type='Pretrained', checkpoint=str(dinov2_file)))
        model.init_weights()
    with pytest.raises(
            ValueError, match='embed_dims: checkpoint 32, config 48'):
        _prompt_vit(
            dinov2_file,
            num_registers=REGS,
            **{
                **DINOV2_KWARGS, 'arch': dict(ARCH, embed_dims=48)
            })


def test_clip_without_pre_norm_in_config(tmp_path):
    path = tmp_path / 'clip.pt'
    torch.save(_open_clip_model().state_dict(), path)
    with pytest.raises(
            ValueError, match='pre_norm: checkpoint True, '
            'config False'):
        _prompt_vit(path)


def test_projection_asked_but_absent(dinov2_file):
    with pytest.raises(
            ValueError, match='projection_dims: checkpoint None, '
            'config 16'):
        _prompt_vit(
            dinov2_file,
            num_registers=REGS,
            projection_dims=16,
            **DINOV2_KWARGS)


def test_text_only_and_resnet_clip(tmp_path):
    text = {
        k: v
        for k, v in _open_clip_model().state_dict().items()
        if not k.startswith('visual.')
    }
    with pytest.raises(
            ValueError, match='CLIP text tower .* with no vision '
            'tower'):
        load_vit_checkpoint(text)
    resnet = open_clip.CLIP(
        embed_dim=PROJ,
        vision_cfg=dict(
            image_size=32, layers=(1, 1, 1, 1), width=8, head_width=8),
        text_cfg=dict(
            context_length=8, vocab_size=64, width=16, heads=2,
            layers=1)).state_dict()
    path = tmp_path / 'RN50.pt'
    torch.save(resnet, path)
    with pytest.raises(ValueError, match=r'convolutional \(ResNet\) CLIP'):
        load_vit_checkpoint(str(path))


def test_clip_file_given_to_swin(tmp_path):
    path = tmp_path / 'clip.pt'
    torch.save(_open_clip_model().state_dict(), path)
    model = PromptSwin(
        arch='tiny',
        img_size=32,
        num_prompts=0,
        init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(
            ValueError,
            match="plain ViT checkpoint .format "
            "'clip'.*PromptSwin needs Swin"):
        model.init_weights()


def test_bad_register_and_projection_args():
    with pytest.raises(
            ValueError, match='num_registers must be an int >= '
            '0, got -1'):
        PromptViT(
            arch=ARCH,
            img_size=IMG,
            patch_size=PATCH,
            num_prompts=0,
            num_registers=-1)
    with pytest.raises(
            ValueError,
            match="projection_dims projects the class "
            "token: it needs out_type='cls_token', got 'featmap'"):
        PromptViT(
            arch=ARCH,
            img_size=IMG,
            patch_size=PATCH,
            num_prompts=0,
            projection_dims=8,
            out_type='featmap')


def test_shared_prefix_with_registers(tmp_path):
    """The shared-prefix path inserts prompts after the registers too."""
    path, kwargs = _save_each_format(tmp_path)['hf-dinov2-registers']
    model = _prompt_vit(path, num_prompts=3, **kwargs)
    x = _images()
    with torch.no_grad():
        shared = model(x)[0]
        model.share_prompt_prefix = False
        _close(shared, model(x)[0])


def test_dinov2_repository_layout_with_registers(tmp_path):
    """The DINOv2 repository's ``dinov2_vitb14_reg4_pretrain.pth`` names
    (written here from the HuggingFace model by the repository's naming):
    ``register_tokens`` and a ``pos_embed`` with its class row."""
    ref = _dinov2_registers()
    hf = ref.state_dict()
    official = {
        'cls_token':
        hf['embeddings.cls_token'],
        'mask_token':
        hf['embeddings.mask_token'].reshape(1, D),
        'register_tokens':
        hf['embeddings.register_tokens'],
        'pos_embed':
        hf['embeddings.position_embeddings'],
        'patch_embed.proj.weight':
        hf['embeddings.patch_embeddings.projection.weight'],
        'patch_embed.proj.bias':
        hf['embeddings.patch_embeddings.projection.bias'],
        'norm.weight':
        hf['layernorm.weight'],
        'norm.bias':
        hf['layernorm.bias'],
    }
    names = dict(
        norm1='norm1',
        norm2='norm2',
        fc1='mlp.fc1',
        fc2='mlp.fc2',
        proj='attention.output.dense')
    for i in range(DEPTH):
        h, o = f'encoder.layer.{i}.', f'blocks.{i}.'
        for what in ('weight', 'bias'):
            official[o + f'attn.qkv.{what}'] = torch.cat([
                hf[h + f'attention.attention.{p}.{what}']
                for p in ('query', 'key', 'value')
            ])
            for mine, theirs in names.items():
                target = {
                    'norm1': 'norm1',
                    'norm2': 'norm2',
                    'fc1': 'mlp.fc1',
                    'fc2': 'mlp.fc2',
                    'proj': 'attn.proj'
                }[mine]
                official[o + f'{target}.{what}'] = hf[h + f'{theirs}.{what}']
        official[o + 'ls1.gamma'] = hf[h + 'layer_scale1.lambda1']
        official[o + 'ls2.gamma'] = hf[h + 'layer_scale2.lambda1']
    path = tmp_path / 'dinov2_vitt14_reg4_pretrain.pth'
    torch.save(official, path)
    assert load_vit_checkpoint(str(path))[1] == 'timm-registers'
    x = _images()
    with torch.no_grad():
        model = _prompt_vit(path, num_registers=REGS, **DINOV2_KWARGS)
        _close(model(x)[0], ref(pixel_values=x).pooler_output)


def test_spt_tokens_and_condensation_count_the_registers(tmp_path):
    """SPT's patch tokens and Prompt Condensation see the registers as extra
    tokens: prototypes come from the N patches only, and a condensed model
    with registers equals one built with the kept prompts."""
    from mmprompt.methods.pc import kept_positions
    from mmprompt.methods.spt.spt_init_hook import collect_patch_tokens
    path, kwargs = _save_each_format(tmp_path)['hf-dinov2-registers']
    model = _prompt_vit(path, num_prompts=3, **kwargs)
    x = _images()
    tokens, hw = collect_patch_tokens(model, [x], [0, 1])
    assert hw == (IMG // PATCH, ) * 2
    assert tokens[0].shape == (2, (IMG // PATCH)**2, D)

    keep = [torch.tensor([0, 2]), torch.tensor([1])]
    with torch.no_grad():
        model.keep_prompts(keep)
        condensed = model(x)[0]
    state = model.state_dict()
    full = _prompt_vit(path, num_prompts=3, **kwargs)
    kept = kept_positions(full, state, '')
    assert [k.tolist() for k in kept] == [[0, 2], [1]]
    fresh = _prompt_vit(path, num_prompts=[2, 1], **kwargs)
    fresh.load_state_dict(state)
    with torch.no_grad():
        _close(fresh(x)[0], condensed)
