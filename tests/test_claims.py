"""tools/claims.py: the tuning protocol, the claims' statistics and a quick
study end to end."""
import json
import os
import os.path as osp

import numpy as np
import pytest

from mmprompt.evaluation import claim_statistics as cs
from mmprompt.evaluation import claims
from mmprompt.evaluation.study_setting import TASKS, run_config


def fake(val, correct=''):
    return dict(
        val_curve=[val],
        test_top1=0.,
        test_correct=correct,
        trainable_params=[1, 1],
        train_seconds=60.)


def test_claims_are_fixed_and_at_most_eight_primary():
    assert len(claims.PRIMARY) <= 8
    names = [c['name'] for c in claims.PRIMARY]
    assert names[0] == 'sanity' and len(set(names)) == len(names)
    assert {c['name']
            for c in claims.PRIMARY} >= {
                'sanity', 'deep-vs-shallow', 'bpt', 'spt', 'davpt',
                'pc-equivalent', 'pc-vs-few'
            }
    # the default tasks span two VTAB groups, one with >= 20 classes
    groups = {TASKS[t][0] for t in claims.DEFAULT_TASKS}
    assert groups == {'structured', 'natural'}
    assert max(TASKS[t][1] for t in claims.DEFAULT_TASKS) >= 20


def test_lr_choice_means_over_seeds_and_ties_to_the_smaller():
    grid = {
        1e-2: [fake(50.), fake(70.)],
        3e-2: [fake(60.), fake(60.)],
        3e-3: [fake(40.), fake(41.)]
    }
    assert claims.choose(grid) == 1e-2  # 60 = 60: the smaller lr
    grid[1e-2][1] = None
    assert claims.choose(grid) is None  # a run is missing


def test_a_choice_at_the_edge_widens_the_grid(monkeypatch, tmp_path):
    args = claims.parse_args(
        ['--work-dir',
         str(tmp_path), '--lrs', '1e-2', '3e-2', '--seeds', '3'])

    # validation rises with the lr up to 0.3: the grid widens twice
    def val(lr):
        return 100 - 100 * abs(np.log10(lr) - np.log10(0.3))

    runs = []

    def ensure_run(args, method, task, lr, seed):
        runs.append((lr, seed))
        return fake(val(lr))

    monkeypatch.setattr(claims, 'ensure_run', ensure_run)
    result = claims.tune_and_run(args, 'vpt-deep', 'count')
    assert list(result['grid']) == ['0.01', '0.03', '0.0949', '0.3']
    assert result['chosen_lr'] == 0.3 and result['lr_at_edge']
    # 2 tuning seeds per lr, then the finals at the chosen lr
    assert runs[-3:] == [(0.3, 0), (0.3, 1), (0.3, 2)]
    assert len(runs) == 4 * 2 + 3
    # the budget counts each run once: seeds 0 and 1 of the chosen lr are
    # tuning and final runs
    assert result['train_seconds'] == 60. * (4 * 2 + 1)


def test_method_rows_flag_a_curve_still_rising(tmp_path):
    args = claims.parse_args(['--work-dir', str(tmp_path)])

    def run(curve):
        return dict(fake(0.), val_curve=curve)

    results = {
        ('linear', 'count'):
        dict(
            finals=[run([10., 20., 30., 31.]),
                    run([10., 20., 32., 33.])],
            grid={},
            chosen_lr=1e-2,
            lr_at_edge=False),
        ('vpt-deep', 'count'):
        dict(
            finals=[run([50., 60., 60.5, 60.5]),
                    run([50., 60., 61., 61.])],
            grid={},
            chosen_lr=1e-2,
            lr_at_edge=False),
    }
    rows = {r['method']: r for r in claims.method_rows(args, results)}
    # mean curves [10, 20, 31, 32] and [50, 60, 60.75, 60.75]
    assert rows['linear']['late_gain'] == pytest.approx(12.)
    assert rows['linear']['plateaued'] is False
    assert rows['vpt-deep']['late_gain'] == pytest.approx(.75)
    assert rows['vpt-deep']['plateaued'] is True
    assert claims.late_gain([40., 41.]) is None


