"""Training from the command line's arguments (``tools/train.py``).

mmpretrain 1.2.0's ``tools/train.py`` logic, with mmprompt's differences
(listed in that tool's docstring): CPU distributed launches, CPU autocast,
the run hooks every run needs, and a start checkpoint that is checked (or,
with ``--resume``, the newest one that loads) before anything is built.
"""
import os.path as osp
import sys

import torch
from mmengine.config import ConfigDict
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from ..engine.run_hooks import add_run_hooks
from ..utils.checkpoint_files import choose_start_checkpoint
from ..utils.compat import (CPU_AMP_OPTIM_WRAPPER, configure_cpu_distributed,
                            has_amp_device, shutdown_distributed)
from ..utils.dependencies import load_config
from ..utils.quiet_log import quiet


def set_default_dataloader_cfg(cfg,
                               field,
                               no_pin_memory=False,
                               no_persistent_workers=False,
                               persistent_workers=True):
    """Fill mmpretrain's dataloader defaults into ``cfg[field]``.

    ``persistent_workers`` is set only for dataloaders with workers: torch
    rejects it for ``num_workers=0``; ``pin_memory`` only with CUDA.
    """
    if cfg.get(field, None) is None:
        return
    # pinned memory needs an accelerator: without one torch warns for
    # every dataloader and pins nothing
    dataloader_cfg = ConfigDict(
        pin_memory=torch.cuda.is_available(),
        collate_fn=dict(type='default_collate'))
    if persistent_workers and cfg[field].get('num_workers', 0) > 0:
        dataloader_cfg.persistent_workers = True
    dataloader_cfg.update(cfg[field])
    cfg[field] = dataloader_cfg
    if no_pin_memory:
        cfg[field]['pin_memory'] = False
    if no_persistent_workers and 'persistent_workers' in cfg[field]:
        cfg[field]['persistent_workers'] = False


def default_work_dir(cfg, work_dir, config_path):
    """CLI > the config's ``work_dir`` > ``./work_dirs/<config name>``."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])


def build_runner(cfg):
    """The config's runner (``runner_type``) or mmengine's ``Runner``; on a
    machine without CUDA a distributed launch uses gloo first."""
    # mmengine's init_dist needs a GPU: gloo, DDP without device_ids, and
    # the process group initialised here.
    configure_cpu_distributed(cfg)
    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    # the optimizer and checkpoint hook log through the runner's logger:
    # their per-frozen-parameter and deprecation lines go
    quiet(runner.logger)
    return runner


def merge_train_args(cfg, args):
    """Merge ``tools/train.py``'s arguments into ``cfg``."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    cfg.launcher = args.launcher
    default_work_dir(cfg, args.work_dir, args.config)

    if args.amp is True:
        if has_amp_device():
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        else:
            # torch's CPU autocast supports bfloat16 only
            cfg.optim_wrapper.type = CPU_AMP_OPTIM_WRAPPER
            cfg.optim_wrapper.dtype = 'bfloat16'

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if args.auto_scale_lr:
        if cfg.get('auto_scale_lr', None) is None:
            raise ValueError('--auto-scale-lr needs `auto_scale_lr = dict('
                             'base_batch_size=...)` in the config')
        cfg.auto_scale_lr.enable = True

    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        set_default_dataloader_cfg(cfg, field, args.no_pin_memory,
                                   args.no_persistent_workers)

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    add_run_hooks(cfg)
    return cfg


def train(args):
    """Train as ``tools/train.py`` does with the parsed ``args``."""
    cfg = merge_train_args(load_config(args.config), args)
    # the checkpoint it starts from, checked (or, --resume: the newest that
    # loads) before anything is built
    choose_start_checkpoint(
        cfg,
        args.resume == 'auto',
        log=lambda line: print(line, file=sys.stderr))
    runner = build_runner(cfg)
    runner.train()
    # every rank waits for the others before the process group goes
    shutdown_distributed()
    return runner
