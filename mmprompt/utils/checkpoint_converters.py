"""Convert the ViT checkpoints users bring into mmpretrain's names.

One entry point, :func:`load_vit_checkpoint`, reads a file (``.pth``,
``.pt``, ``.bin``, ``.tar``, ``.ckpt``, ``.safetensors``, ``.npz``,
``.onnx``) or takes an already loaded dict, recognises its layout without
any user flag, and returns the state dict of
:class:`mmpretrain.models.VisionTransformer` (names without a ``backbone.``
prefix) together with the name of the recognised format.

Recognised formats (:data:`SUPPORTED_FORMATS`):

``google-npz``
    Google's original ``.npz`` (``embedding/kernel``, ``cls``,
    ``Transformer/encoderblock_{i}/...``), also with the ``opt/target/``
    prefix, big_vision block naming and scanned (stacked) blocks.
``timm``
    timm's ``VisionTransformer`` state dict (``blocks.{i}.attn.qkv``), bare
    or under ``state_dict`` or any other prefix.
``mae``
    The official MAE checkpoints: ``{'model': <timm keys>}``; the decoder
    and ``mask_token`` of pretraining checkpoints are dropped, ``fc_norm``
    of global-pool fine-tuned models becomes ``ln2``.
``mocov3``
    Official MoCo v3 SSL checkpoints: ``{'state_dict':
    {'module.base_encoder.<timm keys>', 'module.momentum_encoder.*',
    'module.predictor.*'}}``: the base encoder is kept.
``mocov3-linear``
    MoCo v3's linear-probe checkpoints ``{'state_dict': {'module.<timm
    keys>', 'module.head.*'}}``.
``mmpretrain``
    ``{'state_dict': {'backbone.<names>', 'head.*'}}`` or a bare backbone
    dict; every backbone key (for instance ``prompts.*`` of a prompted
    backbone) is kept.
``hf-dinov2``
    HuggingFace transformers ``Dinov2Model`` state dicts (any common prefix
    such as ``dinov2.`` or ``backbone.``); ``mask_token`` is dropped.
``onnx-hf-dinov2``
    An ONNX file exported from such a model: named initializers give the
    HuggingFace names, the anonymous (transposed) linear weights are
    resolved through the ``MatMul``/``Gemm`` node that consumes them and
    the position embedding, split by the exporter into a class part and a
    patch part, is put back together.
"""
import os
import os.path as osp
import pickle
import re
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
import torch

__all__ = [
    'SUPPORTED_FORMATS', 'load_vit_checkpoint', 'convert_vit_state_dict',
    'detect_vit_format', 'vit_arch_from_state_dict', 'read_checkpoint_file'
]

SUPPORTED_FORMATS = ('google-npz', 'timm', 'mae', 'mocov3', 'mocov3-linear',
                     'mmpretrain', 'hf-dinov2', 'onnx-hf-dinov2')

TORCH_EXTENSIONS = ('.pth', '.pt', '.bin', '.tar', '.ckpt')
SUPPORTED_EXTENSIONS = TORCH_EXTENSIONS + ('.safetensors', '.npz', '.onnx')

# Keys that identify a layout, each checked as a dotted suffix of a key.
_TIMM_KEY = 'patch_embed.proj.weight'
_MMPRETRAIN_KEY = 'patch_embed.projection.weight'
_HF_KEY = 'embeddings.patch_embeddings.projection.weight'
_NPZ_KEY = 'embedding/kernel'

_GIVEN_DICT = 'the given dict'


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------
def _log(msg, logger=None, level=None):
    """Log through mmengine's current logger (``print_log``)."""
    import logging

    from mmengine.logging import print_log
    print_log(msg,
              logger=logger if logger is not None else 'current',
              level=level if level is not None else logging.INFO)


