"""Every config under configs/ loads, builds and runs one batch.

Configs are discovered with glob (files under a ``_base_`` folder or named
``_base_*`` are only loaded through inheritance). For each:
``Config.fromfile``; the model with a tiny architecture and no pretrained
checkpoint; every dataloader's dataset on a fake folder in its format
through the config's own pipeline; one training batch through the data
preprocessor and the model's loss; the optimizer wrapper with the config's
parameter groups. A broken config fails
here. The generated configs must match tools/gen_configs.py.
"""
import copy
import glob
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import mmprompt  # noqa: F401
from mmprompt.datasets import FGVC_DATASETS, VTAB1K_TASKS
from mmprompt.evaluation import offline_benchmark, study_setting
from mmprompt.methods.bpt import recipe as bpt_recipe
from mmprompt.methods.davpt import recipe as davpt_recipe
from mmprompt.recipes import VIT_PRETRAINS, digests, generate, tasks
from mmprompt.registry import MODELS as PROMPT_MODELS
from helpers import TINY_VIT, make_fgvc, make_vtab, write_idx

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY = dict(TINY_VIT, num_layers=2)

ALL_CONFIGS = sorted(
    osp.relpath(p, ROOT) for p in glob.glob(
        osp.join(ROOT, 'configs', '**', '*.py'), recursive=True) if not any(
            part.startswith('_base_')
            for part in osp.relpath(p, ROOT).split(osp.sep)))
# mmseg / mmdet recipes: tests/test_dense.py trains some of them end to end
DENSE_FAMILIES = ('setr', 'mask_rcnn', 'cascade_mask_rcnn')
DENSE_CONFIGS = [
    c for c in ALL_CONFIGS if c.split(osp.sep)[1] in DENSE_FAMILIES
]
CONFIGS = [c for c in ALL_CONFIGS if c not in DENSE_CONFIGS]


def one_per_family_fast(configs):
    """The configs as parameters: the first leaf of each family (folder)
    runs in the fast tests, the others only in the full suite (slow)."""
    seen, params = set(), []
    for config in configs:
        folder = osp.dirname(config)
        marks = () if folder not in seen else (pytest.mark.slow, )
        seen.add(folder)
        params.append(pytest.param(config, marks=marks, id=config))
    return params


# Swin: 224 px, 4 px patches, windows of 7: maps of 56, 28, 14, 7
TINY_SWIN = dict(embed_dims=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2])


def tiny_backbone(backbone):
    """The same backbone with a tiny architecture and no checkpoint."""
    backbone = dict(backbone)
    if backbone['type'].endswith('PromptSwin'):
        backbone.update(arch=TINY_SWIN, init_cfg=None)
        return backbone
    arch = backbone.get('arch', 'b')
    dims = arch['embed_dims'] if isinstance(arch, dict) else \
        PROMPT_MODELS.get(backbone['type']).arch_zoo[arch]['embed_dims']
    out_indices = backbone.get('out_indices', -1)
    num_outs = 1 if isinstance(out_indices, int) else len(out_indices)
    num_layers = max(2, num_outs)
    # the pipelines make 224 px inputs: 32 px patches keep 7x7 tokens
    backbone.update(
        arch=dict(TINY, num_layers=num_layers),
        img_size=224,
        patch_size=32,
        init_cfg=None)
    if num_outs > 1:
        backbone['out_indices'] = list(range(num_layers))[-num_outs:]
    prompts = backbone.get('num_prompts')
    if isinstance(prompts, (list, tuple)):
        backbone['num_prompts'] = [prompts[0]] * (num_layers - 1) + \
            [prompts[-1]]
    prompt_cfg = backbone.get('prompt_cfg')
    if isinstance(prompt_cfg, (list, tuple)):  # one generator per layer
        backbone['prompt_cfg'] = [prompt_cfg[0]] * (num_layers - 1) + \
            [prompt_cfg[-1]]
    if backbone.get('trainable_factor_layers'):
        # the last layers of ViT-B (8-11): here the last one
        backbone['trainable_factor_layers'] = [num_layers - 1]
    if 'width' in backbone:  # BPT's inner width is at most embed_dims
        backbone['width'] = min(backbone['width'], TINY['embed_dims'])
    # DA-VPT+: rows (D, None) of qkv.bias are K and V of a width-D ViT
    # (2 D: V only): the same thirds of the tiny ViT's

    def thirds(row):
        return None if row is None else row // dims * TINY['embed_dims']

    backbone['trainable_params'] = [
        dict(rule, rows=tuple(thirds(r) for r in rule['rows']))
        if isinstance(rule, dict) and 'rows' in rule else rule
        for rule in backbone.get('trainable_params', [])
    ]
    prompt_cfg = backbone.get('prompt_cfg')
    if isinstance(prompt_cfg, dict) and 'width' in prompt_cfg:
        backbone['prompt_cfg'] = dict(
            prompt_cfg, width=min(prompt_cfg['width'], TINY['embed_dims']))
    return backbone


