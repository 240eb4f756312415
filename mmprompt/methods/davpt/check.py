"""Did DA-VPT's guidance act in a run? Its metric losses and its mapping.

    python tools/analysis/check_davpt.py WORK_DIR [WORK_DIR ...] [--out JSON]

For each training work dir of a DA-VPT model (``DAVPTClassifier``
with a ``DAVPTMappingHook``), from the files the run wrote:

- the mean of each metric loss (``loss_ml_patch``, ``loss_ml_cls``, as
  logged, i.e. weighted by beta and lambda) and of the classification loss
  per epoch, from mmengine's ``vis_data/scalars.json``;
- the class-to-prompt mapping after every k-means (the initial one and one
  per epoch), from the run's log, and how many classes each re-mapping
  moved to another prompt.

A DA-VPT claim that fails with losses that fall and a mapping that moves
failed with the guidance working; flat losses or a frozen mapping point at
a defect (or at a loss weight too small to matter). One of the checks that
tell a failing claim from a defect.
"""
import argparse
import ast
import glob
import json
import os.path as osp
import re
from collections import defaultdict

LOSSES = ('loss_cls', 'loss_ml_patch', 'loss_ml_cls')
MAPPING = re.compile(r'(Initial class-to-prompt mapping \(.*?\)|'
                     r'Class-to-prompt mapping): (\[[\d, ]*\])')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dirs', nargs='+')
    parser.add_argument('--out', help='write the report as JSON here')
    return parser.parse_args(argv)


def session_files(work_dir, pattern):
    """``pattern`` under each of the run's timestamp folders, oldest first
    (every start or resume of a run writes a new folder)."""
    files = sorted(glob.glob(osp.join(work_dir, '2*', pattern)))
    if not files:
        raise FileNotFoundError(
            f'{work_dir}: no {pattern} under a timestamp folder; is it an '
            'mmengine work dir?')
    return files


def epoch_losses(work_dir):
    """``{loss: [mean of epoch 1, epoch 2, ...]}`` from the logged
    training iterations of every session of the run."""
    records = {}  # step -> record; a resumed session's repeat wins
    for path in session_files(work_dir, osp.join('vis_data', 'scalars.json')):
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                if 'epoch' in record and 'loss' in record:  # not validation
                    records[record['step']] = record
    sums = defaultdict(lambda: defaultdict(float))
    counts = defaultdict(lambda: defaultdict(int))
    for record in records.values():
        for name in LOSSES:
            if name in record:
                sums[name][record['epoch']] += record[name]
                counts[name][record['epoch']] += 1
    if not sums.get('loss_ml_patch') and not sums.get('loss_ml_cls'):
        raise ValueError(f'{work_dir}: the run logged no metric loss '
                         '(loss_ml_patch/loss_ml_cls): not a DA-VPT run')
    return {
        name: [sums[name][e] / counts[name][e] for e in sorted(sums[name])]
        for name in sums
    }


def mappings(work_dir):
    """Every class-to-prompt mapping the run logged, in order."""
    found = []
    for path in session_files(work_dir, '*.log'):
        with open(path) as f:
            for line in f:
                match = MAPPING.search(line)
                if match:
                    found.append(ast.literal_eval(match.group(2)))
    if not found:
        raise ValueError(f'{work_dir}: the log holds no class-to-prompt '
                         'mapping: the run had no DAVPTMappingHook')
    return found


def check(work_dir):
    losses = epoch_losses(work_dir)
    maps = mappings(work_dir)
    moved = [
        sum(a != b for a, b in zip(before, after))
        for before, after in zip(maps[:-1], maps[1:])
    ]
    return dict(
        work_dir=work_dir,
        epoch_losses=losses,
        metric_loss_fell={
            name: values[-1] < values[0]
            for name, values in losses.items() if name != 'loss_cls'
        },
        mappings=maps,
        classes_moved=moved,
        prompts_used=[len(set(m)) for m in maps])


def main(argv=None):
    args = parse_args(argv)
    reports = [check(w) for w in args.work_dirs]
    for r in reports:
        print(r['work_dir'])
        for name, values in r['epoch_losses'].items():
            print(f'  {name} per epoch: ' + ' '.join(f'{v:.4f}'
                                                     for v in values))
        print(f"  classes moved by each re-mapping: {r['classes_moved']}; "
              f"prompts used: {r['prompts_used']}")
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(reports, f, indent=2)
    return reports
