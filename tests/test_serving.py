"""One frozen backbone, many tasks: every image of a mixed batch gets its
task's own model's output; bundles record and check the backbone."""
import copy
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS

import mmprompt  # noqa: F401
from mmprompt.methods.pc import condense_prompts
from mmprompt.serving import (MultiTaskInferencer, MultiTaskPromptViT,
                              ServingError, backbone_sha256,
                              frozen_backbone_state, load_bundle, write_bundle)
from helpers import REPO, TINY_VIT_ARGS

PROMPT_VIT = dict(type='mmprompt.PromptViT', **TINY_VIT_ARGS)
# task kind -> (classifier config, what is done to the built model)
KINDS = {
    'vpt-deep': (dict(backbone=dict(num_prompts=[2, 0, 3, 1])), None),
    'vpt-shallow':
    (dict(backbone=dict(num_prompts=3, prompt_mode='shallow')), None),
    'bpt-bilinear': (dict(
        backbone=dict(
            type='mmprompt.BilinearPromptViT',
            variant='bilinear',
            width=4,
            num_prompts=4)), None),
    'bpt-fwhiten': (dict(
        backbone=dict(
            type='mmprompt.BilinearPromptViT',
            variant='fwhiten',
            num_prompts=3,
            prompt_mode='shallow')), 'whiten'),
    'pc': (dict(backbone=dict(num_prompts=4)), 'condense'),
    'davpt': (dict(
        type='mmprompt.DAVPTClassifier',
        backbone=dict(num_prompts=[2, 2, 2, 4])), None),
    'davpt-mae': (dict(
        type='mmprompt.DAVPTClassifier',
        anchor_source='released',
        backbone=dict(
            num_prompts=[2, 2, 3, 4],
            out_type='avg_all_tokens',
            prompts_see_patches_only=True)), None),
}


def pretrained_state():
    torch.manual_seed(123)
    backbone = MODELS.build(dict(PROMPT_VIT, num_prompts=0))
    with torch.no_grad():  # norms away from identity: a real difference
        for name, p in backbone.named_parameters():
            if 'ln' in name:
                p.normal_(1. if name.endswith('weight') else 0., 0.2)
    return {
        k: v
        for k, v in backbone.state_dict().items()
        if not k.startswith('prompts.')
    }


PRETRAINED = pretrained_state()


def model_cfg(kind, num_classes):
    cfg, _ = KINDS[kind]
    cfg = copy.deepcopy(cfg)
    backbone = dict(PROMPT_VIT, **cfg.pop('backbone'))
    return dict(
        dict(type='ImageClassifier'),
        data_preprocessor=dict(
            type='ClsDataPreprocessor',
            num_classes=num_classes,
            mean=[127.5] * 3,
            std=[60.] * 3),
        backbone=backbone,
        head=dict(
            type='LinearClsHead', num_classes=num_classes, in_channels=32),
        **cfg)


def task_model(kind, seed, num_classes=3):
    """A trained-looking task on the shared frozen weights: prompts and
    head random (seeded), the backbone's frozen tensors PRETRAINED."""
    torch.manual_seed(seed)
    model = MODELS.build(model_cfg(kind, num_classes))
    model.backbone.load_state_dict(PRETRAINED, strict=False)
    with torch.no_grad():
        model.head.fc.weight.normal_(0., 1.)
        for p in model.backbone.prompts.parameters():
            p.normal_(0., 1.)  # far from init: prompts that matter
    action = KINDS[kind][1]
    if action == 'whiten':
        a = torch.randn(32, 32)
        model.backbone.prompts[0].set_whitening((a + a.t()) / 8)
    elif action == 'condense':
        condense_prompts(model, [
            torch.tensor([0, 2]),
            torch.tensor([1]),
            torch.tensor([], dtype=torch.long),
            torch.tensor([0, 1, 3])
        ])
    if hasattr(model, 'set_mapping'):  # DA-VPT: a mapping, as trained
        model.set_mapping(
            torch.arange(num_classes) % model.num_guided_prompts,
            torch.randn_like(model.prompt_centroids))
    return model.eval()