class FakeData:
    """Fake folders, made once per (type, name) for the whole module."""

    def __init__(self, root):
        self.root = root
        self.made = {}

    def dataset(self, cfg):
        cfg = copy.deepcopy(cfg)
        kind = cfg['type'].split('.')[-1]
        if kind == 'ClassBalancedSubset':  # a wrapper: fake what it wraps
            cfg['dataset'], expected = self.dataset(cfg['dataset'])
            return cfg, expected
        # mmengine's serialisation runs gc.collect() (~0.3 s) per dataset
        cfg['serialize_data'] = False
        if kind == 'ImageNet':
            if (kind, ) not in self.made:
                self.made[(kind, )] = self._imagenet()
            cfg['data_root'] = self.made[(kind, )]
            expected = 1000
        elif kind == 'FGVCDataset':
            name = cfg['name']
            key = (kind, name)
            if key not in self.made:
                self.made[key] = make_fgvc(
                    osp.join(self.root, 'fgvc', name), name)
            cfg['data_root'] = self.made[key]
            expected = FGVC_DATASETS[name][0]
        elif kind == 'VTAB1kDataset':
            key = (kind, cfg['task'])
            if key not in self.made:
                self.made[key] = make_vtab(
                    osp.join(self.root, 'vtab'), cfg['task'])
            cfg['data_root'] = self.made[key]
            expected = VTAB1K_TASKS[cfg['task']]
        elif kind == 'FashionMNISTSubset':
            key = (kind, )
            if key not in self.made:
                self.made[key] = self._fashion_mnist()
            cfg.update(data_root=self.made[key], num_per_class=1)
            expected = 10
        else:
            raise AssertionError(
                f'tests/test_configs.py cannot fake a {cfg["type"]!r} '
                'folder yet: add a writer for it in FakeData')
        return cfg, expected

    def _imagenet(self):
        """mmpretrain's layout, 3 of the 1000 classes, 2 images each."""
        import os

        from PIL import Image
        root = osp.join(self.root, 'imagenet')
        os.makedirs(osp.join(root, 'meta'))
        for split in ('train', 'val'):
            lines = []
            for c in range(3):
                folder = osp.join(root, split, f'n{c:08d}')
                os.makedirs(folder)
                for i in range(2):
                    Image.new('RGB', (32, 24), (80 * c, 0, i)).save(
                        osp.join(folder, f'{i}.JPEG'), format='JPEG')
                    lines.append(f'n{c:08d}/{i}.JPEG {c}')
            with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
                f.write('\n'.join(lines) + '\n')
        return root

    def _fashion_mnist(self):
        import os

        import numpy as np
        root = osp.join(self.root, 'fmnist')
        os.makedirs(root, exist_ok=True)
        rng = np.random.default_rng(0)
        for split in ('train', 't10k'):
            write_idx(
                osp.join(root, f'{split}-images-idx3-ubyte.gz'),
                rng.integers(0, 256, (20, 28, 28)))
            write_idx(
                osp.join(root, f'{split}-labels-idx1-ubyte.gz'),
                np.arange(20) % 10)
        return root


@pytest.fixture(scope='module')
def fake_data(tmp_path_factory):
    return FakeData(str(tmp_path_factory.mktemp('config_data')))


def family_of(config):
    return config.split(osp.sep)[1]


