# Copyright (c) OpenMMLab. All rights reserved.
# Adapted from mmpretrain 1.2.0 tools/test.py for mmprompt.
"""Test (and evaluate) a checkpoint with an mmprompt config.

The CLI is mmpretrain 1.2.0's. Differences: ``mmprompt`` is imported first
(its types are registered and mmengine checkpoints load under torch's
``weights_only=True``); a distributed launch without CUDA uses gloo (see
``tools/train.py``); the metrics are printed at the end, one
``name: value`` line each, on the main process; a file that is not a
readable checkpoint ends the run with one line naming it and what it is.

The logic is :func:`mmprompt.apis.test`; this file parses the arguments.
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

from mmprompt.apis import test  # noqa: E402
from mmprompt.engine import CheckpointFileError  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(
        description='MMPrompt test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics '
        '(default: ./work_dirs/<config file name without extension>)')
    parser.add_argument('--out', help='the file to output results.')
    parser.add_argument(
        '--out-item',
        choices=['metrics', 'pred'],
        help='To output whether metrics or predictions. '
        'Defaults to output predictions.')
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
        '--amp',
        action='store_true',
        help='enable automatic-mixed-precision test (float16 autocast on a '
        'GPU, bfloat16 autocast on CPU)')
    parser.add_argument(
        '--show-dir',
        help='directory where the visualization images will be saved.')
    parser.add_argument(
        '--show',
        action='store_true',
        help='whether to display the prediction results in a window.')
    parser.add_argument(
        '--interval',
        type=int,
        default=1,
        help='visualize per interval samples.')
    parser.add_argument(
        '--wait-time',
        type=float,
        default=2,
        help='display time of every window. (second)')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='whether to disable the pin_memory option in dataloaders.')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='Whether to enable the Test-Time-Aug (TTA). If the config file '
        'has `tta_pipeline` and `tta_model` fields, use them to determine the '
        'TTA transforms and how to merge the TTA results. Otherwise, use flip '
        'TTA by averaging classification score.')
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
    return test(parse_args())


if __name__ == '__main__':
    try:
        main()
    except CheckpointFileError as e:
        sys.exit(f'error: {e}')
