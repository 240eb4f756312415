"""SPT prompt initialisation: prompt_init='prototype' with
SPTInitHook (k-means, random tokens, window pooling)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.runner import Runner
from mmpretrain.models import VisionTransformer

import mmprompt  # noqa: F401
from mmprompt.core import PromptViT
from mmprompt.core.data_init import sample_indices
from mmprompt.methods.spt import SPTInitHook, prototype_tokens, spt_init_hook
from helpers import TINY_VIT

TINY = dict(TINY_VIT, num_layers=2)
KW = dict(arch=TINY, img_size=32, patch_size=8)
COLOURS = [(220, 40, 40), (40, 220, 40), (40, 40, 220), (220, 220, 40)]


def layer_inputs_reference(model, x):
    """Patch tokens entering each layer, read with forward pre-hooks from
    mmpretrain's VisionTransformer holding the same weights."""
    vit = VisionTransformer(**KW)
    vit.load_state_dict({
        k: v
        for k, v in model.state_dict().items() if not k.startswith('prompts.')
    })
    vit.eval()
    seen = {}
    handles = [
        layer.register_forward_pre_hook(
            lambda m, args, l=l: seen.__setitem__(l, args[0][:, 1:].detach()))
        for l, layer in enumerate(vit.layers)
    ]
    with torch.no_grad():
        vit(x)
    for h in handles:
        h.remove()
    return seen


def test_prototype_methods_match_direct_computation():
    from sklearn.cluster import KMeans
    torch.manual_seed(0)
    patches = torch.randn(3, 16, 8)
    got = prototype_tokens(patches, 5, 'kmeans', (4, 4), seed=2)
    ref = KMeans(
        n_clusters=5, n_init=1,
        random_state=2).fit(patches.reshape(-1, 8).double().numpy())
    np.testing.assert_allclose(
        got.numpy(), ref.cluster_centers_, rtol=1e-5, atol=1e-6)
    # each centre is the mean of the tokens nearest to it
    flat = patches.reshape(-1, 8)
    nearest = torch.cdist(flat, got).argmin(1)
    for k in range(5):
        torch.testing.assert_close(
            got[k], flat[nearest == k].mean(0), rtol=1e-4, atol=1e-5)

    rnd = prototype_tokens(patches, 6, 'random', seed=1)
    picks = [int((flat == t).all(1).nonzero()) for t in rnd]
    assert len(set(picks)) == 6

    win = prototype_tokens(patches, 4, 'window', (4, 4))
    grid = patches.reshape(3, 4, 4, 8)
    expected = torch.stack([
        grid[:, i:i + 2, j:j + 2].mean((0, 1, 2)) for i in (0, 2)
        for j in (0, 2)
    ])
    torch.testing.assert_close(win, expected)
    win6 = prototype_tokens(patches, 6, 'window', (4, 4))  # 2 x 3 windows
    expected6 = F.adaptive_avg_pool2d(
        patches.transpose(1, 2).reshape(3, 8, 4, 4), (2, 3)).mean(0)
    torch.testing.assert_close(win6, expected6.reshape(8, 6).t())

    with pytest.raises(ValueError, match='cannot give 60 centres'):
        prototype_tokens(patches, 60, 'kmeans')
    with pytest.raises(ValueError, match="Unknown prototype method 'mean'"):
        prototype_tokens(patches, 2, 'mean')
    with pytest.raises(ValueError, match='needs a 5x5 window grid'):
        prototype_tokens(patches, 25, 'window', (4, 4))


def test_prototype_prompts_refuse_use_before_init():
    model = PromptViT(**KW, num_prompts=3, prompt_init='prototype')
    assert all(g.needs_data_init for g in model.prompts)
    assert 'prompts.0.data_init_done' in model.state_dict()
    with pytest.raises(RuntimeError, match='SPTInitHook'):
        model(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r'must be \(3, 32\), got \(2, 32\)'):
        model.prompts[0].init_from_data(torch.zeros(2, 32))
    # other inits have no such buffer (their state dicts are unchanged)
    plain = PromptViT(**KW, num_prompts=3)
    assert not any('data_init_done' in k for k in plain.state_dict())
    with pytest.raises(ValueError, match="Unknown prototype method 'x'"):
        SPTInitHook(method='x')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    from PIL import Image
    root = tmp_path_factory.mktemp('spt_data')
    rng = np.random.RandomState(0)
    for c, colour in enumerate(COLOURS):
        (root / f'class_{c}').mkdir()
        for i in range(6):
            img = np.array(colour, np.float64) + rng.uniform(
                -60, 60, (32, 32, 3))
            Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(
                root / f'class_{c}' / f'{i}.png')
    return str(root)


