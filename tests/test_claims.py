"""tools/claims.py: the statistics against hand-computed values, and the
--quick study end to end (train, grid, tests, condensation, report,
resume)."""
import json
import math
import os
import subprocess
import sys

import pytest

from mmprompt.evaluation import claims
from helpers import REPO


def test_paired_interval_and_verdicts():
    # diffs 1, 2, 3: mean 2, sd 1, t(0.975, 2) = 4.302653
    mean, low, high = claims.interval([1., 2., 3.])
    half = 4.302653 / math.sqrt(3)
    assert mean == pytest.approx(2.)
    assert (low, high) == pytest.approx((2 - half, 2 + half), abs=1e-5)
    assert claims.verdict('greater', low, high) == 'not shown'
    mean, low, high = claims.interval([2., 2.2, 1.8, 2.1, 1.9])
    assert claims.verdict('greater', low, high) == 'holds'
    assert claims.verdict('greater', -3., -1.) == 'contradicted'
    # within 1 point: the interval must stay above -1
    assert claims.verdict(('within', 1.), -0.8, 0.5) == 'holds'
    assert claims.verdict(('within', 1.), -1.5, 0.5) == 'not shown'
    assert claims.verdict(('within', 1.), -2.5, -1.2) == 'contradicted'
    assert claims.verdict('greater', *claims.interval([1.])[1:]) == \
        'not shown'


def test_pairs_by_seed_and_picks_the_best_part():
    runs = {
        'bpt-deep-bilinear':
        [dict(seed=0, test_top1=80.),
         dict(seed=1, test_top1=82.)],
        'davpt': [dict(seed=0, test_top1=70.),
                  dict(seed=1, test_top1=71.)],
        'pc': [dict(seed=1, test_top1=60.)],
        'composed': [
            dict(seed=0, test_top1=79.),
            dict(seed=1, test_top1=81.),
            dict(seed=2, test_top1=90.)
        ],
    }
    [claim] = claims.evaluate_claims(runs, [claims.CLAIMS[-1]])
    assert claim['b'] == 'bpt-deep-bilinear' and claim['seeds'] == [0, 1]
    assert claim['mean_diff'] == pytest.approx(-1.)
    assert claim['n_seeds'] == 2


@pytest.mark.slow
def test_quick_study_end_to_end(tmp_path):
    work, out = tmp_path / 'work', tmp_path / 'report'
    cmd = [
        sys.executable, 'tools/claims.py', '--quick', '--claims', '0', '13',
        '15', '--lrs', '1e-2', '--work-dir',
        str(work), '--out-dir',
        str(out)
    ]
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
    with open(out / 'claims.json') as f:
        report = json.load(f)
    assert report['test_images'] == 200 and report['val_images'] == 50
    assert [c['a'] for c in report['claims']] == ['vpt-deep', 'pc', 'pc']
    assert [c['b'] for c in report['claims']
            ] == ['linear', 'vpt-deep', 'pc-no-finetune']
    for c in report['claims']:
        assert set(c) >= {
            'name', 'a', 'b', 'mean_diff', 'ci_low', 'ci_high', 'n_seeds',
            'verdict'
        }
        assert c['n_seeds'] == 2 and c['ci_low'] <= c['mean_diff'] <= \
            c['ci_high']
        assert c['verdict'] in ('holds', 'contradicted', 'not shown')
    assert set(report['hyper_parameters']) == {'vpt-deep', 'linear', 'pc'}
    rows = {r['method']: r for r in report['methods']}
    # PC keeps 36 of 120 prompt tokens (width 384) plus the 3,850 of the head
    assert rows['pc']['trainable_params'] == 36 * 384 + 3850
    assert rows['pc-no-finetune']['trainable_params'] == 36 * 384 + 3850
    assert len(rows['vpt-deep']['val_curve_mean']) == 2  # every epoch
    for png in ('accuracy_vs_params.png', 'validation_per_epoch.png'):
        assert os.path.getsize(out / png) > 0
    # resumable: a second call trains and tests nothing again
    results = sorted(work.rglob('result.json'))
    stamps = [p.stat().st_mtime_ns for p in results]
    proc = subprocess.run(
        cmd, cwd=REPO, check=True, capture_output=True, text=True)
    assert '+ ' not in proc.stdout
    assert [p.stat().st_mtime_ns for p in results] == stamps


