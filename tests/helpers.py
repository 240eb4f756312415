"""What several test modules share: paths, the tiny end-to-end set-up of
tools/ (an image folder, a hooks module and a config, used by the fixtures
in conftest.py), subprocess and checkpoint helpers, the tiny models unit
tests build (``TINY_VIT``, :func:`tiny_vit`, :func:`tiny_classifier`, ...)
and the bad-input checks every module's ``BAD_INPUT`` table uses."""
import gzip
import json
import os
import os.path as osp
import socket
import subprocess

import numpy as np
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from PIL import Image

from mmprompt.datasets import FGVC_DATASETS, VTAB1K_TASKS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TRAIN = osp.join(REPO, 'tools', 'train.py')
TEST = osp.join(REPO, 'tools', 'test.py')

NUM_CLASSES = 4
IMGS_PER_CLASS = 6
COLOURS = [(220, 40, 40), (40, 220, 40), (40, 40, 220), (220, 220, 40)]

HOOKS_MODULE = '''
import inspect
import os
import os.path as osp
import pickle

import torch
import torch.distributed as torch_dist
from mmengine.dist import get_rank, get_world_size, is_distributed
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class ToolsTestHook(Hook):
    """Dumps each rank's prompts before/after training; can stop early or
    die by SIGKILL after iteration ``kill_at = (epoch, batch_idx)``
    (0-based), or in the validation after ``kill_in_val`` epochs, as a
    crashed or preempted job does."""
    priority = 'VERY_LOW'

    def __init__(self, stop_after=None, kill_at=None, kill_in_val=None):
        self.stop_after = stop_after
        self.kill_at = None if kill_at is None else tuple(kill_at)
        self.kill_in_val = kill_in_val

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if self.kill_at == (runner.epoch, batch_idx):
            import signal
            os.kill(os.getpid(), signal.SIGKILL)

    def after_val_iter(self, runner, batch_idx, data_batch=None,
                       outputs=None):
        # runner.epoch: the epochs done
        if self.kill_in_val == runner.epoch:
            import signal
            os.kill(os.getpid(), signal.SIGKILL)

    def _dump(self, runner, stage):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        prompts = {k: v.detach().clone()
                   for k, v in model.state_dict().items() if 'prompts.' in k}
        info = dict(
            prompts=prompts,
            world_size=get_world_size(),
            backend=torch_dist.get_backend() if is_distributed() else None,
            optim_wrapper=type(runner.optim_wrapper).__name__,
            amp_dtype=str(getattr(runner.optim_wrapper, 'cast_dtype', None)),
            torch_load=f'{torch.load.__module__}.{torch.load.__name__}',
            weights_only_default=inspect.signature(
                torch.load).parameters['weights_only'].default,
            force_env={k: v for k, v in os.environ.items()
                       if 'WEIGHTS_ONLY' in k})
        torch.save(info, osp.join(runner.work_dir,
                                  f'prompts_{stage}_rank{get_rank()}.pth'))

    def before_train(self, runner):
        self._dump(runner, 'before_train')
        if self.stop_after == 0:
            runner.train_loop.stop_training = True

    def after_train_epoch(self, runner):
        # runner.epoch is still the 0-based index of the finished epoch
        if self.stop_after is not None and runner.epoch + 1 >= self.stop_after:
            runner.train_loop.stop_training = True

    def after_train(self, runner):
        self._dump(runner, 'after_train')
'''

CONFIG = '''
custom_imports = dict(
    imports=['mmprompt', 'mmprompt_tools_test_hooks'],
    allow_failed_imports=False)
default_scope = 'mmpretrain'

model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        type='ClsDataPreprocessor', num_classes={num_classes},
        mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5], to_rgb=True),
    backbone=dict(
        type='mmprompt.PromptViT',
        arch=dict(embed_dims=32, num_layers=2, num_heads=4,
                  feedforward_channels=64),
        img_size=32, patch_size=8, num_prompts=4, prompt_mode='deep'),
    neck=None,
    head=dict(type='LinearClsHead', num_classes={num_classes},
              in_channels=32, loss=dict(type='CrossEntropyLoss')))

pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
dataset = dict(type='CustomDataset', data_root={data_root!r},
               pipeline=pipeline)
train_dataloader = dict(
    batch_size=8, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True), dataset=dataset)
val_dataloader = dict(
    batch_size=8, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False), dataset=dataset)
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.5, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(
    type='MultiStepLR', by_epoch=True, milestones=[1], gamma=0.5)
train_cfg = dict(by_epoch=True, max_epochs=2, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=8, enable=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False))
custom_hooks = [dict(type='ToolsTestHook', stop_after=None)]

# nccl, as in OpenMMLab's default runtime: tools/train.py must switch to gloo
# on a machine without CUDA.
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))
visualizer = dict(
    type='UniversalVisualizer', vis_backends=[dict(type='LocalVisBackend')])
log_processor = dict(by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=True)
'''