def _to_tensor(value):
    """A tensor for ``value`` (numpy arrays included), else ``None``."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return None
        return torch.from_numpy(np.ascontiguousarray(value))
    return None


def _key_suffix_match(key, suffix):
    """Whether ``key`` is ``suffix`` or ends with ``'.' + suffix``."""
    return key == suffix or key.endswith('.' + suffix)


def _prefixes_of(keys, suffix):
    """The prefixes (ending with '.', or '') of keys that end with
    ``suffix``."""
    return sorted(
        {
            k[:len(k) - len(suffix)]
            for k in keys if _key_suffix_match(k, suffix)
        },
        key=len)


def _sample_keys(keys, num=8):
    keys = [str(k) for k in keys]
    shown = ', '.join(repr(k) for k in keys[:num])
    if len(keys) > num:
        shown += f', ... ({len(keys)} keys in all)'
    return shown or '(no keys)'


def _unrecognised_error(name, keys, reason=None):
    reason = reason or 'its keys match no supported ViT checkpoint format'
    return ValueError(
        f'Cannot convert {name} into mmpretrain VisionTransformer weights: '
        f'{reason}. Some of its keys: {_sample_keys(keys)}. Supported '
        f'formats: {", ".join(SUPPORTED_FORMATS)}.')


def _is_state_dict_like(obj):
    return isinstance(obj, Mapping) and len(obj) > 0 and any(
        isinstance(v, (torch.Tensor, np.ndarray)) for v in obj.values())


def _unwrap(checkpoint):
    """``(inner_state_dict, wrapper_key)`` of a loaded checkpoint."""
    for wrapper in ('state_dict', 'model', 'module'):
        inner = checkpoint.get(wrapper) if isinstance(checkpoint,
                                                      Mapping) else None
        if _is_state_dict_like(inner):
            return inner, wrapper
    return checkpoint, None


def _strip(state_dict, prefix):
    """The entries of ``state_dict`` under ``prefix``, prefix removed."""
    return OrderedDict((k[len(prefix):], v) for k, v in state_dict.items()
                       if k.startswith(prefix))


# ---------------------------------------------------------------------------
# format detection
# ---------------------------------------------------------------------------
def _npz_prefix(keys):
    for key in keys:
        if isinstance(key, str) and (key == _NPZ_KEY
                                     or key.endswith('/' + _NPZ_KEY)):
            return key[:len(key) - len(_NPZ_KEY)]
    return None


def _detect(checkpoint):
    """``(format, flat_state_dict, prefix)`` or ``None``."""
    if not isinstance(checkpoint, Mapping):
        return None
    prefix = _npz_prefix(checkpoint.keys())
    if prefix is not None:
        return 'google-npz', checkpoint, prefix

    inner, wrapper = _unwrap(checkpoint)
    keys = [k for k in inner.keys() if isinstance(k, str)]

    # timm-style keys (timm, MAE, MoCo v3)
    timm_prefixes = _prefixes_of(keys, _TIMM_KEY)
    if 'module.base_encoder.' in timm_prefixes:
        return 'mocov3', inner, 'module.base_encoder.'
    if timm_prefixes:
        prefix = timm_prefixes[0]
        if prefix == 'module.' and wrapper == 'state_dict':
            return 'mocov3-linear', inner, prefix
        if wrapper == 'model' and prefix == '':
            return 'mae', inner, prefix
        return 'timm', inner, prefix

    # HuggingFace transformers Dinov2Model
    hf_prefixes = _prefixes_of(keys, _HF_KEY)
    if hf_prefixes:
        return 'hf-dinov2', inner, hf_prefixes[0]

    # mmpretrain (prefer the backbone of a full classifier)
    mm_prefixes = _prefixes_of(keys, _MMPRETRAIN_KEY)
    if mm_prefixes:
        prefix = 'backbone.' if 'backbone.' in mm_prefixes else mm_prefixes[0]
        return 'mmpretrain', inner, prefix
    return None


def detect_vit_format(checkpoint):
    """The name (one of :data:`SUPPORTED_FORMATS`) of the layout of a loaded
    checkpoint dict.

    Raises:
        ValueError: if the dict matches no supported format.
    """
    found = _detect(checkpoint)
    if found is None:
        keys = checkpoint.keys() if isinstance(checkpoint, Mapping) else []
        raise _unrecognised_error(_GIVEN_DICT, list(keys))
    return found[0]


# ---------------------------------------------------------------------------
# converters (each returns an OrderedDict in mmpretrain names)
# ---------------------------------------------------------------------------
_TIMM_BLOCK_MAP = (
    ('norm1.', 'ln1.'),
    ('attn.qkv.', 'attn.qkv.'),
    ('attn.proj.', 'attn.proj.'),
    ('ls1.gamma', 'attn.gamma1.weight'),
    ('norm2.', 'ln2.'),
    ('mlp.fc1.', 'ffn.layers.0.0.'),
    ('mlp.fc2.', 'ffn.layers.1.'),
    ('ls2.gamma', 'ffn.gamma2.weight'),
)
_TIMM_TOP_MAP = (
    ('cls_token', 'cls_token'),
    ('pos_embed', 'pos_embed'),
    ('patch_embed.proj.', 'patch_embed.projection.'),
    ('norm_pre.', 'pre_norm.'),
    ('norm.', 'ln1.'),
    ('fc_norm.', 'ln2.'),
)
# dropped on purpose: classifier heads, the MAE decoder, MoCo's projector
_TIMM_DROPPED = re.compile(
    r'^(head|head_dist|pre_logits|decoder_\w+|decoder|mask_token)(\.|$)')


def _rename(key, table):
    for old, new in table:
        if key == old or (old.endswith('.') and key.startswith(old)):
            return new + key[len(old):] if old.endswith('.') else new
    return None


def _convert_timm(state_dict, prefix=''):
    sd = _strip(state_dict, prefix)
    out = OrderedDict()
    unknown = []
    for key, value in sd.items():
        tensor = _to_tensor(value)
        if tensor is None:
            continue
        match = re.match(r'^blocks\.(\d+)\.(.*)$', key)
        if match:
            new = _rename(match.group(2), _TIMM_BLOCK_MAP)
            if new is not None:
                out[f'layers.{match.group(1)}.{new}'] = tensor
            else:
                unknown.append(key)
            continue
        new = _rename(key, _TIMM_TOP_MAP)
        if new is not None:
            out[new] = tensor
        elif not _TIMM_DROPPED.match(key):
            unknown.append(key)
    return out, unknown


def _convert_mmpretrain(state_dict, prefix=''):
    out = OrderedDict()
    for key, value in _strip(state_dict, prefix).items():
        tensor = _to_tensor(value)
        if tensor is not None:
            out[key] = tensor
    return out, []


def _cat_qkv(out, layer, parts, what):
    """Fuse separate query, key, value tensors into ``attn.qkv``."""
    missing = [
        n for n, p in zip(('query', 'key', 'value'), parts) if p is None
    ]
    if missing:
        raise ValueError(
            f'layer {layer}: the attention {what} lacks {missing}; cannot '
            'fuse q, k, v')
    out[f'layers.{layer}.attn.qkv.{what}'] = torch.cat(list(parts), dim=0)


_HF_LAYER_MAP = (
    ('norm1.', 'ln1.'),
    ('attention.output.dense.', 'attn.proj.'),
    ('layer_scale1.lambda1', 'attn.gamma1.weight'),
    ('norm2.', 'ln2.'),
    ('mlp.fc1.', 'ffn.layers.0.0.'),
    ('mlp.fc2.', 'ffn.layers.1.'),
    ('mlp.weights_in.', 'ffn.w12.'),
    ('mlp.weights_out.', 'ffn.w3.'),
    ('layer_scale2.lambda1', 'ffn.gamma2.weight'),
)
_HF_TOP_MAP = (
    ('embeddings.cls_token', 'cls_token'),
    ('embeddings.position_embeddings', 'pos_embed'),
    ('embeddings.patch_embeddings.projection.', 'patch_embed.projection.'),
    ('layernorm.', 'ln1.'),
)
_HF_DROPPED = re.compile(r'^(embeddings\.mask_token|pooler\.)')


def _convert_hf_dinov2(state_dict, prefix=''):
    sd = _strip(state_dict, prefix)
    out = OrderedDict()
    unknown = []
    qkv = {}  # (layer, 'weight'/'bias') -> [q, k, v]
    for key, value in sd.items():
        tensor = _to_tensor(value)
        if tensor is None:
            continue
        match = re.match(r'^encoder\.layer\.(\d+)\.(.*)$', key)
        if match:
            layer, rest = match.group(1), match.group(2)
            attn = re.match(
                r'^attention\.attention\.(query|key|value)\.(weight|bias)$',
                rest)
            if attn:
                slot = ('query', 'key', 'value').index(attn.group(1))
                qkv.setdefault((layer, attn.group(2)),
                               [None, None, None])[slot] = tensor
                continue
            new = _rename(rest, _HF_LAYER_MAP)
            if new is not None:
                out[f'layers.{layer}.{new}'] = tensor
            else:
                unknown.append(key)
            continue
        new = _rename(key, _HF_TOP_MAP)
        if new is not None:
            out[new] = tensor
        elif not _HF_DROPPED.match(key):
            unknown.append(key)
    for (layer, what), parts in sorted(qkv.items(),
                                       key=lambda kv:
                                       (int(kv[0][0]), kv[0][1])):
        _cat_qkv(out, layer, parts, what)
    return out, unknown


def _convert_google_npz(weights, prefix=''):
    """Google's ViT ``.npz`` (the layout timm's ``_load_weights`` reads)."""

    def get(name):
        value = weights.get(prefix + name)
        return None if value is None else np.asarray(value)

    def put(out, name, value):
        if value is not None:
            out[name] = torch.from_numpy(np.ascontiguousarray(value))

    out = OrderedDict()
    kernel = get('embedding/kernel')
    if kernel is not None and kernel.ndim == 4:  # HWIO -> OIHW
        kernel = kernel.transpose(3, 2, 0, 1)
    put(out, 'patch_embed.projection.weight', kernel)
    put(out, 'patch_embed.projection.bias', get('embedding/bias'))
    put(out, 'cls_token', get('cls'))
    pos = get('Transformer/posembed_input/pos_embedding')
    if pos is None:  # big_vision
        pos = get('pos_embedding')
    put(out, 'pos_embed', pos)
    put(out, 'ln1.weight', get('Transformer/encoder_norm/scale'))
    put(out, 'ln1.bias', get('Transformer/encoder_norm/bias'))

    keys = [k for k in weights.keys() if isinstance(k, str)]
    if any(k.startswith(prefix + 'Transformer/encoderblock/') for k in keys):
        # scanned blocks (big_vision): every array has a leading layer axis
        base = 'Transformer/encoderblock/'
        num_layers = get(base + 'LayerNorm_0/scale').shape[0]

        def block_get(i, name):
            value = get(base + name)
            return None if value is None else value[i]
    else:
        layer_ids = {
            int(m.group(1))
            for m in (re.match(
                re.escape(prefix) + r'Transformer/encoderblock_(\d+)/', k)
                      for k in keys) if m
        }
        num_layers = max(layer_ids) + 1 if layer_ids else 0

        def block_get(i, name):
            return get(f'Transformer/encoderblock_{i}/{name}')

    # original naming vs big_vision naming of the sub-modules
    if any('MultiHeadDotProductAttention_1/' in k for k in keys):
        mha, ln2, mlp = 'MultiHeadDotProductAttention_1', 'LayerNorm_2', \
            'MlpBlock_3'
    else:
        mha, ln2, mlp = 'MultiHeadDotProductAttention_0', 'LayerNorm_1', \
            'MlpBlock_0'

    for i in range(num_layers):
        p = f'layers.{i}.'
        put(out, p + 'ln1.weight', block_get(i, 'LayerNorm_0/scale'))
        put(out, p + 'ln1.bias', block_get(i, 'LayerNorm_0/bias'))
        qkv_w, qkv_b = [], []
        for n in ('query', 'key', 'value'):
            w = block_get(i, f'{mha}/{n}/kernel')  # [D, heads, head_dim]
            b = block_get(i, f'{mha}/{n}/bias')  # [heads, head_dim]
            if w is None:
                raise ValueError(
                    f'google-npz: encoder block {i} lacks {mha}/{n}/kernel')
            qkv_w.append(w.reshape(w.shape[0], -1).T)
            if b is not None:
                qkv_b.append(b.reshape(-1))
        put(out, p + 'attn.qkv.weight', np.concatenate(qkv_w, axis=0))
        if qkv_b:
            put(out, p + 'attn.qkv.bias', np.concatenate(qkv_b, axis=0))
        w = block_get(i, f'{mha}/out/kernel')  # [heads, head_dim, D]
        put(out, p + 'attn.proj.weight', w.reshape(-1, w.shape[-1]).T)
        put(out, p + 'attn.proj.bias', block_get(i, f'{mha}/out/bias'))
        put(out, p + 'ln2.weight', block_get(i, f'{ln2}/scale'))
        put(out, p + 'ln2.bias', block_get(i, f'{ln2}/bias'))
        w = block_get(i, f'{mlp}/Dense_0/kernel')
        put(out, p + 'ffn.layers.0.0.weight', None if w is None else w.T)
        put(out, p + 'ffn.layers.0.0.bias', block_get(i,
                                                      f'{mlp}/Dense_0/bias'))
        w = block_get(i, f'{mlp}/Dense_1/kernel')
        put(out, p + 'ffn.layers.1.weight', None if w is None else w.T)
        put(out, p + 'ffn.layers.1.bias', block_get(i, f'{mlp}/Dense_1/bias'))
    return out, []


_CONVERTERS = {
    'google-npz': _convert_google_npz,
    'timm': _convert_timm,
    'mae': _convert_timm,
    'mocov3': _convert_timm,
    'mocov3-linear': _convert_timm,
    'mmpretrain': _convert_mmpretrain,
    'hf-dinov2': _convert_hf_dinov2,
    'onnx-hf-dinov2': _convert_hf_dinov2,
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
        raise _unrecognised_error(
            name, list(source_keys), f'it looks like {fmt!r} but ' +
            (f'the converted weights lack {_sample_keys(missing, 4)}'
             if missing else 'no transformer layer could be mapped'))


def _convert(checkpoint, name, logger=None):
    found = _detect(checkpoint)
    # the keys of the state dict inside a {'state_dict': ...} wrapper
    keys = list(_unwrap(checkpoint)[0].keys()) if isinstance(
        checkpoint, Mapping) else []
    if found is None:
        raise _unrecognised_error(name, keys)
    fmt, flat, prefix = found
    state_dict, unknown = _CONVERTERS[fmt](flat, prefix)
    _check_layers(state_dict, name, fmt, flat.keys())
    if unknown:
        _log(
            f'{name}: {len(unknown)} key(s) of the {fmt} checkpoint have no '
            f'mmpretrain VisionTransformer counterpart and were dropped: '
            f'{_sample_keys(unknown)}',
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
    return _convert(checkpoint, _GIVEN_DICT)


# ---------------------------------------------------------------------------
# architecture
# ---------------------------------------------------------------------------
def vit_arch_from_state_dict(state_dict):
    """What can be read of the architecture from a converted state dict.

    Returns ``dict(embed_dims, num_layers, feedforward_channels, patch_size,
    has_layer_scale)`` (``num_heads`` cannot be inferred) plus
    ``pos_embed_tokens`` (length of ``pos_embed``, extra tokens included,
    or ``None``), ``final_norm`` (``ln1`` present) and ``has_fc_norm``
    (``ln2`` of MAE's global pooling present).
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
    )


