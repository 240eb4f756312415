"""The frozen backbone's features of a study task, computed once and cached.

Logistic regression on them is the strongest cheap baseline of the claims
study: the same CLS-token features the linear probe's head sees, fitted to
convergence by scikit-learn instead of by SGD.
"""
import os
import os.path as osp

import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from mmpretrain.registry import DATASETS, MODELS

from mmprompt.datasets import vtab1k_draw
from mmprompt.evaluation.study_setting import run_config


@torch.no_grad()
def _features(model, dataset, batch_size=100):
    feats, labels = [], []
    for start in range(0, len(dataset), batch_size):
        batch = pseudo_collate([
            dataset[i]
            for i in range(start, min(start + batch_size, len(dataset)))
        ])
        data = model.data_preprocessor(batch, False)
        feats.append(
            model.head.pre_logits(model.extract_feat(
                data['inputs'])).float().numpy())
        labels += [int(s.gt_label) for s in data['data_samples']]
    return np.concatenate(feats), np.array(labels)


def cached_features(task,
                    work_dir,
                    num_seeds,
                    img_size,
                    num_train=800,
                    num_val=200,
                    num_test=None):
    """``dict(test_x, test_y, seeds=[dict(train_x, train_y, val_x, val_y)])``
    for seeds ``0 .. num_seeds - 1``: each seed's VTAB-1k draw from the
    task's pool, the same draw its trained runs see."""
    cfg = run_config('linear', task, 1e-2, 0, 1, img_size, 32, num_train,
                     num_val, num_test)
    cache = osp.join(work_dir, f'features_{img_size}px.npz')
    if osp.isfile(cache):
        stored = np.load(cache)
        pool_x, pool_y = stored['pool_x'], stored['pool_y']
        test_x, test_y = stored['test_x'], stored['test_y']
    else:
        # the study's output is its progress: loading's INFO lines stay out
        MMLogger.get_instance('study_features', log_level='WARNING')
        model = MODELS.build(cfg.model)
        model.init_weights()
        model.eval()
        pool = DATASETS.build(cfg.train_dataloader.dataset['dataset'])
        test = DATASETS.build(cfg.test_dataloader.dataset)
        pool_x, pool_y = _features(model, pool)
        test_x, test_y = _features(model, test)
        tmp = cache + '.tmp.npz'
        np.savez(
            tmp, pool_x=pool_x, pool_y=pool_y, test_x=test_x, test_y=test_y)
        os.replace(tmp, cache)
    seeds = []
    for seed in range(num_seeds):
        train, val = vtab1k_draw(pool_y, seed, num_train, num_val)
        seeds.append(
            dict(
                train_x=pool_x[train],
                train_y=pool_y[train],
                val_x=pool_x[val],
                val_y=pool_y[val]))
    return dict(test_x=test_x, test_y=test_y, seeds=seeds)