def test_a_longer_schedule_reruns_the_chosen_lr_for_more_epochs(
        monkeypatch, tmp_path):
    args = claims.parse_args(['--work-dir', str(tmp_path)])
    assert claims.split_arm('vpt-deep@2x') == ('vpt-deep', 2)
    assert claims.split_arm('linear') == ('linear', 1)
    with pytest.raises(ValueError, match="'vpt-deep@twice'"):
        claims.split_arm('vpt-deep@twice')
    # the study's schedule doubled: 20 epochs, the cosine over 19 of them
    cfg = claims.config_of(args, 'vpt-deep@2x', 'count', 3e-3, 1)
    assert cfg.train_cfg.max_epochs == 2 * claims.EPOCHS == 20
    assert cfg.param_scheduler[1]['T_max'] == 19
    assert cfg.optim_wrapper.optimizer.lr == 3e-3
    assert claims.run_dir(args, 'vpt-deep@2x', 'count', 3e-3,
                          1).endswith('count/vpt-deep@2x/lr0.003/seed1')
    runs = []

    def ensure_run(args, method, task, lr, seed):
        runs.append((method, task, lr, seed))
        return fake(50.)

    monkeypatch.setattr(claims, 'ensure_run', ensure_run)
    results = {('vpt-deep', 'count'): dict(chosen_lr=3e-3, lr_at_edge=False)}
    result = claims.longer_schedule(args, 'vpt-deep@2x', 'count', results)
    # seeds 0 and 1 at the lr chosen for the study's schedule
    assert runs == [('vpt-deep@2x', 'count', 3e-3, 0),
                    ('vpt-deep@2x', 'count', 3e-3, 1)]
    assert result['chosen_lr'] == 3e-3 and result['train_seconds'] == 120.


def test_a_run_on_disk_with_a_short_curve_is_refused(tmp_path):
    """A result whose validation curve misses an epoch of its schedule (as
    a run resumed past an unvalidated epoch once wrote) stops the study
    with the run named, rather than averaging curves of unequal length."""
    args = claims.parse_args(
        ['--work-dir',
         str(tmp_path), '--report-only', '--epochs', '6'])
    work = claims.run_dir(args, 'vpt-deep@2x', 'count', 1e-2, 0)
    os.makedirs(work)
    claims.write_json(
        osp.join(work, 'result.json'), dict(fake(50.), val_curve=[1.] * 11))
    with pytest.raises(ValueError) as info:
        claims.ensure_run(args, 'vpt-deep@2x', 'count', 1e-2, 0)
    assert str(info.value) == (
        f'{work}: 11 validation results where its schedule validates 12 '
        'times; delete the run directory to train it again')
    claims.write_json(
        osp.join(work, 'result.json'), dict(fake(50.), val_curve=[1.] * 12))
    assert claims.ensure_run(args, 'vpt-deep@2x', 'count', 1e-2,
                             0)['val_curve'] == [1.] * 12


def test_a_finished_run_is_kept_beside_the_report(monkeypatch, tmp_path):
    """Each finished run's result is also written under ``<out-dir>/runs``;
    without its work dir (another machine) the study reads the record and
    trains nothing again."""
    argv = [
        '--work-dir',
        str(tmp_path / 'work'), '--out-dir',
        str(tmp_path / 'out'), '--epochs', '6'
    ]
    args = claims.parse_args(argv)
    trained = []

    def worker(command, **kwargs):  # the per-run process
        work_dir = command[-1]
        trained.append(work_dir)
        claims.write_json(
            osp.join(work_dir, 'result.json'),
            dict(fake(50., '0110'), val_curve=[40., 45., 47., 48., 49., 50.]))

    monkeypatch.setattr(claims.subprocess, 'run', worker)
    result = claims.ensure_run(args, 'vpt-deep', 'count', 1e-2, 3)
    work = claims.run_dir(args, 'vpt-deep', 'count', 1e-2, 3)
    assert trained == [work]
    record = tmp_path / 'out' / 'runs' / 'count' / 'vpt-deep' / 'lr0.01' / (
        'seed3.json')
    assert json.loads(record.read_text()) == result
    os.remove(osp.join(work, 'result.json'))  # a fresh machine: no work dir
    for again in (argv, argv + ['--report-only']):
        assert claims.ensure_run(
            claims.parse_args(again), 'vpt-deep', 'count', 1e-2, 3) == result
    assert len(trained) == 1
    # without a record, --report-only reports the run missing
    assert claims.ensure_run(
        claims.parse_args(argv + ['--report-only']), 'vpt-deep', 'count', 1e-2,
        4) is None


