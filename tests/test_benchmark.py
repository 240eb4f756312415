import json
import os
import os.path as osp
import subprocess
import sys
import threading

import pytest
import torch

import mmprompt  # noqa: F401
from mmprompt.core import PromptViT
from mmprompt.evaluation.benchmark import Bench, parse_args, ratio
from mmprompt.evaluation.benchmark_models import ReferenceVPTDeep
from mmprompt.evaluation.lockstep import (TakeTurns, best_of_round,
                                          lockstep_round, median)
from mmprompt.evaluation.timing import (peak_allocated, ratio_interval,
                                        round_order)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
# a tiny ViT and batch for runs of the whole tool
TINY = ('--arch', 'deit-tiny', '--img-size', '32', '--patch-size', '8',
        '--batch-size', '2')


def run_benchmark(*args, env=None):
    """``python tools/benchmark.py ARGS`` in a subprocess."""
    return subprocess.run([sys.executable, 'tools/benchmark.py', *args],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          env=env)


def test_reference_vpt_deep_equals_prompt_vit():
    torch.manual_seed(0)
    kw = dict(arch='deit-tiny', img_size=32, patch_size=8)
    model = PromptViT(**kw, num_prompts=5).eval()
    from mmpretrain.models import VisionTransformer
    vit = VisionTransformer(**kw)
    vit.load_state_dict(model.state_dict(), strict=False)
    reference = ReferenceVPTDeep(vit, 5)
    with torch.no_grad():
        reference.prompts.copy_(torch.stack([g.tokens for g in model.prompts]))
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(reference(x)[0], model(x)[0])
    assert sum(p.numel() for p in reference.parameters()
               if p.requires_grad) == 12 * 5 * 192


def test_ratios_pair_the_times_of_one_round():
    # a slow third round (both methods 4x slower) moves the medians of the
    # times, not the per-round ratios: 2/1, 8/8, 3/1 -> median 2 (the
    # ratio of the medians would be 3 / 1)
    row = dict(step_s=3., step_rounds_s=[2., 8., 3.])
    ref = dict(step_s=1., step_rounds_s=[1., 8., 1.])
    assert ratio(row, ref, 'step_s') == 2.
    # the interval: geometric mean of the ratios 2, 1, 3 and a t interval
    # of their logs over 3 rounds (t quantile 4.303 at 2 degrees of freedom)
    import math
    logs = [math.log(2), 0., math.log(3)]
    mean = sum(logs) / 3
    sem = math.sqrt(sum((v - mean)**2 for v in logs) / 2 / 3)
    got = ratio_interval([2., 8., 3.], [1., 8., 1.])
    expected = [math.exp(mean + k * 4.302653 * sem) for k in (0, -1, 1)]
    assert got == pytest.approx(expected, rel=1e-5)
    assert math.isnan(ratio_interval([2.], [1.])[0])
    # memory has no rounds: a plain ratio
    assert ratio(
        dict(peak_memory_mb=3.), dict(peak_memory_mb=4.),
        'peak_memory_mb') == 0.75


def test_peak_allocated_is_the_running_peak_above_the_start():
    before = torch.empty(1 << 20)  # 4 MiB held before: not counted

    def run(free_before):
        nonlocal before
        if free_before:  # (unseen: the profiler did not see it allocated)
            del before
        a = torch.empty(1 << 20)  # 4 MiB
        b = torch.empty(2 << 20)  # 12 MiB
        del a  # 8 MiB
        c = torch.empty(3 << 20)  # 20 MiB: the peak
        del b, c

    assert peak_allocated(lambda: run(False)) == 20 << 20
    # a block from before freed within reads as still held: an upper bound
    assert peak_allocated(lambda: run(True)) == 20 << 20


def test_rounds_alternate_the_order_of_the_methods():
    assert [round_order('abc', i) for i in range(3)] == \
        [list('abc'), list('cba'), list('abc')]
    assert median([]) != median([])  # NaN


