"""CLIP's own layout: OpenAI's released state dict (also inside its
TorchScript archives) and open_clip, whose ViT towers use the same names
under ``visual.``."""
import re
from collections import OrderedDict

from .common import rename, strip, to_tensor

_LAYER = re.compile(r'^transformer\.resblocks\.(\d+)\.(.*)$')
_LAYER_MAP = (
    ('ln_1.', 'ln1.'),
    ('attn.in_proj_weight', 'attn.qkv.weight'),
    ('attn.in_proj_bias', 'attn.qkv.bias'),
    ('attn.out_proj.', 'attn.proj.'),
    ('ls_1.gamma', 'attn.gamma1.weight'),
    ('ln_2.', 'ln2.'),
    ('mlp.c_fc.', 'ffn.layers.0.0.'),
    ('mlp.c_proj.', 'ffn.layers.1.'),
    ('ls_2.gamma', 'ffn.gamma2.weight'),
)
_TOP_MAP = (
    ('conv1.', 'patch_embed.projection.'),
    ('class_embedding', 'cls_token'),
    ('positional_embedding', 'pos_embed'),
    ('ln_pre.', 'pre_norm.'),
    ('ln_post.', 'ln1.'),
    ('proj', 'projection'),
)


def convert_clip(state_dict, prefix='visual.'):
    """The ViT vision tower under ``prefix``; ``proj`` (D, E), the
    projection into the joint image-text space, becomes ``projection``."""
    out = OrderedDict()
    unknown = []
    for key, value in strip(state_dict, prefix).items():
        tensor = to_tensor(value)
        if tensor is None:
            continue
        match = _LAYER.match(key)
        if match:
            new = rename(match.group(2), _LAYER_MAP)
            if new is None:
                unknown.append(key)
            else:
                out[f'layers.{match.group(1)}.{new}'] = tensor
            continue
        new = rename(key, _TOP_MAP)
        if new is None:
            unknown.append(key)
        elif new == 'cls_token':
            out[new] = tensor.reshape(1, 1, -1)
        elif new == 'pos_embed':
            out[new] = tensor.reshape(1, *tensor.shape[-2:])
        else:
            out[new] = tensor
    return out, unknown
