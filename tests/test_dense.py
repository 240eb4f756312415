"""Dense tasks: SETR-PUP (mmseg) and Mask R-CNN / Cascade Mask R-CNN (mmdet)
with prompted ViTs.

The end-to-end tests write a tiny config that inherits the shipped leaf
config (``configs/setr/...``, ``configs/mask_rcnn/...``) and only shrinks
the model and points the data at a generated folder in the dataset's real
layout (ADE20K folders, COCO json + images). They train through
``tools/train.py`` with mmengine's Runner, mmseg's ``SETRUPHead`` and
``IoUMetric``, mmdet's RPN/RoI heads and ``CocoMetric`` (pycocotools), and
resume from a checkpoint: the resumed run must end with the uninterrupted
run's weights. Pipelines have no random transform (mmengine does not restore
the python/numpy RNG state on resume).
"""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

import mmprompt  # noqa: F401
from mmprompt.core import PromptViT
from mmprompt.methods.bpt import BilinearPromptViT
from mmprompt.models.necks import SimpleFeaturePyramid
from mmprompt.registry import MODELS
from helpers import (TINY_VIT, bad_input_params, call, check_bad_input, text,
                     tiny_vit)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TRAIN = osp.join(REPO, 'tools', 'train.py')
TINY = TINY_VIT
# in a config: replaces the base's arch name ('l', 'b')
TINY_ARCH = dict(TINY, _delete_=True)