# ---------------------------------------------------------------------------
# file readers
# ---------------------------------------------------------------------------
class _Placeholder:
    """Stands in for a non-tensor object of a checkpoint that
    ``weights_only`` loading does not allow (``argparse.Namespace`` of MAE,
    mmengine's ``HistoryBuffer`` ...); it never runs the original code."""

    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs

    def __setstate__(self, state):
        self.state = state

    def __setitem__(self, key, value):
        pass

    def append(self, value):
        pass

    def extend(self, values):
        pass

    def __call__(self, *args, **kwargs):
        return _Placeholder(*args, **kwargs)


def _torch_load(path, map_location, logger=None):
    """``torch.load`` with ``weights_only=True``; objects other than tensors
    and plain containers are replaced by placeholders rather than
    unpickled."""
    from .compat import register_checkpoint_safe_globals

    # the numpy / mmengine types of mmengine's own checkpoints
    register_checkpoint_safe_globals()
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as first_error:
        get_unsafe = getattr(torch.serialization,
                             'get_unsafe_globals_in_checkpoint', None)
        if get_unsafe is None:
            raise
        try:
            names = get_unsafe(path)
        except Exception:  # noqa: BLE001
            raise first_error
        if not names:
            raise
        stubs = [(type(name.rsplit('.', 1)[-1], (_Placeholder, ), {}), name)
                 for name in names]
        with torch.serialization.safe_globals(stubs):
            checkpoint = torch.load(path,
                                    map_location=map_location,
                                    weights_only=True)
        _log(
            f'{path}: non-tensor objects of types {sorted(names)} were '
            'replaced by placeholders (weights_only loading)', logger)
        return checkpoint


