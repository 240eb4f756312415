"""Swin checkpoints in the formats users have (official Microsoft release,
timm, mmpretrain) load into PromptSwin with outputs equal to timm's
independent Swin implementation on tiny random models."""
import logging
import os.path as osp
import re

import pytest
import torch
from mmengine.logging import MMLogger
from mmpretrain.models import SwinTransformer
from safetensors.torch import save_file
from timm.models.swin_transformer import SwinTransformer as TimmSwin
from timm.models.swin_transformer import checkpoint_filter_fn
from timm.models.vision_transformer import VisionTransformer as TimmViT

from mmprompt.registry import MODELS
from mmprompt.utils.checkpoint_converters import convert_swin_file as swin_tool
from mmprompt.utils.checkpoint_converters import (convert_swin_state_dict,
                                                  detect_swin_format,
                                                  load_swin_checkpoint,
                                                  load_vit_checkpoint,
                                                  merge_channel_order)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
IMG, PATCH, WINDOW = 64, 4, 4  # maps of 16, 8, 4: shifted windows in 2 stages
DIMS, DEPTHS, HEADS = 16, (2, 2, 2), (2, 4, 8)
ARCH = dict(embed_dims=DIMS, depths=list(DEPTHS), num_heads=list(HEADS))


class _Records(logging.Handler):

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def records():
    handler = _Records()
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def _timm_swin(seed=0):
    model = TimmSwin(
        img_size=IMG,
        patch_size=PATCH,
        window_size=WINDOW,
        embed_dim=DIMS,
        depths=DEPTHS,
        num_heads=HEADS,
        num_classes=7)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # random everywhere, norms around 1
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=gen)
            param.copy_(1 + 0.1 * noise if 'norm' in name
                        and name.endswith('weight') else 0.2 * noise)
    return model.eval()


def _official(timm_model):
    """The official release's layout of a timm model: merges at the end of
    the previous stage, ``head.*``, index and mask buffers stored."""
    out = {}
    for key, value in timm_model.state_dict().items():
        key = re.sub(r'layers\.(\d+)\.downsample',
                     lambda m: f'layers.{int(m.group(1)) - 1}.downsample',
                     key).replace('head.fc.', 'head.')
        out[key] = value
    for stage, depth in enumerate(DEPTHS):
        for block in range(depth):
            p = f'layers.{stage}.blocks.{block}.'
            out[p + 'attn.relative_position_index'] = torch.zeros(
                WINDOW**4, dtype=torch.long)
            out[p + 'attn_mask'] = torch.zeros(4, WINDOW**2, WINDOW**2)
    return {'model': out}


def _timm_features(model, x):
    with torch.no_grad():
        return model.forward_head(model.forward_features(x), pre_logits=True)


def _prompt_swin(checkpoint, num_prompts=0, out_indices=(2, )):
    model = MODELS.build(
        dict(
            type='mmprompt.PromptSwin',
            arch=ARCH,
            img_size=IMG,
            patch_size=PATCH,
            window_size=WINDOW,
            num_prompts=num_prompts,
            out_indices=out_indices,
            init_cfg=dict(type='Pretrained', checkpoint=str(checkpoint))))
    model.init_weights()
    model.eval()
    return model


def _pooled(model, x):
    with torch.no_grad():
        return model(x)[-1].mean((2, 3))


def _images():
    return torch.randn(
        2, 3, IMG, IMG, generator=torch.Generator().manual_seed(1))


def test_the_official_layout_used_here_is_the_one_timm_converts():
    """timm's own converter of official files gives back the timm model's
    state dict from our synthetic official file (an independent check of
    the test fixture)."""
    ref = _timm_swin()
    back = checkpoint_filter_fn(_official(ref), ref)
    own = ref.state_dict()
    assert set(back) == {
        k
        for k in own
        if 'relative_position_index' not in k and 'attn_mask' not in k
    }
    for k, v in back.items():
        assert torch.equal(v, own[k]), k


def test_merge_channel_order_by_hand():
    # C = 2; mmpretrain channel c*4 + 2*row + col takes the official
    # channel (2*col + row)*2 + c
    assert merge_channel_order(2).tolist() == [0, 4, 2, 6, 1, 5, 3, 7]


@pytest.mark.parametrize('fmt,container', [('swin-official', '.pth'),
                                           ('timm-swin', '.pth'),
                                           ('timm-swin', '.safetensors')])