@pytest.mark.slow
def test_configs_are_discovered():
    # every generated leaf, counted from the generator's tables, plus the
    # hand-written configs of each family
    expected = {}
    for method, m in generate.all_methods().items():
        expected[m.family] = expected.get(m.family, 0) + \
            len(m.pretrains) * len(tasks(m.benchmarks))
    expected['davpt'] += len(davpt_recipe.DAVPT_RELEASED)
    expected['imagenet'] = len(bpt_recipe.IMAGENET_METHODS) * \
        len(bpt_recipe.IMAGENET_FRACTIONS)
    generated = {osp.normpath(rel) for rel in generate.expected_files()}
    hand_written = {}
    for c in CONFIGS:
        if osp.normpath(c) not in generated:
            hand_written[family_of(c)] = hand_written.get(family_of(c), 0) + 1
    # BPT's ablations (prompt count, width, the no-bilinear variants), the
    # demo, SPT's configs and the methods of tools/offline_benchmark.py and
    # tools/claims.py; six offline leaves no tool runs (configs/offline/
    # README.md lists them)
    offline = {c for c in CONFIGS if family_of(c) == 'offline'}
    used = {
        osp.join('configs', 'offline', leaf)
        for leaf, _ in offline_benchmark.METHODS.values()
    } | {
        osp.join('configs', 'offline', study_setting.CONFIG_NAME.format(leaf))
        for leaf, _ in study_setting.METHODS.values()
    } | {
        osp.join('configs', 'offline', study_setting.CONFIG_NAME.format(leaf))
        for leaf in ('bpt-shallow-bilinear', 'bpt-shallow-fwhiten',
                     'bpt-shallow-twhiten', 'bpt-shallow-bilinear-prompts40',
                     'bpt-shallow-bilinear-width10', 'composed')
    }
    assert {osp.normpath(c) for c in offline} == used
    assert hand_written == {
        'bpt': 10,
        'demo': 2,
        'spt': 10,
        'offline': len(used)
    }
    count = {}
    for c in CONFIGS:
        count[family_of(c)] = count.get(family_of(c), 0) + 1
    assert count == {
        f: expected.get(f, 0) + hand_written.get(f, 0)
        for f in set(expected) | set(hand_written)
    }
    # 5 ViT pretrainings and Swin-B for the VPT family's 4 methods
    assert count['vpt'] == 4 * (len(VIT_PRETRAINS) + 1) * 24
    dense = {}
    for c in DENSE_CONFIGS:
        dense[family_of(c)] = dense.get(family_of(c), 0) + 1
    # VPT-deep, BPT, DA-VPT, linear, full x (ADE20K, Context-59); VPT-shallow,
    # VPT-deep, BPT, linear per detector
    assert dense == {'setr': 10, 'mask_rcnn': 4, 'cascade_mask_rcnn': 4}


@pytest.mark.slow
def test_generated_configs_in_sync():
    assert generate.out_of_sync() == [], (
        'run python tools/gen_configs.py and commit the result')