def shared_backbone():
    backbone = MODELS.build(dict(PROMPT_VIT, num_prompts=0))
    backbone.load_state_dict(PRETRAINED, strict=False)
    return backbone.eval()


def own_scores(model, inputs):
    with torch.no_grad():
        return torch.stack([s.pred_score for s in model.predict(inputs)])


@pytest.fixture(scope='module')
def tasks():
    return {
        kind: task_model(kind, seed, num_classes=3 + seed % 3)
        for seed, kind in enumerate(KINDS)
    }


def images(n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 32, 32, generator=g)


def check_batch(bundle, tasks, names, inputs):
    out = bundle(inputs, bundle.task_index(names))
    assert len(out) == len(names)
    for name in set(names):
        index = [i for i, n in enumerate(names) if n == name]
        expected = own_scores(tasks[name], inputs[index])
        got = torch.stack([out[i].pred_score for i in index])
        torch.testing.assert_close(got, expected, msg=name)
        assert [int(out[i].pred_label) for i in index] == \
            expected.argmax(1).tolist()
        assert {out[i].task for i in index} == {name}
    return out


def test_mixed_batch_equals_each_task_model(tasks):
    """Every kind of task (VPT deep with empty layers, shallow, BPT
    bilinear and fWhiten, condensed PC, DA-VPT with CLS and with MAE's
    pooling and prompt mask) in one shuffled batch: each image's scores
    are its task model's; so for a batch of one task, and of one image."""
    own = {k: copy.deepcopy(m) for k, m in tasks.items()}
    bundle = MultiTaskPromptViT(shared_backbone(), {
        k: copy.deepcopy(m)
        for k, m in tasks.items()
    })
    names = [k for k in KINDS for _ in range(3)]
    order = torch.randperm(
        len(names), generator=torch.Generator().manual_seed(0))
    names = [names[i] for i in order]
    check_batch(bundle, own, names, images(len(names), 1))
    check_batch(bundle, own, ['pc'] * 4, images(4, 2))
    check_batch(bundle, own, ['davpt-mae'], images(1, 3))
    # the shared frozen weights are held once
    params = [p for p in bundle.parameters() if p.numel()]
    assert len({p.data_ptr() for p in params}) == len(params)
    frozen = sum(p.numel() for p in bundle.backbone.parameters())
    total = sum(p.numel() for p in params)
    tuned = sum(p.numel() for m in bundle.tasks.values()
                for n, p in m.named_parameters()
                if not n.startswith('backbone.') or 'prompts.' in n)
    assert total == frozen + tuned


def test_adding_a_task_changes_no_other_task(tasks):
    inputs = images(6, 4)
    names = ['vpt-deep', 'pc', 'vpt-deep', 'vpt-shallow', 'pc', 'vpt-shallow']
    small = MultiTaskPromptViT(shared_backbone(), {
        k: copy.deepcopy(tasks[k])
        for k in ('vpt-deep', 'vpt-shallow', 'pc')
    })
    large = MultiTaskPromptViT(shared_backbone(), {
        k: copy.deepcopy(m)
        for k, m in tasks.items()
    })
    a = small(inputs, small.task_index(names))
    b = large(inputs, large.task_index(names))
    for x, y in zip(a, b):
        torch.testing.assert_close(x.pred_score, y.pred_score)


BAD_TASKS = [
    ('tunes-backbone',
     dict(backbone=dict(num_prompts=2, trainable_params=[r'ln1\.bias'])),
     "task 'bad' tunes backbone weights ['ln1.bias']"),
    ('out-indices', dict(backbone=dict(num_prompts=2, out_indices=[1, 3])),
     "task 'bad': out_indices=[1, 3]; a bundle serves classifiers reading "
     'the last layer'),
    ('token-map', dict(backbone=dict(num_prompts=2, out_type='raw')),
     "task 'bad': out_type='raw' gives token maps"),
    ('pooling-family',
     dict(backbone=dict(num_prompts=2, out_type='avg_featmap')),
     "task 'bad': its backbone has frozen parts ['ln2']"),
]


@pytest.mark.parametrize(
    'cfg,message', [c[1:] for c in BAD_TASKS], ids=[c[0] for c in BAD_TASKS])
