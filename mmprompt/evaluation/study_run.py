"""One run of the claims study: train, test, keep what the statistics need.

``python -m mmprompt.evaluation.study_run CONFIG WORK_DIR`` (the study
starts one process per run, so a run's memory and global state end with
it). The run trains with validation every epoch, resuming from the newest
checkpoint of ``WORK_DIR`` that loads if it was interrupted; then the final
model is tested and ``result.json`` records:

- ``val_curve``: validation top-1 after every epoch (a resumed run reads
  as one curve, :mod:`mmprompt.evaluation.run_results`);
- ``test_top1`` and ``test_correct``: per test image, 1 where the
  prediction was right, as a string of ``0``/``1`` in the test set's order
  (the paired bootstrap resamples these);
- ``trainable_params`` (at the start and at the end of training) and
  ``train_seconds``.

``result.json`` is written last, whole (a temporary file renamed), so a run
with one is finished; its checkpoints are then deleted (the frozen backbone
makes each one about 90 MB and the study has hundreds of runs).
"""
import glob
import json
import os
import os.path as osp
import sys
import time

import mmengine
import numpy as np
from mmengine.config import Config

from mmprompt.apis.train import build_runner
from mmprompt.engine import add_run_hooks, choose_start_checkpoint
from mmprompt.evaluation import run_results

RESULT = 'result.json'


def write_json(path, obj):
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def run_one(config_path, work_dir):
    """Train and test one run (resuming it if interrupted); returns the
    result dict written to ``WORK_DIR/result.json``."""
    cfg = Config.fromfile(config_path)
    cfg.work_dir = work_dir
    cfg.launcher = 'none'
    add_run_hooks(cfg)
    cfg.resume = True
    cfg.load_from = None
    choose_start_checkpoint(
        cfg, True, log=lambda line: print(line, file=sys.stderr))
    predictions_file = osp.join(work_dir, 'test_predictions.pkl')
    cfg.test_evaluator = [
        dict(type='Accuracy', topk=(1, )),
        dict(type='DumpResults', out_file_path=predictions_file)
    ]
    start = time.time()
    runner = build_runner(cfg)
    runner.train()
    seconds = time.time() - start
    top1 = float(runner.test()['accuracy/top1'])
    correct = [
        int(p['pred_label'].item() == p['gt_label'].item())
        for p in mmengine.load(predictions_file)
    ]
    if not np.isclose(100. * np.mean(correct), top1):
        raise RuntimeError(f'{predictions_file}: {100. * np.mean(correct)} '
                           f'correct but accuracy/top1 {top1}')
    params_start, params_end = run_results.trainable_params(work_dir)
    result = dict(
        val_curve=[v for _, v in run_results.metric_curve(work_dir)],
        test_top1=top1,
        test_correct=''.join(str(c) for c in correct),
        trainable_params=[params_start, params_end],
        train_seconds=seconds)
    write_json(osp.join(work_dir, RESULT), result)
    for path in glob.glob(osp.join(work_dir, '*.pth')) + [predictions_file]:
        os.remove(path)
    return result


def read_result(work_dir):
    """The finished run's ``result.json``, or ``None``."""
    path = osp.join(work_dir, RESULT)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


if __name__ == '__main__':  # the per-run worker the study starts
    if len(sys.argv) != 3:
        sys.exit('usage: python -m mmprompt.evaluation.study_run CONFIG '
                 'WORK_DIR')
    run_one(sys.argv[1], sys.argv[2])
