"""ViT checkpoints: format detection, the dispatch to each source's
converter, the checks on the result, and the one entry point
:func:`load_vit_checkpoint`."""
import os
import os.path as osp
import re
from collections.abc import Mapping

from .common import GIVEN_DICT, log, prefixes_of, sample_keys, unwrap
from .onnx_graph import state_dict_from_onnx
from .readers import READABLE_EXTENSIONS, read_checkpoint_file
from .vit_clip import convert_clip
from .vit_hf import convert_hf_clip, convert_hf_dinov2
from .vit_timm import convert_google_npz, convert_mmpretrain, convert_timm

SUPPORTED_FORMATS = ('google-npz', 'timm', 'timm-registers', 'mae', 'mocov3',
                     'mocov3-linear', 'mmpretrain', 'hf-dinov2',
                     'hf-dinov2-registers', 'onnx-hf-dinov2', 'clip',
                     'hf-clip')
SUPPORTED_EXTENSIONS = READABLE_EXTENSIONS + ('.onnx', )

# Keys that identify a layout, each checked as a dotted suffix of a key.
_TIMM_KEY = 'patch_embed.proj.weight'
_MMPRETRAIN_KEY = 'patch_embed.projection.weight'
_HF_KEY = 'embeddings.patch_embeddings.projection.weight'
_HF_CLIP_KEY = 'embeddings.patch_embedding.weight'
_CLIP_KEY = 'transformer.resblocks.0.attn.in_proj_weight'
_NPZ_KEY = 'embedding/kernel'


def unrecognised_error(name, keys, reason=None):
    reason = reason or 'its keys match no supported ViT checkpoint format'
    return ValueError(
        f'Cannot convert {name} into mmpretrain VisionTransformer weights: '
        f'{reason}. Some of its keys: {sample_keys(keys)}. Supported '
        f'formats: {", ".join(SUPPORTED_FORMATS)}.')


# ---------------------------------------------------------------------------
# format detection
# ---------------------------------------------------------------------------
def _npz_prefix(keys):
    for key in keys:
        if isinstance(key, str) and (key == _NPZ_KEY
                                     or key.endswith('/' + _NPZ_KEY)):
            return key[:len(key) - len(_NPZ_KEY)]
    return None


def _detect_clip(keys):
    """``(format, prefix)`` of a CLIP vision tower, or None; raises for a
    CLIP file without a ViT vision tower."""
    key_set = set(keys)
    towers = [
        p for p in prefixes_of(keys, _CLIP_KEY)
        if p + 'conv1.weight' in key_set
    ]
    if towers:
        return 'clip', towers[0]
    hf = prefixes_of(keys, _HF_CLIP_KEY)
    if hf:
        return 'hf-clip', hf[0]
    if any(k.endswith('attnpool.c_proj.weight') for k in keys):
        raise ValueError(
            'it is a convolutional (ResNet) CLIP: its vision tower is a '
            'ModifiedResNet (attnpool.*, layer1.*), not a ViT; PromptViT '
            'takes CLIP ViT-B/32, ViT-B/16 or ViT-L/14')
    if any(k == 'token_embedding.weight'
           or k.endswith('.token_embedding.weight') for k in keys):
        raise ValueError(
            'it is a CLIP text tower (token_embedding, text transformer) '
            'with no vision tower')
    return None


def detect(checkpoint):
    """``(format, flat_state_dict, prefix)`` or ``None``.

    Raises ValueError for a file that is recognisably a model of a family
    mmprompt reads but has no ViT in it (a ResNet or text-only CLIP).
    """
    if not isinstance(checkpoint, Mapping):
        return None
    prefix = _npz_prefix(checkpoint.keys())
    if prefix is not None:
        return 'google-npz', checkpoint, prefix

    inner, wrapper = unwrap(checkpoint)
    keys = [k for k in inner.keys() if isinstance(k, str)]

    # timm-style keys (timm, MAE, MoCo v3)
    timm_prefixes = prefixes_of(keys, _TIMM_KEY)
    if 'module.base_encoder.' in timm_prefixes:
        return 'mocov3', inner, 'module.base_encoder.'
    if timm_prefixes:
        prefix = timm_prefixes[0]
        if prefix == 'module.' and wrapper == 'state_dict':
            return 'mocov3-linear', inner, prefix
        if wrapper == 'model' and prefix == '':
            return 'mae', inner, prefix
        if prefix + 'reg_token' in inner or \
                prefix + 'register_tokens' in inner:
            return 'timm-registers', inner, prefix
        return 'timm', inner, prefix

    # HuggingFace transformers Dinov2Model / Dinov2WithRegistersModel
    hf_prefixes = prefixes_of(keys, _HF_KEY)
    if hf_prefixes:
        prefix = hf_prefixes[0]
        if prefix + 'embeddings.register_tokens' in inner:
            return 'hf-dinov2-registers', inner, prefix
        return 'hf-dinov2', inner, prefix

    # mmpretrain (prefer the backbone of a full classifier)
    mm_prefixes = prefixes_of(keys, _MMPRETRAIN_KEY)
    if mm_prefixes:
        prefix = 'backbone.' if 'backbone.' in mm_prefixes else mm_prefixes[0]
        return 'mmpretrain', inner, prefix

    clip = _detect_clip(keys)
    if clip is not None:
        return clip[0], inner, clip[1]
    return None