def test_tasks_that_cannot_share_the_backbone(cfg, message):
    KINDS['bad'] = (cfg, None)
    try:
        model = MODELS.build(model_cfg('bad', 3))
    finally:
        del KINDS['bad']
    with pytest.raises(
            ServingError,
            match=message.replace('[',
                                  r'\[').replace(']',
                                                 r'\]').replace('(', r'\(')):
        MultiTaskPromptViT(shared_backbone(), {'bad': model})


def test_unknown_task_and_mismatched_batch(tasks):
    bundle = MultiTaskPromptViT(shared_backbone(),
                                {'pc': copy.deepcopy(tasks['pc'])})
    with pytest.raises(
            ServingError,
            match="task 'dogs' is not in the bundle "
            r"\(its tasks: \['pc'\]\)"):
        bundle.task_index(['pc', 'dogs'])
    with pytest.raises(
            ServingError, match='inputs has 2 images but '
            'task_index 1 entries'):
        bundle(images(2, 0), torch.tensor([0]))


# ---------------------------------------------------------------- bundles
CONFIG = '''
default_scope = 'mmpretrain'
custom_imports = dict(imports=['mmprompt'], allow_failed_imports=False)
model = {model!r}
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=({size}, {size})),
    dict(type='PackInputs')
]
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
'''


def write_task(tmp_path,
               name,
               kind,
               seed,
               pretrained,
               size=32,
               num_classes=3,
               prompt_only=False):
    """A config and a checkpoint of one task, as a run leaves them."""
    cfg = model_cfg(kind, num_classes)
    cfg['backbone']['init_cfg'] = dict(
        type='Pretrained', checkpoint=pretrained)
    cfg['backbone']['img_size'] = size
    cfg_path = tmp_path / f'{name}.py'
    cfg_path.write_text(CONFIG.format(model=cfg, size=size))
    model = task_model(kind, seed, num_classes)
    meta = dict(
        dataset_meta=dict(classes=[f'{name}-{c}' for c in range(num_classes)]))
    ckpt = tmp_path / f'{name}.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=meta), ckpt)
    if prompt_only:
        out = tmp_path / f'{name}_prompts.pth'
        subprocess.run([
            sys.executable, 'tools/export_prompts.py',
            str(cfg_path),
            str(ckpt),
            str(out)
        ],
                       cwd=REPO,
                       check=True,
                       capture_output=True)
        ckpt = out
    return str(cfg_path), str(ckpt), model


@pytest.fixture(scope='module')
def pretrained_file(tmp_path_factory):
    path = tmp_path_factory.mktemp('pre') / 'tiny_vit.pth'
    torch.save(
        {'state_dict': {
            f'backbone.{k}': v
            for k, v in PRETRAINED.items()
        }}, path)
    return str(path)


def png(path, seed, size=40):
    from PIL import Image
    rng = np.random.RandomState(seed)
    Image.fromarray(rng.randint(0, 255, (size, size, 3),
                                dtype=np.uint8)).save(path)
    return str(path)


