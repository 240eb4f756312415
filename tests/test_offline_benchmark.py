"""tools/offline_benchmark.py: what it reads from a real run (validation
top-1, trainable parameters before and after a condensing run) and how it
summarises seeds (mean, sample std, table, plot)."""
import json
import math
import os.path as osp
import sys

import pytest

from mmprompt.evaluation import offline_benchmark
from helpers import REPO, TRAIN, run

PC_CONFIG = '''
_base_ = './tiny_vpt.py'
custom_hooks = [
    dict(type='ToolsTestHook', stop_after=None),
    dict(type='mmprompt.PromptCondensationHook', keep_ratio=0.5,
         num_batches=1, at_epoch=1),
    dict(type='mmprompt.TrainableParamsHook'),
]
'''


def test_every_method_has_a_config():
    tool = offline_benchmark
    for config, _ in tool.METHODS.values():
        assert osp.isfile(osp.join(REPO, tool.CONFIG_DIR, config)), config
    # the quick run condenses within its 2 epochs
    assert 'custom_hooks.0.at_epoch=1' in tool.run_options('pc', 3, True)
    assert tool.run_options('vpt-deep', 3, False) == ['randomness.seed=3']


@pytest.mark.slow
def test_read_run_of_a_condensing_run(setup):
    cfg = setup['root'] / 'tiny_pc_params.py'
    cfg.write_text(PC_CONFIG)
    work = setup['root'] / 'PC_PARAMS'
    run([sys.executable, TRAIN,
         str(cfg), '--work-dir',
         str(work)], setup['env'])
    top1, start, end = offline_benchmark.read_run(str(work))
    # 2 layers x 4 prompts x 32 dims, then half of the 8 tokens; head 4x32+4
    head = 4 * 32 + 4
    assert (start, end) == (2 * 4 * 32 + head, 4 * 32 + head)
    scalars = next(work.glob('*/vis_data/scalars.json')).read_text()
    last = [
        json.loads(x) for x in scalars.splitlines() if 'accuracy/top1' in x
    ][-1]
    assert top1 == last['accuracy/top1']


def test_read_run_refuses_an_unfinished_run(tmp_path):
    (tmp_path / '20260101_000000' / 'vis_data').mkdir(parents=True)
    (tmp_path / '20260101_000000' / 'vis_data' / 'scalars.json').write_text(
        json.dumps(dict(trainable_params=10, total_params=1000, step=0)) +
        '\n' + json.dumps(dict(loss=1.0, step=1)) + '\n')
    with pytest.raises(ValueError, match='did not log its validation'):
        offline_benchmark.read_run(str(tmp_path))
    with pytest.raises(FileNotFoundError, match='no <timestamp>/vis_data'):
        offline_benchmark.read_run(str(tmp_path / 'nothing'))


def test_summary_table_and_plot(tmp_path):
    tool = offline_benchmark
    args = tool.parse_args(['--methods', 'linear', 'vpt-deep', 'pc'])
    assert args.seeds == [0, 1, 2]
    results = [
        dict(
            method='vpt-deep',
            seed=s,
            top1=acc,
            trainable_params=500,
            trainable_params_at_start=500,
            train_seconds=60.) for s, acc in enumerate((80., 82., 84.))
    ] + [
        dict(
            method='linear',
            seed=0,
            top1=70.,
            trainable_params=50,
            trainable_params_at_start=50,
            train_seconds=30.),
        dict(
            method='pc',
            seed=0,
            top1=81.5,
            trainable_params=200,
            trainable_params_at_start=500,
            train_seconds=90.),
    ]
    rows = {r['method']: r for r in tool.summarise(results, args)}
    assert list(rows) == ['linear', 'vpt-deep', 'pc']  # table order
    assert rows['vpt-deep']['top1_mean'] == pytest.approx(82.)
    assert rows['vpt-deep']['top1_std'] == pytest.approx(2.)  # sample std
    assert math.isnan(rows['linear']['top1_std'])  # one seed: no std
    table = tool.markdown(list(rows.values()), 'python x')
    lines = {line.split(' | ')[0]: line for line in table.splitlines()}
    assert lines['| VPT-Deep'] == \
        '| VPT-Deep | 82.00 ± 2.00 | 3 | +0.00 | 500 | 1.0 min |'
    assert lines['| Linear probe'] == \
        '| Linear probe | 70.00 | 1 | -12.00 | 50 | 0.5 min |'
    assert '| 200 (from 500) |' in lines['| PC (keep 0.3)']
    png = tmp_path / 'plot.png'
    tool.plot(list(rows.values()), str(png))
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
