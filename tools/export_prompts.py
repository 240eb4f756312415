"""Write only what a prompt-tuning run tuned: prompts, head, method state.

Usage::

    python tools/export_prompts.py CONFIG CHECKPOINT OUT

The frozen backbone is left out (it comes from the config's pretrained
checkpoint), so OUT is kilobytes instead of the full model. Load it with the
same config: ``tools/test.py CONFIG OUT`` (the pretrained backbone is loaded
first, then OUT over it), or ``load_from=OUT`` for further training. The
logic is :func:`mmprompt.serving.export_prompts.export_prompts`.
"""
import argparse
import os
import sys

from mmengine.config import DictAction

import mmprompt  # noqa: F401  (registers the checkpoint safe globals)
from mmprompt.serving.export_prompts import export_prompts
from mmprompt.utils.checkpoint_files import (CheckpointFileError,
                                             CheckpointWriteError)
from mmprompt.utils.dependencies import load_config


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        'config', help='the config the checkpoint was '
        'trained with')
    parser.add_argument('checkpoint', help='full checkpoint of that run')
    parser.add_argument('out', help='where to write the prompt-only file')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config')
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    tuned, state_dict = export_prompts(cfg, args.config, args.checkpoint,
                                       args.out)
    numel = sum(v.numel() for v in tuned.values())
    print(f'Kept {len(tuned)} of {len(state_dict)} tensors ({numel} values): '
          f'{", ".join(list(tuned)[:6])}{" ..." if len(tuned) > 6 else ""}')
    print(f'Wrote {args.out} ({os.path.getsize(args.out) / 1024:.1f} KiB; '
          f'{args.checkpoint}: '
          f'{os.path.getsize(args.checkpoint) / 1024:.1f} KiB)')


if __name__ == '__main__':
    try:
        main()
    except (CheckpointFileError, CheckpointWriteError) as e:
        sys.exit(f'error: {e}')
