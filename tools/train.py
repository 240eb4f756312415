# Copyright (c) OpenMMLab. All rights reserved.
# Adapted from mmpretrain 1.2.0 tools/train.py for mmprompt.
"""Train a model with an mmprompt (or any mmpretrain/mmseg/mmdet) config.

The CLI is mmpretrain 1.2.0's. Differences:

- ``mmprompt`` is imported first, which registers its types and allow-lists
  the types in mmengine checkpoints for torch's ``weights_only=True`` loading
  (``--resume`` and ``load_from`` work on torch >= 2.6 without turning
  ``weights_only`` off), even if the config forgets ``custom_imports``.
- On a machine without CUDA, a distributed launch (``--launcher pytorch``,
  ``slurm`` or ``mpi``) switches ``env_cfg.dist_cfg.backend`` from ``nccl`` to
  ``gloo`` and wraps the model in DDP without ``device_ids``
  (:func:`mmprompt.utils.compat.configure_cpu_distributed`).
- ``--amp`` without an accelerator trains with CPU autocast in bfloat16
  (:class:`mmprompt.utils.compat.CPUAmpOptimWrapper`) instead of failing in
  mmengine's ``AmpOptimWrapper``.
- ``persistent_workers`` defaults to True only for dataloaders with workers
  (torch rejects it for ``num_workers=0``).
- The hooks every run needs (:data:`mmprompt.engine.RUN_HOOKS`:
  ``mmprompt.RandomStateHook``, checkpoints carry every rank's RNG states
  and ``--resume`` restores them; ``mmprompt.TrainableParamsHook``, the
  trainable count at the top of the log; ``mmprompt.AtomicCheckpointHook``,
  checkpoints written whole or not at all) come with mmprompt's runtime
  configs; a config from elsewhere gets them here
  (:func:`mmprompt.engine.add_run_hooks`).
- ``--resume`` (auto) starts from the newest checkpoint of the work dir
  that loads: a damaged one is skipped with one line saying which and why.
- A checkpoint file that cannot be read (``load_from``, ``--resume PATH``)
  and a checkpoint that cannot be written (a full disk) end the run with one
  line naming the file and what is wrong.

The logic is :func:`mmprompt.apis.train`; this file parses the arguments.
"""
import argparse
import os
import os.path as osp
import sys

try:
    # registers mmprompt's types and the checkpoint safe globals
    import mmprompt  # noqa: F401
except ImportError:  # a source checkout that is not installed
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    import mmprompt  # noqa: F401

from mmengine.config import DictAction  # noqa: E402

from mmprompt.apis import train  # noqa: E402
from mmprompt.engine import CheckpointFileError  # noqa: E402
from mmprompt.engine import CheckpointWriteError  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--work-dir',
        help='the dir to save logs and models (default: '
        './work_dirs/<config file name without extension>)')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='If specify checkpoint path, resume from it, while if not '
        'specify, try to auto resume from the latest checkpoint '
        'in the work directory.')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic-mixed-precision training. With a GPU (or '
        'NPU/MLU/MUSA): mmengine\'s AmpOptimWrapper (float16, dynamic loss '
        'scale unless the config sets one). Without one: CPU autocast in '
        'bfloat16 (the only dtype torch supports there) without loss '
        'scaling (mmprompt.utils.compat.CPUAmpOptimWrapper).')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='whether not to evaluate the checkpoint during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='whether to auto scale the learning rate according to the '
        'actual batch size and the original batch size.')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='whether to disable the pin_memory option in dataloaders.')
    parser.add_argument(
        '--no-persistent-workers',
        action='store_true',
        help='whether to disable the persistent_workers option in dataloaders.'
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher. Without CUDA, the nccl backend of a distributed '
        'launch is replaced by gloo automatically.')
    # When using PyTorch version >= 2.0.0, the `torch.distributed.launch`
    # will pass the `--local-rank` parameter to `tools/train.py` instead
    # of `--local_rank`.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)

    return args


def main():
    return train(parse_args())


if __name__ == '__main__':
    try:
        main()
    except (CheckpointFileError, CheckpointWriteError) as e:
        sys.exit(f'error: {e}')