def _detect_or_explain(checkpoint, name, keys):
    try:
        return detect(checkpoint)
    except ValueError as reason:  # a CLIP file with no ViT in it
        raise unrecognised_error(name, keys, str(reason)) from None


def detect_vit_format(checkpoint):
    """The name (one of :data:`SUPPORTED_FORMATS`) of the layout of a loaded
    checkpoint dict.

    Raises:
        ValueError: if the dict matches no supported format.
    """
    keys = list(unwrap(checkpoint)[0].keys()) if isinstance(
        checkpoint, Mapping) else []
    found = _detect_or_explain(checkpoint, GIVEN_DICT, keys)
    if found is None:
        raise unrecognised_error(GIVEN_DICT, keys)
    return found[0]


# ---------------------------------------------------------------------------
# conversion
# ---------------------------------------------------------------------------
_CONVERTERS = {
    'google-npz': convert_google_npz,
    'timm': convert_timm,
    'mae': convert_timm,
    'mocov3': convert_timm,
    'mocov3-linear': convert_timm,
    'mmpretrain': convert_mmpretrain,
    'timm-registers': convert_timm,
    'hf-dinov2': convert_hf_dinov2,
    'hf-dinov2-registers': convert_hf_dinov2,
    'clip': convert_clip,
    'hf-clip': convert_hf_clip,
    'onnx-hf-dinov2': convert_hf_dinov2,
}


def _check_layers(state_dict, name, fmt, source_keys):
    """Every transformer layer must have its attention weights."""
    layer_ids = sorted({
        int(m.group(1))
        for m in (re.match(r'^layers\.(\d+)\.', k) for k in state_dict) if m
    })
    missing = [
        f'layers.{i}.{leaf}' for i in layer_ids
        for leaf in ('attn.qkv.weight', 'attn.proj.weight')
        if f'layers.{i}.{leaf}' not in state_dict
    ]
    if not layer_ids or missing:
        raise unrecognised_error(
            name, list(source_keys), f'it looks like {fmt!r} but ' +
            (f'the converted weights lack {sample_keys(missing, 4)}'
             if missing else 'no transformer layer could be mapped'))


def _convert(checkpoint, name, logger=None):
    # the keys of the state dict inside a {'state_dict': ...} wrapper
    keys = list(unwrap(checkpoint)[0].keys()) if isinstance(
        checkpoint, Mapping) else []
    found = _detect_or_explain(checkpoint, name, keys)
    if found is None:
        raise unrecognised_error(name, keys)
    fmt, flat, prefix = found
    state_dict, unknown = _CONVERTERS[fmt](flat, prefix)
    _check_layers(state_dict, name, fmt, flat.keys())
    if unknown:
        log(
            f'{name}: {len(unknown)} key(s) of the {fmt} checkpoint have no '
            f'mmpretrain VisionTransformer counterpart and were dropped: '
            f'{sample_keys(unknown)}',
            logger,
            level=30)
    return state_dict, fmt


def convert_vit_state_dict(checkpoint):
    """Convert an already loaded checkpoint dict.

    Returns:
        tuple[OrderedDict, str]: the state dict in the names of
        :class:`mmpretrain.models.VisionTransformer` (no ``backbone.``
        prefix) and the recognised format.
    """
    return _convert(checkpoint, GIVEN_DICT)


