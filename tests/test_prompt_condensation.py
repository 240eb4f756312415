import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.runner import load_checkpoint, save_checkpoint
from mmpretrain.registry import MODELS

import mmprompt  # noqa: F401
from mmprompt.methods.pc import PromptCondensationHook
from mmprompt.methods.pc import check as pc_check
from mmprompt.methods.pc import (condense_prompts, replace_optimizer_params,
                                 score_prompts, select_prompts)
from mmprompt.registry import HOOKS
from helpers import (REPO, TEST, TINY_VIT, TRAIN, assert_same,
                     bad_input_params, batches, call, check_bad_input,
                     classifier, fake_runner, free_port, load, run, text,
                     tiny_classifier, tiny_vit)

TINY = TINY_VIT


def test_taylor_scores_equal_direct_gradients():
    model = classifier([3, 5, 0, 4])
    data = batches(3)
    scores = score_prompts(model, data, 'taylor')
    assert [tuple(s.shape) for s in scores] == [(3, ), (5, ), (0, ), (4, )]
    # Independent: gradients of the token parameters, batch by batch.
    model.eval()
    expected = [torch.zeros(n, dtype=torch.float64) for n in [3, 5, 0, 4]]
    for batch in data:
        model.zero_grad()
        loss, _ = model.parse_losses(
            model(**model.data_preprocessor(batch, True), mode='loss'))
        loss.backward()
        for i, generator in enumerate(model.backbone.prompts):
            p = generator.tokens
            if p.numel():
                expected[i] += (p.detach() * p.grad).sum(-1).double()
    for got, want in zip(scores, expected):
        torch.testing.assert_close(got, (want / 3).abs().float())
    assert all(s.abs().sum() > 0 for s in scores if s.numel())
    # The backbone's own tap requests are left as they were.
    assert model.backbone._tap_requests == {}

    magnitude = score_prompts(model, method='magnitude')
    torch.testing.assert_close(magnitude[3],
                               model.backbone.prompts[3].tokens.norm(dim=-1))


def test_global_top_k_selection():
    scores = [
        torch.tensor([0.9, 0.1, 0.5]),
        torch.tensor([0.8, 0.7]),
        torch.tensor([0.05, 0.2, 0.3, 0.6, 0.0])
    ]
    # 10 tokens, keep 4: 0.9, 0.8, 0.7, 0.6
    keep = select_prompts(scores, keep_ratio=0.4)
    assert [k.tolist() for k in keep] == [[0], [0, 1], [3]]
    # at least 2 per layer: 0.9+0.5 | 0.8+0.7 | 0.6+0.3 = 6 (rounded 0.6*10)
    keep = select_prompts(scores, keep_ratio=0.6, min_per_layer=2)
    assert [k.tolist() for k in keep] == [[0, 2], [0, 1], [2, 3]]
    # ties go to the earlier layer and token
    keep = select_prompts([torch.ones(3), torch.ones(3)], keep_ratio=0.5)
    assert [k.tolist() for k in keep] == [[0, 1, 2], []]
    assert [len(k) for k in select_prompts(scores, 1.0)] == [3, 2, 5]


def test_condensed_forward_equals_model_built_with_kept_prompts():
    model = classifier(6, out_type='cls_token')
    keep = [
        torch.tensor(k, dtype=torch.long) for k in ([0, 5], [1], [], [2, 3, 4])
    ]
    tokens = [g.tokens.detach().clone() for g in model.backbone.prompts]
    counts = condense_prompts(model, keep)
    assert counts == [2, 1, 0, 3] == model.backbone.num_prompts
    assert model.backbone.prompts[0].kept_index.tolist() == [0, 5]

    direct = classifier([2, 1, 0, 3])
    state = {
        k: v
        for k, v in model.state_dict().items() if 'kept_index' not in k
    }
    direct.load_state_dict(state)
    for i, k in enumerate(keep):
        assert torch.equal(direct.backbone.prompts[i].tokens, tokens[i][k])
    model.eval()
    direct.eval()
    x = torch.randn(2, 3, 32, 32)
    raw = model.backbone(x)
    assert torch.equal(model(x, mode='tensor'), direct(x, mode='tensor'))
    assert raw[0].shape == (2, 32)
    # really fewer tokens: the last layer sees 1 + 3 + 16 tokens
    model.backbone.request_taps(3, ['attn_input'])
    model.backbone(x)
    assert model.backbone.tap_outputs[3]['attn_input'].shape == (2, 20, 32)
    # condensing again composes the recorded original indices
    condense_prompts(model, [torch.tensor([1]), None, None, None])
    assert model.backbone.prompts[0].kept_index.tolist() == [5]


