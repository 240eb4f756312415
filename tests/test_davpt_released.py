"""DA-VPT as the released code runs it: the mechanisms its 61 configs need
(several guided layers, drop path in the frozen backbone, per-layer prompt
inits, L2-normalised prompts, prompts that see only the patches, the MAE
pooling, the class-sampled batches, timm's warm-up cosine), each against a
hand-written reference of the released behaviour, and the 61 leaves against
the table of released values."""
import math
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmpretrain.registry import MODELS

import mmprompt  # noqa: F401
from mmprompt.core import PromptViT
from mmprompt.datasets.samplers import ClassSampledBatchSampler
from mmprompt.engine.schedulers import WarmupCosineLR
from mmprompt.methods.davpt import DAVPTLoss, guided_anchors_and_proxies
from mmprompt.methods.davpt import recipe as released
from helpers import TINY_VIT, batches

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY = TINY_VIT
KW = dict(arch=TINY, img_size=32, patch_size=8)


# ------------------------------------------------------- guided layers
def davpt(**kwargs):
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='mmprompt.DAVPTClassifier',
            data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=3),
            backbone=dict(
                type='mmprompt.PromptViT',
                arch=TINY,
                img_size=32,
                patch_size=8,
                num_prompts=[2, 4, 4, 4]),
            head=dict(type='LinearClsHead', num_classes=3, in_channels=32),
            anchor_source='released',
            beta=0.5,
            lam=2.0,
            metric_loss=dict(
                type='mmprompt.DAVPTLoss', positive_mean='all',
                proxy_scale=5.),
            **kwargs))
    model.init_weights()
    model.set_mapping(torch.tensor([3, 0, 3]))
    return model


def test_several_guided_layers_average_their_losses():
    """The released code sums the loss of every guided layer and divides
    by their number."""
    model = davpt(guided_layer=[1, 2, 3])
    assert model.guided_layers == [1, 2, 3] and model.num_guided_prompts == 4
    batch = model.data_preprocessor(batches(1, size=6)[0], True)
    losses = model(**batch, mode='loss')
    labels = torch.cat([s.gt_label for s in batch['data_samples']])
    assign = torch.tensor([3, 0, 3])[labels]
    metric = DAVPTLoss(positive_mean='all', proxy_scale=5.)
    per_layer = [
        guided_anchors_and_proxies(model.backbone, layer, 'released')
        for layer in (1, 2, 3)
    ]
    torch.testing.assert_close(
        losses['loss_ml_patch'],
        0.5 * sum(metric(p, x, assign) for p, _, x in per_layer) / 3)
    torch.testing.assert_close(
        losses['loss_ml_cls'],
        2.0 * sum(metric(c, x, assign) for _, c, x in per_layer) / 3)
    with pytest.raises(
            ValueError,
            match=r'need the same prompt count; '
            r'num_prompts there: \{0: 2, 1: 4\}'):
        davpt(guided_layer=[0, 1])
    with pytest.raises(ValueError, match='guided_layer 7 outside'):
        davpt(guided_layer=[1, 7])


# ------------------------------------------------ drop path when frozen
def test_frozen_eval_false_keeps_drop_path_in_the_frozen_layers():
    x = torch.randn(2, 3, 32, 32)
    outs = {}
    for frozen_eval in (True, False):
        torch.manual_seed(0)
        model = PromptViT(
            **KW, num_prompts=2, drop_path_rate=0.5, frozen_eval=frozen_eval)
        model.train()
        assert model.layers[1].training is not frozen_eval
        assert all(not p.requires_grad for p in model.layers.parameters())
        outs[frozen_eval] = (model(x)[0], model(x)[0])
    torch.testing.assert_close(*outs[True])  # eval: no randomness
    assert not torch.allclose(*outs[False])  # drop path draws per forward
    with pytest.raises(
            TypeError, match="frozen_eval must be a bool, got 'no'"):
        PromptViT(**KW, frozen_eval='no')