# ---------------------------------------------------------------------------
# architecture
# ---------------------------------------------------------------------------
def vit_arch_from_state_dict(state_dict):
    """What can be read of the architecture from a converted state dict.

    Returns ``dict(embed_dims, num_layers, feedforward_channels, patch_size,
    has_layer_scale)`` (``num_heads`` cannot be inferred) plus
    ``pos_embed_tokens`` (length of ``pos_embed``, extra tokens included,
    or ``None``), ``final_norm`` (``ln1`` present), ``has_fc_norm``
    (``ln2`` of MAE's global pooling present), ``pre_norm`` (CLIP's norm
    before layer 0), ``num_registers`` (DINOv2's register tokens) and
    ``projection_dims`` (width of CLIP's projection, or ``None``).
    """
    proj = state_dict['patch_embed.projection.weight']
    layer_ids = {
        int(m.group(1))
        for m in (re.match(r'^layers\.(\d+)\.', k) for k in state_dict) if m
    }
    if 'layers.0.ffn.layers.0.0.weight' in state_dict:
        ffn = int(state_dict['layers.0.ffn.layers.0.0.weight'].shape[0])
    elif 'layers.0.ffn.w12.weight' in state_dict:  # SwiGLU: hidden of w12/2
        ffn = int(state_dict['layers.0.ffn.w12.weight'].shape[0]) // 2
    else:
        ffn = None
    kh, kw = int(proj.shape[-2]), int(proj.shape[-1])
    pos = state_dict.get('pos_embed')
    return dict(
        embed_dims=int(proj.shape[0]),
        num_layers=max(layer_ids) + 1 if layer_ids else 0,
        feedforward_channels=ffn,
        patch_size=kh if kh == kw else (kh, kw),
        has_layer_scale='layers.0.attn.gamma1.weight' in state_dict,
        pos_embed_tokens=None if pos is None else int(pos.shape[1]),
        final_norm='ln1.weight' in state_dict,
        has_fc_norm='ln2.weight' in state_dict,
        pre_norm='pre_norm.weight' in state_dict,
        num_registers=int(state_dict['register_tokens'].shape[1])
        if 'register_tokens' in state_dict else 0,
        projection_dims=int(state_dict['projection'].shape[1])
        if 'projection' in state_dict else None,
    )


# ---------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------
def load_onnx(path, logger=None):
    """The ViT weights of an ONNX graph exported from a HuggingFace DINOv2
    model (see :func:`~.onnx_graph.state_dict_from_onnx`)."""
    tensors, all_names = state_dict_from_onnx(path)
    found = detect(tensors) if tensors else None
    if found is None or not found[0].startswith('hf-dinov2'):
        raise unrecognised_error(
            path, all_names,
            'only ONNX graphs exported from HuggingFace DINOv2 models are '
            'supported and none was recognised in this graph')
    state_dict, unknown = convert_hf_dinov2(tensors, found[2])
    _check_layers(state_dict, path, 'onnx-hf-dinov2', all_names)
    if unknown:
        log(
            f'{path}: {len(unknown)} tensor(s) were dropped: '
            f'{sample_keys(unknown)}',
            logger,
            level=30)
    return state_dict, 'onnx-hf-dinov2'


def load_vit_checkpoint(source, map_location='cpu', logger=None):
    """Read a ViT checkpoint of any supported format.

    Args:
        source (str | os.PathLike | dict): a file (``.pth``, ``.pt``,
            ``.bin``, ``.tar``, ``.ckpt``, ``.safetensors``, ``.npz``,
            ``.onnx``) or an already loaded checkpoint dict.
        map_location: passed to ``torch.load``.
        logger: an mmengine logger (or its name); by default the current
            ``MMLogger`` instance.

    Returns:
        tuple[OrderedDict, str]: the state dict in the names of
        :class:`mmpretrain.models.VisionTransformer` (no ``backbone.``
        prefix) and the recognised format (one of
        :data:`SUPPORTED_FORMATS`).

    Raises:
        FileNotFoundError: ``source`` is a path that does not exist.
        ValueError: an unknown file extension, or nothing in the file maps
            onto a ViT of a supported format.
    """
    if isinstance(source, Mapping):
        name = GIVEN_DICT
        state_dict, fmt = _convert(source, name, logger)
    else:
        name = os.fspath(source)
        if osp.splitext(name)[1].lower() == '.onnx':
            if not osp.isfile(name):
                raise FileNotFoundError(f'ViT checkpoint not found: {name!r}')
            state_dict, fmt = load_onnx(name, logger)
        else:
            checkpoint = read_checkpoint_file(
                name,
                map_location,
                logger,
                formats=SUPPORTED_FORMATS,
                extensions=SUPPORTED_EXTENSIONS)
            state_dict, fmt = _convert(checkpoint, name, logger)
    log(
        f'Recognised checkpoint format: {fmt} ({name}, '
        f'{len(state_dict)} tensors)', logger)
    return state_dict, fmt