@pytest.mark.slow
def test_composed_method_trains_condenses_and_resumes(setup, tmp_path):
    """claim 6's config: BPT prompts, DA-VPT guidance and PC (the guided
    layer kept whole) in one run; stopped after epoch 1 and resumed, it ends
    exactly where the uninterrupted run ends."""
    import torch

    from helpers import TRAIN, assert_same, load, run
    cfg = tmp_path / 'composed_quick.py'
    cfg.write_text(
        "custom_imports = dict(imports=['mmprompt', "
        "'mmprompt_tools_test_hooks'], allow_failed_imports=False)\n"
        f"_base_ = ['{REPO}/configs/offline/"
        "composed_dinov2-vit-s14_fashion-mnist-1k.py']"
        '\ncustom_hooks = [\n'
        "    dict(type='mmprompt.BPTWhiteningHook', num_images=100),\n"
        "    dict(type='mmprompt.DAVPTMappingHook', "
        'num_images_per_class=10, start_epoch=1),\n'
        "    dict(type='mmprompt.PromptCondensationHook', keep_ratio=0.3, "
        'num_batches=2, at_epoch=1, keep_layers=[-1]),\n'
        "    dict(type='ToolsTestHook', stop_after=None),\n]\n")
    options = claims.protocol_options(quick=True) + ['randomness.seed=0']
    full, part = tmp_path / 'full', tmp_path / 'part'
    run([
        sys.executable, TRAIN,
        str(cfg), '--work-dir',
        str(full), '--cfg-options'
    ] + options,
        setup['env'],
        timeout=900)
    run([
        sys.executable, TRAIN,
        str(cfg), '--work-dir',
        str(part), '--cfg-options'
    ] + options + ['custom_hooks.3.stop_after=1'],
        setup['env'],
        timeout=900)
    assert not (part / 'epoch_2.pth').exists()
    run([
        sys.executable, TRAIN,
        str(cfg), '--work-dir',
        str(part), '--resume', '--cfg-options'
    ] + options,
        setup['env'],
        timeout=900)
    a, b = load(full / 'epoch_2.pth'), load(part / 'epoch_2.pth')
    assert_same(a['state_dict'], b['state_dict'], 'state_dict')
    counts = [
        int(v.shape[0]) for k, v in a['state_dict'].items()
        if k.startswith('backbone.prompts.') and k.endswith('.a')
    ]
    assert counts[-1] == 10 and sum(counts) == 36  # guided layer whole
    assert torch.equal(a['state_dict']['class_to_prompt'],
                       b['state_dict']['class_to_prompt'])


@pytest.mark.parametrize('claim, methods, grid_runs', [
    (8, ['bpt-shallow-bilinear-prompts40', 'bpt-shallow-bilinear'], [
        ('bpt-shallow-bilinear', dict(lr=3e-3)),
        ('bpt-shallow-bilinear', dict(lr=1e-2)),
        ('bpt-shallow-bilinear', dict(lr=3e-2)),
    ]),
    (11, ['davpt', 'vpt-deep'], [
        ('vpt-deep', dict(lr=3e-3)),
        ('vpt-deep', dict(lr=1e-2)),
        ('vpt-deep', dict(lr=3e-2)),
        ('davpt', dict(lr=1e-2, loss_weight=0.05)),
        ('davpt', dict(lr=1e-2, loss_weight=0.5)),
    ]),
])
def test_variant_runs_at_its_parents_lr(claim, methods, grid_runs,
                                        monkeypatch):
    """A variant is gridded after its parent and takes its lr; only a
    loss-weighted variant grids (its loss weight, at that lr)."""
    args = claims.parse_args(['--claims', str(claim)])
    parent = claims.VARIANT_OF[methods[0]]
    assert args.methods == [parent, methods[0]
                            ] + [m for m in methods[1:] if m != parent]
    trained = []

    def fake_train(method, setting, seed, args):
        trained.append((method, setting))
        val = {3e-3: 70., 1e-2: 80., 3e-2: 75.}[setting['lr']]
        val -= 10 * setting.get('loss_weight', 0)  # 0.05 wins
        return dict(setting=setting, val_curve=[val])

    monkeypatch.setattr(claims, 'train', fake_train)
    chosen = {}
    for method in args.methods:
        chosen[method], results = claims.grid(method, args, chosen)
    assert trained == grid_runs
    assert chosen[parent] == dict(lr=1e-2)
    assert chosen[methods[0]]['lr'] == 1e-2
    if methods[0] in claims.LOSS_WEIGHTED:
        assert chosen[methods[0]] == dict(lr=1e-2, loss_weight=0.05)
        assert len(results) == 2
    else:
        assert chosen[methods[0]] == dict(lr=1e-2) and results == []