@pytest.mark.slow
def test_bundle_file_serves_as_each_task_model(tmp_path, pretrained_file):
    """write_bundle -> load_bundle -> MultiTaskInferencer: per image, the
    task's own model on the same preprocessed image, through each task's
    own pipeline (one task resizes to 48 px: its own group); a prompt-only
    checkpoint records its backbone hash."""
    specs, own = {}, {}
    for name, kind, seed, size, prompt_only in [
        ('fashion', 'vpt-deep', 1, 32, False),
        ('digits', 'bpt-bilinear', 2, 32, True),
        ('shapes', 'davpt', 3, 48, False),
    ]:
        cfg, ckpt, model = write_task(tmp_path, name, kind, seed,
                                      pretrained_file, size, 3 + seed,
                                      prompt_only)
        specs[name], own[name] = (cfg, ckpt), model
    out = str(tmp_path / 'bundle.pth')
    meta = write_bundle(out, specs)
    assert meta['tasks'] == ['fashion', 'digits', 'shapes']
    frozen = frozen_backbone_state(own['fashion'])
    assert meta['backbone']['sha256'] == backbone_sha256(frozen)
    assert meta['backbone']['patch_size'] == [8, 8]
    saved = torch.load(out, weights_only=True)
    frozen_names = {
        k
        for k, p in own['digits'].named_parameters() if not p.requires_grad
    }
    assert set(saved['tasks']['digits']['state_dict']) == \
        set(own['digits'].state_dict()) - frozen_names
    assert os.path.getsize(out) < 200_000

    inferencer = MultiTaskInferencer(out)
    names = ['shapes', 'fashion', 'digits', 'fashion', 'shapes', 'digits']
    paths = [png(tmp_path / f'{i}.png', i) for i in range(len(names))]
    results = inferencer(paths, names)
    for path, name, r in zip(paths, names, results):
        x = inferencer.preprocess(path, name).unsqueeze(0)
        expected = own_scores(own[name], x)[0]
        torch.testing.assert_close(
            torch.from_numpy(r['pred_scores']), expected)
        assert r['task'] == name
        assert r['pred_class'] == f"{name}-{int(expected.argmax())}"
        assert r['pred_score'] == pytest.approx(float(expected.max()))

    # the demo's comparison: accuracy of the bundle and of each own model
    from mmprompt.serving import compare_with_task_models
    labels = [
        int(r['pred_label']) if i % 2 else 0 for i, r in enumerate(results)
    ]
    rows = compare_with_task_models(
        inferencer, own, list(zip(names, paths, labels)), batch_size=4)
    for name, row in rows.items():
        mine = [i for i, n in enumerate(names) if n == name]
        top1 = 100. * sum(results[i]['pred_label'] == labels[i]
                          for i in mine) / len(mine)
        assert row == dict(
            n=2,
            bundle_top1=top1,
            own_top1=top1,
            agree=2,
            max_score_diff=pytest.approx(0, abs=1e-5))

    # an array (BGR uint8) goes through the same pipeline without loading
    import mmcv
    array = mmcv.imread(paths[0])
    assert inferencer([array], ['shapes'])[0]['pred_label'] == \
        results[0]['pred_label']
    with pytest.raises(
            ServingError,
            match=r"task 'fashion': an image array "
            r'must be uint8 \(H, W, 3\).*float64 \(40, 40\)'):
        inferencer([np.zeros((40, 40))], ['fashion'])
    with pytest.raises(
            ServingError,
            match="task 'fashion': image file "
            "'nope.png' does not exist"):
        inferencer(['nope.png'], ['fashion'])
    with pytest.raises(ServingError, match="task 'cats' is not in the bundle"):
        inferencer(paths[:1], ['cats'])


@pytest.mark.slow
def test_bundles_refuse_other_backbones_and_layouts(tmp_path, pretrained_file):
    a = write_task(tmp_path, 'a', 'vpt-deep', 1, pretrained_file)[:2]
    # another backbone: other weights
    other = tmp_path / 'other.pth'
    state = {f'backbone.{k}': v.clone() for k, v in PRETRAINED.items()}
    state['backbone.ln1.weight'] += 1
    torch.save({'state_dict': state}, other)
    torch.manual_seed(0)
    b_cfg, _, _ = write_task(tmp_path, 'b', 'vpt-deep', 2, str(other))
    model = MODELS.build(model_cfg('vpt-deep', 3))
    model.backbone.load_state_dict({
        k[9:]: v
        for k, v in state.items()
    },
                                   strict=False)
    torch.save(dict(state_dict=model.state_dict()), tmp_path / 'b.pth')
    out = str(tmp_path / 'bundle.pth')
    with pytest.raises(
            ServingError,
            match="task 'b' was trained on another "
            "backbone than task 'a': sha256 '[0-9a-f]{64}' vs "
            "'[0-9a-f]{64}'"):
        write_bundle(out, {'a': a, 'b': (b_cfg, str(tmp_path / 'b.pth'))})
    assert not osp.exists(out)  # nothing half-written
    # another patch size
    c_cfg = model_cfg('vpt-deep', 3)
    c_cfg['backbone'].update(patch_size=4)
    path = tmp_path / 'c.py'
    path.write_text(CONFIG.format(model=c_cfg, size=32))
    torch.manual_seed(0)
    c = MODELS.build(c_cfg)
    torch.save(dict(state_dict=c.state_dict()), tmp_path / 'c.pth')
    with pytest.raises(
            ServingError,
            match="task 'c' was trained on another "
            r"backbone than task 'a': patch_size \(4, 4\) vs "
            r'\(8, 8\)'):
        write_bundle(out, {'a': a, 'c': (str(path), str(tmp_path / 'c.pth'))})
    with pytest.raises(
            ServingError, match="task 'd': config 'missing.py' "
            'does not exist'):
        write_bundle(out, {'a': a, 'd': ('missing.py', a[1])})
    # a bundle of another layout
    write_bundle(out, {'a': a})
    saved = torch.load(out, weights_only=True)
    saved['meta']['mmprompt_bundle'] = 0
    torch.save(saved, out)
    with pytest.raises(
            ServingError,
            match='mmprompt_bundle=0, but this '
            'mmprompt reads layout 1'):
        load_bundle(out)


