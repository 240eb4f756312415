"""Convert the Swin Transformer checkpoints users bring into mmpretrain's
names.

:func:`load_swin_checkpoint` reads a file (``.pth``, ``.pt``, ``.bin``,
``.tar``, ``.ckpt``, ``.safetensors``) or takes a loaded dict, recognises its
layout and returns the state dict of
:class:`mmpretrain.models.SwinTransformer` (no ``backbone.`` prefix) with the
name of the format.

Recognised formats (:data:`SWIN_FORMATS`):

``swin-official``
    Microsoft's Swin releases (``swin_base_patch4_window7_224_22k.pth``,
    the file VPT's prompted Swin loads): ``{'model': {'patch_embed.proj.*',
    'layers.{i}.blocks.{j}.attn.qkv.*', 'layers.{i}.downsample.*', 'norm.*',
    'head.*'}}``, the patch merging at the end of stage ``i``.
``timm-swin``
    timm's ``SwinTransformer`` (``timm >= 0.9``): the same block names, but
    the patch merging at the start of stage ``i + 1`` and the classifier in
    ``head.fc``.
``mmpretrain``
    ``{'state_dict': {'backbone.stages.*', 'head.*'}}`` or a bare backbone
    dict; every backbone key (``prompts.*`` of a prompted backbone too) is
    kept.

Patch merging concatenates a 2x2 neighbourhood in a different channel order
in each implementation: the official code and timm take the four
positions (row, col) = (0, 0), (1, 0), (0, 1), (1, 1) one after the other
(channel ``k * C + c``), mmpretrain's ``nn.Unfold`` interleaves them
(channel ``c * 4 + 2 * row + col``). The merge's norm and reduction are
permuted accordingly. Head, relative position indices and attention masks
are not backbone weights and are dropped.
"""
import os
import re
from collections import OrderedDict
from collections.abc import Mapping

import torch
from mmpretrain.models.utils import WindowMSA

from .common import (GIVEN_DICT, log, prefixes_of, sample_keys, to_tensor,
                     unwrap)
from .readers import TORCH_EXTENSIONS, read_checkpoint_file
from .vit import detect

__all__ = [
    'SWIN_FORMATS', 'load_swin_checkpoint', 'convert_swin_state_dict',
    'detect_swin_format'
]

SWIN_FORMATS = ('swin-official', 'timm-swin', 'mmpretrain')

_BLOCK_KEY = 'layers.0.blocks.0.attn.qkv.weight'
_MM_BLOCK_KEY = 'stages.0.blocks.0.attn.w_msa.qkv.weight'

# official / timm block names -> mmpretrain's (under stages.{i}.blocks.{j}.)
_BLOCK_MAP = (
    ('norm1.', 'norm1.'),
    ('attn.relative_position_bias_table',
     'attn.w_msa.relative_position_bias_table'),
    ('attn.qkv.', 'attn.w_msa.qkv.'),
    ('attn.proj.', 'attn.w_msa.proj.'),
    ('norm2.', 'norm2.'),
    ('mlp.fc1.', 'ffn.layers.0.0.'),
    ('mlp.fc2.', 'ffn.layers.1.'),
)
# buffers and the classifier: not backbone weights
_DROPPED = re.compile(r'(relative_position_index|attn_mask)$|^head\.')


def _error(name, keys, reason=None):
    reason = reason or 'its keys match no supported Swin checkpoint format'
    return ValueError(
        f'Cannot convert {name} into mmpretrain SwinTransformer weights: '
        f'{reason}. Some of its keys: {sample_keys(keys)}. Supported '
        f'formats: {", ".join(SWIN_FORMATS)}.')


