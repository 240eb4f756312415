"""Collect the runs of ``tools/sweep_vpt.py`` into one table.

Usage::

    python tools/summarize_results.py [WORK_ROOT] [--json OUT.json]

Every run folder of a sweep holds ``sweep_run.json`` (config, phase, lr,
wd, seed, splits); its result is the last ``accuracy/top1`` that mmengine
logged in ``<run>/<timestamp>/vis_data/scalars.json`` (evaluation at the end
of training: on the validation split in the ``tune`` phase, on the test
split in the ``final`` phase).

Printed: per config the chosen lr/wd (best validation accuracy, ties to the
smaller lr as VPT does) and the test accuracy, mean ± std over the final
seeds; then a Markdown table with one row per recipe (the config name
without its ``_<benchmark>-<task>`` suffix) and one column per task, with the
mean of each VTAB-1k group (natural, specialized, structured) and of FGVC
where all of its tasks are present, and both VTAB-1k averages (the mean of
the three group means, and the mean over the 19 tasks). Below, the published
rows for the recipes' pretraining (:mod:`mmprompt.evaluation.references`),
each with its source.
"""
import argparse
import glob
import json
import os
import os.path as osp
import re
import sys
from collections import defaultdict

import numpy as np

# one source of truth for the tasks and the VTAB-1k groups
from mmprompt.datasets.fgvc import FGVC_DATASETS
from mmprompt.datasets.vtab1k import VTAB1K_GROUPS
from mmprompt.evaluation.references import REFERENCES, references
from mmprompt.evaluation.run_results import METRIC, last_metric
from mmprompt.utils.paths import REPO_ROOT

ROOT = REPO_ROOT

RUN_FILE = 'sweep_run.json'

FGVC_TASKS = tuple(FGVC_DATASETS)
VTAB_GROUPS = VTAB1K_GROUPS
COLUMNS = [f'fgvc-{t}' for t in FGVC_TASKS] + [
    f'vtab1k-{t}' for group in VTAB_GROUPS.values() for t in group
]
TASK_SUFFIX = re.compile(r'^(?P<recipe>.+)_(?P<task>(fgvc|vtab1k)-\w+)$')


def read_result(run_dir):
    """The last ``accuracy/top1`` logged in a run folder, or ``None``."""
    return last_metric(run_dir, METRIC)


def collect_runs(work_root):
    """Every run under ``work_root``: its ``sweep_run.json`` plus
    ``run_dir`` and ``result`` (``None`` while it has none)."""
    runs = []
    for path in sorted(
            glob.glob(osp.join(work_root, '**', RUN_FILE), recursive=True)):
        with open(path, encoding='utf-8') as f:
            run = json.load(f)
        run['run_dir'] = osp.dirname(path)
        run['result'] = read_result(run['run_dir'])
        runs.append(run)
    return runs


def best_lr_wd(tune_runs):
    """``(lr, wd, val_acc)`` of the best finished tuning run; ties go to the
    smaller lr (VPT). ``None`` if no run has a result."""
    done = [r for r in tune_runs if r['result'] is not None]
    if not done:
        return None
    best = max(done, key=lambda r: (r['result'], -r['lr']))
    return best['lr'], best['wd'], best['result']


def summarize(runs):
    """``{config_name: dict(...)}`` with the tuning choice and test stats."""
    by_config = defaultdict(lambda: dict(tune=[], final=[]))
    for run in runs:
        by_config[run['config_name']][run['phase']].append(run)
    summary = {}
    for name, phases in sorted(by_config.items()):
        best = best_lr_wd(phases['tune'])
        finals = [
            r['result'] for r in phases['final'] if r['result'] is not None
        ]
        summary[name] = dict(
            tune_done=sum(r['result'] is not None for r in phases['tune']),
            tune_total=len(phases['tune']),
            best=best,
            final_lr_wd=sorted({(r['lr'], r['wd'])
                                for r in phases['final']}),
            test=finals,
            test_mean=float(np.mean(finals)) if finals else None,
            test_std=float(np.std(finals)) if finals else None,
            final_total=len(phases['final']),
        )
    return summary


