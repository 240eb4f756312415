"""ViT sources in timm's names (timm, MAE, MoCo v3, the DINOv2
repository's ``.pth`` files and timm's DINOv2 with registers), Google's
``.npz`` and mmpretrain's own names."""
import re
from collections import OrderedDict

import numpy as np
import torch

from .common import rename, strip, to_tensor

_TIMM_BLOCK_MAP = (
    ('norm1.', 'ln1.'),
    ('attn.qkv.', 'attn.qkv.'),
    ('attn.proj.', 'attn.proj.'),
    ('ls1.gamma', 'attn.gamma1.weight'),
    ('norm2.', 'ln2.'),
    ('mlp.fc1.', 'ffn.layers.0.0.'),
    ('mlp.fc2.', 'ffn.layers.1.'),
    ('mlp.w12.', 'ffn.w12.'),  # SwiGLU of DINOv2 g (the DINOv2 repository)
    ('mlp.w3.', 'ffn.w3.'),
    ('ls2.gamma', 'ffn.gamma2.weight'),
)
_TIMM_TOP_MAP = (
    ('cls_token', 'cls_token'),
    ('pos_embed', 'pos_embed'),
    ('patch_embed.proj.', 'patch_embed.projection.'),
    ('reg_token', 'register_tokens'),  # timm
    ('register_tokens', 'register_tokens'),  # the DINOv2 repository
    ('norm_pre.', 'pre_norm.'),
    ('norm.', 'ln1.'),
    ('fc_norm.', 'ln2.'),
)
# dropped on purpose: classifier heads, the MAE decoder, MoCo's projector
_TIMM_DROPPED = re.compile(
    r'^(head|head_dist|pre_logits|decoder_\w+|decoder|mask_token)(\.|$)')


def convert_timm(state_dict, prefix=''):
    sd = strip(state_dict, prefix)
    out = OrderedDict()
    unknown = []
    for key, value in sd.items():
        tensor = to_tensor(value)
        if tensor is None:
            continue
        match = re.match(r'^blocks\.(\d+)\.(.*)$', key)
        if match:
            new = rename(match.group(2), _TIMM_BLOCK_MAP)
            if new is not None:
                out[f'layers.{match.group(1)}.{new}'] = tensor
            else:
                unknown.append(key)
            continue
        new = rename(key, _TIMM_TOP_MAP)
        if new is not None:
            out[new] = tensor
        elif not _TIMM_DROPPED.match(key):
            unknown.append(key)
    _class_token_position(out)
    return out, unknown


def _class_token_position(out):
    """timm's ``no_embed_class`` models (its DINOv2 with registers) keep
    the class token's position embedding inside ``cls_token`` and a
    ``pos_embed`` of the patches only; mmpretrain's ``pos_embed`` starts
    with the class token's row. Prepending a zero row is exact."""
    pos, cls = out.get('pos_embed'), out.get('cls_token')
    if pos is None or cls is None:
        return
    side = int(round(pos.shape[1]**0.5))
    if side * side == pos.shape[1]:  # no class row: N = side^2 patches
        out['pos_embed'] = torch.cat([pos.new_zeros(1, 1, pos.shape[2]), pos],
                                     dim=1)


def convert_mmpretrain(state_dict, prefix=''):
    out = OrderedDict()
    for key, value in strip(state_dict, prefix).items():
        tensor = to_tensor(value)
        if tensor is not None:
            out[key] = tensor
    return out, []


def convert_google_npz(weights, prefix=''):
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
