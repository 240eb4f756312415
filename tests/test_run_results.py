"""The one reader of run folders: resumed runs, parameter counts, errors."""
import json

import pytest

from mmprompt.evaluation import run_results


def write_run(work_dir, timestamp, records):
    vis = work_dir / timestamp / 'vis_data'
    vis.mkdir(parents=True)
    (vis / 'scalars.json').write_text(''.join(
        json.dumps(r) + '\n' for r in records))


def test_a_resumed_run_reads_as_one_curve(tmp_path):
    # epochs 1-2 validated, the run killed in epoch 3; resumed from the
    # epoch-1 checkpoint, it validates epochs 2 (again) and 3
    write_run(tmp_path, '20260101_000000', [
        dict(trainable_params=12, total_params=100, step=0),
        dict(loss=2.0, step=5),
        {
            'accuracy/top1': 40.0,
            'step': 1
        },
        {
            'accuracy/top1': 50.0,
            'step': 2
        },
    ])
    write_run(tmp_path, '20260101_010000', [
        dict(trainable_params=6, total_params=94, step=5),
        {
            'accuracy/top1': 55.0,
            'step': 2
        },
        {
            'accuracy/top1': 60.0,
            'step': 3
        },
        dict(trainable_params_end=6, total_params=94, step=15),
    ])
    assert run_results.metric_curve(str(tmp_path)) == [(1, 40.0), (2, 55.0),
                                                       (3, 60.0)]
    assert run_results.last_metric(str(tmp_path)) == 60.0
    assert run_results.metric_curve(str(tmp_path), 'loss') == [(5, 2.0)]
    # the count before training is the first run's, after it the last's
    assert run_results.trainable_params(str(tmp_path)) == (12, 6)


def test_unfinished_and_missing_runs(tmp_path):
    assert run_results.last_metric(str(tmp_path / 'nothing')) is None
    with pytest.raises(FileNotFoundError, match='no <timestamp>/vis_data'):
        run_results.scalar_records(str(tmp_path / 'nothing'))
    write_run(tmp_path, '20260101_000000',
              [dict(trainable_params=12, total_params=100, step=0)])
    assert run_results.last_metric(str(tmp_path)) is None
    with pytest.raises(ValueError, match='did not log trainable_params'):
        run_results.trainable_params(str(tmp_path))
