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
  ``train_seconds`` (training and validation, summed over resumes:
  :class:`~mmprompt.engine.hooks.TrainTimeHook`).

``result.json`` is written last, whole (a temporary file renamed), so a run
with one is finished; its checkpoints are then deleted (the frozen backbone
makes each one about 90 MB and the study has hundreds of runs).
"""
import glob
import json
import os
import os.path as osp
import sys

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


def validated_epochs(cfg):
    """The epochs after which ``cfg``'s epoch-based train loop validates
    (mmengine's ``val_begin`` and ``val_interval``; the last epoch always)."""
    train = cfg.train_cfg
    last = train.max_epochs
    begin, every = train.get('val_begin', 1), train.get('val_interval', 1)
    return [
        e for e in range(1, last + 1)
        if e >= begin and (e % every == 0 or e == last)
    ]


def check_curve(work_dir, val_curve, cfg):
    """Raise unless the run has one validation result per epoch its
    schedule validates after."""
    want = validated_epochs(cfg)
    if len(val_curve) != len(want):
        raise ValueError(
            f'{work_dir}: {len(val_curve)} validation results where its '
            f'schedule validates {len(want)} times; delete the run directory '
            'to train it again')


def run_one(config_path, work_dir):
    """Train and test one run (resuming it if interrupted); returns the
    result dict written to ``WORK_DIR/result.json``."""
    cfg = Config.fromfile(config_path)
    cfg.work_dir = work_dir
    cfg.launcher = 'none'
    add_run_hooks(cfg)
    # the training time in each checkpoint, so a resumed run reports all of it
    cfg.custom_hooks = list(cfg.get('custom_hooks')
                            or []) + [dict(type='mmprompt.TrainTimeHook')]
    cfg.resume = True
    cfg.load_from = None
    choose_start_checkpoint(
        cfg, True, log=lambda line: print(line, file=sys.stderr))
    predictions_file = osp.join(work_dir, 'test_predictions.pkl')
    cfg.test_evaluator = [
        dict(type='Accuracy', topk=(1, )),
        dict(type='DumpResults', out_file_path=predictions_file)
    ]
    runner = build_runner(cfg)
    runner.train()
    seconds = runner.message_hub.get_info('train_seconds')
    top1 = float(runner.test()['accuracy/top1'])
    correct = [
        int(p['pred_label'].item() == p['gt_label'].item())
        for p in mmengine.load(predictions_file)
    ]
    if not np.isclose(100. * np.mean(correct), top1):
        raise RuntimeError(f'{predictions_file}: {100. * np.mean(correct)} '
                           f'correct but accuracy/top1 {top1}')
    params_start, params_end = run_results.trainable_params(work_dir)
    curve = run_results.metric_curve(work_dir)
    epochs, want = [e for e, _ in curve], validated_epochs(cfg)
    if epochs != want:
        raise RuntimeError(f'{work_dir}: validated after epochs {epochs}, '
                           f'its schedule after {want}')
    result = dict(
        val_curve=[v for _, v in curve],
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