def run(args, timeout=600):
    env = os.environ.copy()
    env['PYTHONPATH'] = os.pathsep.join(
        [REPO] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
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
    return proc.stdout + proc.stderr


def load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def last_scalars(work_dir):
    """The last logged metrics of a run (mmengine's scalars.json)."""
    found = []
    for root, _, files in os.walk(work_dir):
        if 'scalars.json' in files:
            found.append(osp.join(root, 'scalars.json'))
    assert found, f'no scalars.json under {work_dir}'
    metrics = {}
    with open(sorted(found)[-1]) as f:
        for line in f:
            metrics.update(json.loads(line))
    return metrics


# ------------------------------------------------------------ shapes
@pytest.mark.parametrize('mode', ['shallow', 'deep'])
def test_multilevel_featmaps_strip_prompts_for_non_square_inputs(mode):
    torch.manual_seed(0)
    kw = dict(
        arch=TINY,
        img_size=64,
        patch_size=16,
        out_type='featmap',
        out_indices=(0, 1, 2, 3),
        final_norm=False)
    plain = PromptViT(**kw, num_prompts=0)
    prompted = PromptViT(**kw, num_prompts=5, prompt_mode=mode)
    prompted.load_state_dict(
        {
            k: v
            for k, v in plain.state_dict().items()
            if not k.startswith('prompts.')
        },
        strict=False)
    x = torch.randn(2, 3, 64, 96)  # a 4 x 6 patch grid
    outs = prompted(x)
    assert [tuple(o.shape) for o in outs] == [(2, 32, 4, 6)] * 4
    # the maps are the patch tokens (prompts removed), in row-major order
    prompted.out_type = 'raw'
    raw = prompted(x)[-1]
    np.testing.assert_allclose(
        outs[-1].flatten(2).transpose(1, 2).detach().numpy(),
        raw[:, 1 + 5:].detach().numpy(),
        rtol=1e-6)

    # ViTDet's pyramid: strides 4, 8, 16, 32, 64 of the image
    neck = SimpleFeaturePyramid(in_channels=32, out_channels=16)
    levels = neck(outs)
    assert [tuple(o.shape) for o in levels] == [(2, 16, 16, 24),
                                                (2, 16, 8, 12), (2, 16, 4, 6),
                                                (2, 16, 2, 3), (2, 16, 1, 2)]

    # SETR-PUP heads upsample each chosen level back to the image
    from mmseg.models.decode_heads import SETRUPHead
    head = SETRUPHead(
        in_channels=32,
        channels=16,
        in_index=3,
        num_classes=5,
        num_convs=4,
        up_scale=2,
        norm_cfg=dict(type='BN'))
    assert tuple(head(list(outs)).shape) == (2, 5, 64, 96)


def test_pyramid_levels_equal_a_direct_computation():
    torch.manual_seed(0)
    neck = SimpleFeaturePyramid(
        in_channels=8, out_channels=4, scale_factors=(2.0, 0.5), num_outs=3)
    x = torch.randn(1, 8, 6, 4)
    out = neck([x])
    up, down = neck.stages
    expected_up = up[1:](up[0](x))
    expected_down = down[1:](torch.nn.functional.max_pool2d(x, 2))
    torch.testing.assert_close(out[0], expected_up)
    torch.testing.assert_close(out[1], expected_down)
    torch.testing.assert_close(out[2], expected_down[:, :, ::2, ::2])
    # LN2d normalises over channels: each position of a level has mean 0
    torch.testing.assert_close(
        up[2](up[1](up[0](x))).mean(1),
        torch.zeros(1, 12, 8),
        atol=1e-5,
        rtol=0)


# ------------------------------------------------------------ bad input
def test_dense_bad_inputs_fail_at_build_with_clear_errors():
    with pytest.raises(
            ValueError,
            match=r'out_indices \(9, 14, 19, 24\) '
            r'contains \[24\], outside the 24 layers'):
        PromptViT(
            arch='l',
            img_size=64,
            patch_size=16,
            out_type='featmap',
            out_indices=(9, 14, 19, 24))
    with pytest.raises(
            ValueError,
            match=r"out_type='featmap' needs img_size "
            r'divisible by patch_size=16, got img_size=500'):
        PromptViT(arch=TINY, img_size=500, patch_size=16, out_type='featmap')
    with pytest.raises(
            ValueError,
            match=r'divisible by patch_size=16, got '
            r'img_size=\(512, 500\)'):
        BilinearPromptViT(
            arch=TINY,
            img_size=(512, 500),
            patch_size=16,
            out_type='featmap',
            width=4)
    with pytest.raises(ValueError, match=r'in_channels=30 must divide by 4'):
        SimpleFeaturePyramid(in_channels=30)
    with pytest.raises(ValueError, match=r'scale_factors must be taken from'):
        SimpleFeaturePyramid(in_channels=32, scale_factors=(3.0, ))
    with pytest.raises(ValueError, match=r'num_outs=2 is fewer than the 4'):
        SimpleFeaturePyramid(in_channels=32, num_outs=2)
    # a neck built for ViT-B behind a ViT-L: named before any convolution
    neck = SimpleFeaturePyramid(in_channels=768)
    with pytest.raises(
            ValueError,
            match=r'in_channels=768\) got a feature '
            r'map of shape \(1, 1024, 4, 4\)'):
        neck([torch.zeros(1, 1024, 4, 4)])


# ------------------------------------------------------------ SETR (mmseg)
SETR_LEAF = ('configs/setr/'
             'vpt-deep_vit-l16-in21k_setr-pup_ade20k-512x512-160k.py')
SETR_CONFIG = '''
_base_ = ['{leaf}']
crop_size = (64, 64)
data_root = '{data_root}'
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch={tiny}, img_size=64, num_prompts=3,
                  out_indices=(0, 1, 2, 3), init_cfg=None),
    decode_head=dict(in_channels=32, channels=16, norm_cfg=norm_cfg),
    auxiliary_head=[
        dict(h, in_channels=32, channels=16, norm_cfg=norm_cfg)
        for h in _base_.model.auxiliary_head],
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(48, 48)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='Resize', scale=crop_size, keep_ratio=False),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(96, 64), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=0.05))
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0,
                        end=4, by_epoch=False)]
train_cfg = dict(max_iters=4, val_interval=4)
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=2, max_keep_ckpts=5))
randomness = dict(seed=0)
'''


def make_ade20k(root):
    """ADEChallengeData2016 layout: images/{training,validation}/*.jpg and
    annotations/*/*.png (0 = other, reduced to 255; 1..3 = classes 0..2;
    image i's dominant class is i % 3)."""
    from PIL import Image
    rng = np.random.RandomState(0)
    for split, n in (('training', 4), ('validation', 2)):
        os.makedirs(osp.join(root, 'images', split))
        os.makedirs(osp.join(root, 'annotations', split))
        for i in range(n):
            # the class of the left half (the dominant one) rotates
            a, b, c = np.roll([1, 2, 3], -i)
            mask = np.zeros((64, 80), np.uint8)
            mask[:, :40] = a
            mask[:32, 40:] = b
            mask[32:, 40:] = c
            mask[rng.rand(64, 80) < 0.05] = 0
            colours = np.array(
                [[0, 0, 0], [200, 30, 30], [30, 200, 30], [30, 30, 200]],
                np.float64)
            img = colours[mask] + rng.uniform(-20, 20, (64, 80, 3))
            name = f'ADE_{split}_{i:08d}'
            Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(
                osp.join(root, 'images', split, name + '.jpg'))
            Image.fromarray(mask).save(
                osp.join(root, 'annotations', split, name + '.png'))


# ------------------------------------------------------------ Mask R-CNN
DET_CONFIG = '''
_base_ = ['{leaf}']
data_root = '{data_root}'
classes = ('square', 'bar')
model = dict(
    backbone=dict(arch={tiny}, img_size=64, num_prompts=3, init_cfg=None),
    neck=dict(in_channels=32, out_channels=16),
    rpn_head=dict(in_channels=16, feat_channels=16),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=16),
        bbox_head={bbox_head},
        mask_roi_extractor=dict(out_channels=16),
        mask_head=dict(in_channels=16, conv_out_channels=16, num_classes=2)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(96, 64), keep_ratio=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(96, 64), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor')),
]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file='train.json',
                 data_prefix=dict(img='images/'),
                 metainfo=dict(classes=classes),
                 filter_cfg=dict(filter_empty_gt=True, min_size=0),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file='val.json',
                 data_prefix=dict(img='images/'),
                 metainfo=dict(classes=classes), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + '/val.json',
                     metric=['bbox', 'segm'])
test_evaluator = val_evaluator
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [dict(type='MultiStepLR', begin=0, end=2, by_epoch=True,
                        milestones=[1], gamma=0.1)]
train_cfg = dict(max_epochs=2, val_interval=2)
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=1, max_keep_ckpts=5))
randomness = dict(seed=0)
'''
BBOX_HEAD = ("dict(in_channels=16, fc_out_channels=32, num_classes=2)")
CASCADE_BBOX_HEADS = (
    '[dict(h, in_channels=16, fc_out_channels=32, num_classes=2) '
    'for h in _base_.model.roi_head.bbox_head]')


def make_coco(root):
    """COCO instance json + images: a square (class 1) and a bar (class 2)
    per image, polygons as segmentations."""
    from PIL import Image
    os.makedirs(osp.join(root, 'images'))
    rng = np.random.RandomState(0)
    for split, ids in (('train', range(4)), ('val', range(4, 6))):
        images, anns = [], []
        for i in ids:
            img = rng.uniform(0, 40, (64, 80, 3))
            x, y = 8 + 4 * (i % 3), 10
            img[y:y + 24, x:x + 24] = (220, 60, 60)  # square 24x24
            img[40:52, 40:76] = (60, 60, 220)  # bar 36x12
            name = f'{i:04d}.jpg'
            Image.fromarray(img.astype(np.uint8)).save(
                osp.join(root, 'images', name))
            images.append(dict(id=i, file_name=name, width=80, height=64))
            for cat, (bx, by, bw, bh) in ((1, (x, y, 24, 24)), (2, (40, 40, 36,
                                                                    12))):
                anns.append(
                    dict(
                        id=len(anns) + 100 * i + 1,
                        image_id=i,
                        category_id=cat,
                        bbox=[bx, by, bw, bh],
                        area=bw * bh,
                        iscrowd=0,
                        segmentation=[[
                            bx, by, bx + bw, by, bx + bw, by + bh, bx, by + bh
                        ]]))
        with open(osp.join(root, f'{split}.json'), 'w') as f:
            json.dump(
                dict(
                    images=images,
                    annotations=anns,
                    categories=[
                        dict(id=1, name='square'),
                        dict(id=2, name='bar')
                    ]), f)


# ------------------------------------------------------------ runs
def write_config(tmp_path, name, template, **fields):
    path = tmp_path / f'{name}.py'
    path.write_text(template.format(tiny=TINY_ARCH, **fields))
    return str(path)


def train_and_resume(cfg, tmp_path, stop_option, final_ckpt, first_ckpt):
    """An uninterrupted run A; a run B stopped after its first checkpoint
    and resumed with ``--resume``: B must end with A's weights."""
    work_a, work_b = tmp_path / 'A', tmp_path / 'B'
    log = run([sys.executable, TRAIN, cfg, '--work-dir', str(work_a)])
    run([
        sys.executable, TRAIN, cfg, '--work-dir',
        str(work_b), '--cfg-options', stop_option
    ])
    assert (work_b / first_ckpt).exists()
    assert not (work_b / final_ckpt).exists()
    resumed_log = run(
        [sys.executable, TRAIN, cfg, '--work-dir',
         str(work_b), '--resume'])
    assert 'resumed' in resumed_log
    full = load(work_a / final_ckpt)['state_dict']
    resumed = load(work_b / final_ckpt)['state_dict']
    assert set(full) == set(resumed)
    for k in full:
        torch.testing.assert_close(resumed[k], full[k], rtol=0, atol=0, msg=k)
    first = load(work_a / first_ckpt)['state_dict']
    assert not torch.equal(first['backbone.prompts.0.tokens'],
                           full['backbone.prompts.0.tokens'])
    # the backbone stays frozen: pretrained weights untouched
    torch.testing.assert_close(
        first['backbone.layers.0.attn.qkv.weight'],
        full['backbone.layers.0.attn.qkv.weight'],
        rtol=0,
        atol=0)
    return log, work_a


DAVPT_TINY = '''
model['backbone']['num_prompts'] = [3, 3, 3, 4]  # guided: 4 prompts
custom_hooks = [
    dict(type='mmprompt.DAVPTMappingHook', num_images_per_class=2,
         interval_iters=2),
]
'''


@pytest.mark.slow
@pytest.mark.parametrize('method', ['vpt-deep', 'davpt'])
def test_setr_trains_evaluates_and_resumes(tmp_path, method):
    data = tmp_path / 'ade'
    make_ade20k(str(data))
    leaf = SETR_LEAF.replace('vpt-deep', method)
    cfg = write_config(
        tmp_path,
        'tiny_setr',
        SETR_CONFIG + (DAVPT_TINY if method == 'davpt' else ''),
        leaf=osp.join(REPO, leaf),
        data_root=str(data))
    log, work = train_and_resume(cfg, tmp_path, 'train_cfg.max_iters=2',
                                 'iter_4.pth', 'iter_2.pth')
    assert 'trainable params: ' in log
    metrics = last_scalars(work)
    # mmseg's IoUMetric over the 150 ADE20K classes (3 present here)
    assert {'mIoU', 'aAcc', 'mAcc'} <= set(metrics)
    assert 0 <= metrics['aAcc'] <= 100
    if method == 'davpt':
        # dominant mask labels of the 4 training images: 0, 1, 2, 0
        assert 'loss_ml_patch' in log and 'loss_ml_cls' in log
        assert '147 of 150 classes are no training image' in log
        state = load(work / 'iter_4.pth')['state_dict']
        assert int(state['mapping_ready']) == 1
        mapping = state['class_to_prompt']
        assert mapping.shape == (150, ) and int(mapping.max()) < 4
        # re-mapped every 2 iterations: the class sums were consumed
        assert float(state['class_feat_count'].sum()) == 0


def test_dominant_label_ignores_the_ignore_index():
    from mmprompt.methods.davpt import dominant_label
    seg = torch.tensor([[255, 255, 255, 2], [1, 1, 2, 2], [255, 0, 1, 2]])
    assert dominant_label(seg, num_classes=3, ignore_index=255) == 2
    assert dominant_label(torch.tensor([[1, 2]]), 3, 255) == 1  # tie
    assert dominant_label(torch.full((2, 2), 255), 3, 255) == -1


@pytest.mark.parametrize('detector,leaf,bbox_head', [
    ('mask-rcnn',
     'configs/mask_rcnn/vpt-deep_vit-b16-in21k_mask-rcnn_coco-1x.py',
     BBOX_HEAD),
    ('cascade-mask-rcnn', 'configs/cascade_mask_rcnn/'
     'vpt-shallow_vit-b16-in21k_cascade-mask-rcnn_coco-1x.py',
     CASCADE_BBOX_HEADS),
])
@pytest.mark.slow
def test_detectors_train_evaluate_with_coco_metric_and_resume(
        tmp_path, detector, leaf, bbox_head):
    data = tmp_path / 'coco'
    make_coco(str(data))
    cfg = write_config(
        tmp_path,
        f'tiny_{detector}',
        DET_CONFIG,
        leaf=osp.join(REPO, leaf),
        data_root=str(data),
        bbox_head=bbox_head)
    log, work = train_and_resume(cfg, tmp_path, 'train_cfg.max_epochs=1',
                                 'epoch_2.pth', 'epoch_1.pth')
    metrics = last_scalars(work)
    # mmdet's CocoMetric through pycocotools, boxes and masks
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP',
                'coco/segm_mAP_50'):
        assert key in metrics and -1 <= metrics[key] <= 1, key