# ------------------------------------------- per-layer prompt generators
def test_per_layer_prompt_configs_and_l2_prompts():
    torch.manual_seed(0)
    cfgs = [
        dict(
            type='mmprompt.PromptTokens', init='uniform', uniform_bound=0.001)
    ] * 3 + [
        dict(
            type='mmprompt.PromptTokens',
            init='uniform',
            uniform_bound=0.5,
            l2_normalize=True)
    ]
    model = PromptViT(**KW, num_prompts=[5, 5, 5, 40], prompt_cfg=cfgs)
    for g in model.prompts[:3]:
        assert g.tokens.abs().max() <= 0.001 and not g.l2_normalize
    assert model.prompts[3].tokens.abs().max() > 0.4
    # the tokens a layer uses are normalised (the released vpt_norm: l2)
    torch.testing.assert_close(model.prompts[3]().norm(dim=-1), torch.ones(40))
    torch.testing.assert_close(model.prompts[3](),
                               F.normalize(model.prompts[3].tokens, dim=-1))
    with pytest.raises(ValueError, match=r'one per prompted layer \(4\)'):
        PromptViT(**KW, num_prompts=2, prompt_cfg=cfgs[:3])


def test_released_prompt_init_bounds():
    """xavier_uniform_ of the released (layers, prompts, D) tensors."""
    v = dict(
        released.DAVPT_RELEASED_COMMON,
        proxy_prompt_start_idx=9,
        proxy_prompt_len=20,
        num_prompts=15,
        init_divide_by8=True)
    guided, m, guided_bound, other_bound = released.released_prompt_layout(
        v, 200)
    assert guided == [9, 10, 11] and m == 20
    for shape, bound in (((3, 20, 768), guided_bound), ((9, 15, 768),
                                                        other_bound)):
        t = torch.empty(shape)
        fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(t)
        assert bound == pytest.approx(math.sqrt(6 / (fan_in + fan_out)) / 8)
    # fewer classes than guided prompts: one prompt per class
    assert released.released_prompt_layout(v, 5)[1] == 5