def test_prompt_swin_loads_the_file_and_equals_timm(tmp_path, records, fmt,
                                                    container):
    ref = _timm_swin()
    path = tmp_path / f'swin{container}'
    if fmt == 'swin-official':
        torch.save(_official(ref), path)
    elif container == '.safetensors':
        save_file({
            k: v.contiguous()
            for k, v in ref.state_dict().items()
        }, str(path))
    else:
        torch.save(ref.state_dict(), path)
    x = _images()
    model = _prompt_swin(path)
    assert any(f'Recognised checkpoint format: {fmt}' in m for m in records)
    torch.testing.assert_close(
        _pooled(model, x), _timm_features(ref, x), atol=1e-5, rtol=1e-5)

    # with prompts the same pretrained weights load and the prompts keep
    # their initialisation
    prompted = _prompt_swin(path, num_prompts=3)
    own = model.state_dict()
    for k, v in prompted.state_dict().items():
        if not k.startswith('prompts.'):
            assert torch.equal(v, own[k]), k
    assert not torch.equal(_pooled(prompted, x), _pooled(model, x))


def test_convert_swin_tool_writes_an_mmpretrain_checkpoint(tmp_path, capsys):
    from mmengine.runner import load_checkpoint

    ref = _timm_swin(seed=3)
    src, dst = tmp_path / 'official.pth', tmp_path / 'out' / 'mm.pth'
    torch.save(_official(ref), src)
    tool = swin_tool
    tool.main([str(src), str(dst)])
    printed = capsys.readouterr().out
    assert 'Recognised checkpoint format: swin-official' in printed
    assert f'embed_dims={DIMS}, depths={list(DEPTHS)}' in printed

    ckpt = torch.load(dst, weights_only=True)
    assert all(k.startswith('backbone.') for k in ckpt['state_dict'])
    assert detect_swin_format(ckpt) == 'mmpretrain'
    x = _images()
    # plain mmpretrain Swin through mmengine's loader ...
    plain = SwinTransformer(
        arch=ARCH,
        img_size=IMG,
        patch_size=PATCH,
        window_size=WINDOW,
        out_indices=(2, ))
    load_checkpoint(
        plain, str(dst), revise_keys=[(r'^backbone\.', '')], strict=True)
    plain.eval()
    torch.testing.assert_close(
        _pooled(plain, x), _timm_features(ref, x), atol=1e-5, rtol=1e-5)
    # ... and PromptSwin through the converter (mmpretrain format)
    torch.testing.assert_close(
        _pooled(_prompt_swin(dst), x),
        _timm_features(ref, x),
        atol=1e-5,
        rtol=1e-5)


def test_norms_of_extra_out_indices_start_fresh_and_are_named(
        tmp_path, records):
    ref = _timm_swin()
    path = tmp_path / 'swin.pth'
    torch.save(_official(ref), path)
    model = _prompt_swin(path, out_indices=(0, 1, 2))
    assert torch.equal(model.norm0.weight, torch.ones(DIMS))
    assert torch.equal(model.norm2.weight, ref.norm.weight)
    assert any('initialised' in m and 'norm0.weight' in m and 'norm1.bias' in m
               for m in records)


def test_missing_blocks_are_an_error_naming_them(tmp_path):
    ckpt = _official(_timm_swin())
    ckpt['model'] = {
        k: v
        for k, v in ckpt['model'].items()
        if not k.startswith('layers.2.blocks.1.')
    }
    path = tmp_path / 'truncated.pth'
    torch.save(ckpt, path)
    with pytest.raises(
            ValueError,
            match=r'does not fit PromptSwin: missing '
            r"\['stages\.2\.blocks\.1\."):
        _prompt_swin(path)


def test_a_vit_checkpoint_is_not_a_swin_checkpoint_and_vice_versa(tmp_path):
    vit = TimmViT(
        img_size=32, patch_size=8, embed_dim=16, depth=1, num_heads=2)
    with pytest.raises(
            ValueError,
            match="plain ViT checkpoint .format 'timm'."
            r'.*PromptSwin needs Swin.*swin-official, timm-swin, '
            'mmpretrain'):
        convert_swin_state_dict(vit.state_dict())
    path = tmp_path / 'official.pth'
    torch.save(_official(_timm_swin()), path)
    with pytest.raises(ValueError, match='VisionTransformer weights'):
        load_vit_checkpoint(str(path))


def test_bad_files(tmp_path):
    with pytest.raises(
            FileNotFoundError,
            match="Swin checkpoint not found: '.*nothing.pth'"):
        load_swin_checkpoint(str(tmp_path / 'nothing.pth'))
    onnx = tmp_path / 'swin.onnx'
    onnx.write_bytes(b'\0')
    with pytest.raises(
            ValueError,
            match=r"Unknown Swin checkpoint file extension "
            r"'\.onnx'.*\.safetensors"):
        load_swin_checkpoint(str(onnx))
