# Copyright (c) OpenMMLab. All rights reserved.
# Adapted from mmpretrain 1.2.0 tools/test.py for mmprompt.
"""Test (and evaluate) a checkpoint with an mmprompt config.

The CLI is mmpretrain 1.2.0's. Differences: ``mmprompt`` is imported first
(its types are registered and mmengine checkpoints load under torch's
``weights_only=True``); a distributed launch without CUDA uses gloo (see
``tools/train.py``); the metrics are printed at the end, one
``name: value`` line each, on the main process; a file that is not a
readable checkpoint ends the run with one line naming it and what it is.
"""
import argparse
import os
import os.path as osp
import sys
from copy import deepcopy

try:
    # registers mmprompt's types and the checkpoint safe globals
    import mmprompt  # noqa: F401
except ImportError:  # a source checkout that is not installed
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    import mmprompt  # noqa: F401

import mmengine  # noqa: E402
from mmengine.config import ConfigDict, DictAction  # noqa: E402
from mmengine.dist import is_main_process  # noqa: E402
from mmengine.evaluator import DumpResults  # noqa: E402
from mmengine.model import is_model_wrapper  # noqa: E402
from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from mmprompt.utils.checkpoint_files import CheckpointFileError  # noqa: E402
from mmprompt.utils.checkpoint_files import check_checkpoint_file
from mmprompt.utils.compat import shutdown_distributed  # noqa: E402
from mmprompt.utils.compat import configure_cpu_distributed
from mmprompt.utils.dependencies import load_config  # noqa: E402
from mmprompt.utils.prompt_checkpoint import (  # noqa: E402
    init_pretrained_for_prompt_only, is_prompt_only_file)


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


def merge_args(cfg, args):
    """Merge CLI arguments to config."""
    cfg.launcher = args.launcher

    # work_dir is determined in this priority: CLI > segment in file > filename
    if args.work_dir is not None:
        # update configs according to CLI args if args.work_dir is not None
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        # use config filename as default work_dir if cfg.work_dir is None
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    cfg.load_from = args.checkpoint

    # enable automatic-mixed-precision test
    if args.amp:
        if cfg.get('test_cfg', None) is None:
            cfg.test_cfg = ConfigDict()
        cfg.test_cfg.fp16 = True

    # -------------------- visualization --------------------
    if args.show or (args.show_dir is not None):
        assert 'visualization' in cfg.default_hooks, \
            'VisualizationHook is not set in the `default_hooks` field of ' \
            'config. Please set `visualization=dict(type="VisualizationHook")`'

        cfg.default_hooks.visualization.enable = True
        cfg.default_hooks.visualization.show = args.show
        cfg.default_hooks.visualization.wait_time = args.wait_time
        cfg.default_hooks.visualization.out_dir = args.show_dir
        cfg.default_hooks.visualization.interval = args.interval

    # -------------------- TTA related args --------------------
    if args.tta:
        if 'tta_model' not in cfg:
            cfg.tta_model = dict(type='mmpretrain.AverageClsScoreTTA')
        if 'tta_pipeline' not in cfg:
            test_pipeline = cfg.test_dataloader.dataset.pipeline
            cfg.tta_pipeline = deepcopy(test_pipeline)
            flip_tta = dict(
                type='TestTimeAug',
                transforms=[
                    [
                        dict(type='RandomFlip', prob=1.),
                        dict(type='RandomFlip', prob=0.)
                    ],
                    [test_pipeline[-1]],
                ])
            cfg.tta_pipeline[-1] = flip_tta
        cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline

    # ----------------- Default dataloader args -----------------
    default_dataloader_cfg = ConfigDict(
        pin_memory=True,
        collate_fn=dict(type='default_collate'),
    )

    def set_default_dataloader_cfg(cfg, field):
        if cfg.get(field, None) is None:
            return
        dataloader_cfg = deepcopy(default_dataloader_cfg)
        dataloader_cfg.update(cfg[field])
        cfg[field] = dataloader_cfg
        if args.no_pin_memory:
            cfg[field]['pin_memory'] = False

    set_default_dataloader_cfg(cfg, 'test_dataloader')

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def main():
    args = parse_args()

    if args.out is None and args.out_item is not None:
        raise ValueError('Please use `--out` argument to specify the '
                         'path of the output file before using `--out-item`.')

    # one line naming the file if it is not a readable checkpoint, before
    # anything is built
    check_checkpoint_file(args.checkpoint)

    # load config
    cfg = load_config(args.config)

    # merge cli arguments to config
    cfg = merge_args(cfg, args)

    # Without CUDA: gloo, DDP without device_ids, and the process group
    # initialised here (mmengine's init_dist needs a GPU).
    configure_cpu_distributed(cfg)

    # build the runner from config
    if 'runner_type' not in cfg:
        # build the default runner
        runner = Runner.from_cfg(cfg)
    else:
        # build customized runner from the registry
        # if 'runner_type' is set in the cfg
        runner = RUNNERS.build(cfg)

    # A prompt-only checkpoint (tools/export_prompts.py) holds what was tuned;
    # the frozen backbone comes from the config's pretrained weights, loaded
    # here, before the runner puts the checkpoint over them.
    if is_prompt_only_file(args.checkpoint):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        init_pretrained_for_prompt_only(model, args.checkpoint)

    if args.out and args.out_item in ['pred', None]:
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))

    # start testing
    metrics = runner.test()

    if is_main_process():
        if args.out and args.out_item == 'metrics':
            mmengine.dump(metrics, args.out)
        print('Test metrics:')
        for name, value in metrics.items():
            print(f'{name}: {value!r}')
    shutdown_distributed()
    return metrics


if __name__ == '__main__':
    try:
        main()
    except CheckpointFileError as e:
        sys.exit(f'error: {e}')