def test_report_only_reads_the_cache_and_runs_nothing(tmp_path, monkeypatch):
    """--report-only: the report from the runs on disk; a method whose
    grid is incomplete is left out and its claims say 'not run'."""
    work = tmp_path / 'work'

    def put(method, lr, seed, val, test=None):
        d = work / method / claims.tag(dict(lr=lr)) / f'seed{seed}'
        d.mkdir(parents=True)
        r = dict(
            method=method,
            setting=dict(lr=lr),
            seed=seed,
            val_curve=[val - 5, val],
            trainable_params=10,
            train_seconds=60.)
        if test is not None:
            r['test_top1'] = test
        (d / 'result.json').write_text(json.dumps(r))

    for lr, val in ((3e-3, 70.), (1e-2, 80.), (3e-2, 75.)):  # 1e-2 wins
        put('vpt-deep', lr, 0, val, 81. if lr == 1e-2 else None)
        put('linear', lr, 0, val - 1, 78. if lr == 1e-2 else None)
    put('vpt-deep', 1e-2, 1, 0., 80.)
    put('linear', 1e-2, 1, 0., 78.5)
    put('vpt-deep', 1e-2, 2, 0., 79.)  # linear's seed 2 is missing
    put('vpt-shallow', 3e-3, 0, 70.)  # an incomplete grid
    monkeypatch.setattr(claims, 'run', lambda *a: pytest.fail('ran a run'))
    report = claims.main([
        '--report-only', '--claims', '0', '1', '--seeds', '0', '1', '2',
        '--work-dir',
        str(work), '--out-dir',
        str(tmp_path / 'out')
    ])
    first, second = report['claims']
    assert first['seeds'] == [0, 1] and first['mean_diff'] == \
        pytest.approx(2.25)
    assert second['verdict'] == 'not run' and second['n_seeds'] == 0
    assert report['hyper_parameters']['vpt-deep'] == dict(lr=1e-2)
    assert report['hyper_parameters']['vpt-shallow'] is None
    # 6 + 1 grid runs, 3 more finals of which seed 1, 2 of vpt-deep and
    # seed 1 of linear: 10 runs of a minute
    assert report['training_hours'] == pytest.approx(10 / 60)
    assert 'not run' in (tmp_path / 'out' / 'claims.md').read_text()


def _reuse_report(tmp_path):
    """A report as an earlier study wrote it (no dates, no run times)."""
    old = dict(
        command='python tools/claims.py',
        date='2026-11-30',
        quick=False,
        test_images=2000,
        training_hours=2.0,
        hyper_parameters={
            'vpt-deep': dict(lr=1e-2),
            'linear': dict(lr=3e-2),
            'pc': dict(lr=1e-2)
        },
        grid={'vpt-deep': [dict(setting=dict(lr=1e-2), val_top1=80.)]},
        methods=[
            dict(
                method=m,
                label=claims.LABELS[m],
                setting=dict(lr=lr),
                seeds=seeds,
                test_top1=top1,
                mean=sum(top1) / len(top1),
                std=1.,
                trainable_params=10,
                train_minutes=2.,
                val_curve_mean=[50., 60.])
            for m, lr, seeds, top1 in (('vpt-deep', 1e-2, [0, 1, 2],
                                        [81., 80., 79.]),
                                       ('linear', 3e-2, [0, 1, 2],
                                        [78., 78.5, 79.5]),
                                       ('pc', 1e-2, [0, 1], [80., 80.]))
        ],
        claims=[
            dict(
                name=claims.CLAIMS[i][0],
                a=claims.CLAIMS[i][1],
                b=claims.CLAIMS[i][2],
                metric='test',
                mean_diff=d,
                ci_low=d - 1,
                ci_high=d + 1,
                n_seeds=3,
                verdict=v) for i, v, d in ((0, 'holds', 9.), (4, 'holds', 1.))
        ])
    path = tmp_path / 'old_claims.json'
    path.write_text(json.dumps(old))
    return path