@pytest.mark.parametrize('config', one_per_family_fast(CONFIGS))
def test_config_builds_and_trains_one_batch(config, fake_data):
    from mmpretrain.registry import DATASETS, MODELS

    cfg = Config.fromfile(osp.join(ROOT, config))
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = cfg.model.to_dict()
    model_cfg['backbone'] = tiny_backbone(model_cfg['backbone'])
    if 'guided_layer' in model_cfg:
        # DA-VPT's guided layers (e.g. 9-11 of 12): the last of the tiny ViT
        model_cfg['guided_layer'] = [-1] if isinstance(
            model_cfg['guided_layer'], list) else -1
    if 'in_channels' in model_cfg.get('head', {}):
        model_cfg['head']['in_channels'] = \
            TINY_SWIN['embed_dims'] * 8 if 'Swin' in \
            model_cfg['backbone']['type'] else TINY['embed_dims']
    if cfg.get('data_preprocessor'):  # as mmengine's Runner does
        model_cfg.setdefault('data_preprocessor',
                             cfg.data_preprocessor.to_dict())
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    # State that the configs' hooks compute from data in a Runner (tested
    # in test_davpt/test_bpt/test_spt): stand-ins here.
    if hasattr(model, 'set_mapping'):  # DA-VPT
        model.set_mapping(
            torch.arange(model.num_classes) % model.num_guided_prompts)
    for g in getattr(model.backbone, 'prompts', []):
        if getattr(g, 'takes_whitening', False):  # BPT
            g.set_whitening(torch.eye(g.embed_dims))
        if getattr(g, 'needs_data_init', False):  # SPT
            g.init_from_data(torch.randn(g.num_tokens, g.embed_dims))

    for loader in ('train', 'val', 'test'):
        ds_cfg, num_classes = fake_data.dataset(
            cfg[f'{loader}_dataloader'].dataset.to_dict())
        assert model.head.num_classes == num_classes, (
            f'{config}: head has {model.head.num_classes} classes, the '
            f'{loader} dataset {num_classes}')
        dataset = DATASETS.build(ds_cfg)
        assert len(dataset) > 0
        if loader == 'train':
            batch = pseudo_collate([dataset[0], dataset[len(dataset) - 1]])

    model.train()
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss)
    model.eval()
    with torch.no_grad():
        preds = model(**model.data_preprocessor(batch, False), mode='predict')
    assert preds[0].pred_score.shape == (num_classes, )

    # the optimizer with the config's parameter groups
    optim = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    groups = optim.optimizer.param_groups
    trainable = {
        id(p): n
        for n, p in model.named_parameters() if p.requires_grad
    }
    in_groups = [id(p) for g in groups for p in g['params']]
    assert sorted(in_groups) == sorted(trainable), \
        'every trainable parameter must be in exactly one group'
    paramwise = cfg.optim_wrapper.get('paramwise_cfg', {})
    wd_of = {
        trainable[id(p)]: g.get('weight_decay')
        for g in groups
        for p in g['params']
    }
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if paramwise.get('flat_decay_mult') == 0 and p.ndim == 1:
            assert wd_of[name] == 0, f'{name} is 1-D but decayed'
        if paramwise.get('bias_decay_mult') == 0 and name.endswith('.bias'):
            assert wd_of[name] == 0, f'{name} is a bias but decayed'
    head_key = paramwise.get('custom_keys', {}).get('head.fc.weight', {})
    if 'weight_decay' in head_key:
        assert wd_of['head.fc.weight'] == head_key['weight_decay']
    tuned = {
        n: p.numel()
        for n, p in model.named_parameters() if p.requires_grad
    }
    released = osp.basename(osp.dirname(config)) == 'released'
    if family_of(config) == 'davpt' and not released:
        # DA-VPT+ tunes the qkv biases (their K/V rows), DA-VPT no bias
        plus = osp.basename(osp.dirname(config)) == 'davpt-plus'
        assert any(n.endswith('attn.qkv.bias') for n in tuned) == plus
        assert model.num_guided_prompts == min(10, num_classes)
    if released:  # the released bias sets tune V (and K) in every config
        assert any(n.endswith('attn.qkv.bias') for n in tuned)
    if family_of(config) == 'vpt':
        method = osp.basename(osp.dirname(config))
        frozen = method != 'finetune'
        num_prompt = sum(v for n, v in tuned.items()
                         if n.startswith('backbone.prompts'))
        assert (num_prompt > 0) == method.startswith('vpt')
        assert any(n.startswith('backbone.') and
                   not n.startswith('backbone.prompts.') for n in tuned) \
            == (not frozen)


@pytest.mark.parametrize('pretrain,out_type,final_norm,fmt',
                         [('vit-b16-in21k', 'cls_token', True, '.npz'),
                          ('vit-b16-mae', 'avg_all', False, '.pth'),
                          ('vit-b16-mocov3', 'cls_token', True, '.pth.tar')])
def test_pretraining_pooling_and_checkpoint(pretrain, out_type, final_norm,
                                            fmt):
    for method in ('vpt-shallow', 'vpt-deep', 'linear', 'finetune'):
        cfg = Config.fromfile(
            osp.join(ROOT, 'configs', 'vpt', method,
                     f'{method}_{pretrain}_vtab1k-dtd.py'))
        backbone = cfg.model.backbone
        assert (backbone.out_type, backbone.final_norm) == \
            (out_type, final_norm)
        ckpt = backbone.init_cfg.checkpoint
        assert ckpt.startswith('data/pretrained/') and ckpt.endswith(fmt)
        assert (backbone.arch, backbone.patch_size, backbone.img_size) == \
            ('b', 16, 224)


CLIP_MEAN = [v * 255 for v in (0.48145466, 0.4578275, 0.40821073)]
CLIP_STD = [v * 255 for v in (0.26862954, 0.26130258, 0.27577711)]


@pytest.mark.parametrize('pretrain', ['clip-vit-b16', 'dinov2-vit-b14'])
@pytest.mark.parametrize('method', list(generate.all_methods()))
def test_clip_and_dinov2_leaves(pretrain, method):
    """Each model's normalisation, architecture and pooling in every
    method's leaf (the DA-VPT and BPT ones included)."""
    m = generate.all_methods()[method]
    task = 'fgvc-cub' if 'fgvc' in m.benchmarks else 'vtab1k-dtd'
    cfg = Config.fromfile(
        osp.join(ROOT, generate.method_leaf_path(method, pretrain, task)))
    backbone = cfg.model.backbone
    preprocessor = cfg.model.data_preprocessor
    if pretrain == 'clip-vit-b16':
        assert preprocessor.mean == pytest.approx(CLIP_MEAN)
        assert preprocessor.std == pytest.approx(CLIP_STD)
        assert (backbone.arch, backbone.patch_size) == ('clip-b', 16)
        assert backbone.pre_norm and backbone.norm_cfg.eps == 1e-5
        assert backbone.layer_cfgs.act_cfg.type == 'mmpretrain.QuickGELU'
    else:
        assert preprocessor.mean == [123.675, 116.28, 103.53]
        assert (backbone.arch, backbone.patch_size) == ('dinov2-b', 14)
        assert backbone.layer_scale_init_value == 1e-5
    assert (backbone.out_type, backbone.final_norm) == ('cls_token', True)
    assert backbone.get('projection_dims') is None