# --------------------------------------------- prompts see patches only
def test_prompts_see_patches_only_masks_prompt_queries():
    """The released ``mask``: prompt queries do not attend to CLS and the
    prompts; the other rows are unchanged."""
    torch.manual_seed(0)
    plain = PromptViT(
        **KW,
        num_prompts=3,
        prompt_mode='shallow',
        out_type='raw',
        out_indices=(0, ))
    masked = PromptViT(
        **KW,
        num_prompts=3,
        prompt_mode='shallow',
        out_type='raw',
        out_indices=(0, ),
        prompts_see_patches_only=True)
    masked.load_state_dict(plain.state_dict())
    plain.eval(), masked.eval()
    x = torch.randn(2, 3, 32, 32)
    got, unmasked = masked(x)[0], plain(x)[0]
    # a hand-written layer 0 with the released mask
    layer = plain.layers[0]
    tokens, _ = plain.embed_tokens(x)
    tokens = torch.cat(
        [tokens[:, :1], plain.prompts[0]().expand(2, -1, -1), tokens[:, 1:]],
        1)
    h = layer.ln1(tokens)
    q, k, v = layer.attn.qkv(h).reshape(2, 20, 3, 4, 8).permute(2, 0, 3, 1, 4)
    logits = q @ k.transpose(-2, -1) / math.sqrt(8)
    mask = torch.zeros(20, 20)
    mask[1:4, 0:4] = float('-inf')
    out = (logits + mask).softmax(-1) @ v
    out = layer.attn.proj(out.transpose(1, 2).reshape(2, 20, 32))
    y = tokens + out
    y = layer.ffn(layer.ln2(y), identity=y)
    torch.testing.assert_close(got, y, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(got[:, 1:4], unmasked[:, 1:4])
    torch.testing.assert_close(got[:, [0] + list(range(4, 20))],
                               unmasked[:, [0] + list(range(4, 20))])


def test_avg_all_tokens_is_the_mean_of_normed_prompts_and_patches():
    torch.manual_seed(0)
    raw = PromptViT(**KW, num_prompts=3, out_type='raw')
    pooled = PromptViT(**KW, num_prompts=3, out_type='avg_all_tokens')
    pooled.load_state_dict(raw.state_dict(), strict=False)
    raw.eval(), pooled.eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(pooled(x)[0], raw(x)[0][:, 1:].mean(1))
    with pytest.raises(ValueError, match="needs final_norm=True"):
        PromptViT(**KW, out_type='avg_all_tokens', final_norm=False)


# ---------------------------------------------------- batches of classes
class FakeSampler:

    def __init__(self, labels, seed=0, epoch=0):
        self.dataset = type('D', (),
                            {'get_gt_labels': lambda s: np.array(labels)})()
        self.seed, self.epoch = seed, epoch


def test_class_sampled_batches():
    labels = [c for c in range(10) for _ in range(6)] + [10]  # 61 images
    sampler = ClassSampledBatchSampler(
        FakeSampler(labels), batch_size=8, samples_per_class=2)
    assert len(sampler) == 61 // 8
    batches_ = list(sampler)
    assert len(batches_) == 7
    for batch in batches_:
        classes = [labels[i] for i in batch]
        # 4 distinct classes, 2 images of each: distinct ones, but class
        # 10 has one image, which it then gives twice
        assert len(set(classes)) == 4
        assert all(classes.count(c) == 2 for c in set(classes))
        assert len(set(batch)) == 8 - (10 in classes)
    assert any(10 in [labels[i] for i in b] for b in batches_)
    assert list(ClassSampledBatchSampler(FakeSampler(labels), 8, 2)) == \
        batches_  # seeded: reproducible
    other_epoch = list(
        ClassSampledBatchSampler(FakeSampler(labels, epoch=1), 8, 2))
    assert other_epoch != batches_
    # more classes per batch than exist: every class, then a random rest
    many = list(ClassSampledBatchSampler(FakeSampler(labels), 48, 2))[0]
    assert sorted({labels[i] for i in many}) == list(range(11))


@pytest.mark.parametrize('kwargs,match', [
    (dict(batch_size=8, samples_per_class=3),
     'samples_per_class=3 must divide batch_size=8'),
    (dict(batch_size=8, samples_per_class=0),
     'samples_per_class must be an int >= 1, got 0'),
    (dict(batch_size=128, samples_per_class=2), '61 images make no batch'),
])
def test_bad_class_sampler(kwargs, match):
    labels = [c for c in range(10) for _ in range(6)] + [10]
    with pytest.raises(ValueError, match=match):
        ClassSampledBatchSampler(FakeSampler(labels), **kwargs)


# ------------------------------------------------- timm's warm-up cosine
def timm_cosine(t, base, warmup_t, t_initial, warmup_lr, min_lr):
    """timm's CosineLRScheduler (one cycle, warmup_prefix=False), written
    from its formula."""
    if t < warmup_t:
        return warmup_lr + t * (base - warmup_lr) / warmup_t
    if t >= t_initial:
        return min_lr
    return min_lr + 0.5 * (base - min_lr) * (1 +
                                             math.cos(math.pi * t / t_initial))


def test_warmup_cosine_is_timm_per_update():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=5e-3)
    scheduler = WarmupCosineLR.build_iter_from_epoch(
        optimizer,
        warmup=2,
        total=5,
        warmup_value=1e-8,
        eta_min=1e-9,
        by_epoch=True,
        epoch_length=3)
    lrs = []
    for _ in range(20):
        lrs.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        scheduler.step()
    expected = [timm_cosine(t, 5e-3, 6, 15, 1e-8, 1e-9) for t in range(20)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12, atol=0)
    # at the end of the warm-up the cosine has already decayed a little
    assert lrs[6] < 5e-3 * 0.95
    with pytest.raises(ValueError, match='need 0 <= warmup < total'):
        WarmupCosineLR(optimizer, warmup=5, total=5, warmup_value=0.)


# --------------------------------------------- the 61 released configs
RELEASED_DIR = osp.join(ROOT, 'configs', 'davpt', 'released')


def released_leaves():
    out = []
    for name, values in released.DAVPT_RELEASED.items():
        v = dict(released.DAVPT_RELEASED_COMMON, **values)
        tag = released.DAVPT_RELEASED_PRETRAINS[v['model_name']][0]
        task_tag = released.released_task(v['dataset'])[0]
        out.append((name, v,
                    osp.join(RELEASED_DIR,
                             f'davpt-released_{tag}_{task_tag}.py')))
    return out


def test_every_released_config_has_a_leaf():
    leaves = released_leaves()
    assert len(leaves) == 61
    assert len({path for _, _, path in leaves}) == 61
    assert sorted(osp.basename(p) for _, _, p in leaves) == sorted(
        f for f in __import__('os').listdir(RELEASED_DIR))


