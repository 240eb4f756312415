"""What an mmengine run wrote, read in one place.

Every tool that reports on training runs (the claims study, the offline
benchmark, the sweep summary) reads them here, from mmengine's
``LocalVisBackend`` files: ``<work_dir>/<timestamp>/vis_data/scalars.json``,
one JSON record per line. Validation records carry ``step`` = the epoch;
:class:`mmprompt.TrainableParamsHook` adds ``trainable_params`` (before
training) and ``trainable_params_end`` (after it). Nothing is parsed out of
the text log.

A resumed run starts a new timestamp folder, so the folders are read in
time order and a later record for the same step replaces an earlier one:
the curve of a run interrupted and resumed is the curve of the whole run.
"""
import glob
import json
import os.path as osp

METRIC = 'accuracy/top1'


def scalar_files(work_dir):
    """The ``scalars.json`` files of ``work_dir``, oldest run first (the
    timestamp folder names sort in time order)."""
    return sorted(
        glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))


def scalar_records(work_dir):
    """Every scalar record of ``work_dir``, oldest first.

    Raises:
        FileNotFoundError: ``work_dir`` holds no ``scalars.json``.
    """
    files = scalar_files(work_dir)
    if not files:
        raise FileNotFoundError(f'no <timestamp>/vis_data/scalars.json under '
                                f'{work_dir}: not an mmengine run folder, or '
                                'the run has not started')
    records = []
    for path in files:
        with open(path, encoding='utf-8') as f:
            records += [json.loads(line) for line in f if line.strip()]
    return records


def metric_curve(work_dir, key=METRIC):
    """``[(step, value)]`` of ``key`` by step (the epoch for validation
    metrics), a resumed run's later record replacing an earlier one."""
    by_step = {}
    for record in scalar_records(work_dir):
        if key in record:
            by_step[record['step']] = float(record[key])
    return sorted(by_step.items())


def last_metric(work_dir, key=METRIC):
    """The value of ``key`` at the last step it was logged, or ``None``
    when the run has not logged it (yet)."""
    if not scalar_files(work_dir):
        return None
    curve = metric_curve(work_dir, key)
    return curve[-1][1] if curve else None


def trainable_params(work_dir):
    """``(at the start, at the end)`` of training, as
    :class:`mmprompt.TrainableParamsHook` logged them; they differ when a
    method changed the model while training (Prompt Condensation).

    Raises:
        ValueError: the run has not logged both (unfinished, or its config
            lacks the hook).
    """
    records = scalar_records(work_dir)
    start = [r['trainable_params'] for r in records if 'trainable_params' in r]
    end = [
        r['trainable_params_end'] for r in records
        if 'trainable_params_end' in r
    ]
    if not start or not end:
        raise ValueError(
            f'{work_dir}: the run did not log trainable_params and '
            'trainable_params_end (unfinished, or without '
            'mmprompt.TrainableParamsHook)')
    return int(start[0]), int(end[-1])
