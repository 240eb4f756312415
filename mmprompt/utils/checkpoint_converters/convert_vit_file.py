"""Convert a ViT checkpoint of any supported format into an mmpretrain one.

Usage::

    python tools/model_converters/convert_vit.py SRC DST [--img-size N]

``SRC`` may be a Google ``.npz``, a timm / MAE / MoCo v3 / mmpretrain /
HuggingFace DINOv2 ``.pth``/``.pt``/``.bin``/``.pth.tar``/``.safetensors``
file, or an ONNX graph exported from a HuggingFace DINOv2 model; the format
is recognised from the keys. ``DST`` receives ``{'state_dict':
{'backbone.<name>': tensor}, 'meta': {...}}``, which
``mmengine.runner.load_checkpoint`` (and ``torch.load(...,
weights_only=True)``) reads. With ``--img-size`` the position embedding is
resized (bicubic, as mmpretrain's ``resize_pos_embed`` does at load time)
to that input size once, so nothing is resized when the model is built.
"""
import argparse
import math
import os
import os.path as osp

import torch
from mmpretrain.models.utils import resize_pos_embed

from mmprompt.utils.checkpoint_converters import (SUPPORTED_FORMATS,
                                                  load_vit_checkpoint,
                                                  vit_arch_from_state_dict)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert a ViT checkpoint (formats: '
        f'{", ".join(SUPPORTED_FORMATS)}) into mmpretrain '
        'VisionTransformer weights under "backbone.".')
    parser.add_argument('src', help='source checkpoint file')
    parser.add_argument('dst', help='destination .pth file')
    parser.add_argument(
        '--img-size',
        type=int,
        default=None,
        help='resize the position embedding for this input size (pixels)')
    return parser.parse_args(argv)


def resize_pos_embed_to(state_dict, img_size, num_extra_tokens=1):
    """Resize ``state_dict['pos_embed']`` in place for ``img_size``.

    Returns ``(old_grid, new_grid)``.
    """

    proj = state_dict['patch_embed.projection.weight']
    patch_h, patch_w = int(proj.shape[-2]), int(proj.shape[-1])
    pos = state_dict['pos_embed']
    num_patches = pos.shape[1] - num_extra_tokens
    side = int(math.isqrt(num_patches))
    if side * side != num_patches:
        raise ValueError(
            f'pos_embed has {num_patches} patch positions, not a square grid')
    dst = (img_size // patch_h, img_size // patch_w)
    if dst != (side, side):
        dtype = pos.dtype
        state_dict['pos_embed'] = resize_pos_embed(
            pos.float(), (side, side),
            dst,
            mode='bicubic',
            num_extra_tokens=num_extra_tokens).to(dtype)
    return (side, side), dst


def main(argv=None):
    args = parse_args(argv)
    state_dict, fmt = load_vit_checkpoint(args.src)
    print(f'Recognised checkpoint format: {fmt}')
    arch = vit_arch_from_state_dict(state_dict)
    print('Architecture: ' + ', '.join(f'{k}={v}' for k, v in arch.items()))

    meta = dict(source_format=fmt, source=osp.basename(args.src))
    if args.img_size is not None:
        if 'pos_embed' not in state_dict:
            raise ValueError('--img-size given but the checkpoint has no '
                             'pos_embed')
        old, new = resize_pos_embed_to(state_dict, args.img_size)
        print(f'pos_embed resized from a {old[0]}x{old[1]} to a '
              f'{new[0]}x{new[1]} grid (img_size={args.img_size})')
        meta['img_size'] = int(args.img_size)
        arch['pos_embed_tokens'] = int(state_dict['pos_embed'].shape[1])
    meta['arch'] = {
        k: (list(v) if isinstance(v, tuple) else v)
        for k, v in arch.items()
    }

    out = dict(
        state_dict={
            'backbone.' + k: v.detach().cpu().contiguous().clone()
            for k, v in state_dict.items()
        },
        meta=meta)
    dst_dir = osp.dirname(osp.abspath(args.dst))
    os.makedirs(dst_dir, exist_ok=True)
    torch.save(out, args.dst)
    print(f'Saved {len(out["state_dict"])} tensors to {args.dst}')