def run(args, env, timeout=300):
    proc = subprocess.run(
        args,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout)
    assert proc.returncode == 0, (
        f'{args} failed ({proc.returncode}):\n'
        f'{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}')
    return proc


def load(path):
    # torch's default weights_only=True (explicit, so a changed default
    # cannot make this test pass by accident)
    return torch.load(path, map_location='cpu', weights_only=True)


def assert_same(a, b, where='ckpt'):
    """Exact, recursive comparison of checkpoint parts."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), where
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a, b), f'{where} differs'
    elif isinstance(a, dict):
        assert set(a) == set(b), f'{where}: {set(a) ^ set(b)}'
        for k in a:
            assert_same(a[k], b[k], f'{where}.{k}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f'{where}[{i}]')
    else:
        assert a == b, f'{where}: {a!r} != {b!r}'


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# ------------------------------------------------------------ tiny models
# The shared tiny architectures (mmpretrain arch dicts): what unit tests
# build instead of ViT-B. Built on the CPU in a fraction of a second.
TINY_VIT = dict(
    embed_dims=32, num_layers=4, num_heads=4, feedforward_channels=64)
TINY_VIT_ARGS = dict(arch=TINY_VIT, img_size=32, patch_size=8)
TINY_SWIN = dict(embed_dims=16, depths=[2, 2, 2], num_heads=[2, 2, 4])
TINY_SWIN_ARGS = dict(
    arch=TINY_SWIN,
    img_size=32,
    patch_size=2,
    window_size=4,
    out_indices=(0, 1, 2),
    drop_path_rate=0.)


def _build(type_, defaults, kwargs):
    from mmprompt.registry import MODELS
    torch.manual_seed(0)
    return MODELS.build(dict(type=type_, **{**defaults, **kwargs}))


def tiny_vit(**kwargs):
    """A 4-layer ``mmprompt.PromptViT`` (width 32, 32 px, 8 px patches)
    from mmprompt's registry; ``kwargs`` override."""
    return _build('mmprompt.PromptViT', TINY_VIT_ARGS, kwargs)


def tiny_bpt(**kwargs):
    """The same as a ``mmprompt.BilinearPromptViT``."""
    return _build('mmprompt.BilinearPromptViT', TINY_VIT_ARGS, kwargs)


def tiny_swin(**kwargs):
    """A 3-stage ``mmprompt.PromptSwin`` (width 16, 32 px, 2 px patches,
    window 4)."""
    return _build('mmprompt.PromptSwin', TINY_SWIN_ARGS, kwargs)


def tiny_classifier(num_prompts=2,
                    type='ImageClassifier',
                    init_weights=False,
                    **kwargs):
    """An mmpretrain classifier (3 classes) over :func:`tiny_vit`, built
    the way users' configs are (mmpretrain's registry and scope)."""
    from mmpretrain.registry import MODELS
    num_prompts = list(num_prompts) if isinstance(num_prompts,
                                                  tuple) else num_prompts
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type=type,
            data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=3),
            backbone=dict(
                type='mmprompt.PromptViT',
                **TINY_VIT_ARGS,
                num_prompts=num_prompts),
            head=dict(type='LinearClsHead', num_classes=3, in_channels=32),
            **kwargs))
    if init_weights:
        model.init_weights()
    return model


def tiny_davpt(num_prompts=(2, 2, 2, 4), **kwargs):
    """A ``mmprompt.DAVPTClassifier`` (DA-VPT) over
    :func:`tiny_vit`, guided prompts in the last layer, initialised."""
    return tiny_classifier(
        num_prompts,
        type='mmprompt.DAVPTClassifier',
        init_weights=True,
        **kwargs)


# ------------------------------------------------------------ bad input
# Every module's test file has a ``BAD_INPUT`` table: (id, expected
# exception or warning, pattern of its message, action(tmp_path,
# monkeypatch)). An action feeds one bad input through the path a user
# takes (a config dict built from the registries, a dataset class, a
# checkpoint loader, a hook, a tool) and the message must name the field
# and the offending value (and, where it helps, how to fix it).
def text(*parts):
    """A pattern matching ``parts`` literally, in this order, anything (even
    newlines) in between."""
    import re
    return '(?s)' + '.*'.join(re.escape(p) for p in parts)


def call(fn, *args, **kwargs):
    """An action that calls ``fn`` (ignoring the fixtures)."""
    return lambda tmp_path, monkeypatch: fn(*args, **kwargs)