def test_evaluate_pools_tasks_applies_holm_and_says_not_run(tmp_path):
    args = claims.parse_args(
        ['--work-dir',
         str(tmp_path), '--tasks', 'count', 'stamps'])
    chosen = claims.selected_claims(args)
    sanity = next(c for c in chosen if c['name'] == 'sanity')
    assert sanity['task_list'] == ['count']  # structured only
    rng = np.random.default_rng(0)

    def method(p):
        return dict(finals=[
            fake(0., ''.join(str(int(x)) for x in rng.random(400) < p))
            for _ in range(8)
        ])

    results = {('vpt-deep', t): method(.8) for t in ('count', 'stamps')}
    results.update({
        ('linear', 'count'): method(.5),
        ('vpt-shallow', 'count'): method(.8),
        ('vpt-shallow', 'stamps'): method(.8)
    })
    rows = {r['name']: r for r in claims.evaluate(chosen, results, args)}
    assert rows['sanity']['verdict'] == 'holds'
    assert rows['sanity']['mean'] == pytest.approx(30., abs=3.)
    assert rows['deep-vs-shallow']['tasks'] == ['count', 'stamps']
    assert rows['bpt']['verdict'] == 'not run'
    done = [r for r in rows.values() if r['primary'] and 'p' in r]
    assert len(done) == 2
    # Holm over the 7 primary claims fixed in the code, the 5 not run as
    # p = 1: an upper bound of the final adjusted p-values
    raw = [r['p'] for r in done]
    assert [r['p_holm']
            for r in done] == pytest.approx(cs.holm(raw + [1.] * 5)[:2])
    # by hand: the sanity check's p is the smallest of 7, so times 7
    assert rows['sanity']['p'] < rows['deep-vs-shallow']['p']
    assert rows['sanity']['p_holm'] == pytest.approx(
        min(1., 7 * rows['sanity']['p']))
    # a difference of 0 in truth: the minimum detectable difference is
    # what a "not shown" carries
    assert rows['deep-vs-shallow']['verdict'] in ('not shown', 'holds')
    assert rows['deep-vs-shallow']['mdd'] > 0


def test_run_config_swaps_in_the_task_and_nothing_else():
    cfg = run_config('davpt', 'stamps', 3e-2, 5, 8, img_size=56)
    assert cfg.model.type == 'mmprompt.DAVPTClassifier'
    assert cfg.model.head.num_classes == 24
    assert cfg.model.backbone.img_size == 56
    assert cfg.optim_wrapper.optimizer.lr == 3e-2
    train = cfg.train_dataloader.dataset
    assert (train.type, train.split, train.seed) == ('mmprompt.VTAB1kDraw',
                                                     'train800', 5)
    assert cfg.val_dataloader.dataset.split == 'val200'
    assert cfg.test_dataloader.dataset.split == 'test'
    # no flip: it would change the answers of the structured tasks
    assert [t['type']
            for t in train.dataset.pipeline] == ['Resize', 'PackInputs']
    assert cfg.train_cfg == dict(by_epoch=True, max_epochs=8, val_interval=1)
    pc = run_config('pc', 'count', 1e-2, 0, 8)
    assert pc.custom_hooks[0].at_epoch == 4
    with pytest.raises(ValueError, match="method must be one of .* 'vpt'"):
        run_config('vpt', 'count', 1e-2, 0, 8)