@pytest.mark.slow
def test_bundle_and_infer_tools(tmp_path, pretrained_file):
    specs = [
        write_task(tmp_path, name, kind, seed, pretrained_file)[:2]
        for name, kind, seed in [('fashion', 'vpt-deep',
                                  1), ('digits', 'vpt-shallow', 2)]
    ]
    out = str(tmp_path / 'b.pth')
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.run([
        sys.executable, 'tools/deployment/bundle_tasks.py', out,
        f'fashion={specs[0][0]}:{specs[0][1]}',
        f'digits={specs[1][0]}:{specs[1][1]}'
    ],
                          cwd=REPO,
                          env=env,
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    imgs = [png(tmp_path / f'{i}.png', i) for i in range(3)]
    proc = subprocess.run([
        sys.executable, 'tools/deployment/infer_tasks.py', out, '--task',
        'fashion', imgs[0], imgs[1], '--task', 'digits', imgs[2]
    ],
                          cwd=REPO,
                          env=env,
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    expected = MultiTaskInferencer(out)(imgs, ['fashion', 'fashion', 'digits'])
    assert lines == [
        f"{p}\t{r['task']}\t{r['pred_class']}\t{r['pred_score']:.4f}"
        for p, r in zip(imgs, expected)
    ]
    proc = subprocess.run([
        sys.executable, 'tools/deployment/bundle_tasks.py',
        str(tmp_path / 'x.pth'), 'fashion=only_a_config.py'
    ],
                          cwd=REPO,
                          env=env,
                          capture_output=True,
                          text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "error: task 'fashion=only_a_config.py': expected "
        'NAME=CONFIG:CHECKPOINT')


def test_serving_costs_memory_is_one_backbone_plus_tasks():
    """The benchmark's memory figures, by hand: one tiny backbone's tensors
    plus each task's prompts (50 per layer) and head; its timings have one
    value per round and intervals around their geometric mean."""
    from mmprompt.serving.benchmark import costs_table, mixed_batch_costs
    rows = mixed_batch_costs((1, 3),
                             batch_size=4,
                             num_prompts=5,
                             arch=TINY_VIT_ARGS['arch'],
                             img_size=32,
                             patch_size=8,
                             num_classes=7,
                             rounds=2,
                             warmup=0,
                             log=lambda line: None)
    fresh = MODELS.build(dict(PROMPT_VIT, num_prompts=0))
    backbone = 4 * sum(p.numel() for p in fresh.parameters())
    task = 4 * (4 * 5 * 32 + 7 * 32 + 7)  # 4 layers x 5 prompts, the head
    for row, T in zip(rows, (1, 3)):
        assert row['bundle_bytes'] == backbone + T * task
        assert row['bound_bytes'] == int((backbone + T * task) * 1.1)
        assert row['separate_bytes'] == T * (backbone + task)
        assert len(row['mixed_s']) == 2 == len(row['separate_s'])
        mean, low, high = row['throughput']
        assert low <= mean <= high
    assert costs_table(rows).count('\n') == 3