def bad_input_params(table):
    """``pytest.mark.parametrize`` arguments of a ``BAD_INPUT`` table."""
    import pytest
    return pytest.mark.parametrize(
        'expected,pattern,action', [case[1:] for case in table],
        ids=[case[0] for case in table])


def check_bad_input(expected, pattern, action, tmp_path, monkeypatch):
    """One case: ``action`` raises (or warns) ``expected`` matching
    ``pattern``."""
    import pytest
    check = pytest.warns if issubclass(expected, Warning) else pytest.raises
    with check(expected, match=pattern):
        action(tmp_path, monkeypatch)


class WarningLogger:
    """``runner.logger`` whose warnings become Python warnings, so that
    ``pytest.warns`` sees what a hook logs as a warning."""

    def info(self, msg):
        pass

    def warning(self, msg):
        import warnings
        warnings.warn(msg, UserWarning)


def fake_runner(model, dataset=None):
    """What a hook reads of a runner: the model, the logger and the
    training set."""
    from types import SimpleNamespace
    return SimpleNamespace(
        model=model,
        logger=WarningLogger(),
        train_dataloader=SimpleNamespace(dataset=dataset))


def touch(path):
    """An empty file (and its folders)."""
    import os
    os.makedirs(osp.dirname(path), exist_ok=True)
    open(path, 'wb').close()


# ------------------------------------------------------- data for tests
# Fake datasets in the real formats (an image's colour encodes its label),
# and labelled batches for the classifier-level tests.
def colour(label):
    """A flat colour that encodes a label (read back from the pixels)."""
    return (10 * label + 5, 200 - 10 * label, 77)


def write_image(path, label, size=12):
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(np.full((size, size, 3), colour(label),
                            np.uint8)).save(path)


def label_of(img_rgb):
    """The label whose colour an RGB image has (JPEG-tolerant)."""
    return int(round((float(img_rgb[..., 0].mean()) - 5) / 10))


def make_fgvc(root, name, class_ids=(12, 3, 7), per_split=None, indent=None):
    """VPT's layout: ``{train,val,test}.json`` + images in the dataset's
    image folder; the image colour encodes the contiguous label."""
    per_split = per_split or dict(train=3, val=1, test=2)
    img_dir = osp.join(root, FGVC_DATASETS[name][1])
    to_label = {c: i for i, c in enumerate(sorted(class_ids))}
    for split, n in per_split.items():
        anno = {}
        for cid in class_ids:
            for i in range(n):
                rel = f'class_{cid}/{split}_{i}.png'
                write_image(osp.join(img_dir, rel), to_label[cid])
                anno[rel] = cid
        with open(osp.join(root, f'{split}.json'), 'w') as f:
            json.dump(anno, f, indent=indent)
    return root


def make_vtab(root, task, counts=None, num_images=None, folder=None):
    """``<root>/<task>/{split}.txt`` lines ``images/i.png label``. Lines may
    share images (``num_images``) so that full-size lists stay cheap."""
    counts = counts or dict(train800=8, val200=4, train800val200=12, test=6)
    num_classes = VTAB1K_TASKS[task]
    task_dir = osp.join(root, folder or task)
    num_images = num_images or max(counts.values())
    labels = [i % min(num_classes, 5) for i in range(num_images)]
    for i, label in enumerate(labels):
        write_image(osp.join(task_dir, 'images', f'{i}.png'), label)
    lists = {}
    for split in ('train800', 'val200', 'test'):
        lists[split] = [
            f'images/{i % num_images}.png {labels[i % num_images]}'
            for i in range(counts[split])
        ]
    lists['train800val200'] = lists['train800'] + lists['val200']
    for split, lines in lists.items():
        with open(osp.join(task_dir, f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return root


def write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b''.join(
        int(d).to_bytes(4, 'big') for d in array.shape)
    with gzip.open(path, 'wb') as f:
        f.write(header + array.astype(np.uint8).tobytes())


def classifier(num_prompts=5, **kwargs):
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=3),
            backbone=dict(
                type='mmprompt.PromptViT',
                arch=TINY_VIT,
                img_size=32,
                patch_size=8,
                num_prompts=num_prompts,
                **kwargs),
            head=dict(type='LinearClsHead', num_classes=3, in_channels=32)))
    model.init_weights()
    return model


def batches(num, size=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        dict(
            inputs=[
                torch.randint(
                    0, 256, (3, 32, 32), generator=g, dtype=torch.uint8)
                for _ in range(size)
            ],
            data_samples=[
                DataSample().set_gt_label(
                    int(torch.randint(0, 3, (1, ), generator=g)))
                for _ in range(size)
            ]) for _ in range(num)
    ]