# ------------------------------------------------------------ bad input
def dense_neck_channels_mismatch(tmp_path, monkeypatch):
    backbone = tiny_vit(num_prompts=2, out_type='featmap').eval()
    neck = MODELS.build(
        dict(
            type='mmprompt.SimpleFeaturePyramid',
            in_channels=48,
            out_channels=8))
    with torch.no_grad():
        neck(backbone(torch.zeros(1, 3, 32, 32)))


# (id, expected exception or warning, pattern of its message, action)
BAD_INPUT = [
    ('dense-out_indices-outside-depth', ValueError,
     text('out_indices (1, 4) contains [4], outside the 4 layers'),
     call(tiny_vit, out_type='featmap', out_indices=(1, 4))),
    ('dense-img_size-not-divisible-by-patch', ValueError,
     text("out_type='featmap' needs img_size divisible by patch_size=8, "
          'got img_size=30'), call(tiny_vit, img_size=30, out_type='featmap')),
    ('dense-neck-in_channels-not-divisible-by-4', ValueError,
     text('in_channels=30 must divide by 4'),
     call(MODELS.build,
          dict(type='mmprompt.SimpleFeaturePyramid', in_channels=30))),
    ('dense-neck-channels-mismatch', ValueError,
     text('SimpleFeaturePyramid(in_channels=48) got a feature map of shape '
          '(1, 32, 4, 4)'), dense_neck_channels_mismatch),
]


@bad_input_params(BAD_INPUT)
def test_bad_input(expected, pattern, action, tmp_path, monkeypatch):
    check_bad_input(expected, pattern, action, tmp_path, monkeypatch)