def _detect(checkpoint):
    """``(format, flat_state_dict, prefix)`` or ``None``."""
    if not isinstance(checkpoint, Mapping):
        return None
    inner, _ = unwrap(checkpoint)
    keys = [k for k in inner if isinstance(k, str)]
    mm = prefixes_of(keys, _MM_BLOCK_KEY)
    if mm:
        return ('mmpretrain', inner,
                'backbone.' if 'backbone.' in mm else mm[0])
    for prefix in prefixes_of(keys, _BLOCK_KEY):
        if prefix + 'patch_embed.proj.weight' not in inner:
            continue
        rest = [k[len(prefix):] for k in keys if k.startswith(prefix)]
        merges = {
            int(m.group(1))
            for m in (re.match(r'layers\.(\d+)\.downsample\.', k)
                      for k in rest) if m
        }
        timm = 'head.fc.weight' in rest or (merges and 0 not in merges)
        return ('timm-swin' if timm else 'swin-official'), inner, prefix
    return None


def detect_swin_format(checkpoint):
    """The name (one of :data:`SWIN_FORMATS`) of a loaded checkpoint's
    layout.

    Raises:
        ValueError: if the dict matches no supported format.
    """
    found = _detect(checkpoint)
    if found is None:
        raise _error(
            GIVEN_DICT,
            list(checkpoint.keys()) if isinstance(checkpoint, Mapping) else [])
    return found[0]


def merge_channel_order(in_channels: int) -> torch.Tensor:
    """Index ``perm`` such that ``w_mmpretrain = w_official[..., perm]`` for
    the ``4 * in_channels`` inputs of a patch merging."""
    c = torch.arange(in_channels).repeat_interleave(4)  # mmpretrain c*4+k
    k = torch.arange(4).repeat(in_channels)  # k = 2 * row + col
    row, col = k // 2, k % 2
    return (2 * col + row) * in_channels + c  # official (2*col+row)*C + c


def _relative_position_index(window: int) -> torch.Tensor:
    return WindowMSA(
        embed_dims=1, window_size=(window, window),
        num_heads=1).relative_position_index.clone()


