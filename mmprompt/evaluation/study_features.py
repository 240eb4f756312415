"""The frozen backbone's features of a study task, computed once and cached.

Logistic regression on them is the strongest cheap baseline of the claims
study: the same CLS-token features the linear probe's head sees, fitted to
convergence by scikit-learn instead of by SGD. :func:`replay_head` trains
the linear probe's own head on them, with its config's optimizer and
schedule: the check that tells a defect of the trained probe from a
difference of objective or schedule.
"""
import copy
import math
import os
import os.path as osp

import numpy as np
import torch
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS
from mmpretrain.registry import DATASETS, MODELS

from mmprompt.core.data_init import input_batches
from mmprompt.datasets import vtab1k_draw


def _quiet():
    """The study's output is its progress: the INFO lines of building a
    model or an optimizer stay out (an MMLogger is configured once; asking
    again with settings warns)."""
    if not MMLogger.check_instance_created('study_features'):
        MMLogger.get_instance('study_features', log_level='WARNING')


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
        _quiet()
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


def replay_head(cfg, train_x, train_y, test_x, seed):
    """The linear probe of run config ``cfg`` trained on cached features:
    its head (``cfg.model.head``, initialised as in a run), optimizer
    (``cfg.optim_wrapper``, its paramwise rules included) and parameter
    schedulers (``cfg.param_scheduler``, stepped per iteration), for
    ``cfg.train_cfg.max_epochs`` epochs of shuffled batches of
    ``cfg.train_dataloader.batch_size``; no frozen backbone runs. Returns
    the predicted test labels and the lr of every iteration.

    The backbone is frozen, so this is the trained linear probe's
    optimisation problem without the images: its accuracy should match
    the probe's runs up to seed noise (the random streams differ), and
    the same with more epochs or another objective tells what the probe
    is short of.
    """
    _quiet()
    torch.manual_seed(seed)
    holder = torch.nn.Module()  # 'head.' names, as paramwise keys expect
    holder.head = MODELS.build(copy.deepcopy(cfg.model.head))
    if not isinstance(getattr(holder.head, 'fc', None), torch.nn.Linear):
        raise TypeError('replay_head needs a head whose logits are one '
                        'linear layer `fc` (LinearClsHead), got '
                        f'model.head.type={cfg.model.head.type!r}')
    holder.head.init_weights()
    optim_wrapper = build_optim_wrapper(holder,
                                        copy.deepcopy(cfg.optim_wrapper))
    batch_size = cfg.train_dataloader.batch_size
    epoch_length = math.ceil(len(train_x) / batch_size)
    schedulers = [
        PARAM_SCHEDULERS.build(
            copy.deepcopy(s),
            default_args=dict(
                optimizer=optim_wrapper, epoch_length=epoch_length))
        for s in cfg.param_scheduler
    ]
    x = torch.as_tensor(train_x, dtype=torch.float32)
    y = torch.as_tensor(train_y, dtype=torch.long)
    order = torch.Generator().manual_seed(seed)
    lrs = []
    for _ in range(cfg.train_cfg.max_epochs):
        perm = torch.randperm(len(x), generator=order)
        for i in range(0, len(x), batch_size):
            batch = perm[i:i + batch_size]
            lrs.append(optim_wrapper.get_lr()['lr'][0])
            loss = holder.head.loss_module(holder.head.fc(x[batch]), y[batch])
            optim_wrapper.update_params(loss)
            for scheduler in schedulers:
                scheduler.step()
    with torch.no_grad():
        logits = holder.head.fc(torch.as_tensor(test_x, dtype=torch.float32))
    return logits.argmax(1).numpy(), lrs