def make_cfg(data_root, work_dir, name, method='kmeans', **options):
    cfg = Config(
        dict(
            default_scope='mmpretrain',
            model=dict(
                type='ImageClassifier',
                data_preprocessor=dict(
                    type='ClsDataPreprocessor',
                    num_classes=4,
                    mean=[127.5] * 3,
                    std=[127.5] * 3,
                    to_rgb=True),
                backbone=dict(
                    type='mmprompt.PromptViT',
                    **KW,
                    num_prompts=4,
                    prompt_mode='deep',
                    prompt_init='prototype'),
                neck=None,
                head=dict(
                    type='LinearClsHead',
                    num_classes=4,
                    in_channels=32,
                    loss=dict(type='CrossEntropyLoss'))),
            train_dataloader=dict(
                batch_size=8,
                num_workers=0,
                sampler=dict(type='DefaultSampler', shuffle=True),
                dataset=dict(
                    type='CustomDataset',
                    data_root=data_root,
                    pipeline=[
                        dict(type='LoadImageFromFile'),
                        dict(type='PackInputs')
                    ])),
            optim_wrapper=dict(
                optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
            train_cfg=dict(by_epoch=True, max_epochs=1),
            default_hooks=dict(
                checkpoint=dict(type='CheckpointHook', interval=1)),
            custom_hooks=[
                dict(
                    type='mmprompt.SPTInitHook',
                    method=method,
                    num_images=10,
                    batch_size=4)
            ],
            randomness=dict(seed=0),
            work_dir=str(work_dir),
            experiment_name=name,
            log_level='WARNING'))
    cfg.merge_from_dict(options)
    return cfg


@pytest.mark.parametrize('method', ['kmeans', 'window'])
def test_hook_initialises_from_prompt_free_layer_inputs(
        data_root, tmp_path, method):
    cfg = make_cfg(
        data_root,
        tmp_path,
        f'spt_{method}',
        method,
        train_cfg=dict(max_epochs=1),
        optim_wrapper=dict(optimizer=dict(lr=0.)))
    runner = Runner.from_cfg(cfg)
    runner.train()
    model = runner.model
    dataset = runner.train_dataloader.dataset
    idx = sample_indices(len(dataset), 10, 0)
    x = model.data_preprocessor(
        pseudo_collate([dataset[i] for i in idx]), False)['inputs']
    ref = layer_inputs_reference(model.backbone, x)
    state = torch.load(
        tmp_path / 'epoch_1.pth', map_location='cpu')['state_dict']
    for l in (0, 1):
        expected = prototype_tokens(ref[l], 4, method, (4, 4), seed=0)
        torch.testing.assert_close(
            state[f'backbone.prompts.{l}.tokens'],
            expected,
            rtol=1e-4,
            atol=1e-5)
        assert state[f'backbone.prompts.{l}.data_init_done'] == 1
    assert not torch.equal(state['backbone.prompts.0.tokens'],
                           state['backbone.prompts.1.tokens'])


def test_resume_does_not_redo_initialisation(data_root, tmp_path, monkeypatch):
    calls = []
    real = spt_init_hook.collect_patch_tokens

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(spt_init_hook, 'collect_patch_tokens', counting)
    # uninterrupted: 2 epochs
    Runner.from_cfg(
        make_cfg(
            data_root,
            tmp_path / 'full',
            'spt_full',
            train_cfg=dict(max_epochs=2))).train()
    assert calls == [1]
    # 1 epoch, then resume with another seed and method: if the hook ran
    # again the prompts would be different ones
    Runner.from_cfg(
        make_cfg(
            data_root,
            tmp_path / 'part',
            'spt_part',
            train_cfg=dict(max_epochs=1))).train()
    assert calls == [1, 1]
    Runner.from_cfg(
        make_cfg(
            data_root,
            tmp_path / 'part',
            'spt_resume',
            method='random',
            train_cfg=dict(max_epochs=2),
            resume=True,
            custom_hooks=[
                dict(
                    type='mmprompt.SPTInitHook',
                    method='random',
                    num_images=5,
                    seed=7)
            ])).train()
    assert calls == [1, 1]
    full = torch.load(tmp_path / 'full' / 'epoch_2.pth', map_location='cpu')
    resumed = torch.load(tmp_path / 'part' / 'epoch_2.pth', map_location='cpu')
    assert resumed['meta']['epoch'] == 2
    for k, v in full['state_dict'].items():
        torch.testing.assert_close(
            resumed['state_dict'][k], v, rtol=1e-6, atol=1e-7, msg=k)


def test_spt_recipes_build():
    import os
    import os.path as osp

    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    root = osp.join(
        osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs', 'spt')
    files = sorted(f for f in os.listdir(root) if f.endswith('.py'))
    assert len(files) == 10
    init_default_scope('mmpretrain')
    for f in files:
        cfg = Config.fromfile(osp.join(root, f))
        assert cfg.custom_hooks[0].type == 'mmprompt.SPTInitHook'
        with torch.device('meta'):
            model = MODELS.build(cfg.model)
        assert all(g.init == 'prototype' for g in model.backbone.prompts)