@pytest.mark.slow
def test_quick_study_end_to_end(tmp_path, capsys):
    report = claims.main([
        '--quick', '--claims', 'sanity', 'pc-equivalent', 'linear-vs-logreg',
        'schedule-vpt-deep', '--lrs', '1e-2', '--tasks', 'count',
        'fashion-mnist', '--work-dir',
        str(tmp_path / 'work')
    ])
    written = json.loads((tmp_path / 'work' / 'claims.json').read_text())
    assert written['claims'] == json.loads(json.dumps(report['claims']))
    assert written['tasks'] == {
        'count': dict(group='structured', num_classes=8),
        'fashion-mnist': dict(group='natural', num_classes=10)
    }
    rows = {r['name']: r for r in written['claims']}
    for name in ('sanity', 'pc-equivalent', 'linear-vs-logreg',
                 'schedule-vpt-deep'):
        for key in ('primary', 'seeds', 'mean', 'low', 'high', 'p_holm', 'mdd',
                    'verdict'):
            assert key in rows[name], (name, key)
    assert rows['sanity']['tasks'] == ['count']
    assert not rows['linear-vs-logreg']['primary']
    methods = {(m['method'], m['task']): m for m in written['methods']}
    pc = methods[('pc', 'count')]
    # PC condensed after epoch 1 of 2: fewer parameters at the end
    assert pc['trainable_params'][1] < pc['trainable_params'][0]
    assert len(pc['val_curve_mean']) == 2
    # every reported test accuracy is the mean of the kept predictions
    run = tmp_path / 'work' / 'count' / 'vpt-deep' / 'lr0.01' / 'seed1'
    result = json.loads((run / 'result.json').read_text())
    assert len(result['test_correct']) == 40
    assert result['test_top1'] == pytest.approx(
        100 * result['test_correct'].count('1') / 40)
    assert not list(run.glob('*.pth'))  # checkpoints go once tested
    # and the result is kept beside the report (here the work dir)
    record = tmp_path / 'work' / 'runs' / 'count' / 'vpt-deep' / 'lr0.01'
    assert json.loads((record / 'seed1.json').read_text()) == result
    assert (tmp_path / 'work' / 'validation_per_epoch.png').is_file()
    # the schedule check: VPT-Deep's seeds 0 and 1 again for 4 epochs, paired
    # with the 2-epoch runs of the same seeds
    longer = methods[('vpt-deep@2x', 'count')]
    assert longer['seeds'] == 2 and len(longer['val_curve_mean']) == 4
    assert longer['chosen_lr'] == methods[('vpt-deep', 'count')]['chosen_lr']
    assert rows['schedule-vpt-deep']['seeds'] == 2
    assert rows['schedule-vpt-deep']['tasks'] == ['count', 'fashion-mnist']
    # the linear probe replayed on cached features, beside its runs and
    # logistic regression, over the same seeds; kept like a run
    check = written['linear_probe_check']['count']
    assert check['epochs'] == [2, 20] and check['seeds'] == 2
    assert check['runs']['mean'] == pytest.approx(methods[('linear',
                                                           'count')]['mean'])
    assert check['logreg']['mean'] == pytest.approx(methods[('logreg',
                                                             'count')]['mean'])
    kept = json.loads((tmp_path / 'work' / 'runs' / 'count' /
                       'linear-replay.json').read_text())
    assert check['replay']['mean'] == pytest.approx(np.mean(kept['replay']))
    assert kept['lr'] == methods[('linear', 'count')]['chosen_lr']
    # the report alone, from the runs on disk: the same claims
    again = claims.main([
        '--quick', '--report-only', '--claims', 'sanity', 'pc-equivalent',
        'linear-vs-logreg', 'schedule-vpt-deep', '--lrs', '1e-2', '--tasks',
        'count', 'fashion-mnist', '--work-dir',
        str(tmp_path / 'work')
    ])
    assert [r['mean']
            for r in again['claims']] == [r['mean'] for r in report['claims']]
    assert again['linear_probe_check'] == report['linear_probe_check']


VTAB_BASE = '''
custom_imports = dict(imports=['mmprompt'], allow_failed_imports=False)
default_scope = 'mmpretrain'
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(num_classes=4, mean=[127.5] * 3, std=[127.5] * 3,
                           to_rgb=True),
    backbone=dict(type='mmprompt.PromptViT',
                  arch=dict(embed_dims=32, num_layers=2, num_heads=4,
                            feedforward_channels=64),
                  img_size=32, patch_size=8, num_prompts=4,
                  prompt_mode='deep', prompt_dropout=0.1,
                  out_type='cls_token'),
    neck=None,
    head=dict(type='LinearClsHead', num_classes=4, in_channels=32,
              loss=dict(type='CrossEntropyLoss')))
pipeline = [dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(32, 32)), dict(type='PackInputs')]
dataset = dict(type='mmprompt.VTAB1kDataset', data_root='nowhere',
               task='{task}', split='train800val200', pipeline=pipeline)
train_dataloader = dict(batch_size=8, num_workers=0, dataset=dataset,
                        sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(batch_size=8, num_workers=0,
                      dataset=dict(dataset, split='val200'),
                      sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = dict(val_dataloader, dataset=dict(dataset, split='test'))
val_evaluator = test_evaluator = dict(type='Accuracy', topk=(1, ))
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3,
                                    weight_decay=1e-4))
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=10)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(timer=dict(type='IterTimerHook'),
                     logger=dict(type='LoggerHook', interval=10),
                     param_scheduler=dict(type='ParamSchedulerHook'),
                     checkpoint=dict(type='CheckpointHook', interval=1))
custom_hooks = []
env_cfg = dict(dist_cfg=dict(backend='gloo'))
visualizer = dict(type='UniversalVisualizer',
                  vis_backends=[dict(type='LocalVisBackend')])
log_level = 'INFO'
load_from = None
resume = False
'''


