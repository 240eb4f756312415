"""Write only what a prompt-tuning run tuned: prompts, head, method state.

Usage::

    python tools/export_prompts.py CONFIG CHECKPOINT OUT

The frozen backbone is left out (it comes from the config's pretrained
checkpoint), so OUT is kilobytes instead of the full model. Load it with the
same config: ``tools/test.py CONFIG OUT`` (the pretrained backbone is loaded
first, then OUT over it), or ``load_from=OUT`` for further training.
"""
import argparse
import os
import os.path as osp
import sys

import torch
from mmengine.config import DictAction
from mmengine.registry import init_default_scope

import mmprompt  # noqa: F401  (registers the checkpoint safe globals)
from mmprompt.core.prompted_backbone import PromptedBackboneMixin
from mmprompt.serving.bundle import (BACKBONE_HASH_KEY, backbone_sha256,
                                     frozen_backbone_state)
from mmprompt.utils.checkpoint_files import (CheckpointFileError,
                                             CheckpointWriteError,
                                             load_checkpoint_file,
                                             write_atomically)
from mmprompt.utils.dependencies import load_config
from mmprompt.utils.prompt_checkpoint import PROMPT_ONLY_KEY, tuned_state_dict


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
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    from mmengine.registry import MODELS

    # Built only to know which parameters are frozen; no weights loaded.
    model = MODELS.build(cfg.model)
    checkpoint = load_checkpoint_file(args.checkpoint)
    state_dict = checkpoint.get('state_dict', checkpoint)
    tuned = tuned_state_dict(model, state_dict)
    meta = dict(checkpoint.get('meta', {}) or {})
    if any(isinstance(m, PromptedBackboneMixin) for m in model.modules()):
        # the identity of the frozen backbone it was tuned on: bundles
        # (tools/deployment/bundle_tasks.py) refuse a task from another
        meta[BACKBONE_HASH_KEY] = backbone_sha256(
            frozen_backbone_state(model, state_dict))
    meta.update({
        PROMPT_ONLY_KEY: True,
        'config': osp.abspath(args.config),
        'source_checkpoint': osp.abspath(args.checkpoint)
    })
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    write_atomically(
        lambda tmp: torch.save({
            'state_dict': tuned,
            'meta': meta
        }, tmp), args.out)
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