@pytest.mark.parametrize(
    'name,values,path',
    released_leaves(),
    ids=[n for n, _, _ in released_leaves()])
def test_released_leaf_honours_every_value(name, values, path):
    v = values
    cfg = Config.fromfile(path)
    _, _, _, num_classes = released.released_task(v['dataset'])
    bb = cfg.model.backbone
    m = min(v['proxy_prompt_len'], num_classes)
    start, end = v['proxy_prompt_start_idx'], v['proxy_prompt_end_idx']
    guided = list(range(start, end + 1))
    counts = [m if i in guided else v['num_prompts'] for i in range(12)]
    assert (bb.num_prompts if isinstance(bb.num_prompts, list) else
            [bb.num_prompts] * 12) == counts
    assert len(bb.prompt_cfg) == 12
    for i, layer_cfg in enumerate(bb.prompt_cfg):
        n, depth = (m, len(guided)) if i in guided else (v['num_prompts'],
                                                         12 - len(guided))
        assert layer_cfg.uniform_bound == pytest.approx(
            math.sqrt(6 / ((n + depth) * 768)) /
            (8 if v['init_divide_by8'] else 1))
        assert layer_cfg.get('l2_normalize', False) == \
            (v['vpt_norm'] == 'l2')
    assert cfg.model.guided_layer == (guided if len(guided) > 1 else guided[0])
    assert cfg.model.anchor_source == 'released'
    assert (cfg.model.beta, cfg.model.lam) == (v['vpt_loss_weight'],
                                               v['cls_loss_weight'])
    assert cfg.model.metric_loss.positive_mean == 'all'
    assert cfg.model.metric_loss.proxy_scale == v['loss_vpt_scale_ratio']
    assert cfg.model.head.num_classes == num_classes
    assert bb.get('drop_path_rate', 0.) == v['drop_path']
    assert bb.get('frozen_eval', True) == (v['drop_path'] == 0)
    assert bb.get('prompts_see_patches_only', False) == v['mask']
    mae = v['model_name'] == 'mae-B'
    assert bb.out_type == ('avg_all_tokens' if mae else 'cls_token')
    assert bb.final_norm
    rules = bb.trainable_params
    qkv = [r for r in rules if isinstance(r, dict)]
    assert [tuple(r.rows)
            for r in qkv] == [(768 if v['bias_k'] else 1536, None)]
    assert ('cls_token' in rules) == v['train_cls']
    assert (r'layers\.\d+\.ln1\.(weight|bias)' in rules) == v['norm_norm1']
    assert r'patch_embed\.projection\.bias' in rules  # bias_proj (all)
    optim = cfg.optim_wrapper
    assert optim.optimizer.lr == v['lr']
    assert optim.optimizer.weight_decay == v['weight_decay']
    assert optim.paramwise_cfg.custom_keys['head.fc.weight'].weight_decay \
        == v['wd_head']
    assert optim.clip_grad == dict(type='value', clip_value=10.)
    sched = cfg.param_scheduler
    assert (sched.warmup, sched.total, sched.warmup_value, sched.eta_min) \
        == (v['warmup_epochs'], v['epochs'], v['warmup_lr'], v['min_lr'])
    assert cfg.train_cfg.max_epochs == v['epochs']
    assert cfg.train_cfg.val_begin == v['eval_after'] + 1
    loader = cfg.train_dataloader
    assert loader.batch_size == v['batch_size']
    assert loader.batch_sampler.samples_per_class == v['samples_per_class']
    hook = next(h for h in cfg.custom_hooks
                if h.type == 'mmprompt.DAVPTMappingHook')
    assert hook.start_epoch == v['dynamic_kmeans'] + 1
    assert hook.feature_norm == 'layer'