@pytest.mark.slow
def test_vtab1k_suite_on_tiny_folders(tmp_path):
    """The same study on VTAB-1k folders: every method is the VPT-Deep
    base of the task with the method's difference applied (a tiny ViT
    stands in for ViT-B/16 here)."""
    from PIL import Image
    root = tmp_path / 'vtab-1k' / 'kitti'
    rng = np.random.default_rng(0)
    colours = [(220, 40, 40), (40, 220, 40), (40, 40, 220), (220, 220, 40)]
    lines = []
    for i in range(40):
        label = i % 4
        img = np.array(colours[label]) + rng.uniform(-30, 30, (16, 16, 3))
        (root / 'images').mkdir(parents=True, exist_ok=True)
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(
            root / 'images' / f'{i}.png')
        lines.append(f'images/{i}.png {label}')
    for split, part in (('train800', lines[:16]), ('val200', lines[16:24]),
                        ('train800val200', lines[:24]), ('test', lines[24:])):
        (root / f'{split}.txt').write_text('\n'.join(part) + '\n')
    (tmp_path / 'base_kitti.py').write_text(
        VTAB_BASE.replace('{task}', 'kitti'))
    report = claims.main([
        '--suite', 'vtab1k', '--base',
        str(tmp_path / 'base_{task}.py'), '--data-root',
        str(tmp_path / 'vtab-1k'), '--tasks', 'kitti', '--claims', 'sanity',
        'linear-vs-logreg', 'schedule-linear', '--lrs', '1e-2', '--seeds', '2',
        '--epochs', '2', '--device', 'cpu', '--work-dir',
        str(tmp_path / 'work'), '--out-dir',
        str(tmp_path / 'report')
    ])
    assert report['tasks'] == {
        'kitti': dict(group='structured', num_classes=4)
    }
    rows = {r['name']: r for r in report['claims']}
    assert rows['sanity']['tasks'] == ['kitti']
    assert rows['sanity']['seeds'] == 2
    methods = {m['method']: m for m in report['methods']}
    # the linear probe is the base without prompts; VPT-Deep keeps its 4
    head = 32 * 4 + 4
    assert methods['linear']['trainable_params'] == [head, head]
    assert methods['vpt-deep']['trainable_params'][0] == 2 * 4 * 32 + head
    run = tmp_path / 'work' / 'kitti' / 'vpt-deep' / 'lr0.01' / 'seed0'
    cfg = (run / 'config.py').read_text()
    assert "split='train800'" in cfg and "split='val200'" in cfg
    result = json.loads((run / 'result.json').read_text())
    assert len(result['test_correct']) == 16 and len(result['val_curve']) == 2
    assert methods['logreg']['seeds'] == 2
    # the schedule check doubles the suite's epochs
    assert len(methods['linear@2x']['val_curve_mean']) == 4
    assert rows['schedule-linear']['seeds'] == 2