def test_optimizer_keeps_exactly_the_kept_rows():
    model = classifier(4)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=0.1)
    loss, _ = model.parse_losses(
        model(**model.data_preprocessor(batches(1)[0], True), mode='loss'))
    loss.backward()
    optimizer.step()
    old = model.backbone.prompts[1].tokens
    moments = optimizer.state[old]['exp_avg'].clone()
    keep = [None, torch.tensor([3, 1]), None, None]
    condense_prompts(model, keep, optimizer)
    new = model.backbone.prompts[1].tokens
    assert new is not old and new.shape == (2, 32)
    group_params = [p for g in optimizer.param_groups for p in g['params']]
    assert any(p is new for p in group_params)
    assert not any(p is old for p in group_params)
    assert set(map(id, group_params)) == {
        id(p)
        for p in model.parameters() if p.requires_grad
    }
    torch.testing.assert_close(optimizer.state[new]['exp_avg'], moments[[1,
                                                                         3]])
    assert optimizer.state[new]['step'] == 1
    # and it optimises the new tensor
    before = new.detach().clone()
    loss, _ = model.parse_losses(
        model(**model.data_preprocessor(batches(1)[0], True), mode='loss'))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    assert not torch.equal(before, new.detach())
    replace_optimizer_params(optimizer, {})  # nothing to do is fine


