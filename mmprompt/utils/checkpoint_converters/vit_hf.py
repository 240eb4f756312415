"""ViT sources in HuggingFace transformers' names: ``Dinov2Model``,
``Dinov2WithRegistersModel``, ``CLIPVisionModel`` / ``CLIPModel``."""
import re
from collections import OrderedDict

from .common import cat_qkv, rename, strip, to_tensor


class HFLayout:
    """How one transformers model names its weights.

    ``layer`` matches a transformer layer's key (groups: index, rest);
    ``qkv`` a separate query/key/value projection inside it (groups: which,
    weight/bias); ``layer_map``/``top_map`` rename the rest (see
    :func:`rename`); ``dropped`` matches keys that are not backbone
    weights; ``reshape`` maps an mmpretrain name to a function giving its
    tensor mmpretrain's shape.
    """

    def __init__(self,
                 layer,
                 qkv,
                 qkv_names,
                 layer_map,
                 top_map,
                 dropped,
                 reshape=None):
        self.layer = re.compile(layer)
        self.qkv = re.compile(qkv)
        self.qkv_names = qkv_names
        self.layer_map = layer_map
        self.top_map = top_map
        self.dropped = re.compile(dropped)
        self.reshape = reshape or {}


DINOV2 = HFLayout(
    layer=r'^encoder\.layer\.(\d+)\.(.*)$',
    qkv=r'^attention\.attention\.(query|key|value)\.(weight|bias)$',
    qkv_names=('query', 'key', 'value'),
    layer_map=(
        ('norm1.', 'ln1.'),
        ('attention.output.dense.', 'attn.proj.'),
        ('layer_scale1.lambda1', 'attn.gamma1.weight'),
        ('norm2.', 'ln2.'),
        ('mlp.fc1.', 'ffn.layers.0.0.'),
        ('mlp.fc2.', 'ffn.layers.1.'),
        ('mlp.weights_in.', 'ffn.w12.'),
        ('mlp.weights_out.', 'ffn.w3.'),
        ('layer_scale2.lambda1', 'ffn.gamma2.weight'),
    ),
    top_map=(
        ('embeddings.cls_token', 'cls_token'),
        ('embeddings.register_tokens', 'register_tokens'),
        ('embeddings.position_embeddings', 'pos_embed'),
        ('embeddings.patch_embeddings.projection.', 'patch_embed.projection.'),
        ('layernorm.', 'ln1.'),
    ),
    dropped=r'^(embeddings\.mask_token|pooler\.)')

CLIP = HFLayout(
    layer=r'^encoder\.layers\.(\d+)\.(.*)$',
    qkv=r'^self_attn\.(q|k|v)_proj\.(weight|bias)$',
    qkv_names=('q', 'k', 'v'),
    layer_map=(
        ('layer_norm1.', 'ln1.'),
        ('self_attn.out_proj.', 'attn.proj.'),
        ('layer_norm2.', 'ln2.'),
        ('mlp.fc1.', 'ffn.layers.0.0.'),
        ('mlp.fc2.', 'ffn.layers.1.'),
    ),
    top_map=(
        ('embeddings.class_embedding', 'cls_token'),
        ('embeddings.position_embedding.weight', 'pos_embed'),
        ('embeddings.patch_embedding.', 'patch_embed.projection.'),
        ('pre_layrnorm.', 'pre_norm.'),  # sic, transformers' name
        ('post_layernorm.', 'ln1.'),
    ),
    dropped=r'^embeddings\.position_ids$',
    # CLIP stores the class token as (D,) and the positions as (1 + N, D)
    reshape={
        'cls_token': lambda t: t.reshape(1, 1, -1),
        'pos_embed': lambda t: t.reshape(1, *t.shape[-2:])
    })


def convert_hf(state_dict, prefix, layout):
    """``(state dict in mmpretrain names, unknown keys)`` of the weights
    under ``prefix`` in ``layout``."""
    out = OrderedDict()
    unknown = []
    qkv = {}  # (layer, 'weight'/'bias') -> [q, k, v]
    for key, value in strip(state_dict, prefix).items():
        tensor = to_tensor(value)
        if tensor is None:
            continue
        match = layout.layer.match(key)
        if match:
            layer, rest = match.group(1), match.group(2)
            attn = layout.qkv.match(rest)
            if attn:
                slot = layout.qkv_names.index(attn.group(1))
                qkv.setdefault((layer, attn.group(2)),
                               [None, None, None])[slot] = tensor
                continue
            new = rename(rest, layout.layer_map)
            if new is not None:
                out[f'layers.{layer}.{new}'] = tensor
            else:
                unknown.append(key)
            continue
        new = rename(key, layout.top_map)
        if new is None:
            if not layout.dropped.match(key):
                unknown.append(key)
            continue
        out[new] = layout.reshape.get(new, lambda t: t)(tensor)
    for (layer, what), parts in sorted(
            qkv.items(), key=lambda kv: (int(kv[0][0]), kv[0][1])):
        cat_qkv(out, layer, parts, what)
    return out, unknown


def convert_hf_dinov2(state_dict, prefix=''):
    return convert_hf(state_dict, prefix, DINOV2)


def convert_hf_clip(state_dict, prefix=''):
    """``CLIPVisionModel`` (``vision_model.*``) or ``CLIPModel``: the
    vision tower, plus ``visual_projection`` beside it as ``projection``
    (D, E), the form of OpenAI's ``visual.proj``."""
    out, unknown = convert_hf(state_dict, prefix, CLIP)
    parent = prefix[:-len('vision_model.')] \
        if prefix.endswith('vision_model.') else prefix
    proj = to_tensor(state_dict.get(parent + 'visual_projection.weight'))
    if proj is not None:
        out['projection'] = proj.t().contiguous()
    return out, unknown