def test_reuse_takes_recorded_methods_and_merges_the_report(
        tmp_path, monkeypatch):
    """--reuse: a method with no run on disk and every seed recorded is
    taken from the report; the claims computed now replace the report's,
    the others are kept with their date; run times add up."""
    path = _reuse_report(tmp_path)
    work = tmp_path / 'work'
    for lr, seed, val, test in ((3e-3, 0, 70., None), (1e-2, 0, 75., None),
                                (3e-2, 0, 80.,
                                 77.), (3e-2, 1, 0., 76.), (3e-2, 2, 0., 80.)):
        d = work / 'vpt-shallow' / claims.tag(dict(lr=lr)) / f'seed{seed}'
        d.mkdir(parents=True)
        (d / 'result.json').write_text(
            json.dumps(
                dict(
                    method='vpt-shallow',
                    setting=dict(lr=lr),
                    seed=seed,
                    val_curve=[val - 5, val],
                    trainable_params=20,
                    train_seconds=360.,
                    test_top1=test)))
    monkeypatch.setattr(claims, 'run', lambda *a: pytest.fail('ran a run'))
    report = claims.main([
        '--report-only', '--claims', '0', '1', '--seeds', '0', '1', '2',
        '--reuse',
        str(path), '--work-dir',
        str(work), '--out-dir',
        str(tmp_path / 'out')
    ])
    today = report['date']
    assert report['reused']['methods'] == ['linear', 'vpt-deep']
    by_name = {c['name']: c for c in report['claims']}
    # recomputed from the recorded seeds: 81-78, 80-78.5, 79-79.5 = 4/3
    first = by_name[claims.CLAIMS[0][0]]
    assert first['mean_diff'] == pytest.approx(4 / 3)
    assert first['date'] == today
    assert first['seeds'] == [0, 1, 2]
    # recorded VPT-Deep against VPT-Shallow's runs on disk (lr 3e-2 chosen)
    second = by_name[claims.CLAIMS[1][0]]
    assert second['mean_diff'] == pytest.approx((4 + 4 - 1) / 3)
    # a claim not computed now is kept, with the old report's date
    kept = by_name[claims.CLAIMS[4][0]]
    assert (kept['mean_diff'], kept['date']) == (1., '2026-11-30')
    assert [c['name'] for c in report['claims']
            ] == [claims.CLAIMS[i][0] for i in (0, 1, 4)]
    rows = {r['method']: r for r in report['methods']}
    assert rows['vpt-deep']['val_curve_mean'] == [50., 60.]
    assert rows['vpt-deep']['date'] == '2026-11-30'
    assert rows['vpt-shallow']['date'] == today
    assert rows['vpt-shallow']['test_top1'] == [77., 76., 80.]
    assert report['hyper_parameters']['vpt-shallow'] == dict(lr=3e-2)
    assert report['hyper_parameters']['pc'] == dict(lr=1e-2)
    # 2 h recorded before, and 5 runs of 6 minutes now
    assert report['training_hours'] == pytest.approx(2.5)
    # resumable in place: reusing the merged report counts nothing twice
    again = claims.main([
        '--report-only', '--claims', '0', '1', '--seeds', '0', '1', '2',
        '--reuse',
        str(tmp_path / 'out' / 'claims.json'), '--work-dir',
        str(work), '--out-dir',
        str(tmp_path / 'out')
    ])
    assert again['training_hours'] == pytest.approx(2.5)
    assert again['claims'] == report['claims']


def test_reuse_runs_what_the_report_cannot_stand_in_for(tmp_path):
    report = json.loads(_reuse_report(tmp_path).read_text())
    args = claims.parse_args(
        ['--claims', '14', '--seeds', '0', '1', '--work-dir',
         str(tmp_path)])
    vpt = claims.recorded_finals('vpt-deep', report, args, {})
    assert [(r['seed'], r['test_top1']) for r in vpt] == [(0, 81.), (1, 80.)]
    # a variant is reused only with its parent
    assert claims.recorded_finals('pc', report, args, {}) is None
    assert len(claims.recorded_finals('pc', report, args,
                                      {'vpt-deep': vpt})) == 2
    # a seed the report lacks
    args3 = claims.parse_args(
        ['--seeds', '0', '1', '2', '--work-dir',
         str(tmp_path)])
    assert claims.recorded_finals('pc', report, args3,
                                  {'vpt-deep': vpt}) is None
    # a run on disk: the method is run, not mixed with the record
    (tmp_path / 'vpt-deep' / 'lr0.01' / 'seed0').mkdir(parents=True)
    (tmp_path / 'vpt-deep' / 'lr0.01' / 'seed0' /
     'result.json').write_text('{}')
    assert claims.recorded_finals('vpt-deep', report, args, {}) is None


def test_reuse_refuses_another_protocol(tmp_path):
    path = _reuse_report(tmp_path)
    with pytest.raises(ValueError, match='quick=False.*quick=True'):
        claims.load_reuse(str(path), claims.parse_args(['--quick']))
    with pytest.raises(FileNotFoundError, match='no report at'):
        claims.load_reuse(str(tmp_path / 'none.json'), claims.parse_args([]))
