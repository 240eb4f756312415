"""The frozen backbone's features of a study task, computed once and cached.

Logistic regression on them is the strongest cheap baseline of the claims
study: the same CLS-token features the linear probe's head sees, fitted to
convergence by scikit-learn instead of by SGD.
"""
import os
import os.path as osp

import numpy as np
import torch
from mmengine.logging import MMLogger
from mmpretrain.registry import DATASETS, MODELS

from mmprompt.core.data_init import input_batches
from mmprompt.datasets import vtab1k_draw


@torch.no_grad()
def _features(model, dataset, batch_size=100):
    """The head's input features of every item, and the labels."""
    batches = input_batches(model, dataset, list(range(len(dataset))),
                            batch_size)
    feats = [
        model.head.pre_logits(model.extract_feat(x)).float().numpy()
        for x in batches
    ]
    return np.concatenate(feats), np.asarray(dataset.get_gt_labels())


def cached_features(cfg, work_dir, num_seeds):
    """``dict(test_x, test_y, seeds=[dict(train_x, train_y, val_x, val_y)])``
    for seeds ``0 .. num_seeds - 1`` of the linear probe's run config
    ``cfg``: with a :class:`mmprompt.VTAB1kDraw` training set each seed's
    own draw from the pool (the draw its trained runs see), else the
    config's fixed training and validation sets for every seed."""
    cache = osp.join(work_dir, 'features.npz')
    train_cfg = cfg.train_dataloader.dataset
    drawn = train_cfg['type'] == 'mmprompt.VTAB1kDraw'
    parts = dict(test=cfg.test_dataloader.dataset)
    if drawn:
        parts['pool'] = train_cfg['dataset']
    else:
        parts.update(train=train_cfg, val=cfg.val_dataloader.dataset)
    if osp.isfile(cache):
        stored = dict(np.load(cache))
    else:
        # the study's output is its progress: loading's INFO lines stay out
        MMLogger.get_instance('study_features', log_level='WARNING')
        model = MODELS.build(cfg.model)
        model.init_weights()
        model.eval()
        stored = {}
        for name, dataset in parts.items():
            x, y = _features(model, DATASETS.build(dataset))
            stored.update({f'{name}_x': x, f'{name}_y': y})
        tmp = cache + '.tmp.npz'
        np.savez(tmp, **stored)
        os.replace(tmp, cache)
    seeds = []
    for seed in range(num_seeds):
        if drawn:
            train, val = vtab1k_draw(stored['pool_y'], seed,
                                     train_cfg['num_train'],
                                     train_cfg['num_val'])
            seeds.append(
                dict(
                    train_x=stored['pool_x'][train],
                    train_y=stored['pool_y'][train],
                    val_x=stored['pool_x'][val],
                    val_y=stored['pool_y'][val]))
        else:
            seeds.append({
                k: stored[k]
                for k in ('train_x', 'train_y', 'val_x', 'val_y')
            })
    return dict(test_x=stored['test_x'], test_y=stored['test_y'], seeds=seeds)