def test_best_of_round_keeps_each_methods_fastest_try():
    calls = []
    times = iter([5., 1., 2., 4., 3., 6.])

    def run(item):
        calls.append(item)
        return next(times)

    # round 1 starts reversed; the passes alternate: b a, a b, b a
    assert best_of_round('ab', 1, 3, run) == {
        'b': [5., 4., 3.],
        'a': [1., 2., 6.]
    }
    assert calls == list('baabba')


@pytest.mark.slow
def test_best_of_must_be_positive():
    proc = run_benchmark('--best-of', '0')
    assert proc.returncode == 2
    assert '--best-of must be at least 1, got 0' in proc.stderr


@pytest.mark.slow
def test_latency_only_run_has_no_steps(tmp_path):
    import onnxruntime
    out = tmp_path / 'bench.json'
    # glibc keeps freed memory (a timing variable the run must record)
    malloc_env = {
        k: v
        for k, v in os.environ.items() if not k.startswith('MALLOC_')
    }
    malloc_env.update(
        MALLOC_TRIM_THRESHOLD_='1000000000', MALLOC_MMAP_MAX_='0')
    args = ('--num-prompts', '4', '--repeats', '3', '--warmup', '1',
            '--methods', 'linear', 'vpt-deep', 'vpt-deep-reference',
            '--measure', 'latency', '--best-of', '2', '--onnx-methods',
            'linear', 'vpt-deep', '--out', str(out))
    proc = run_benchmark(*TINY, *args, env=malloc_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    # the run records what it ran on, timing variables included
    env = result['environment']
    assert env['torch'] == torch.__version__
    assert env['onnxruntime'] == onnxruntime.__version__
    assert {
        k: v
        for k, v in env['variables'].items() if k.startswith('MALLOC_')
    } == {
        'MALLOC_MMAP_MAX_': '0',
        'MALLOC_TRIM_THRESHOLD_': '1000000000'
    }
    assert 'MALLOC_MMAP_MAX_=0, MALLOC_TRIM_THRESHOLD_=1000000000' \
        in proc.stdout
    # --best-of 2: one time per round, the faster of its two tries
    rows = result['rows'] + list(result['onnxruntime'].values())
    for row in rows:
        assert len(row['latency_rounds_s']) == 3
        assert [min(ts) for ts in row['latency_tries_s']] == \
            row['latency_rounds_s']
        assert {len(ts) for ts in row['latency_tries_s']} == {2}
    for row in result['rows']:
        assert row['step_rounds_s'] == row['step_tries_s'] == []
        assert row['peak_memory_mb'] != row['peak_memory_mb']  # NaN
    # intervals of the latency ratios only (no step was timed)
    assert set(result['ratio_intervals']) == {
        'latency vpt-deep / linear', 'latency vpt-deep-reference / linear',
        'onnxruntime latency vpt-deep / linear'
    }
    assert 'median of 3 rounds (the fastest of 2 tries in each)' \
        in proc.stdout


@pytest.mark.slow
def test_benchmark_table_and_json(tmp_path):
    out = tmp_path / 'bench.json'
    proc = run_benchmark(*TINY, '--num-prompts', '10', '--repeats', '1',
                         '--warmup', '0', '--methods', 'linear', 'full',
                         'vpt-deep', 'vpt-deep-per-image',
                         'vpt-deep-recompute-ffn',
                         'vpt-deep-recompute-ffn-half', 'davpt-plus', 'pc',
                         'bpt-bilinear', 'bpt-fwhiten', 'bpt-twhiten', 'swin',
                         'vpt-deep-swin', '--swin-arch', 'tiny',
                         '--swin-prompts', '3', '--bpt-width', '4',
                         '--onnx-methods', 'linear', 'vpt-deep', 'pc', '--out',
                         str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    rows = {r['method']: r for r in result['rows']}
    assert set(rows) == {
        'linear', 'full', 'vpt-deep', 'vpt-deep-per-image',
        'vpt-deep-recompute-ffn', 'vpt-deep-recompute-ffn-half', 'davpt-plus',
        'pc', 'bpt-bilinear', 'bpt-fwhiten', 'bpt-twhiten', 'swin',
        'vpt-deep-swin'
    }
    # per image over the batch of 2: the shared prefix projects the 10
    # prompts of each of the 12 layers once, not twice (qkv 3 D^2 and an
    # affine layer norm 5 D per row, D = 192)
    saved = 12 * 10 * (3 * 192**2 + 5 * 192) / 2
    assert (rows['vpt-deep-per-image']['gflops'] -
            rows['vpt-deep']['gflops']) * 1e9 == pytest.approx(saved)
    assert rows['linear']['gflops'] < rows['vpt-deep']['gflops']
    assert rows['swin']['gflops'] < rows['vpt-deep-swin']['gflops']
    assert rows['vpt-deep-swin']['trainable_params'] == \
        3 * (2 * 96 + 2 * 192 + 6 * 384 + 2 * 768) + 768 * 1000 + 1000
    # the time of every round is kept (--repeats 1: one round)
    assert all(
        len(r['step_rounds_s']) == len(r['latency_rounds_s']) == 1
        for r in rows.values())
    # onnxruntime rows: the exported graphs agree with PyTorch
    assert set(result['onnxruntime']) == {'linear', 'vpt-deep', 'pc'}
    for row in result['onnxruntime'].values():
        assert row['latency_s'] > 0 and row['max_abs_diff'] < 1e-3
        assert row['latency_rounds_s'] == [row['latency_s']]
    assert '| vpt-deep (onnxruntime) |' not in proc.stdout
    assert any(
        x.startswith('| pc | ') and x.count('|') == 5
        for x in proc.stdout.splitlines())
    head = 192 * 1000 + 1000
    # BPT-Deep: A (10 x 4) per layer and one shared B (4 x 192) per layer;
    # fWhiten: A (10 x 192) per layer, W fixed; tWhiten: W (192 x 192) too
    assert rows['bpt-bilinear']['trainable_params'] == \
        12 * (10 * 4 + 4 * 192) + head
    assert rows['bpt-fwhiten']['trainable_params'] == 12 * 10 * 192 + head
    assert rows['bpt-twhiten']['trainable_params'] == \
        12 * (10 * 192 + 192 * 192) + head
    # the same tokens as VPT-Deep, so the same inference FLOPs up to the
    # prompt generation (A @ B, computed once per forward)
    assert rows['bpt-bilinear']['gflops'] == pytest.approx(
        rows['vpt-deep']['gflops'], rel=0.01)
    # DA-VPT+ adds the K and V thirds of 12 qkv biases to VPT-Deep
    assert rows['davpt-plus']['trainable_params'] == \
        rows['vpt-deep']['trainable_params'] + 12 * 2 * 192
    assert json.loads(out.read_text())['mapping_update_s'] > 0
    # the whitening variants fit their matrices once (the hook's work)
    assert json.loads(out.read_text())['bpt-twhiten_whitening_s'] > 0
    assert 'bpt-fwhiten: whitening matrices of 12 layers from 2 images' \
        in proc.stdout
    assert 'DA-VPT mapping update at an epoch end (200 classes -> 10 ' \
        'prompts' in proc.stdout
    assert rows['vpt-deep']['trainable_params'] == 12 * 10 * 192 + \
        192 * 1000 + 1000
    assert rows['full']['trainable_params'] > 5e6
    # the condensed model keeps 30 % of the tokens: fewer FLOPs
    assert rows['pc']['gflops'] < rows['vpt-deep']['gflops']
    # prompt tuning needs less training memory than full fine-tuning, and
    # recomputing the FFN in half the layers lies between none and all
    # (allocated bytes: the same on every run)
    memory = {m: rows[m]['peak_memory_mb'] for m in rows}
    assert 0 < memory['vpt-deep-recompute-ffn'] < \
        memory['vpt-deep-recompute-ffn-half'] < memory['vpt-deep'] < \
        memory['full']
    assert all(r['peak_rss_mb'] > 0 for r in rows.values())
    # the same model, the same inference
    assert rows['vpt-deep-recompute-ffn']['gflops'] == \
        rows['vpt-deep']['gflops']
    assert rows['vpt-deep-recompute-ffn']['trainable_params'] == \
        rows['vpt-deep']['trainable_params']
    line = next(x for x in proc.stdout.splitlines()
                if x.startswith('| vpt-deep |'))
    assert line.split('|')[5].strip() == '1.00'  # step / VPT-Deep


def run_cuda_script(*args, **env):
    return subprocess.run(['bash', 'tools/benchmark_cuda.sh', *args],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          env={
                              **os.environ, 'PYTHON': sys.executable,
                              **env
                          })


@pytest.mark.slow
def test_cuda_script_runs_its_benchmarks(tmp_path):
    """tools/benchmark_cuda.sh's commands, on the CPU (DEVICE=cpu) and
    with a tiny model appended (the last value of an option wins): every
    method it names is built, its inference timed under autocast, and its
    row written."""
    proc = run_cuda_script(
        'run',
        '--out',
        str(tmp_path),
        '--',
        '--arch',
        'deit-tiny',
        '--img-size',
        '32',
        '--patch-size',
        '8',
        '--batch-size',
        '2',
        '--num-prompts',
        '4',
        '--repeats',
        '1',
        '--warmup',
        '0',
        '--best-of',
        '1',
        '--swin-arch',
        'tiny',
        '--swin-prompts',
        '2',
        '--measure',
        'latency',  # (the steps and their memory: the table test above)
        DEVICE='cpu')
    assert proc.returncode == 0, proc.stderr[-3000:]
    vit = json.loads((tmp_path / 'vit-b.json').read_text())
    swin = json.loads((tmp_path / 'swin-b.json').read_text())
    assert [r['method'] for r in vit['rows']] == [
        'linear', 'full', 'vpt-deep', 'vpt-deep-per-image',
        'vpt-deep-reference', 'vpt-deep-recompute-ffn', 'pc'
    ]
    assert [r['method'] for r in swin['rows']] == ['swin', 'vpt-deep-swin']
    for result in (vit, swin):
        assert result['args']['amp'] and result['args']['device'] == 'cpu'
        assert result['args']['batch_size'] == 2
    # the tables are kept beside the JSON
    assert '| vpt-deep-swin |' in (tmp_path / 'swin-b.log').read_text()


@pytest.mark.slow
def test_cuda_script_bad_input(tmp_path):
    # without a GPU it stops at once, naming why
    if not torch.cuda.is_available():
        proc = run_cuda_script('run', '--out', str(tmp_path), DEVICE='cuda')
        assert proc.returncode == 1
        assert 'sees no CUDA device' in proc.stderr
        assert not list(tmp_path.iterdir())
    empty = tmp_path / 'wheels'
    empty.mkdir()
    proc = run_cuda_script('run', '--wheels', str(empty), DEVICE='cpu')
    assert proc.returncode == 2
    assert f"--wheels '{empty}' holds no .whl file" in proc.stderr
    proc = run_cuda_script('fetch')
    assert proc.returncode == 2 and 'usage:' in proc.stderr
    proc = run_cuda_script('run', '--batch', '8')
    assert proc.returncode == 2
    assert "unknown argument '--batch'" in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize('lockstep', [[], ['--lockstep']])
def test_stage_minima(tmp_path, lockstep):
    out = tmp_path / 'bench.json'
    proc = run_benchmark(*TINY, '--num-prompts', '4', '--repeats', '2',
                         '--warmup', '1', '--methods', 'linear', 'vpt-deep',
                         '--measure', 'latency', '--best-of', '3',
                         '--stage-minima', *lockstep, '--out', str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    for row in result['rows']:
        tries, stages = row['latency_tries_s'], row['latency_stage_tries_s']
        # 2 measured rounds (the warm-up's stages are dropped), 3 tries,
        # 13 stages: up to layer 0, layers 0-10, layer 11 and the head
        assert [[len(s) for s in r] for r in stages] == [[13] * 3] * 2
        for round_tries, round_stages, minima in zip(
                tries, stages, row['latency_stage_minima_rounds_s']):
            # the stages of a try make up its time
            for t, s in zip(round_tries, round_stages):
                assert sum(s) == pytest.approx(t, rel=1e-9)
                assert min(s) > 0
            assert minima == pytest.approx(
                sum(min(col) for col in zip(*round_stages)), rel=1e-12)
            assert minima <= min(round_tries) + 1e-12
    assert 'latency (stage minima) vpt-deep / linear' in \
        result['ratio_intervals']


def test_take_turns_runs_one_call_at_a_time_in_order():
    log = []

    def stages(count, turns):

        def call(k):
            for stage in range(count):
                log.append((k, stage))
                if stage < count - 1:
                    turns.pass_turn(k)
                    turns.wait(k)
            return 10 * k

        return call

    turns = TakeTurns(3)
    threads = set()

    def thread_of(k):
        threads.add((k, threading.get_ident()))

    try:
        assert turns.run(
            [stages(3, turns),
             stages(1, turns),
             stages(2, turns)]) == [0, 10, 20]
        # one stage each in turn; a call that has returned is skipped
        assert log == [(0, 0), (1, 0), (2, 0), (0, 1), (2, 1), (0, 2)]
        log.clear()
        assert turns.run(
            [stages(1, turns),
             stages(2, turns),
             stages(2, turns)],
            order=[2, 0, 1]) == [0, 10, 20]
        assert log == [(2, 0), (0, 0), (1, 0), (2, 1), (1, 1)]

        def fails(k):
            raise RuntimeError('stage failed')

        log.clear()
        with pytest.raises(RuntimeError, match='stage failed'):
            turns.run([fails, stages(2, turns), stages(1, turns)])
        # the others still ran to their ends
        assert log == [(1, 0), (2, 0), (1, 1)]
        for _ in range(2):  # each place keeps its thread
            turns.run([thread_of] * 3)
        assert len(threads) == 3
        assert len({ident for _, ident in threads}) == 3
    finally:
        turns.close()


def test_lockstep_interleaves_the_stages_of_the_methods(monkeypatch):
    monkeypatch.setattr(sys, 'argv', [
        'benchmark.py', *TINY, '--num-prompts', '4', '--measure', 'latency',
        '--best-of', '2', '--lockstep'
    ])
    args = parse_args()
    x, y = torch.randn(2, 3, 32, 32), torch.tensor([0, 1])
    benches = [Bench(m, args, x, y) for m in ('linear', 'vpt-deep')]
    turns = TakeTurns(2)
    try:
        times = lockstep_round(benches, 1, 2, turns)
    finally:
        turns.close()
    for j in range(2):  # round 1: vpt-deep first, then linear first
        first = round_order(benches, 1 + j)[0]
        spans = sorted((start, end, b) for b in benches
                       for start, end in b.round_spans[j])
        assert len(spans) == 2 * 13
        # the methods take turns, a stage at a time, never two at once
        assert [b for _, _, b in spans] == \
            [first, *[b for b in benches if b is not first]] * 13
        assert all(end <= next_start
                   for (_, end, _), (next_start, _,
                                     _) in zip(spans, spans[1:]))
        for b in benches:  # a try's time is the sum of its own stages
            assert times[b][j] == pytest.approx(
                sum(end - start for start, end in b.round_spans[j]), rel=1e-12)
            assert times[b][j] == pytest.approx(sum(b.round_stages[j]))


@pytest.mark.parametrize('extra, message', [
    (['--best-of', '1'], 'it needs --best-of 2 or more and --device cpu, '
     'got --best-of 1 and --device cpu'),
    (['--best-of', '2', '--methods', 'swin', '--swin-arch', 'tiny'
      ], "--stage-minima times ViT layers (each with ln1); method 'swin' "
     'has none'),
])
@pytest.mark.slow
def test_stage_minima_bad_input(extra, message):
    proc = run_benchmark(*TINY, '--repeats', '1', '--measure', 'latency',
                         '--stage-minima', *extra)
    assert proc.returncode != 0
    assert message in proc.stderr


@pytest.mark.parametrize('extra, message', [
    (['--measure', 'step'], 'it needs --measure latency or both and --device '
     'cpu, got --measure step and --device cpu'),
    (['--methods', 'swin', '--swin-arch', 'tiny'],
     "--lockstep times ViT layers (each with ln1); method 'swin' has none"),
])
@pytest.mark.slow
def test_lockstep_bad_input(extra, message):
    proc = run_benchmark(*TINY, '--repeats', '1', '--lockstep', *extra)
    assert proc.returncode != 0
    assert message in proc.stderr