def table(summary):
    """Markdown table: recipes x tasks (test mean), with group means and
    both VTAB-1k averages; below them the published rows for the
    pretrainings of the recipes (:mod:`mmprompt.evaluation.references`),
    each with its source."""
    rows = defaultdict(dict)
    extra_cols = []
    for name, s in summary.items():
        if s['test_mean'] is None:
            continue
        m = TASK_SUFFIX.match(name)
        recipe, task = (m['recipe'], m['task']) if m else (name, 'result')
        rows[recipe][task] = s['test_mean']
        if task not in COLUMNS and task not in extra_cols:
            extra_cols.append(task)
    published = [
        r for pretrain in sorted({ref['pretrain']
                                  for ref in REFERENCES}) if any(
                                      recipe.endswith('_' + pretrain)
                                      for recipe in rows)
        for r in references(pretrain)
    ]
    present = [c for c in COLUMNS if any(c in r for r in rows.values())]
    # (column, VTAB-1k group or None, tasks)
    groups = [('FGVC mean', 'fgvc', [f'fgvc-{t}' for t in FGVC_TASKS])
              ] + [(f'VTAB {g} mean', g, [f'vtab1k-{t}' for t in ts])
                   for g, ts in VTAB_GROUPS.items()]
    vtab = [f'vtab1k-{t}' for ts in VTAB_GROUPS.values() for t in ts]
    header = ['recipe'] + present + extra_cols + [g for g, _, _ in groups] + [
        'VTAB mean of groups', 'VTAB mean of 19 tasks'
    ]
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]

    def cells_of(label, values, group_means=None):
        cells = [label] + [
            f'{values[c]:.1f}' if c in values else ''
            for c in present + extra_cols
        ]
        means = []
        for _, group, cols in groups:
            if group_means and group in group_means:
                means.append(group_means[group])  # as published
            elif all(c in values for c in cols):
                means.append(float(np.mean([values[c] for c in cols])))
            else:
                means.append(None)
            cells.append('' if means[-1] is None else f'{means[-1]:.2f}')
        vtab_means = means[1:]
        cells.append(f'{np.mean(vtab_means):.2f}' if all(
            m is not None for m in vtab_means) else '')
        cells.append(f'{np.mean([values[c] for c in vtab]):.2f}' if all(
            c in values for c in vtab) else '')
        return '| ' + ' | '.join(cells) + ' |'

    for recipe, values in sorted(rows.items()):
        lines.append(cells_of(recipe, values))
    sources = []
    for ref in published:
        if ref['source'] not in sources:
            sources.append(ref['source'])
        mark = sources.index(ref['source']) + 1
        lines.append(
            cells_of(
                f"{ref['method']}, {ref['pretrain']} (published [{mark}])",
                dict({
                    f'vtab1k-{t}': v
                    for t, v in ref['vtab1k'].items()
                }, **{
                    f'fgvc-{t}': v
                    for t, v in ref['fgvc'].items()
                }), ref['group_means']))
    lines += [''] + [f'[{i}] {s}' for i, s in enumerate(sources, 1)] + [
        '', 'VTAB mean of groups: the mean of the three group means (the VPT '
        'paper\'s average); VTAB mean of 19 tasks: the plain mean over the '
        'tasks, which some papers report instead.'
    ]
    return '\n'.join(lines)


def report(summary):
    lines = []
    for name, s in summary.items():
        best = ('lr {:g} wd {:g} (val {:.2f})'.format(
            *s['best']) if s['best'] else 'no finished tuning run')
        test = ('test {:.2f} ± {:.2f} over {} seed(s)'.format(
            s['test_mean'], s['test_std'], len(s['test']))
                if s['test'] else 'no finished final run')
        lines.append(f'{name}: tune {s["tune_done"]}/{s["tune_total"]}, '
                     f'best {best}; final {len(s["test"])}/'
                     f'{s["final_total"]}, {test}')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Summarise the runs of tools/sweep_vpt.py.')
    parser.add_argument('work_root', nargs='?', default='work_dirs/vpt_sweep')
    parser.add_argument('--json', help='also write the summary here')
    args = parser.parse_args(argv)
    if not osp.isdir(args.work_root):
        print(f'no such folder: {args.work_root}', file=sys.stderr)
        return 1
    runs = collect_runs(args.work_root)
    if not runs:
        print(f'no {RUN_FILE} under {args.work_root}', file=sys.stderr)
        return 1
    summary = summarize(runs)
    print(report(summary))
    print()
    print(table(summary))
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(summary, f, indent=1)
    return 0