@pytest.mark.parametrize('kwargs,match', [
    (dict(keep_ratio=0), r'keep_ratio must be in \(0, 1\], got 0'),
    (dict(keep_ratio=1.5), r'keep_ratio must be in \(0, 1\], got 1.5'),
    (dict(num_batches=0), r'num_batches must be an int > 0, got 0'),
    (dict(min_per_layer=-1), r'min_per_layer must be an int >= 0'),
    (dict(score='fisher'), r"Unknown score 'fisher'"),
    (dict(at_epoch=None), r'exactly one of at_epoch and at_iter'),
    (dict(at_iter=5), r'exactly one of at_epoch and at_iter'),
])
def test_hook_bad_arguments(kwargs, match):
    args = dict(at_epoch=1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        PromptCondensationHook(**args)


def test_bad_condensation_inputs():
    with pytest.raises(ValueError, match=r'min_per_layer=3 cannot be met'):
        select_prompts([torch.ones(4), torch.ones(2)], 0.5, min_per_layer=3)
    with pytest.raises(ValueError, match=r'min_per_layer=2 cannot be met'):
        select_prompts([torch.ones(4)] * 3, 0.3, min_per_layer=2)
    with pytest.raises(ValueError, match=r'keep_ratio must be in'):
        select_prompts([torch.ones(4)], -0.1)
    with pytest.raises(
            ValueError, match=r'has no prompts .*nothing to '
            r'condense'):
        score_prompts(classifier(0), batches(1))
    with pytest.raises(ValueError, match='got no batches'):
        score_prompts(classifier(2), [])


# ----------------------------------------------------------------- runner
PC_CONFIG = '''
_base_ = './tiny_vpt.py'
train_cfg = dict(max_epochs=3)
custom_hooks = [
    dict(type='ToolsTestHook', stop_after=None),
    dict(type='mmprompt.PromptCondensationHook', keep_ratio=0.5,
         at_epoch=1, num_batches=2),
]
'''


@pytest.fixture(scope='module')
def pc_run(setup):
    cfg = setup['root'] / 'tiny_pc.py'
    cfg.write_text(PC_CONFIG)
    work = setup['root'] / 'PC_A'
    proc = run([sys.executable, TRAIN,
                str(cfg), '--work-dir',
                str(work)], setup['env'])
    return dict(cfg=str(cfg), work=work, log=proc.stdout + proc.stderr)


@pytest.mark.slow
def test_hook_condenses_during_training_and_resumes(setup, pc_run):
    work = pc_run['work']
    assert ('Prompt condensation (taylor, keep_ratio=0.5): 8 -> 4 prompt '
            'tokens') in pc_run['log']
    epoch1 = load(work / 'epoch_1.pth')['state_dict']
    final = load(work / 'epoch_3.pth')
    state = final['state_dict']
    assert epoch1['backbone.prompts.0.tokens'].shape[0] == 4
    counts = [state[f'backbone.prompts.{i}.tokens'].shape[0] for i in range(2)]
    assert sum(counts) == 4
    kept = [state[f'backbone.prompts.{i}.kept_index'] for i in range(2)]
    assert [len(k) for k in kept] == counts
    # the kept tokens trained on after condensation
    epoch2 = load(work / 'epoch_2.pth')['state_dict']
    assert not torch.equal(epoch2['backbone.prompts.0.tokens'],
                           state['backbone.prompts.0.tokens'])
    # the optimizer holds exactly the condensed parameters
    shapes = sorted(
        tuple(s['exp_avg'].shape) if 'exp_avg' in
        s else tuple(s['momentum_buffer'].shape)
        for s in final['optimizer']['state'].values())
    assert sorted(shapes) == sorted([(c, 32)
                                     for c in counts if c] + [(4, 32), (4, )])

    # interrupted after epoch 2 (condensed), resumed: identical result
    work_b = setup['root'] / 'PC_B'
    run([
        sys.executable, TRAIN, pc_run['cfg'], '--work-dir',
        str(work_b), '--cfg-options', 'custom_hooks.0.stop_after=2'
    ], setup['env'])
    proc = run([
        sys.executable, TRAIN, pc_run['cfg'], '--work-dir',
        str(work_b), '--resume'
    ], setup['env'])
    log = proc.stdout + proc.stderr
    assert "Condensed the model to the checkpoint's kept prompts" in log
    assert 'Prompt condensation (' not in log  # not scored again
    resumed = load(work_b / 'epoch_3.pth')
    assert_same(final['state_dict'], resumed['state_dict'], 'state_dict')
    assert_same(final['optimizer'], resumed['optimizer'], 'optimizer')


@pytest.mark.slow
def test_condensed_checkpoint_in_test_py(setup, pc_run, tmp_path):
    ckpt = str(pc_run['work'] / 'epoch_3.pth')
    out = str(tmp_path / 'metrics.json')
    run([
        sys.executable, TEST, pc_run['cfg'], ckpt, '--work-dir',
        str(tmp_path), '--out', out, '--out-item', 'metrics'
    ], setup['env'])
    with open(out) as f:
        top1 = json.load(f)['accuracy/top1']
    scalars = [
        json.loads(line) for d in os.listdir(pc_run['work'])
        if osp.isdir(pc_run['work'] / d / 'vis_data')
        for line in open(pc_run['work'] / d / 'vis_data' / 'scalars.json')
    ]
    last_val = [s['accuracy/top1'] for s in scalars if 'accuracy/top1' in s]
    assert top1 == pytest.approx(last_val[-1])
    # a config without the hook cannot take it, and says why
    proc = subprocess.run([
        sys.executable, TEST, setup['cfg'], ckpt, '--work-dir',
        str(tmp_path)
    ],
                          cwd=REPO,
                          env=setup['env'],
                          capture_output=True,
                          text=True)
    assert proc.returncode != 0
    assert 'It is a condensed checkpoint' in proc.stderr
    assert 'checkpoint (' in proc.stderr and 'vs model (4, 32)' in \
        proc.stderr


SCORE_SCRIPT = '''
import sys
import torch
import torch.distributed as dist
sys.path.insert(0, {tests!r})
from helpers import batches, classifier
from mmprompt.methods.pc import score_prompts
from mmprompt.utils.compat import shutdown_distributed

if len(sys.argv) > 2:  # torchrun: each rank scores its share
    dist.init_process_group('gloo')
    rank, world = dist.get_rank(), dist.get_world_size()
else:
    rank, world = 0, 1
data = batches(1, size=8)[0]
mine = [dict(inputs=data['inputs'][i:i + 4][rank::world],
             data_samples=data['data_samples'][i:i + 4][rank::world])
        for i in (0, 4)]
scores = score_prompts(classifier([3, 2, 4, 1]), mine, 'taylor')
if rank == 0:
    torch.save(scores, sys.argv[1])
# Without an orderly teardown gloo can abort the rank that exits last
# ('terminate called without an active exception', seen in CI).
shutdown_distributed()
'''


@pytest.mark.slow
def test_two_process_scores_equal_one_process(tmp_path):
    script = tmp_path / 'score.py'
    script.write_text(SCORE_SCRIPT.format(tests=osp.join(REPO, 'tests')))
    env = dict(os.environ, PYTHONPATH=REPO)
    single, double = str(tmp_path / 'one.pth'), str(tmp_path / 'two.pth')
    run([sys.executable, str(script), single], env)
    run([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
        '--master_port',
        str(free_port()),
        str(script), double, 'dist'
    ], env)
    one, two = torch.load(single), torch.load(double)
    assert [s.shape for s in one] == [s.shape for s in two]
    for a, b in zip(one, two):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert select_prompts(one, 0.3)[0].tolist() == \
        select_prompts(two, 0.3)[0].tolist()


@pytest.mark.slow
def test_condense_tool_offline(setup, pc_run, tmp_path):
    source = str(pc_run['work'] / 'epoch_1.pth')  # before the hook ran
    out = tmp_path / 'condensed'
    proc = run([
        sys.executable,
        osp.join(REPO, 'tools', 'condense.py'), setup['cfg'], source,
        '--out-dir',
        str(out), '--keep-ratio', '0.25', '--num-batches', '2'
    ], setup['env'])
    assert 'Prompt tokens per layer: [4, 4] -> ' in proc.stdout
    report = json.loads((out / 'condense_report.json').read_text())
    assert sum(report['num_prompts_after']) == 2
    assert report['backbone_gflops_after'] < report['backbone_gflops_before']
    original = load(source)['state_dict']
    condensed = load(out / 'condensed.pth')['state_dict']
    for i, kept in enumerate(report['kept_index']):
        assert condensed[f'backbone.prompts.{i}.kept_index'].tolist() == kept
        assert torch.equal(condensed[f'backbone.prompts.{i}.tokens'],
                           original[f'backbone.prompts.{i}.tokens'][kept])
    # the written config takes the condensed checkpoint in tools/test.py
    config = out / 'tiny_vpt_condensed.py'
    metrics = str(tmp_path / 'm.json')
    run([
        sys.executable, TEST,
        str(config),
        str(out / 'condensed.pth'), '--work-dir',
        str(tmp_path / 'test'), '--out', metrics, '--out-item', 'metrics'
    ], setup['env'])
    assert 'accuracy/top1' in json.loads(open(metrics).read())
    # bad input: no batches to score on
    bad = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'condense.py'), setup['cfg'], source,
        '--num-batches', '0'
    ],
                         cwd=REPO,
                         env=setup['env'],
                         capture_output=True,
                         text=True)
    assert bad.returncode != 0
    assert '--num-batches must be > 0, got 0' in bad.stderr