def _load_safetensors(path):
    from safetensors.torch import load_file
    return load_file(path, device='cpu')


def _load_npz(path):
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _onnx_scope(node_name):
    """``'/backbone/encoder/layer.0/mlp/fc1/MatMul'`` ->
    ``'backbone.encoder.layer.0.mlp.fc1'``."""
    parts = [p for p in node_name.split('/') if p]
    return '.'.join(parts[:-1])


_HF_LINEAR_SCOPE = re.compile(
    r'(^|\.)encoder\.layer\.\d+\.(attention\.attention\.(query|key|value)|'
    r'attention\.output\.dense|mlp\.(fc1|fc2|weights_in|weights_out))$')
_HF_NORM_SCOPE = re.compile(
    r'(^|\.)(encoder\.layer\.\d+\.norm[12]|layernorm)$')
_HF_LAYER_SCALE_SCOPE = re.compile(
    r'(^|\.)encoder\.layer\.\d+\.layer_scale[12]$')
_HF_PATCH_SCOPE = re.compile(
    r'(^|\.)embeddings\.patch_embeddings\.projection$')


def _state_dict_from_onnx(path):
    """Named tensors of an ONNX graph exported from a HuggingFace DINOv2
    model.

    The exporter keeps the names of the parameters it stores as they are
    (``backbone.encoder.layer.0.norm1.weight``), stores the weights of
    linear layers transposed under anonymous names (``onnx::MatMul_1966``),
    splits the position embedding into a class part and a patch part, and
    stores identical tensors once (under the name of their first user). So
    every parameter is (also) resolved through the node that consumes it:
    the node's name gives the module (``/backbone/encoder/layer.0/mlp/fc1/
    MatMul`` -> ``backbone.encoder.layer.0.mlp.fc1``), its type and input
    slot the parameter.

    Returns ``(tensors, all_names)``: ``tensors`` in HuggingFace names (with
    the graph's prefix, e.g. ``backbone.``), ``all_names`` the names of all
    initializers (for error messages).
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    graph = model.graph
    consts = OrderedDict((init.name, init) for init in graph.initializer)
    all_names = [init.name for init in graph.initializer]
    for node in graph.node:  # in topological order
        if node.op_type == 'Constant' and len(node.output) == 1:
            # tensors folded into Constant nodes
            for att in node.attribute:
                if att.name == 'value':
                    consts.setdefault(node.output[0], att.t)
        elif node.op_type == 'Identity' and node.input[0] in consts:
            # the exporter stores identical tensors once and gives the other
            # names through Identity nodes
            consts.setdefault(node.output[0], consts[node.input[0]])
            all_names.append(node.output[0])
    producers = {out: node for node in graph.node for out in node.output}
    consumers = {}
    for node in graph.node:
        for idx, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node, idx))

    arrays = {}

    def array(name):
        if name not in arrays:
            arrays[name] = numpy_helper.to_array(consts[name])
        return arrays[name]

    def attr(node, name, default=None):
        for att in node.attribute:
            if att.name == name:
                return onnx.helper.get_attribute_value(att)
        return default

    tensors = OrderedDict()
    prefixes = _prefixes_of(all_names, _HF_KEY)
    if not prefixes:
        return tensors, all_names
    prefix = prefixes[0]

    def put(key, value):
        if key not in tensors:
            tensors[key] = torch.from_numpy(np.array(value, copy=True))

    # 1. named initializers keep their (HuggingFace) names
    for name in all_names:
        if name.startswith(prefix):
            put(name, array(name))

    def const_input(node, idx, ndim=None):
        """Name of the constant fed to ``node.input[idx]`` (or None)."""
        if idx >= len(node.input) or node.input[idx] not in consts:
            return None
        name = node.input[idx]
        if ndim is not None and array(name).ndim != ndim:
            return None
        return name

    def linear_weight(node):
        """The [out, in] weight of a MatMul/Gemm node, or None."""
        src = node.input[1]
        transposed = False
        if src not in consts and src in producers and \
                producers[src].op_type == 'Transpose':
            trans = producers[src]
            if attr(trans, 'perm') in (None, [1, 0]):
                src, transposed = trans.input[0], True
        if src not in consts or array(src).ndim != 2:
            return None
        w = array(src)
        if node.op_type == 'Gemm':
            trans_b = bool(attr(node, 'transB', 0))
            return w if trans_b != transposed else w.T
        return w if transposed else w.T  # MatMul: y = x @ w, w is [in, out]

    # 2. every parameter through the node that consumes it
    for node in graph.node:
        scope = _onnx_scope(node.name)
        if not scope.startswith(prefix):
            continue
        op = node.op_type
        if _HF_LINEAR_SCOPE.search(scope):
            if op in ('MatMul', 'Gemm') and len(node.input) > 1:
                w = linear_weight(node)
                if w is not None:
                    put(scope + '.weight', w)
                bias = const_input(node, 2, ndim=1) if op == 'Gemm' else None
            elif op == 'Add':
                bias = const_input(node, 0, 1) or const_input(node, 1, 1)
            else:
                bias = None
            if bias is not None:
                put(scope + '.bias', array(bias))
        elif _HF_NORM_SCOPE.search(scope):
            if op == 'LayerNormalization':
                for idx, leaf in ((1, 'weight'), (2, 'bias')):
                    name = const_input(node, idx, ndim=1)
                    if name is not None:
                        put(f'{scope}.{leaf}', array(name))
            elif op in ('Mul', 'Add'):
                name = const_input(node, 0, 1) or const_input(node, 1, 1)
                if name is not None:
                    leaf = 'weight' if op == 'Mul' else 'bias'
                    put(f'{scope}.{leaf}', array(name))
        elif _HF_LAYER_SCALE_SCOPE.search(scope) and op == 'Mul':
            name = const_input(node, 0, 1) or const_input(node, 1, 1)
            if name is not None:
                put(scope + '.lambda1', array(name))
        elif _HF_PATCH_SCOPE.search(scope) and op == 'Conv':
            for idx, leaf in ((1, 'weight'), (2, 'bias')):
                name = const_input(node, idx)
                if name is not None:
                    put(f'{scope}.{leaf}', array(name))

    # 3. position embedding, split by the exporter into class + patches
    pos_key = prefix + 'embeddings.position_embeddings'
    cls_key = prefix + 'embeddings.cls_token'
    if pos_key not in tensors and cls_key in tensors:
        dims = tensors[cls_key].shape[-1]
        scope = '/' + prefix.replace('.', '/') + 'embeddings/'
        cls_pos, patch_pos = None, None
        for name in consts:
            if name.startswith(prefix):
                continue
            users = consumers.get(name, [])
            if not users or not all(
                    u.name.startswith(scope) for u, _ in users):
                continue
            a = array(name)
            if a.dtype.kind != 'f':
                continue
            if a.shape == (1, 1, dims) and any(u.op_type == 'Concat'
                                               for u, _ in users):
                cls_pos = a
            elif a.ndim == 3 and a.shape[0] == 1 and a.shape[2] == dims \
                    and a.shape[1] > 1 and _is_square(a.shape[1]):
                patch_pos = a
            elif a.ndim == 4 and a.shape[0] == 1 and a.shape[3] == dims \
                    and a.shape[1] == a.shape[2] and a.shape[1] > 1:
                patch_pos = a.reshape(1, -1, dims)
            elif a.ndim == 4 and a.shape[0] == 1 and a.shape[1] == dims \
                    and a.shape[2] == a.shape[3] and a.shape[2] > 1:
                patch_pos = a.reshape(1, dims, -1).transpose(0, 2, 1)
        if cls_pos is None or patch_pos is None:
            raise ValueError(
                f'{path}: the position embedding of this DINOv2 ONNX graph '
                f'could not be found: neither a named {pos_key!r} nor a '
                f'[1, 1, {dims}] class part and a [1, N, {dims}] patch part '
                f'consumed under {scope!r}')
        put(pos_key, np.concatenate([cls_pos, patch_pos], axis=1))
    return tensors, all_names


def _is_square(n):
    root = int(round(n**0.5))
    return root * root == n


def _load_onnx(path, logger=None):
    tensors, all_names = _state_dict_from_onnx(path)
    found = _detect(tensors) if tensors else None
    if found is None or found[0] != 'hf-dinov2':
        raise _unrecognised_error(
            path, all_names,
            'only ONNX graphs exported from HuggingFace DINOv2 models are '
            'supported and none was recognised in this graph')
    state_dict, unknown = _convert_hf_dinov2(tensors, found[2])
    _check_layers(state_dict, path, 'onnx-hf-dinov2', all_names)
    if unknown:
        _log(
            f'{path}: {len(unknown)} tensor(s) were dropped: '
            f'{_sample_keys(unknown)}',
            logger,
            level=30)
    return state_dict, 'onnx-hf-dinov2'


def read_checkpoint_file(path, map_location='cpu', logger=None,
                         what='ViT', formats=SUPPORTED_FORMATS,
                         extensions=SUPPORTED_EXTENSIONS):
    """The dict stored in a ``.pth``/``.pt``/``.bin``/``.tar``/``.ckpt``
    (``weights_only`` loading), ``.safetensors`` or ``.npz`` file.

    ``what`` and ``formats`` word the errors; ``extensions`` are the ones
    the caller accepts.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: an unknown extension, or the file holds no dict.
    """
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} checkpoint not found: {path!r}')
    ext = osp.splitext(path)[1].lower()
    readers = {'.safetensors': _load_safetensors, '.npz': _load_npz}
    readers.update({
        e: lambda p: _torch_load(p, map_location, logger)
        for e in TORCH_EXTENSIONS
    })
    if ext not in extensions or ext not in readers:
        raise ValueError(
            f'Unknown {what} checkpoint file extension {ext!r} of {path!r}; '
            f'supported extensions: {", ".join(extensions)} '
            f'(formats: {", ".join(formats)}).')
    checkpoint = readers[ext](path)
    if not isinstance(checkpoint, Mapping):
        raise ValueError(
            f'Cannot convert {path}: it holds a '
            f'{type(checkpoint).__name__}, not a dict of tensors. '
            f'Supported formats: {", ".join(formats)}.')
    return checkpoint


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
        name = _GIVEN_DICT
        state_dict, fmt = _convert(source, name, logger)
    else:
        name = os.fspath(source)
        if osp.splitext(name)[1].lower() == '.onnx':
            if not osp.isfile(name):
                raise FileNotFoundError(
                    f'ViT checkpoint not found: {name!r}')
            state_dict, fmt = _load_onnx(name, logger)
        else:
            checkpoint = read_checkpoint_file(name, map_location, logger)
            state_dict, fmt = _convert(checkpoint, name, logger)
    _log(
        f'Recognised checkpoint format: {fmt} ({name}, '
        f'{len(state_dict)} tensors)', logger)
    return state_dict, fmt