# ------------------------------------- a released recipe, end to end
RELEASED_TINY = '''
_base_ = [{leaf!r}]
custom_imports = dict(
    imports=['mmprompt', 'mmprompt_tools_test_hooks'],
    allow_failed_imports=False)
tiny = dict(type='mmprompt.PromptTokens', init='uniform', uniform_bound=0.1)
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=32, num_layers=3, num_heads=4,
                  feedforward_channels=64),
        img_size=32, patch_size=8, init_cfg=None, num_prompts=[2, 4, 4],
        drop_path_rate=0.1, frozen_eval=False,
        prompt_cfg=[tiny, dict(tiny, l2_normalize=True),
                    dict(tiny, l2_normalize=True)],
        trainable_params=[
            dict(name=r'layers\\.\\d+\\.attn\\.qkv\\.bias', rows=(32, None)),
            r'patch_embed\\.projection\\.bias', 'cls_token']),
    head=dict(num_classes=4, in_channels=32),
    guided_layer=[1, 2])
data_preprocessor = dict(num_classes=4, mean=[127.5] * 3, std=[127.5] * 3)
pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
dataset = dict(_delete_=True, type='CustomDataset', data_root={data!r},
               pipeline=pipeline)
train_dataloader = dict(
    batch_size=8, num_workers=0, dataset=dataset,
    batch_sampler=dict(type='mmprompt.ClassSampledBatchSampler',
                       samples_per_class=2))
val_dataloader = dict(batch_size=8, num_workers=0, dataset=dataset)
test_dataloader = val_dataloader
param_scheduler = dict(warmup=1, total=3)
train_cfg = dict(max_epochs=3, val_begin=3)
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=1, max_keep_ckpts=3))
custom_hooks = [
    dict(type='ToolsTestHook', stop_after=None),
    dict(type='mmprompt.DAVPTMappingHook', num_images_per_class=2,
         start_epoch=2, feature_norm='layer'),
]
'''


@pytest.mark.slow
def test_released_recipe_trains_and_resumes(setup):  # noqa: F811
    """A released leaf (MAE, several guided layers, drop path in the frozen
    blocks, masked and l2-normalised prompts, the class sampler, timm's
    cosine per update, ``val_begin``, k-means from ``start_epoch``) on a
    tiny ViT and the tools' image folder, through tools/train.py; a run
    stopped after epoch 1 and resumed ends equal to the uninterrupted one."""
    import json
    import sys

    from helpers import TRAIN, assert_same, load, run
    leaf = osp.join(RELEASED_DIR, 'davpt-released_vit-b16-mae_fgvc-cub.py')
    cfg_path = setup['root'] / 'released_tiny.py'
    cfg_path.write_text(
        RELEASED_TINY.format(leaf=leaf, data=str(setup['root'] / 'data')))
    cfg = Config.fromfile(str(cfg_path), import_custom_modules=False)
    bb = cfg.model.backbone
    assert bb.prompts_see_patches_only and bb.out_type == 'avg_all_tokens'
    assert cfg.model.guided_layer == [1, 2]
    work = setup['root'] / 'REL_A'
    proc = run([sys.executable, TRAIN,
                str(cfg_path), '--work-dir',
                str(work)], setup['env'])
    log = proc.stdout + proc.stderr
    assert 'Initial class-to-prompt mapping (4 classes, 4 prompts)' in log
    # 24 images in batches of 4 classes x 2 images: 3 batches an epoch
    assert 'Epoch(train) [1][3/3]' in log and '[1][4/' not in log
    scalars = [
        json.loads(line) for line in sorted(
            work.glob('*/vis_data/scalars.json'))[-1].read_text().splitlines()
    ]
    assert [r['step'] for r in scalars if 'accuracy/top1' in r] == [3]
    lrs = {r['step']: r['lr'] for r in scalars if 'lr' in r}
    assert sorted(lrs) == list(range(1, 10))
    # logged at iteration `step` (1-based): timm's value after step - 1
    # updates; warm-up 1 epoch = 3 updates, the cosine over 9
    for step, lr in lrs.items():
        assert lr == pytest.approx(
            timm_cosine(step - 1, 0.005, 3, 9, 1e-8, 1e-9), rel=1e-6), step
    final = load(work / 'epoch_3.pth')
    work_b = setup['root'] / 'REL_B'
    args = [sys.executable, TRAIN, str(cfg_path), '--work-dir', str(work_b)]
    run(args + ['--cfg-options', 'custom_hooks.0.stop_after=1'], setup['env'])
    run(args + ['--resume'], setup['env'])
    resumed = load(work_b / 'epoch_3.pth')
    for part in ('state_dict', 'optimizer', 'param_schedulers'):
        assert_same(final[part], resumed[part], part)