@pytest.mark.slow
def test_check_condensation_tool(setup, pc_run, monkeypatch):
    """The removal test keeps equal-sized token sets (the best-scored, the
    worst-scored, seeded random draws) and its top-1 of the best-scored set
    equals a hand-built condensed model's accuracy."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    monkeypatch.syspath_prepend(setup['hooks_dir'])
    tool = pc_check
    cfg = Config.fromfile(setup['cfg'])
    top = Config.fromfile(setup['cfg'])  # normalisation set at the top level
    top.data_preprocessor = top.model.pop('data_preprocessor')
    source = str(pc_run['work'] / 'epoch_1.pth')  # before the hook ran
    report = tool.check(
        top, source, (0.5, ), draws=3, score='magnitude', split='test')
    assert report['num_prompts'] == [4, 4]
    results = report['keep_ratios']['0.5']
    assert sorted(results) == [
        'lowest', 'random0', 'random1', 'random2', 'score'
    ]
    for r in results.values():
        assert sum(r['num_prompts']) == 4
    kept = {
        name: {(i, j)
               for i, k in enumerate(r['kept_index'])
               for j in k}
        for name, r in results.items()
    }
    assert not kept['score'] & kept['lowest']  # 4 best, 4 worst of 8
    assert len({frozenset(kept[f'random{i}']) for i in range(3)}) > 1
    again = tool.check(
        top, source, (0.5, ), draws=3, score='magnitude', split='test')
    assert [r['kept_index'] for r in again['keep_ratios']['0.5'].values()
            ] == [r['kept_index'] for r in results.values()]  # seeded

    # reference: the 4 largest-norm tokens of the two layers, by hand
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model)
    load_checkpoint(model, source, map_location='cpu')
    norms = [(float(t.norm()), i, j)
             for i, g in enumerate(model.backbone.prompts)
             for j, t in enumerate(g().detach())]
    best = sorted(norms, key=lambda x: -x[0])[:4]
    assert kept['score'] == {(i, j) for _, i, j in best}
    condense_prompts(model, [
        torch.tensor(sorted(j for _, i, j in best if i == layer))
        for layer in range(2)
    ])
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for batch in Runner.build_dataloader(cfg.test_dataloader):
            for sample in model.val_step(batch):
                correct += int(sample.pred_label == sample.gt_label)
                total += 1
    assert results['score']['metrics']['accuracy/top1'] == \
        pytest.approx(100 * correct / total)
    assert report['num_images'] == total
    row = tool.summary(report)['0.5']
    rand = [
        results[f'random{i}']['metrics']['accuracy/top1'] for i in range(3)
    ]
    assert row['random_mean'] == pytest.approx(sum(rand) / 3)
    assert row['score_beats_every_random'] == (row['score'] > max(rand))


@pytest.mark.slow
def test_hook_under_two_process_ddp(setup, pc_run):
    """Both ranks keep the same tokens (scores are all-reduced) and, with
    DDP rebuilt around the new parameters, train them identically."""
    env = dict(setup['env'], PORT=str(free_port()), OMP_NUM_THREADS='1')
    work = setup['root'] / 'PC_DDP'
    run([
        'bash',
        osp.join(REPO, 'tools', 'dist_train.sh'), pc_run['cfg'], '2',
        '--work-dir',
        str(work)
    ], env)
    ranks = [load(work / f'prompts_after_train_rank{r}.pth') for r in (0, 1)]
    assert all(info['world_size'] == 2 for info in ranks)
    prompts = ranks[0]['prompts']
    assert sum(v.shape[0] for k, v in prompts.items()
               if k.endswith('.tokens')) == 4
    assert_same(prompts, ranks[1]['prompts'], 'rank0 vs rank1')
    # the condensed prompts trained after condensation (epochs 2 and 3)
    epoch2 = load(work / 'epoch_2.pth')['state_dict']
    assert not torch.equal(epoch2['backbone.prompts.0.tokens'],
                           prompts['backbone.prompts.0.tokens'])


@pytest.mark.parametrize('variant', ['bilinear', 'twhiten'])
def test_bpt_generators_condense_rows_of_a(variant):
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='mmprompt.BilinearPromptViT',
            variant=variant,
            width=4,
            arch=TINY,
            img_size=32,
            patch_size=8,
            num_prompts=5))
    for g in model.prompts:
        if variant == 'twhiten':
            g.set_whitening(torch.eye(32) + 0.1 * torch.randn(32, 32))
    before = [g().detach().clone() for g in model.prompts]
    keep = [torch.tensor([0, 3]), None, torch.tensor([4]), None]
    condense_prompts(model, keep)
    assert model.num_prompts == [2, 5, 1, 5]
    for g, old, k in zip(model.prompts, before, keep):
        expected = old if k is None else old[k]
        torch.testing.assert_close(g(), expected)
    assert model.prompts[0].a.shape == (2, 4 if variant == 'bilinear' else 32)


def test_keep_layers_are_kept_whole_within_the_budget():
    scores = [
        torch.tensor([5., 4., 3.]),
        torch.tensor([0.1, 0.2]),
        torch.tensor([9., 8., 0.])
    ]
    # 8 tokens, keep 0.5 -> 4: layer 1 whole (2), then the best 2 others
    keep = select_prompts(scores, 0.5, keep_layers=[1])
    assert [k.tolist() for k in keep] == [[], [0, 1], [0, 1]]
    keep = select_prompts(scores, 0.5, keep_layers=[-2])
    assert [k.tolist() for k in keep] == [[], [0, 1], [0, 1]]
    with pytest.raises(
            ValueError,
            match=r'keep_layers=\[0, 2\] hold 6 '
            'tokens but keep_ratio=0.5 keeps 4 of 8'):
        select_prompts(scores, 0.5, keep_layers=[0, 2])
    with pytest.raises(
            ValueError,
            match=r'keep_layers entries must be layer '
            r'indices in \[-3, 2\], got \[3\]'):
        select_prompts(scores, 0.5, keep_layers=[3])


# ------------------------------------------------------------ bad input
def pc_condensed_checkpoint_into_plain_config(tmp_path, monkeypatch):
    condensed = tiny_vit(num_prompts=4)
    condensed.keep_prompts([torch.tensor([0, 2]), None, None, None])
    path = str(tmp_path / 'condensed.pth')
    save_checkpoint({'state_dict': condensed.state_dict()}, path)
    load_checkpoint(tiny_vit(num_prompts=4), path)


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
        fake_runner(tiny_classifier(num_prompts=2)), checkpoint)


def pc_model_without_prompts(tmp_path, monkeypatch):
    hook = HOOKS.build(
        dict(type='mmprompt.PromptCondensationHook', at_epoch=1))
    hook.before_run(fake_runner(tiny_classifier(num_prompts=0)))


def pc_hook(**kwargs):
    return lambda tmp_path, monkeypatch: HOOKS.build(
        dict(
            type='mmprompt.PromptCondensationHook',
            **{
                **dict(at_epoch=1),
                **kwargs
            }))


# (id, expected exception or warning, pattern of its message, action)
BAD_INPUT = [
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
]


@bad_input_params(BAD_INPUT)
def test_bad_input(expected, pattern, action, tmp_path, monkeypatch):
    check_bad_input(expected, pattern, action, tmp_path, monkeypatch)
