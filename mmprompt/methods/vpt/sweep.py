"""The VPT evaluation protocol as runs of ``tools/train.py``.

Usage::

    # 1. lr / weight-decay search (VTAB-1k: train800 -> val200;
    #    FGVC: train -> val)
    python tools/sweep_vpt.py CONFIG [CONFIG ...] --phase tune \
        [--launcher print|local|dist|slurm] [--gpus N] [--partition P]
    # 2. the best lr/wd of step 1, several seeds (VTAB-1k: train800val200
    #    -> test; FGVC: train -> test)
    python tools/sweep_vpt.py CONFIG [CONFIG ...] --phase final [...]
    # 3. one table
    python tools/summarize_results.py work_dirs/vpt_sweep

Each run is ``tools/train.py CONFIG --work-dir RUN --cfg-options ...``
(through ``dist_train.sh`` / ``slurm_train.sh`` with those launchers) with
the splits, lr, weight decay and seed set on the command line and one
evaluation at the end of training; ``RUN/sweep_run.json`` records what the
run is. ``--launcher print`` (the default) only prints the commands, e.g. to
hand them to a job array; ``local``/``dist`` run them one after another;
``slurm`` keeps up to ``--max-parallel`` ``srun`` jobs going. A run that has
its result already is skipped, so a sweep can be started again.

``--schedule sgd`` replaces the config's optimizer by VPT's SGD recipe
(``configs/_base_/schedules/vpt_sgd_100e.py``) and, as VPT, reads the lr grid
as base lrs for batch 256: lr = base_lr * total_batch / 256. The default
grids are VPT's (``tune_vtab.py``/``tune_fgvc.py``) for SGD and a smaller one
for AdamW; ``--lrs``/``--wds`` replace them.
"""
import argparse
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
import time

from mmengine.config import Config

from mmprompt.evaluation.summarize_results import (RUN_FILE, best_lr_wd,
                                                   collect_runs, read_result)
from mmprompt.utils.paths import REPO_ROOT

ROOT = REPO_ROOT
TOOLS = osp.join(ROOT, 'tools')

SGD_SCHEDULE = osp.join(ROOT, 'configs', '_base_', 'schedules',
                        'vpt_sgd_100e.py')
VPT_SEEDS = (42, 44, 82, 100, 800)
WDS = (0.01, 0.001, 0.0001, 0.0)
# (optimizer, kind) -> lr grid; SGD: VPT's base lrs for batch 256
LR_GRIDS = {
    ('sgd', 'prompt'): (50.0, 25.0, 10.0, 5.0, 2.5, 1.0, 0.5, 0.25, 0.1, 0.05),
    ('sgd', 'linear'): (50.0, 25.0, 10.0, 5.0, 2.5, 1.0, 0.5, 0.25, 0.1, 0.05),
    ('sgd', 'finetune'): (0.005, 0.001, 0.0005, 0.0001),
    ('adamw', 'prompt'): (1e-2, 5e-3, 1e-3, 5e-4, 1e-4),
    ('adamw', 'linear'): (1e-2, 5e-3, 1e-3, 5e-4, 1e-4),
    ('adamw', 'finetune'): (5e-4, 1e-4, 5e-5, 1e-5),
}
# dataset type -> (tune train split, tune eval split,
#                  final train split, final eval split)
PROTOCOLS = {
    'VTAB1kDataset': ('train800', 'val200', 'train800val200', 'test'),
    'FGVCDataset': ('train', 'val', 'train', 'test'),
}


def _load(path):
    return Config.fromfile(path, import_custom_modules=False)


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def describe(cfg):
    """``(benchmark protocol, method kind, optimizer, batch, max_epochs)``"""
    dataset_type = cfg.train_dataloader.dataset.type.split('.')[-1]
    if dataset_type not in PROTOCOLS:
        raise ValueError(f'the VPT protocol needs a VTAB1kDataset or '
                         f'FGVCDataset config, got {dataset_type!r}')
    backbone = cfg.model.backbone
    if not backbone.get('frozen', True):
        kind = 'finetune'
    elif not any(_as_list(backbone.get('num_prompts', 50))):
        kind = 'linear'
    else:
        kind = 'prompt'
    optimizer = cfg.optim_wrapper.optimizer.type.lower()
    return (PROTOCOLS[dataset_type], kind, optimizer,
            cfg.train_dataloader.batch_size, cfg.train_cfg.max_epochs)


def flatten(prefix, value):
    """``key=value`` strings of a nested dict for ``--cfg-options``."""
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            if '.' in str(k):
                raise ValueError(f'{prefix}.{k}: a key with a dot cannot be '
                                 'set through --cfg-options')
            out += flatten(f'{prefix}.{k}', v)
        return out
    if isinstance(value, (list, tuple)):
        items = ','.join(repr(v) for v in value)
        brackets = '()' if isinstance(value, tuple) else '[]'
        return [f'{prefix}={brackets[0]}{items}{brackets[1]}']
    return [f'{prefix}={value}']


def sgd_options():
    """``--cfg-options`` that put VPT's SGD optimizer in place."""
    optim = _load(SGD_SCHEDULE).optim_wrapper.to_dict()
    return ['optim_wrapper._delete_=True'] + flatten('optim_wrapper', optim)


def _fmt(x):
    return f'{x:g}'