@pytest.mark.parametrize('config', one_per_family_fast(DENSE_CONFIGS))
def test_dense_config_builds_and_its_parts_fit(config):
    """The shipped model builds at full size (on the meta device); a tiny
    version runs its backbone, neck and heads on a non-square batch."""
    import importlib

    from mmengine.registry import DefaultScope
    cfg = Config.fromfile(osp.join(ROOT, config))
    scope = cfg.default_scope
    assert scope in ('mmseg', 'mmdet')
    registry = importlib.import_module(f'{scope}.registry').MODELS
    bb = cfg.model.backbone
    assert bb.type in ('mmprompt.PromptViT', 'mmprompt.BilinearPromptViT')
    assert bb.out_type == 'featmap'
    with DefaultScope.overwrite_default_scope(scope):
        with torch.device('meta'):
            full = registry.build(copy.deepcopy(cfg.model))
        dims = full.backbone.embed_dims
        if scope == 'mmseg':
            assert cfg.model.backbone.out_indices == (9, 14, 19, 23)
            heads = [cfg.model.decode_head] + list(cfg.model.auxiliary_head)
            assert all(h.in_channels == dims for h in heads)
            assert full.decode_head.num_classes == (150 if 'ade20k' in config
                                                    else 59)
        else:
            assert cfg.model.neck.in_channels == dims
            assert full.rpn_head.prior_generator.strides == [
                (s, s) for s in (4, 8, 16, 32, 64)
            ]
        assert full.backbone.trainable_parameter_count() == (
            sum(p.numel() for n, p in full.backbone.named_parameters())
            if 'finetune' in config else full.backbone.prompt_parameter_count)

        tiny = copy.deepcopy(cfg.model)
        num_outs = len(bb.out_indices) if isinstance(bb.out_indices,
                                                     (list, tuple)) else 1
        tiny.backbone.update(
            arch=dict(TINY, num_layers=4),
            img_size=64,
            init_cfg=None,
            out_indices=list(range(4))[-num_outs:])
        if 'width' in tiny.backbone:
            tiny.backbone.width = 4
        if isinstance(bb.num_prompts, (list, tuple)):  # DA-VPT's guided
            tiny.backbone.num_prompts = [bb.num_prompts[0]] * 3 + \
                [bb.num_prompts[-1]]
        if scope == 'mmseg':
            for h in [tiny.decode_head] + list(tiny.auxiliary_head):
                h.update(
                    in_channels=TINY['embed_dims'],
                    channels=8,
                    norm_cfg=dict(type='BN'))
        else:
            tiny.neck.in_channels = TINY['embed_dims']
        model = registry.build(tiny)
        x = torch.randn(2, 3, 64, 96)
        feats = model.extract_feat(x)
        if scope == 'mmseg':
            logits = model.decode_head(feats)
            assert logits.shape[-2:] == (64, 96)
        else:
            assert [f.shape[-2:] for f in feats] == [(16, 24), (8, 12), (4, 6),
                                                     (2, 3), (1, 2)]
            cls_scores, _ = model.rpn_head(feats)
            assert len(cls_scores) == 5


@pytest.mark.slow
def test_configs_resolve_as_recorded():
    """Every config resolves to the model, data, optimizer, schedule and
    loops recorded in tests/records/config_digests.json: a refactoring of
    configs/ (bases, generator, hooks moved to tools/train.py) changes none
    of them. A deliberate change updates the record with
    ``python tools/misc/config_digests.py --update``."""
    with open(digests.RECORD) as f:
        record = json.load(f)
    changed, added, removed = digests.differences(record, digests.digests())
    assert (changed, added, removed) == ([], [], []), (
        f'changed {changed[:10]}, not recorded {added[:10]}, gone '
        f'{removed[:10]}: if deliberate, run python '
        'tools/misc/config_digests.py --update')
