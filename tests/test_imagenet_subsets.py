"""ImageNet-1k data-fraction recipes: a seeded, class-balanced subset of
mmpretrain's ImageNet (read from a fake folder in its layout), the same
images for every method, and the per-fraction head weight decay."""
import glob
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image

import mmprompt  # noqa: F401
from mmprompt.datasets import ClassBalancedSubset, class_balanced_subset
from mmprompt.methods.bpt import recipe as bpt_recipe
from mmprompt.registry import DATASETS
from helpers import bad_input_params, check_bad_input, text

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
# images per class of the fake ImageNet: uneven, as ImageNet's (732..1300)
SIZES = [40, 25, 10]


def make_imagenet(root):
    """data/imagenet layout: train/<wnid>/*.JPEG, meta/train.txt."""
    os.makedirs(osp.join(root, 'meta'))
    lines = []
    for c, n in enumerate(SIZES):
        wnid = f'n{c:08d}'
        os.makedirs(osp.join(root, 'train', wnid))
        for i in range(n):
            name = f'{wnid}/{wnid}_{i}.JPEG'
            Image.new('RGB', (8, 8), (c * 80, i, 0)).save(
                osp.join(root, 'train', name), format='JPEG')
            lines.append(f'{name} {c}')
    with open(osp.join(root, 'meta', 'train.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')


@pytest.fixture(scope='module')
def imagenet(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('imagenet'))
    make_imagenet(root)
    return root


def subset(root, fraction, seed=0):
    init_default_scope('mmpretrain')
    return ClassBalancedSubset(
        dataset=dict(
            type='ImageNet',
            data_root=root,
            split='train',
            pipeline=[dict(type='LoadImageFromFile')]),
        fraction=fraction,
        seed=seed)


def test_fraction_of_every_class_seeded(imagenet):
    ten = subset(imagenet, 0.1)
    labels = ten.get_gt_labels()
    # round(0.1 * n) per class, at least one
    assert np.bincount(labels).tolist() == [4, 2, 1] and len(ten) == 7
    # the same images for every run and method; another seed, others
    assert ten.indices.tolist() == subset(imagenet, 0.1).indices.tolist()
    assert ten.indices.tolist() != subset(imagenet, 0.1, 1).indices.tolist()
    # items are the wrapped dataset's, through its pipeline
    full = ten.dataset
    for i, j in enumerate(ten.indices):
        assert ten.get_data_info(i)['img_path'] == \
            full.get_data_info(int(j))['img_path']
        assert ten[i]['gt_label'] == full.get_data_info(int(j))['gt_label']
        assert ten[i]['img'].shape == (8, 8, 3)
    assert ten.metainfo['classes'] == full.metainfo['classes']
    half = subset(imagenet, 0.5)
    assert np.bincount(half.get_gt_labels()).tolist() == [20, 12, 5]
    assert len(subset(imagenet, 1.0)) == sum(SIZES)


def test_num_per_class_and_fraction_are_one_rule():
    labels = np.repeat([0, 1], [5, 3])
    chosen = class_balanced_subset(labels, 0, num_per_class=2)
    assert np.bincount(labels[chosen]).tolist() == [2, 2]
    with pytest.raises(ValueError, match='exactly one of'):
        class_balanced_subset(labels, 0)
    with pytest.raises(ValueError, match='class 1 has only 3 images'):
        class_balanced_subset(labels, 0, num_per_class=4)


@pytest.mark.parametrize('fraction', [0, -0.1, 1.5, True])
def test_fraction_outside_the_unit_interval(imagenet, fraction):
    with pytest.raises(ValueError, match='fraction must be in'):
        subset(imagenet, fraction)


def test_imagenet_recipes_per_fraction(imagenet):
    files = sorted(glob.glob(osp.join(REPO, 'configs', 'imagenet', '*.py')))
    assert len(files) == len(bpt_recipe.IMAGENET_METHODS) * len(
        bpt_recipe.IMAGENET_FRACTIONS)
    for method in bpt_recipe.IMAGENET_METHODS:
        for fraction, head_wd in bpt_recipe.IMAGENET_FRACTIONS.items():
            cfg = Config.fromfile(
                osp.join(
                    REPO, 'configs', 'imagenet',
                    f'{method}_vit-b16-mae_in1k-{round(fraction * 100)}pct.py')
            )
            ds = cfg.train_dataloader.dataset
            assert ds.type == 'mmprompt.ClassBalancedSubset'
            assert (ds.fraction, ds.seed) == (fraction, 0)
            assert cfg.optim_wrapper.paramwise_cfg.custom_keys[
                'head.fc.weight'].weight_decay == head_wd
            assert cfg.model.head.num_classes == 1000
            bb = cfg.model.backbone
            assert (bb.num_prompts, bb.prompt_mode) == (100, 'shallow')
            if method == 'bpt-shallow-bilinear':
                assert (bb.variant, bb.width) == ('bilinear', 25)
    # the official scripts' head weight decay per data size
    assert bpt_recipe.IMAGENET_FRACTIONS[0.01] == 0.5
    assert bpt_recipe.IMAGENET_FRACTIONS[1.0] == 0.01
    # the subset of a recipe builds on the ImageNet layout
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'imagenet',
                 'vpt-shallow_vit-b16-mae_in1k-10pct.py'))
    ds_cfg = cfg.train_dataloader.dataset.to_dict()
    ds_cfg['dataset'].update(
        data_root=imagenet, pipeline=[dict(type='LoadImageFromFile')])
    init_default_scope('mmpretrain')
    from mmpretrain.registry import DATASETS
    ds = DATASETS.build(ds_cfg)
    assert np.bincount(ds.get_gt_labels()).tolist() == [4, 2, 1]


# ------------------------------------------------------------ bad input
def subset_fraction(fraction):
    return lambda tmp_path, monkeypatch: DATASETS.build(
        dict(
            type='mmprompt.ClassBalancedSubset',
            fraction=fraction,
            dataset=dict(
                type='ImageNet', data_root=str(tmp_path), split='train')))


# (id, expected exception or warning, pattern of its message, action)
BAD_INPUT = [
    ('subset-fraction-zero', ValueError,
     text('fraction must be in (0, 1], got 0'), subset_fraction(0)),
    ('subset-fraction-above-one', ValueError,
     text('fraction must be in (0, 1], got 1.5'), subset_fraction(1.5)),
]


@bad_input_params(BAD_INPUT)
def test_bad_input(expected, pattern, action, tmp_path, monkeypatch):
    check_bad_input(expected, pattern, action, tmp_path, monkeypatch)