def test_seeds_sized_from_the_pilot_extend_the_finals(monkeypatch, tmp_path):
    args = claims.parse_args([
        '--work-dir',
        str(tmp_path), '--tasks', 'count', '--claims', 'sanity', '--max-seeds',
        '12', '--target-mdd', '3'
    ])
    rng = np.random.default_rng(1)

    def run(p):  # 200 test images, accuracy p
        return fake(0., ''.join(str(int(x)) for x in rng.random(200) < p))

    # per-seed differences of about +-10 points: a 3-point MDD needs more
    # than 8 seeds, so the finals grow to the cap of 12
    results = {
        ('linear', 'count'):
        dict(finals=[run(.3) for _ in range(8)], chosen_lr=1e-2),
        ('vpt-deep', 'count'):
        dict(
            finals=[run(.6 + .2 * (-1)**s) for s in range(8)], chosen_lr=3e-3),
    }
    chosen = claims.selected_claims(args)
    row = claims.evaluate(chosen, results, args)[0]
    sd = row['seed_sd']
    assert row['seeds_needed'] == cs.seeds_needed(sd, 3., minimum=8)
    assert row['seeds_needed'] > 12
    runs = []

    def ensure_run(args, method, task, lr, seed):
        runs.append((method, lr, seed))
        return run(.5)

    monkeypatch.setattr(claims, 'ensure_run', ensure_run)
    assert claims.add_seeds(args, chosen, results)
    assert sorted(runs) == sorted([('linear', 1e-2, s) for s in range(8, 12)] +
                                  [('vpt-deep', 3e-3, s)
                                   for s in range(8, 12)])
    assert claims.evaluate(chosen, results, args)[0]['seeds'] == 12
    # by default the need is reported, nothing is run
    args = claims.parse_args(['--work-dir', str(tmp_path)])
    assert args.max_seeds == args.seeds == 8


def test_the_report_says_what_the_schedule_check_found():

    def report(*verdicts):
        checks = [
            dict(
                name=f'schedule-{m}',
                a=f'{m}@2x',
                verdict=v,
                margin=1.,
                mean=2.5,
                low=1.25,
                high=3.75) for m, v in zip(('linear', 'vpt-deep'), verdicts)
        ]
        return dict(setting=dict(epochs=6), claims=checks)

    assert claims._schedule_note(report(
        'holds', 'not run')).startswith('Convergence not checked yet')
    assert '6 epochs have converged' in claims._schedule_note(
        report('holds', 'holds'))
    # a check not shown within its margin is not a failed one
    assert claims._schedule_note(report('holds', 'not shown')) == (
        'Convergence not shown: twice the epochs moved vpt-deep@2x +2.50 '
        '[+1.25, +3.75] points, not shown to be within 1 point after '
        "Holm's correction (the schedule rows); linear@2x +2.50 [+1.25, "
        '+3.75] points, within it; the claims compare methods after 6 '
        'epochs.')
    assert claims._schedule_note(report('not shown', 'not shown')) == (
        'Convergence not shown: twice the epochs moved linear@2x +2.50 '
        '[+1.25, +3.75], vpt-deep@2x +2.50 [+1.25, +3.75] points, not shown '
        "to be within 1 point after Holm's correction (the schedule rows); "
        'the claims compare methods after 6 epochs.')
    note = claims._schedule_note(report('not shown', 'contradicted'))
    assert note.startswith('Not converged: the claims compare methods at a '
                           'fixed budget of 6 epochs')
    assert 'vpt-deep@2x +2.50 [+1.25, +3.75] points' in note
    # one check done and failed is enough to say so
    note = claims._schedule_note(report('contradicted', 'not run'))
    assert note.endswith('Twice the epochs: linear@2x +2.50 [+1.25, +3.75] '
                         'points.')


def test_the_linear_probe_replayed_on_features_follows_its_schedule():
    """The probe's head, optimizer and schedule on cached features: the lr
    of every iteration is the config's warm-up then cosine (hand-computed),
    and well separated features are learnt."""
    from mmprompt.evaluation.study_features import replay_head
    lr, epochs = 1e-2, 3
    cfg = run_config('linear', 'count', lr, 0, epochs)
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (8, 384))
    labels = np.arange(64) % 8  # 64 images: 2 batches of 32 per epoch
    train_x = centres[labels] * 3 + rng.normal(0, 0.1, (64, 384))
    test_y = np.arange(16) % 8
    test_x = centres[test_y] * 3 + rng.normal(0, 0.1, (16, 384))
    pred, lrs = replay_head(cfg, train_x, labels, test_x, seed=0)
    # one warm-up epoch from 0.1 lr (mmengine's LinearLR reaches the end
    # factor at its last step), then cosine over 2 epochs to 1e-6
    cos = [
        1e-6 + (lr - 1e-6) * (1 + np.cos(np.pi * k / 4)) / 2 for k in range(4)
    ]
    assert lrs == pytest.approx([0.1 * lr, lr] + cos)
    assert (pred == test_y).all()
    cfg.model.head.type = 'VisionTransformerClsHead'
    with pytest.raises(TypeError, match="VisionTransformerClsHead"):
        replay_head(cfg, train_x, labels, test_x, seed=0)
