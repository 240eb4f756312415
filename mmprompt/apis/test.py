"""Testing a checkpoint from the command line's arguments (``tools/test.py``).

mmpretrain 1.2.0's ``tools/test.py`` logic, with mmprompt's differences: a
file that is not a readable checkpoint is named before anything is built, a
prompt-only checkpoint (``tools/export_prompts.py``) gets its frozen
backbone from the config's pretrained weights, and the metrics are printed
one ``name: value`` line each on the main process.
"""
from copy import deepcopy

import mmengine
from mmengine.config import ConfigDict
from mmengine.dist import is_main_process
from mmengine.evaluator import DumpResults
from mmengine.model import is_model_wrapper

from ..utils.checkpoint_files import check_checkpoint_file
from ..utils.compat import shutdown_distributed
from ..utils.dependencies import load_config
from ..utils.prompt_checkpoint import (init_pretrained_for_prompt_only,
                                       is_prompt_only_file)
from .train import build_runner, default_work_dir, set_default_dataloader_cfg


def flip_tta(cfg):
    """mmpretrain's test-time augmentation: the config's ``tta_model`` and
    ``tta_pipeline``, or score averaging over a horizontal flip."""
    if 'tta_model' not in cfg:
        cfg.tta_model = dict(type='mmpretrain.AverageClsScoreTTA')
    if 'tta_pipeline' not in cfg:
        test_pipeline = cfg.test_dataloader.dataset.pipeline
        cfg.tta_pipeline = deepcopy(test_pipeline)
        cfg.tta_pipeline[-1] = dict(
            type='TestTimeAug',
            transforms=[
                [
                    dict(type='RandomFlip', prob=1.),
                    dict(type='RandomFlip', prob=0.)
                ],
                [test_pipeline[-1]],
            ])
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline


def merge_test_args(cfg, args):
    """Merge ``tools/test.py``'s arguments into ``cfg``."""
    cfg.launcher = args.launcher
    default_work_dir(cfg, args.work_dir, args.config)
    cfg.load_from = args.checkpoint

    if args.amp:
        if cfg.get('test_cfg', None) is None:
            cfg.test_cfg = ConfigDict()
        cfg.test_cfg.fp16 = True

    if args.show or (args.show_dir is not None):
        if 'visualization' not in cfg.default_hooks:
            raise ValueError(
                '--show/--show-dir need `default_hooks.visualization='
                "dict(type='VisualizationHook')` in the config")
        vis = cfg.default_hooks.visualization
        vis.enable = True
        vis.show = args.show
        vis.wait_time = args.wait_time
        vis.out_dir = args.show_dir
        vis.interval = args.interval

    if args.tta:
        flip_tta(cfg)

    set_default_dataloader_cfg(
        cfg, 'test_dataloader', args.no_pin_memory, persistent_workers=False)

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def test(args):
    """Test as ``tools/test.py`` does with the parsed ``args``; returns the
    metrics."""
    if args.out is None and args.out_item is not None:
        raise ValueError('--out-item needs --out: the path of the file to '
                         'write the results to')
    # one line naming the file if it is not a readable checkpoint, before
    # anything is built
    check_checkpoint_file(args.checkpoint)
    cfg = merge_test_args(load_config(args.config), args)
    runner = build_runner(cfg)

    # A prompt-only checkpoint holds what was tuned; the frozen backbone
    # comes from the config's pretrained weights, loaded here, before the
    # runner puts the checkpoint over them.
    if is_prompt_only_file(args.checkpoint):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        init_pretrained_for_prompt_only(model, args.checkpoint)

    if args.out and args.out_item in ['pred', None]:
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))

    metrics = runner.test()

    if is_main_process():
        if args.out and args.out_item == 'metrics':
            mmengine.dump(metrics, args.out)
        print('Test metrics:')
        for name, value in metrics.items():
            print(f'{name}: {value!r}')
    shutdown_distributed()
    return metrics
