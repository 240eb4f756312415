"""Convert a Swin Transformer checkpoint (official, timm or mmpretrain) into
an mmpretrain one.

Usage::

    python tools/model_converters/convert_swin.py SRC DST

``SRC``: Microsoft's official release
(``swin_base_patch4_window7_224_22k.pth``), a timm or an mmpretrain
``.pth``/``.safetensors`` file; the format is recognised from the keys.
``DST`` receives ``{'state_dict': {'backbone.<name>': tensor}, 'meta':
{...}}``, which ``mmengine.runner.load_checkpoint`` and ``torch.load(...,
weights_only=True)`` read. ``PromptSwin`` also reads ``SRC`` directly.
"""
import argparse
import os
import os.path as osp
import re

import torch

from mmprompt.utils.checkpoint_converters import (SWIN_FORMATS,
                                                  load_swin_checkpoint)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert a Swin Transformer checkpoint (formats: '
        f'{", ".join(SWIN_FORMATS)}) into mmpretrain SwinTransformer '
        'weights under "backbone.".')
    parser.add_argument('src', help='source checkpoint file')
    parser.add_argument('dst', help='destination .pth file')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    state_dict, fmt = load_swin_checkpoint(args.src)
    print(f'Recognised checkpoint format: {fmt}')
    depths = {}
    for key in state_dict:
        m = re.match(r'stages\.(\d+)\.blocks\.(\d+)\.', key)
        if m:
            stage, block = int(m.group(1)), int(m.group(2))
            depths[stage] = max(depths.get(stage, 0), block + 1)
    depths = [depths[s] for s in sorted(depths)]
    embed_dims = int(state_dict['patch_embed.projection.weight'].shape[0])
    print(f'Architecture: embed_dims={embed_dims}, depths={depths}')
    out = dict(
        state_dict={
            'backbone.' + k: v.detach().cpu().contiguous().clone()
            for k, v in state_dict.items()
        },
        meta=dict(
            source_format=fmt,
            source=osp.basename(args.src),
            arch=dict(embed_dims=embed_dims, depths=depths)))
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(out, args.dst)
    print(f'Saved {len(out["state_dict"])} tensors to {args.dst}')