def plan_runs(config, args):
    """The runs of one config: list of ``(run_dir, meta, cfg_options)``."""
    cfg = _load(config)
    (tune_train, tune_eval, final_train, final_eval), kind, optimizer, \
        batch, max_epochs = describe(cfg)
    if args.schedule == 'sgd':
        optimizer = 'sgd'
    name = osp.splitext(osp.basename(config))[0]
    root = osp.join(args.work_root, name)
    total_batch = batch * args.gpus
    scale = total_batch / 256 if optimizer == 'sgd' else 1.0
    common = [f'train_cfg.val_interval={max_epochs}']
    if args.schedule == 'sgd':
        common += sgd_options()

    if args.phase == 'tune':
        lrs = args.lrs or LR_GRIDS[(optimizer, kind)]
        wds = args.wds if args.wds is not None else WDS
        settings = [(lr, wd, args.tune_seed) for lr in lrs for wd in wds]
        splits = (tune_train, tune_eval)
    else:
        tune_runs = collect_runs(osp.join(root, 'tune'))
        best = best_lr_wd(tune_runs)
        if best is None:
            raise RuntimeError(
                f'{config}: no finished tuning run under '
                f'{osp.join(root, "tune")}; run --phase tune first')
        pending = [r['run_dir'] for r in tune_runs if r['result'] is None]
        if pending and not args.allow_pending:
            raise RuntimeError(
                f'{config}: {len(pending)} tuning run(s) have no result yet '
                f'(e.g. {pending[0]}); wait, or pass --allow-pending')
        base_lr, wd, _ = best
        settings = [(base_lr, wd, seed) for seed in args.seeds]
        splits = (final_train, final_eval)

    runs = []
    for base_lr, wd, seed in settings:
        lr = base_lr * scale
        tag = f'lr{_fmt(base_lr)}_wd{_fmt(wd)}'
        if args.phase == 'final':
            tag += f'_seed{seed}'
        run_dir = osp.join(root, args.phase, tag)
        meta = dict(
            config=config,
            config_name=name,
            phase=args.phase,
            lr=base_lr,
            wd=wd,
            seed=seed,
            actual_lr=lr,
            optimizer=optimizer,
            kind=kind,
            train_split=splits[0],
            eval_split=splits[1],
            total_batch=total_batch)
        options = common + [
            f'train_dataloader.dataset.split={splits[0]}',
            f'val_dataloader.dataset.split={splits[1]}',
            f'optim_wrapper.optimizer.lr={lr!r}',
            f'optim_wrapper.optimizer.weight_decay={wd!r}',
            f'randomness.seed={seed}',
        ] + list(args.cfg_options or [])
        runs.append((run_dir, meta, options))
    return runs


def command(run_dir, meta, options, args):
    tail = ['--work-dir', run_dir, '--cfg-options'] + options
    if args.launcher in ('print', 'local'):
        return [sys.executable,
                osp.join(TOOLS, 'train.py'), meta['config']] + tail
    if args.launcher == 'dist':
        return [
            'bash',
            osp.join(TOOLS, 'dist_train.sh'), meta['config'],
            str(args.gpus)
        ] + tail
    job = f'{meta["config_name"]}_{osp.basename(run_dir)}'
    return ([
        'env', f'GPUS={args.gpus}', 'bash',
        osp.join(TOOLS, 'slurm_train.sh'), args.partition, job, meta['config'],
        run_dir, '--cfg-options'
    ] + options)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Run the VPT protocol (lr/wd search, then seeds) with '
        'tools/train.py.')
    parser.add_argument('configs', nargs='+')
    parser.add_argument('--phase', choices=('tune', 'final'), required=True)
    parser.add_argument('--work-root', default='work_dirs/vpt_sweep')
    parser.add_argument(
        '--launcher',
        default='print',
        choices=('print', 'local', 'dist', 'slurm'))
    parser.add_argument(
        '--gpus',
        type=int,
        default=1,
        help='GPUs per run (the total batch is the '
        "config's batch times this)")
    parser.add_argument('--partition', help='slurm partition')
    parser.add_argument(
        '--max-parallel',
        type=int,
        default=8,
        help='slurm: runs at the same time')
    parser.add_argument(
        '--schedule', choices=('config', 'sgd'), default='config')
    parser.add_argument('--lrs', type=float, nargs='+')
    parser.add_argument('--wds', type=float, nargs='+')
    parser.add_argument(
        '--seeds', type=int, nargs='+', default=list(VPT_SEEDS))
    parser.add_argument('--tune-seed', type=int, default=0)
    parser.add_argument(
        '--allow-pending',
        action='store_true',
        help='final: choose among the finished tuning runs')
    parser.add_argument(
        '--force',
        action='store_true',
        help='also launch runs that have a result')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        help='more key=value options for every run')
    args = parser.parse_args(argv)
    if args.launcher == 'slurm' and not args.partition:
        parser.error('--launcher slurm needs --partition')
    return args


def main(argv=None):
    args = parse_args(argv)
    planned = []
    for config in args.configs:
        for run_dir, meta, options in plan_runs(config, args):
            if not args.force and read_result(run_dir) is not None:
                print(f'# done, skipped: {run_dir}')
                continue
            os.makedirs(run_dir, exist_ok=True)
            with open(osp.join(run_dir, RUN_FILE), 'w') as f:
                json.dump(meta, f, indent=1)
            planned.append(command(run_dir, meta, options, args))
    if args.launcher == 'print':
        for cmd in planned:
            print(shlex.join(cmd))
        return 0
    failed = 0
    if args.launcher in ('local', 'dist'):
        for cmd in planned:
            print(shlex.join(cmd), flush=True)
            failed += subprocess.call(cmd) != 0
    else:
        running = []
        for cmd in planned:
            while len(running) >= args.max_parallel:
                still = []
                for p in running:
                    if p.poll() is None:
                        still.append(p)
                    else:
                        failed += p.returncode != 0
                running = still
                time.sleep(5)
            print(shlex.join(cmd), flush=True)
            running.append(subprocess.Popen(cmd))
        failed += sum(p.wait() != 0 for p in running)
    print(f'{len(planned)} run(s), {failed} failed')
    return 1 if failed else 0