def _convert_hierarchical(state_dict, prefix, merge_offset):
    """Official (``merge_offset=0``) or timm (``1``) names to mmpretrain's.

    Returns ``(OrderedDict, unknown_keys)``.
    """
    out, unknown = OrderedDict(), []
    stages = set()
    for key, value in state_dict.items():
        if not isinstance(key, str) or not key.startswith(prefix):
            continue
        name = key[len(prefix):]
        tensor = to_tensor(value)
        if _DROPPED.search(name) or tensor is None:
            continue
        if name.startswith('patch_embed.proj.'):
            out['patch_embed.projection.' + name[17:]] = tensor
        elif name.startswith('patch_embed.norm.') or \
                name == 'absolute_pos_embed':
            out[name] = tensor
        elif m := re.match(r'layers\.(\d+)\.blocks\.(\d+)\.(.+)$', name):
            stage, block, leaf = int(m.group(1)), m.group(2), m.group(3)
            for src, dst in _BLOCK_MAP:
                if leaf.startswith(src):
                    out[f'stages.{stage}.blocks.{block}.{dst}'
                        f'{leaf[len(src):]}'] = tensor
                    stages.add(stage)
                    break
            else:
                unknown.append(key)
        elif m := re.match(
                r'layers\.(\d+)\.downsample\.(norm|reduction)\.'
                r'(weight|bias)$', name):
            stage = int(m.group(1)) - merge_offset
            part, leaf = m.group(2), m.group(3)
            in_channels = tensor.shape[-1] // 4
            if part == 'reduction' and leaf == 'weight':
                tensor = tensor[:, merge_channel_order(in_channels)]
            elif part == 'norm':
                tensor = tensor[merge_channel_order(tensor.shape[0] // 4)]
            out[f'stages.{stage}.downsample.{part}.{leaf}'] = tensor
        elif name.startswith('norm.'):
            out['norm.' + name[5:]] = tensor  # renamed below
        else:
            unknown.append(key)
    # mmpretrain stores each block's relative position index (a function of
    # the window size alone); the official and timm files hold theirs in
    # other layouts or not at all
    for key in [k for k in out if k.endswith('relative_position_bias_table')]:
        side = (int(round(out[key].shape[0]**0.5)) + 1) // 2
        out[key[:-len('bias_table')] + 'index'] = \
            _relative_position_index(side)
    if stages:  # the final norm belongs to the last stage's output
        last = max(stages)
        for leaf in ('weight', 'bias'):
            if f'norm.{leaf}' in out:
                out[f'norm{last}.{leaf}'] = out.pop(f'norm.{leaf}')
    return out, unknown


def _convert_mmpretrain(state_dict, prefix):
    out = OrderedDict()
    for key, value in state_dict.items():
        if isinstance(key, str) and key.startswith(prefix):
            tensor = to_tensor(value)
            if tensor is not None:
                out[key[len(prefix):]] = tensor
    return out, []


def _convert(checkpoint, name, logger=None):
    found = _detect(checkpoint)
    # the keys of the state dict inside a {'state_dict': ...} wrapper
    keys = list(unwrap(checkpoint)[0].keys()) if isinstance(
        checkpoint, Mapping) else []
    if found is None:
        raise _error(name, keys, _vit_reason(checkpoint))
    fmt, flat, prefix = found
    if fmt == 'mmpretrain':
        state_dict, unknown = _convert_mmpretrain(flat, prefix)
    else:
        state_dict, unknown = _convert_hierarchical(
            flat, prefix, merge_offset=int(fmt == 'timm-swin'))
    if not any(k.endswith('attn.w_msa.qkv.weight') for k in state_dict):
        raise _error(
            name, list(flat.keys()),
            f'it looks like {fmt!r} but no Swin block could be '
            'mapped')
    if unknown:
        log(
            f'{name}: {len(unknown)} key(s) of the {fmt} checkpoint have no '
            f'mmpretrain SwinTransformer counterpart and were dropped: '
            f'{sample_keys(unknown)}',
            logger,
            level=30)
    return state_dict, fmt


def _vit_reason(checkpoint):
    """Why a file is not a Swin: it holds a plain ViT (a CLIP or DINOv2
    file given to a Swin config), or nothing known."""
    try:
        found = detect(checkpoint)
    except ValueError:  # a recognisable non-ViT (ResNet CLIP ...)
        found = None
    if found is None:
        return None
    return (f'it is a plain ViT checkpoint (format {found[0]!r}), which '
            'PromptViT loads; PromptSwin needs Swin Transformer weights')


def convert_swin_state_dict(checkpoint):
    """Convert an already loaded checkpoint dict: ``(state_dict, format)``
    with mmpretrain :class:`SwinTransformer` names."""
    return _convert(checkpoint, GIVEN_DICT)


def load_swin_checkpoint(source, map_location='cpu', logger=None):
    """Read a Swin Transformer checkpoint of any supported format.

    Args:
        source (str | os.PathLike | dict): a ``.pth``/``.pt``/``.bin``/
            ``.tar``/``.ckpt``/``.safetensors`` file or a loaded dict.
        map_location: passed to ``torch.load``.
        logger: an mmengine logger (or its name); by default the current
            ``MMLogger`` instance.

    Returns:
        tuple[OrderedDict, str]: the state dict in the names of
        :class:`mmpretrain.models.SwinTransformer` (no ``backbone.``
        prefix) and the recognised format (one of :data:`SWIN_FORMATS`).

    Raises:
        FileNotFoundError: ``source`` is a path that does not exist.
        ValueError: an unknown extension, or nothing in the file maps onto
            a Swin Transformer of a supported format.
    """
    if isinstance(source, Mapping):
        name = GIVEN_DICT
        checkpoint = source
    else:
        name = os.fspath(source)
        checkpoint = read_checkpoint_file(
            name,
            map_location,
            logger,
            what='Swin',
            formats=SWIN_FORMATS,
            extensions=TORCH_EXTENSIONS + ('.safetensors', ))
    state_dict, fmt = _convert(checkpoint, name, logger)
    log(
        f'Recognised checkpoint format: {fmt} ({name}, '
        f'{len(state_dict)} tensors)', logger)
    return state_dict, fmt
