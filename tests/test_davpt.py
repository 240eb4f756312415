import os.path as osp
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmprompt  # noqa: F401
from mmprompt.methods.davpt import DAVPTLoss, DAVPTMappingHook
from mmprompt.methods.davpt import check as davpt_check
from mmprompt.methods.davpt import initial_mapping, update_mapping
from mmprompt.registry import HOOKS
from helpers import (REPO, TINY_VIT, TRAIN, assert_same, bad_input_params,
                     batches, call, check_bad_input, fake_runner, free_port,
                     load, run, text, tiny_davpt)

TINY = TINY_VIT


def davpt(anchor_source='paper', **kwargs):
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
                num_prompts=[2, 2, 2, 4]),
            head=dict(type='LinearClsHead', num_classes=3, in_channels=32),
            anchor_source=anchor_source,
            **{
                **dict(beta=0.5, lam=2.0),
                **kwargs
            }))
    model.init_weights()
    return model


@pytest.mark.parametrize('source', ['paper', 'released'])
def test_losses_use_the_guided_layer(source):
    model = davpt(source)
    batch = model.data_preprocessor(batches(1, size=6)[0], True)
    with pytest.raises(RuntimeError, match='DAVPTMappingHook'):
        model(**batch, mode='loss')
    model.set_mapping(torch.tensor([3, 0, 3]))
    losses = model(**batch, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_ml_patch', 'loss_ml_cls'}

    # independent: the guided layer's internals from a hand forward
    bb = model.backbone
    x = batch['inputs']
    tokens = torch.cat([bb.cls_token.expand(6, -1, -1),
                        bb.patch_embed(x)[0]], 1) + bb.pos_embed
    slot = 0
    for i in range(3):
        p = bb.prompts[i].tokens.expand(6, -1, -1)
        tokens = bb.layers[i](
            torch.cat([tokens[:, :1], p, tokens[:, 1 + slot:]], 1))
        slot = 2
    prompts = bb.prompts[3].tokens
    tokens = torch.cat(
        [tokens[:, :1],
         prompts.expand(6, -1, -1), tokens[:, 3:]], 1)
    layer = bb.layers[3]
    labels = torch.cat([s.gt_label for s in batch['data_samples']])
    assign = torch.tensor([3, 0, 3])[labels]
    h = layer.ln1(tokens)
    q = h @ layer.attn.qkv.weight[:32].t() + layer.attn.qkv.bias[:32]
    if source == 'paper':
        proxies, cls = q[0, 1:5], q[:, 0]
        patch = layer.attn(h)[:, 5:].mean(1)
    else:  # the released code: CLS query (cls_type='query'), raw prompts
        proxies, cls = prompts, q[:, 0]
        patch = tokens[:, 5:].mean(1)
    metric = DAVPTLoss()
    torch.testing.assert_close(losses['loss_ml_patch'],
                               0.5 * metric(patch, proxies, assign))
    torch.testing.assert_close(losses['loss_ml_cls'],
                               2.0 * metric(cls, proxies, assign))
    # the class sums for re-mapping were accumulated
    assert model.class_feat_count.tolist() == torch.bincount(
        labels, minlength=3).float().tolist()


def test_bad_classifier_arguments():
    with pytest.raises(ValueError, match="Unknown anchor_source 'code'"):
        davpt('code')
    with pytest.raises(ValueError, match='guided_layer 4 outside'):
        davpt(guided_layer=4)
    with pytest.raises(ValueError, match='beta must be >= 0, got -1'):
        davpt(beta=-1)
    with pytest.raises(ValueError, match='lam must be >= 0, got -0.5'):
        davpt(lam=-0.5)
    with pytest.raises(ValueError, match='guided layer 2 has no prompts'):
        MODELS.build(
            dict(
                type='mmprompt.DAVPTClassifier',
                backbone=dict(
                    type='mmprompt.PromptViT',
                    arch=TINY,
                    img_size=32,
                    patch_size=8,
                    num_prompts=[2, 2, 0, 4]),
                head=dict(type='LinearClsHead', num_classes=3, in_channels=32),
                guided_layer=2))
    model = davpt()
    with pytest.raises(ValueError, match=r'map 3 classes to \[0, 4\)'):
        model.set_mapping(torch.tensor([0, 4, 1]))
    with pytest.raises(ValueError, match='num_images_per_class must be'):
        DAVPTMappingHook(num_images_per_class=0)


def test_initial_mapping():
    # C <= M: class c -> prompt c
    mapping, centroids = initial_mapping(torch.randn(3, 8), 5)
    assert mapping.tolist() == [0, 1, 2]
    assert centroids.shape == (5, 8) and centroids[3:].abs().sum() == 0
    # two clear directions -> two prompts, deterministic for a seed
    g = torch.Generator().manual_seed(0)
    base = torch.randn(2, 16, generator=g)
    feats = torch.cat([
        base[0] + 0.01 * torch.randn(4, 16, generator=g),
        base[1] + 0.01 * torch.randn(3, 16, generator=g)
    ])
    order = torch.randperm(7, generator=g)
    mapping, centroids = initial_mapping(feats[order], 2, seed=3)
    groups = (order >= 4).long()
    assert (mapping == groups).all() or (mapping == 1 - groups).all()
    again, _ = initial_mapping(feats[order], 2, seed=3)
    assert torch.equal(mapping, again)
    # cosine: the scale of a feature does not matter
    scaled, _ = initial_mapping(feats[order] * torch.rand(7, 1) * 10, 2, 3)
    assert torch.equal(scaled, mapping)


def test_update_keeps_unseen_classes_and_empty_clusters():
    g = torch.Generator().manual_seed(1)
    means = torch.randn(6, 8, generator=g)
    mapping, centroids = initial_mapping(means, 3, seed=0)
    seen = torch.tensor([True, True, True, True, False, True])
    shifted = means + 0.05 * torch.randn(6, 8, generator=g)
    new_map, new_centroids = update_mapping(
        shifted, seen, mapping, centroids, seed=0)
    assert new_map[4] == mapping[4]  # unseen: keeps its prompt
    used = torch.zeros(3, dtype=torch.bool)
    used[new_map[seen]] = True
    assert torch.equal(new_centroids[~used], centroids[~used])
    # fewer seen classes than prompts: nothing can be re-clustered
    few = torch.tensor([True, False, False, False, False, True])
    same_map, same_c = update_mapping(shifted, few, mapping, centroids)
    assert torch.equal(same_map, mapping) and torch.equal(same_c, centroids)


# ----------------------------------------------------------------- runner
MAPPING_DUMP = '''
import os.path as osp
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class DumpMappingHook(Hook):
    priority = 'LOWEST'

    def after_train(self, runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        torch.save(model.class_to_prompt.cpu(),
                   osp.join(runner.work_dir, f'mapping_rank{get_rank()}.pth'))
'''

DAVPT_CONFIG = '''
_base_ = './tiny_vpt.py'
custom_imports = dict(
    imports=['mmprompt', 'mmprompt_tools_test_hooks', 'davpt_test_hooks'],
    allow_failed_imports=False)
model = dict(
    type='mmprompt.DAVPTClassifier',
    backbone=dict(num_prompts=[4, 2]),
    guided_layer=-1, beta=0.5, lam=0.5)
custom_hooks = [
    dict(type='ToolsTestHook', stop_after=None),
    dict(type='mmprompt.DAVPTMappingHook', num_images_per_class=3),
    dict(type='DumpMappingHook'),
]
'''


@pytest.fixture(scope='module')
def davpt_run(setup):
    cfg = setup['root'] / 'tiny_davpt.py'
    cfg.write_text(DAVPT_CONFIG)
    with open(osp.join(setup['hooks_dir'], 'davpt_test_hooks.py'), 'w') as f:
        f.write(MAPPING_DUMP)
    work = setup['root'] / 'DA_A'
    proc = run([sys.executable, TRAIN,
                str(cfg), '--work-dir',
                str(work)], setup['env'])
    return dict(cfg=str(cfg), work=work, log=proc.stdout + proc.stderr)


@pytest.mark.slow
def test_mapping_hook_in_training_and_resume(setup, davpt_run):
    log, work = davpt_run['log'], davpt_run['work']
    assert 'Initial class-to-prompt mapping (4 classes, 2 prompts)' in log
    assert 'smallest class has' not in log  # k=3 of 6 images per class
    assert 'loss_ml_patch' in log and 'loss_ml_cls' in log
    final = load(work / 'epoch_2.pth')
    state = final['state_dict']
    mapping = state['class_to_prompt']
    assert set(mapping.tolist()) <= {0, 1} and len(mapping) == 4
    assert state['mapping_ready'] == 1
    assert state['class_feat_count'].sum() == 0  # reset after re-mapping
    # resumed from epoch 1: the mapping is not recomputed, the result equal
    work_b = setup['root'] / 'DA_B'
    run([
        sys.executable, TRAIN, davpt_run['cfg'], '--work-dir',
        str(work_b), '--cfg-options', 'custom_hooks.0.stop_after=1'
    ], setup['env'])
    proc = run([
        sys.executable, TRAIN, davpt_run['cfg'], '--work-dir',
        str(work_b), '--resume'
    ], setup['env'])
    log_b = proc.stdout + proc.stderr
    assert 'Class-to-prompt mapping from the checkpoint' in log_b
    assert 'Initial class-to-prompt mapping' not in log_b
    resumed = load(work_b / 'epoch_2.pth')
    assert_same(state, resumed['state_dict'], 'state_dict')
    assert_same(final['optimizer'], resumed['optimizer'], 'optimizer')


def test_check_davpt_tool(davpt_run, tmp_path):
    """The DA-VPT run check reads the run's metric losses per epoch and
    every mapping it logged; the last is the checkpoint's."""
    tool = davpt_check
    work = str(davpt_run['work'])
    report = tool.check(work)
    losses = report['epoch_losses']
    assert set(losses) == {'loss_cls', 'loss_ml_patch', 'loss_ml_cls'}
    assert all(len(v) == 2 for v in losses.values())  # 2 epochs
    assert report['metric_loss_fell'] == {
        k: losses[k][1] < losses[k][0]
        for k in ('loss_ml_patch', 'loss_ml_cls')
    }
    maps = report['mappings']
    assert len(maps) == 3  # the initial k-means and one per epoch
    final = load(davpt_run['work'] / 'epoch_2.pth')['state_dict']
    assert maps[-1] == final['class_to_prompt'].tolist()
    assert report['classes_moved'] == [
        sum(a != b for a, b in zip(x, y)) for x, y in zip(maps, maps[1:])
    ]
    plain = tmp_path / '20261202_000000' / 'vis_data'  # a plain VPT run
    plain.mkdir(parents=True)
    (plain / 'scalars.json').write_text(
        '{"loss": 1.0, "loss_cls": 1.0, "epoch": 1, "iter": 1, "step": 1}')
    with pytest.raises(ValueError, match='logged no metric loss'):
        tool.check(str(tmp_path))


def val_accuracies(work):
    """The validation top-1 of every epoch, from the run's scalars."""
    import json
    lines = [
        json.loads(line) for line in sorted(
            work.glob('*/vis_data/scalars.json'))[-1].read_text().splitlines()
    ]
    return [(r['step'], r['accuracy/top1']) for r in lines
            if 'accuracy/top1' in r]


@pytest.mark.slow
def test_kill_9_mid_epoch_then_resume_auto_equals_uninterrupted(
        setup, davpt_run):
    """A run killed by SIGKILL in the middle of its 2nd epoch and restarted
    with ``--resume`` (auto) ends with the prompts, head, DA-VPT state
    (mapping, centroids, class sums), optimizer and validation accuracy of
    the uninterrupted run."""
    work = setup['root'] / 'DA_KILLED'
    args = [sys.executable, TRAIN, davpt_run['cfg'], '--work-dir', str(work)]
    proc = subprocess.run(
        args + ['--cfg-options', 'custom_hooks.0.kill_at=[1,1]'],
        cwd=REPO,
        env=setup['env'],
        capture_output=True,
        text=True,
        timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert (work / 'epoch_1.pth').exists()
    assert not (work / 'epoch_2.pth').exists()
    log = sorted(work.glob('*/*.log'))[-1].read_text()  # flushed per line
    assert 'Epoch(train) [2][2/3]' in log  # killed mid-epoch
    assert 'Epoch(train) [2][3/3]' not in log

    proc = run(args + ['--resume'], setup['env'])
    assert 'resumed epoch: 1' in proc.stdout + proc.stderr
    final, resumed = load(davpt_run['work'] / 'epoch_2.pth'), \
        load(work / 'epoch_2.pth')
    for part in ('state_dict', 'optimizer', 'param_schedulers'):
        assert_same(final[part], resumed[part], part)
    state = resumed['state_dict']
    assert {
        'class_to_prompt', 'prompt_centroids', 'mapping_ready',
        'class_feat_sum', 'class_feat_count'
    } <= set(state)
    full_acc = val_accuracies(davpt_run['work'])
    assert len(full_acc) == 2
    assert val_accuracies(work) == full_acc[1:]  # the resumed run's epoch 2


def initial_mapping_line(log):
    return next(
        line.split('prompts): ')[1] for line in log.splitlines()
        if 'Initial class-to-prompt mapping' in line)


@pytest.mark.slow
def test_mapping_hook_under_two_process_ddp(setup, davpt_run):
    """Both ranks hold the same mapping (k-means on rank 0, broadcast) and
    the same prompts; the initial mapping equals the 1-process one (the same
    images). Prompts cannot equal a 1-process run exactly: the proxy-anchor
    loss is not a sum over samples, so per-rank losses on half batches do
    not average to the loss of the whole batch."""
    env = dict(setup['env'], PORT=str(free_port()), OMP_NUM_THREADS='1')
    work = setup['root'] / 'DA_DDP'
    proc = run([
        'bash',
        osp.join(REPO, 'tools', 'dist_train.sh'), davpt_run['cfg'], '2',
        '--work-dir',
        str(work)
    ], env)
    assert initial_mapping_line(proc.stdout + proc.stderr) == \
        initial_mapping_line(davpt_run['log'])
    ranks = [load(work / f'prompts_after_train_rank{r}.pth') for r in (0, 1)]
    assert all(info['world_size'] == 2 for info in ranks)
    assert_same(ranks[0]['prompts'], ranks[1]['prompts'], 'rank prompts')
    mappings = [load(work / f'mapping_rank{r}.pth') for r in (0, 1)]
    assert torch.equal(mappings[0], mappings[1])
    assert torch.equal(
        mappings[0],
        load(work / 'epoch_2.pth')['state_dict']['class_to_prompt'])


@pytest.mark.slow
def test_davpt_plus_tunes_only_k_and_v_bias_thirds():
    """DA-VPT+: the K and V thirds of the fused qkv bias (and other chosen
    biases) learn; the Q third stays exactly as it was under AdamW."""
    from mmengine.optim import build_optim_wrapper
    model = MODELS.build(
        dict(
            type='mmprompt.DAVPTClassifier',
            data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=3),
            backbone=dict(
                type='mmprompt.PromptViT',
                arch=TINY,
                img_size=32,
                patch_size=8,
                num_prompts=[2, 2, 2, 4],
                trainable_params=[
                    dict(
                        name=r'layers\.\d+\.attn\.qkv\.bias', rows=(32, None)),
                    r'layers\.\d+\.attn\.proj\.bias'
                ]),
            head=dict(type='LinearClsHead', num_classes=3, in_channels=32)))
    model.set_mapping(torch.tensor([0, 1, 2]))
    backbone = model.backbone
    assert backbone.trainable_rows == {
        f'layers.{i}.attn.qkv.bias': (32, 96)
        for i in range(4)
    }
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == (2 + 2 + 2 + 4) * 32 + 4 * (96 + 32) + 32 * 3 + 3
    wrapper = build_optim_wrapper(
        model,
        dict(
            optimizer=dict(type='AdamW', lr=0.05, weight_decay=0.05),
            paramwise_cfg=dict(bias_decay_mult=0., norm_decay_mult=0.)))
    before = [l.attn.qkv.bias.detach().clone() for l in backbone.layers]
    model.train()
    probe = model(
        **model.data_preprocessor(batches(1, size=6)[0], True), mode='loss')
    model.parse_losses(probe)[0].backward()
    for layer in backbone.layers:  # Q third masked to exactly zero
        grad = layer.attn.qkv.bias.grad
        assert grad[:32].abs().sum() == 0 and grad[64:].abs().sum() > 0
    model.zero_grad()
    model.class_feat_sum.zero_()
    model.class_feat_count.zero_()
    for batch in batches(3, size=6):
        losses = model(**model.data_preprocessor(batch, True), mode='loss')
        wrapper.update_params(model.parse_losses(losses)[0])
    for layer, old in zip(backbone.layers, before):
        new = layer.attn.qkv.bias.detach()
        assert torch.equal(new[:32], old[:32])  # Q third frozen
        # V learns. (A key bias adds the same q.b_k to every logit of a
        # row, which softmax ignores: its gradient is zero up to rounding,
        # so K is not asserted to move.)
        assert not torch.equal(new[64:], old[64:])
    with pytest.raises(ValueError, match=r'rows \(96, 200\) select nothing'):
        MODELS.build(
            dict(
                type='mmprompt.PromptViT',
                arch=TINY,
                img_size=32,
                patch_size=8,
                trainable_params=[
                    dict(name=r'layers\.0\.attn\.qkv\.bias', rows=(96, 200))
                ]))
    with pytest.raises(ValueError, match='trainable_params entries are'):
        MODELS.build(
            dict(
                type='mmprompt.PromptViT',
                arch=TINY,
                img_size=32,
                patch_size=8,
                trainable_params=[dict(pattern='cls_token')]))


def test_class_representations_small_classes_and_unlabelled_data():
    from types import SimpleNamespace

    import numpy as np
    from mmpretrain.structures import DataSample

    class TinySet:
        labels = np.array([0, 0, 1, 2, 2, 2])

        def get_gt_labels(self):
            return self.labels

        def __getitem__(self, i):
            g = torch.Generator().manual_seed(i)
            return dict(
                inputs=torch.randint(
                    0, 256, (3, 32, 32), generator=g, dtype=torch.uint8),
                data_samples=DataSample().set_gt_label(int(self.labels[i])))

    warnings = []
    runner = SimpleNamespace(
        train_dataloader=SimpleNamespace(dataset=TinySet()),
        logger=SimpleNamespace(warning=warnings.append))
    model = davpt()
    hook = DAVPTMappingHook(num_images_per_class=2)
    feats, present = hook.class_representations(runner, model)
    assert feats.shape == (3, 32) and bool(present.all())
    assert warnings == [
        'num_images_per_class=2 but the smallest class has '
        '1 training images: using what exists'
    ]
    # class 2 uses its first two images, through the prompt-free backbone
    batch = model.data_preprocessor(
        dict(inputs=[TinySet()[3]['inputs'],
                     TinySet()[4]['inputs']]), False)
    model.eval()
    with model.backbone.without_prompts():
        expected = model.backbone(batch['inputs'])[-1].mean(0)
    torch.testing.assert_close(feats[2], expected)

    runner.train_dataloader.dataset = object()
    with pytest.raises(TypeError, match='needs a labelled training set'):
        hook.class_representations(runner, model)


# ------------------------------------------------------------ bad input
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


def davpt_mapping_hook(labels, num_images_per_class=10):
    model = tiny_davpt()
    hook = HOOKS.build(
        dict(
            type='mmprompt.DAVPTMappingHook',
            num_images_per_class=num_images_per_class))
    dataset = labels if isinstance(labels, UnlabelledSet) \
        else LabelledSet(labels)
    hook.before_train(fake_runner(model, dataset))


# (id, expected exception or warning, pattern of its message, action)
BAD_INPUT = [
    ('davpt-guided-prompts-zero', ValueError,
     text('guided layer 3 has no prompts (num_prompts=0 there)'),
     call(tiny_davpt, num_prompts=(2, 2, 2, 0))),
    ('davpt-guided-prompts-negative', ValueError,
     text('num_prompts must be ints >= 0, got [2, 2, 2, -1]'),
     call(tiny_davpt, num_prompts=(2, 2, 2, -1))),
    ('davpt-beta-negative', ValueError, text('beta must be >= 0, got -1'),
     call(tiny_davpt, beta=-1)),
    ('davpt-lambda-negative', ValueError, text('lam must be >= 0, got -0.5'),
     call(tiny_davpt, lam=-0.5)),
    ('davpt-guided_layer-out-of-range', ValueError,
     text('guided_layer 4 outside the 4 layers'),
     call(tiny_davpt, guided_layer=4)),
    ('davpt-anchor_source-unknown', ValueError,
     text("Unknown anchor_source 'code'; choose from", 'paper',
          'released'), call(tiny_davpt, anchor_source='code')),
    ('davpt-num_images_per_class-zero', ValueError,
     text('num_images_per_class must be an int >= 1, got 0'),
     call(HOOKS.build,
          dict(type='mmprompt.DAVPTMappingHook', num_images_per_class=0))),
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
]


@bad_input_params(BAD_INPUT)
def test_bad_input(expected, pattern, action, tmp_path, monkeypatch):
    check_bad_input(expected, pattern, action, tmp_path, monkeypatch)
