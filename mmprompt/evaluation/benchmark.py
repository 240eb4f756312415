"""Speed and memory of the tuning methods on one backbone, in one process.

Usage::

    python tools/benchmark.py [--arch b] [--img-size 224] [--patch-size 16]
        [--batch-size 8] [--num-prompts 100] [--keep-ratio 0.3]
        [--repeats 5] [--device cpu|cuda] [--amp] [--methods ...]
        [--measure both|latency|step] [--best-of 1] [--stage-minima]
        [--lockstep]
        [--out work_dirs/benchmark.json]

Every method is built on the same backbone and batch; the repeats are
interleaved in rounds (the inferences of methods A, B, ..., then their
training steps, then the next round) so that drift of the machine hits all
methods alike. Every other round runs the methods in the reverse order
(A B, B A, A B, ...): a machine that slows down steadily then favours no
method. ``--measure latency`` (or ``step``) leaves the training steps (or
the inferences) out, so that a run of the same length holds more rounds.
``--best-of K`` times every method K times in each round (the passes
alternate their order, A B B A ...) and keeps the fastest of each: other
work on the machine only adds time, so the fastest of a few tries seconds
apart is the least disturbed (a spike in one try is dropped; a slow phase
longer than a round is not). It estimates the cost on a quiet machine,
not the typical latency of a busy one; every try is in the JSON.
``--stage-minima`` (CPU, with ``--best-of``) carries the same idea inside
the forward: it times each stage of every inference (up to the first
layer, each layer, the last layer with what follows) and gives each round
the sum over the stages of each one's fastest time over the round's
tries, so a disturbance of a second spoils one stage of one try, not the
whole try; the per-round ratios of these sums get an interval as the
plain ones do. ``--lockstep`` (CPU) runs the inferences of a try side by
side instead of one after another: each method runs one stage and hands
over to the next (in the try's order), so the same stage of every method
is timed within about one stage's time (a ViT-B layer at batch 32: about
0.6 s on 2 cores) of the others, and a slow phase of the machine, which
can last tens of seconds, weighs on the methods alike. A try's time is
then the sum of its own stages.
Times are medians over the rounds; a ratio between two methods is the
median over the rounds of the ratio of their times in the same round
(measured seconds apart), which cancels a slowdown that comes and goes
between rounds better than a ratio of medians. The per-round times are in
the JSON.

- ``step``: one training step (forward, cross-entropy on a linear head,
  backward, AdamW step over the trainable parameters);
- ``peak memory`` of a training step: ``torch.cuda.max_memory_allocated``
  above the allocation before the step on CUDA; on CPU the same quantity,
  the peak of the bytes PyTorch allocates (the profiler's record of every
  allocation and free, :func:`peak_allocated`) over two training steps,
  above those allocated before them, in a fresh process per method;
- ``peak RSS`` (CPU): in that process, first, the peak resident set size
  (``VmHWM``, reset once the model is built and freed heap pages are
  returned with ``malloc_trim``) over two training steps of a model of its
  own, minus the resident size before them (in one process the allocator
  keeps freed pages, so later deltas mean nothing). It adds what glibc's
  heap holds on to: freed blocks under its mmap threshold (which rises to
  32 MB after the first large free) stay resident and fragment, so the
  RSS reads above the allocated peak, by more for many mid-sized tensors
  than for a few large ones;
- ``latency``: one inference forward (``torch.no_grad``);
- ``GFLOPs``: per image, inference of the whole batch (shared prompt
  work is spread over its images), mmengine's counter;
- ``onnxruntime`` (``--onnx-methods``): latency of the backbone and head
  exported with :func:`mmprompt.utils.onnx_export.export_onnx` (prompts
  folded into constants), on the same batch.

``vpt-deep`` runs its prompts as a shared prefix (PromptViT's default);
``vpt-deep-per-image`` is the same model with ``share_prompt_prefix=False``
(every image projects its own copy of the prompts, the path prompt dropout
needs in training); ``vpt-deep-recompute-ffn`` is VPT-Deep with
``recompute_ffn=True`` (less training memory, a longer step), and
``vpt-deep-recompute-ffn-half`` recomputes in the first half of the layers
only (between the two in both).
``vpt-deep-reference`` is a minimal hand-written VPT-Deep over the same
mmpretrain ``VisionTransformer`` (prompts concatenated before each layer, every
prompt output computed), the yardstick for PromptViT's overhead. ``swin`` and
``vpt-deep-swin`` are mmpretrain's Swin (``--swin-arch``, window 7) without
prompts and ``PromptSwin`` with ``--swin-prompts`` deep prompts per block (not
run unless named in ``--methods``). ``bpt-*`` are BPT-Deep
(``BilinearPromptViT``, same prompt counts; bilinear of ``--bpt-width``, fixed
or tuned whitening). ``pc`` is VPT-Deep condensed to ``--keep-ratio`` of its
prompt tokens (random scores, so the kept counts are uneven across layers as
after real condensation). Prints a markdown table with ratios to full
fine-tuning and to VPT-Deep, and writes JSON. The output begins with,
and the JSON's ``environment`` holds, what the run ran on (versions,
threads, processor and the variables that change timings, such as
glibc's ``MALLOC_*`` tunables): runs compare only where these match.
"""
import argparse
import ctypes
import gc
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmprompt.core import count_parameters
from mmprompt.evaluation.complexity import count_flops
from mmprompt.methods.davpt import DAVPTLoss, guided_anchors_and_proxies
from mmprompt.utils.onnx_export import export_onnx
from .benchmark_models import (DEFAULT_METHODS, METHODS, ScoresModule, build,
                               fit_whitening, mapping_update_seconds,
                               output_dims, scores)
from .lockstep import TakeTurns, best_of_round, lockstep_round, median
from .timing import peak_allocated, ratio_interval


class Bench:

    def __init__(self, method, args, x, y):
        torch.manual_seed(0)
        self.method, self.args, self.x, self.y = method, args, x, y
        self.backbone = build(method, args).to(args.device)
        self.whitening_s = fit_whitening(self.backbone, x) \
            if method in ('bpt-fwhiten', 'bpt-twhiten') else None
        self.head = nn.Linear(output_dims(self.backbone), 1000).to(args.device)
        params = [p for p in self.backbone.parameters() if p.requires_grad]
        self.trainable = count_parameters(self.backbone)[0] + \
            count_parameters(self.head)[0]
        self.optimizer = torch.optim.AdamW(
            params + list(self.head.parameters()), lr=1e-4)
        self.steps, self.latencies, self.memory = [], [], []
        self.tries = dict(steps=[], latencies=[])  # every time, by round
        self.metric = DAVPTLoss() if method.startswith('davpt') \
            else None
        # --stage-minima, --lockstep: an inference is cut into stages
        # where each layer starts (its first norm's first call; PromptViT
        # calls the norm's parts directly); the spans (start, end) of an
        # inference's stages, and the stage times of a round's tries
        self._spans = self._turn = None
        self.round_stages, self.round_spans = [], []
        self.stage_rounds, self.stage_tries = [], []
        if args.stage_minima or args.lockstep:
            layers = getattr(self.backbone, 'layers', ())
            if not all(hasattr(layer, 'ln1') for layer in layers) or \
                    not layers:
                flag = '--stage-minima' if args.stage_minima else \
                    '--lockstep'
                raise ValueError(f'{flag} times ViT layers (each with ln1); '
                                 f'method {method!r} has none')
            for i, layer in enumerate(layers):
                layer.ln1.register_forward_pre_hook(self._layer_starts(i))

    def _layer_starts(self, index):
        """Ends the running stage where layer ``index`` first starts; in
        lockstep, hands over to the next method until it is this one's turn
        again (the wait belongs to no stage)."""

        def hook(module, inputs):
            if self._spans is None or index in self._layers_seen:
                return
            self._layers_seen.add(index)
            now = self._spans[-1][1] = time.perf_counter()
            if self._turn is not None:
                turns, k = self._turn
                turns.pass_turn(k)
                turns.wait(k)
                now = time.perf_counter()
            self._spans.append([now, None])

        return hook

    def _sync(self):
        if self.args.device.startswith('cuda'):
            torch.cuda.synchronize()

    def _autocast(self):
        return torch.autocast(
            device_type=self.args.device.split(':')[0],
            dtype=torch.float16
            if self.args.device.startswith('cuda') else torch.bfloat16,
            enabled=self.args.amp)

    def step(self):
        self.backbone.train()
        cuda = self.args.device.startswith('cuda')
        if cuda:
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        self._sync()
        start = time.perf_counter()
        with self._autocast():
            logits = self.scores(self.x)
            loss = F.cross_entropy(logits.float(), self.y)
            if self.metric is not None:  # DA-VPT: both metric losses
                layer = self.backbone.num_layers - 1
                patch, cls, proxies = guided_anchors_and_proxies(
                    self.backbone, layer, 'paper')
                assign = self.y % self.backbone.num_prompts_at(layer)
                loss = loss + self.metric(
                    patch.float(), proxies.float(), assign) + self.metric(
                        cls.float(), proxies.float(), assign)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self._sync()
        if cuda:
            self.memory.append(torch.cuda.max_memory_allocated() - base)
        return time.perf_counter() - start

    def infer(self, turn=None):
        """One timed inference. ``turn``: (:class:`TakeTurns`, this
        method's place) in a lockstep try; its time is then the sum of its
        stages."""
        self.backbone.eval()
        timed_stages = self.args.stage_minima or self.args.lockstep
        self._turn = turn
        with torch.no_grad(), self._autocast():
            self._sync()
            start = time.perf_counter()
            # stages: up to layer 0, each layer (up to the next one's
            # start), and the last layer with what follows it
            self._spans = [[start, None]] if timed_stages else None
            self._layers_seen = set()
            self.scores(self.x)
            self._sync()
            end = time.perf_counter()
        if self._spans is None:
            return end - start
        self._spans[-1][1] = end
        stages = [b - a for a, b in self._spans]
        self.round_spans.append(self._spans)
        self.round_stages.append(stages)
        self._spans = self._turn = None
        return sum(stages) if turn is not None else end - start

    def close_round(self, measured):
        """--stage-minima, at the end of a round's inferences: the sum over
        the stages of each stage's fastest time over the round's tries
        (kept when the round is ``measured``, not a warm-up)."""
        if measured and self.round_stages:
            self.stage_tries.append(self.round_stages)
            if self.args.stage_minima:
                self.stage_rounds.append(
                    sum(min(times) for times in zip(*self.round_stages)))
        self.round_stages, self.round_spans = [], []

    def scores(self, x):
        return scores(self.backbone, self.head, x)

    def result(self):
        flops = count_flops(self.backbone, (self.x, )) / len(self.x)
        rss = float('nan')  # (CPU only)
        if self.memory:
            memory = median(self.memory)
        elif self.args.measure == 'latency':  # no training step measured
            memory = float('nan')
        else:
            memory, rss = cpu_peak_memory(self.method)
        return dict(
            method=self.method,
            trainable_params=self.trainable,
            step_s=median(self.steps),
            peak_memory_mb=memory / 2**20,
            peak_rss_mb=rss / 2**20,
            latency_s=median(self.latencies),
            gflops=flops / 1e9,
            step_rounds_s=self.steps,
            latency_rounds_s=self.latencies,
            step_tries_s=self.tries['steps'],
            latency_tries_s=self.tries['latencies'],
            latency_stage_minima_rounds_s=self.stage_rounds,
            latency_stage_tries_s=self.stage_tries)

    def onnx_session(self, folder):
        """Export backbone + head (the shared prefix folded into constants)
        and open it in onnxruntime: (session, feed, max |diff|)."""
        import onnxruntime as ort  # optional: the onnx extra
        module = ScoresModule(self).cpu().eval()
        x = self.x.cpu()
        path = osp.join(folder, f'{self.method}.onnx')
        diff = export_onnx(module, x, path, describe=self.method)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(
            path, options, providers=['CPUExecutionProvider'])
        return session, {'inputs': x.numpy()}, diff


def onnx_latencies(benches, folder, args):
    """onnxruntime latency of each bench on its batch, repeats interleaved
    across the methods as in the PyTorch loop (a load that comes and goes
    then weighs on every method alike): {method: (time of each round,
    every try of each round, max |diff|)}."""
    sessions = {b.method: b.onnx_session(folder) for b in benches}

    def run(method):
        session, feed, _ = sessions[method]
        start = time.perf_counter()
        session.run(None, feed)
        return time.perf_counter() - start

    times = {m: [] for m in sessions}
    tries = {m: [] for m in sessions}
    for i in range(args.warmup + args.repeats):
        round_times = best_of_round(sessions, i, args.best_of, run)
        if i >= args.warmup:
            for method, ts in round_times.items():
                times[method].append(min(ts))
                tries[method].append(ts)
    return {m: (times[m], tries[m], sessions[m][2]) for m in sessions}


# Variables that change the timings without changing the command: the
# allocator (glibc's tunables, a preloaded jemalloc or tcmalloc) and the
# thread pools.
TIMING_VARIABLES = ('MALLOC_', 'GLIBC_TUNABLES', 'LD_PRELOAD', 'OMP_', 'MKL_',
                    'KMP_')


def environment():
    """What the run ran on, for its JSON: versions, threads, processor
    and the timing variables set (a run is only comparable with one whose
    environment matches)."""
    cpu = platform.processor()
    if osp.exists('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as f:
            names = [
                line.split(':', 1)[1].strip() for line in f
                if line.startswith('model name')
            ]
        cpu = names[0] if names else cpu
    return dict(
        python=platform.python_version(),
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        cpu=cpu,
        cpus=os.cpu_count(),
        variables={
            k: v
            for k, v in sorted(os.environ.items())
            if k.startswith(TIMING_VARIABLES)
        })


def paired_ratio(times, reference_times):
    """Median over the rounds of ``times[i] / reference_times[i]``."""
    return median([t / r for t, r in zip(times, reference_times)])


def print_intervals(pairs):
    """``pairs``: {label: (times, reference times)} -> {label: (geometric
    mean, low, high)}, printed."""
    intervals = {k: ratio_interval(*v) for k, v in pairs.items()}
    print('Per-round ratios: geometric mean [95 % t interval over rounds]')
    for label, (mean, low, high) in intervals.items():
        print(f'- {label}: {mean:.3f} [{low:.3f}, {high:.3f}]')
    return intervals


def _status_bytes(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) * 1024  # reported in kB
    raise RuntimeError(f'{field} not in /proc/self/status')


def cpu_peak_memory(method):
    """Peaks of the RSS over two training steps of ``method`` in a fresh
    process, and of the bytes PyTorch allocates over two steps of a new
    model there, each above its value before the steps (the model
    built)."""
    proc = subprocess.run(
        [
            sys.executable, '-m', 'mmprompt.evaluation.benchmark',
            '--memory-of', method
        ] + sys.argv[1:],
        capture_output=True,
        text=True,
        check=True)
    allocated, rss = proc.stdout.strip().splitlines()[-1].split()
    return int(allocated), int(rss)


def memory_worker(method, args, x, y):
    bench = Bench(method, args, x, y)
    # Give freed heap pages back to the system first: building a method can
    # free memory (the whitening fit of bpt-* runs whole forwards), and
    # glibc keeps such pages resident, so the step would reuse them unseen
    # and its RSS delta would read low (fWhiten read 0.51 of full, VPT-Deep
    # 0.63, with the same tokens).
    gc.collect()
    ctypes.CDLL('libc.so.6').malloc_trim(0)
    # Reset the peak RSS (VmHWM) to the current RSS: the peak of importing
    # and building must not count.
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    base = _status_bytes('VmRSS')
    bench.step()
    bench.step()
    rss = _status_bytes('VmHWM') - base
    # then the allocated bytes, profiled (the profiler's own buffers would
    # count in the RSS) in two steps of a new model and optimizer
    del bench
    bench = Bench(method, args, x, y)
    print(peak_allocated(lambda: (bench.step(), bench.step())), rss)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--arch', default='b')
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--patch-size', type=int, default=16)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--num-prompts', type=int, default=100)
    parser.add_argument('--keep-ratio', type=float, default=0.3)
    parser.add_argument(
        '--bpt-width',
        type=int,
        default=25,
        help='inner width of BPT-bilinear (the poster\'s '
        'ImageNet setting)')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument(
        '--best-of',
        type=int,
        default=1,
        help='time each method this many times per round (the passes '
        'alternate their order) and keep its fastest')
    parser.add_argument(
        '--stage-minima',
        action='store_true',
        help='(CPU, with --best-of 2 or more) also time each stage of an '
        'inference (up to the first layer, each layer, the last with what '
        'follows) and give each round the sum over the stages of their '
        'fastest of the round\'s tries')
    parser.add_argument(
        '--lockstep',
        action='store_true',
        help='(CPU, PyTorch inferences of ViT methods) run the methods\' '
        'inferences of a try side by side: each runs one stage (up to the '
        'first layer, a layer, the last with what follows) and hands over '
        'to the next, so the same stage of every method is timed seconds '
        'apart at most; a try\'s time is the sum of its own stages')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='fp16 autocast on CUDA, bf16 on CPU')
    parser.add_argument(
        '--methods', nargs='+', default=list(DEFAULT_METHODS), choices=METHODS)
    parser.add_argument('--swin-arch', default='base')
    parser.add_argument(
        '--swin-prompts',
        type=int,
        default=10,
        help='deep prompts per block of vpt-deep-swin')
    parser.add_argument(
        '--onnx-methods',
        nargs='*',
        default=[],
        choices=METHODS,
        help='also time these methods exported to ONNX in '
        'onnxruntime (CPU), e.g. linear vpt-deep pc')
    parser.add_argument(
        '--measure',
        choices=('both', 'latency', 'step'),
        default='both',
        help='time the inferences, the training steps (and their peak '
        'memory), or both')
    parser.add_argument('--out', default='work_dirs/benchmark.json')
    parser.add_argument(
        '--mapping-classes',
        type=int,
        default=200,
        help='classes for the DA-VPT mapping-update timing '
        '(200: CUB)')
    parser.add_argument(
        '--memory-of', choices=METHODS,
        help=argparse.SUPPRESS)  # the CPU memory worker
    args = parser.parse_args(argv)
    if args.best_of < 1:
        parser.error(f'--best-of must be at least 1, got {args.best_of}')
    if args.stage_minima and (args.best_of < 2 or args.device != 'cpu'):
        parser.error('--stage-minima takes the fastest of each stage over '
                     'a round\'s tries on the CPU: it needs --best-of 2 or '
                     f'more and --device cpu, got --best-of {args.best_of} '
                     f'and --device {args.device}')
    if args.lockstep and (args.measure == 'step' or args.device != 'cpu'):
        parser.error('--lockstep runs the inferences of a try side by side '
                     'on the CPU: it needs --measure latency or both and '
                     f'--device cpu, got --measure {args.measure} and '
                     f'--device {args.device}')
    return args


def ratio(row, ref, key):
    """``row`` over ``ref`` in ``key``: paired by round for times."""
    if not ref or not ref[key]:
        return float('nan')
    rounds = {'step_s': 'step_rounds_s', 'latency_s': 'latency_rounds_s'}
    if key in rounds:
        return paired_ratio(row[rounds[key]], ref[rounds[key]])
    return row[key] / ref[key]


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(0)
    x = torch.randn(
        args.batch_size, 3, args.img_size, args.img_size, device=args.device)
    y = torch.randint(0, 1000, (args.batch_size, ), device=args.device)
    if args.memory_of:
        return memory_worker(args.memory_of, args, x, y)
    env = environment()
    print(f"torch {env['torch']}, {env['threads']} threads, {env['cpu']}" +
          ''.join(f', {k}={v}' for k, v in env['variables'].items()))
    benches = [Bench(m, args, x, y) for m in args.methods]
    turns = TakeTurns(len(benches)) if args.lockstep else None
    for i in range(args.warmup + args.repeats):  # rounds
        if i == args.warmup:
            for b in benches:
                b.memory = []
        rounds = []
        if args.measure != 'step':  # the inferences side by side
            rounds.append(('latencies', Bench.infer))
        if args.measure != 'latency':  # then the steps
            rounds.append(('steps', Bench.step))
        for name, run in rounds:
            if name == 'latencies' and args.lockstep:
                round_times = lockstep_round(benches, i, args.best_of, turns)
            else:
                round_times = best_of_round(benches, i, args.best_of, run)
            if i >= args.warmup:
                for b in benches:
                    getattr(b, name).append(min(round_times[b]))
                    b.tries[name].append(round_times[b])
            for b in benches:
                b.close_round(i >= args.warmup)
    if turns is not None:
        turns.close()
    rows = [b.result() for b in benches]
    best_of = f'(the fastest of {args.best_of} tries in each) ' \
        if args.best_of > 1 else ''
    if args.lockstep:
        best_of += '(inferences in lockstep) '
    by = {r['method']: r for r in rows}
    full, vpt = by.get('full'), by.get('vpt-deep')
    print(f'ViT-{args.arch}/{args.patch_size} {args.img_size}px, batch '
          f'{args.batch_size}, {args.num_prompts} prompts, {args.device}'
          f'{" AMP" if args.amp else ""}, median of {args.repeats} rounds '
          f'{best_of}'
          '(ratios: median of the per-round ratios)')
    print('| method | trainable | step (s) | step / full | step / VPT-Deep '
          '| step / reference | peak mem (MB) | mem / full | peak RSS (MB) '
          '| RSS / full | latency (s) | latency / VPT-Deep '
          '| latency / prompt-free | GFLOPs / image |')
    print('|---' * 14 + '|')
    reference = by.get('vpt-deep-reference')
    for r in rows:
        prompt_free = by.get('swin' if 'swin' in r['method'] else 'linear')
        print(f"| {r['method']} | {r['trainable_params']:,} | "
              f"{r['step_s']:.3f} | {ratio(r, full, 'step_s'):.2f} | "
              f"{ratio(r, vpt, 'step_s'):.2f} | "
              f"{ratio(r, reference, 'step_s'):.2f} | "
              f"{r['peak_memory_mb']:.0f} | "
              f"{ratio(r, full, 'peak_memory_mb'):.2f} | "
              f"{r['peak_rss_mb']:.0f} | "
              f"{ratio(r, full, 'peak_rss_mb'):.2f} | "
              f"{r['latency_s']:.3f} | {ratio(r, vpt, 'latency_s'):.2f} | "
              f"{ratio(r, prompt_free, 'latency_s'):.2f} | "
              f"{r['gflops']:.2f} |")
    pairs = {}
    for r in rows:
        prompt_free = by.get('swin' if 'swin' in r['method'] else 'linear')
        if prompt_free and prompt_free is not r and r['method'] != 'full' \
                and r['latency_rounds_s']:
            pairs[f"latency {r['method']} / {prompt_free['method']}"] = (
                r['latency_rounds_s'], prompt_free['latency_rounds_s'])
            if r['latency_stage_minima_rounds_s']:
                pairs['latency (stage minima) '
                      f"{r['method']} / {prompt_free['method']}"] = (
                          r['latency_stage_minima_rounds_s'],
                          prompt_free['latency_stage_minima_rounds_s'])
        if reference and r is not reference and 'swin' not in r['method'] \
                and r['step_rounds_s']:
            pairs[f"step {r['method']} / vpt-deep-reference"] = (
                r['step_rounds_s'], reference['step_rounds_s'])
    extra = dict(ratio_intervals=print_intervals(pairs))
    if any(m.startswith('davpt') for m in args.methods):
        extra['mapping_update_s'] = mapping_update_seconds(args)
        print(f"DA-VPT mapping update at an epoch end ({args.mapping_classes}"
              f' classes -> {args.num_prompts} prompts, cosine k-means): '
              f"{extra['mapping_update_s']:.3f} s")
    for b in benches:
        if b.whitening_s is not None:
            extra[f'{b.method}_whitening_s'] = b.whitening_s
            print(
                f'{b.method}: whitening matrices of {len(b.backbone.prompts)} '
                f'layers from {args.batch_size} images (once, before '
                f'training): {b.whitening_s:.3f} s')
    onnx_rows = {}
    if args.onnx_methods:
        import onnxruntime  # optional: the onnx extra
        env['onnxruntime'] = onnxruntime.__version__
        with tempfile.TemporaryDirectory() as folder:
            onnx_rows = onnx_latencies(
                [b for b in benches if b.method in args.onnx_methods], folder,
                args)
        ref = onnx_rows.get('linear', (None, ))[0]
        print('| method (onnxruntime) | latency (s) | / linear | '
              'max abs diff |')
        print('|---|---|---|---|')
        for method, (times, _, diff) in onnx_rows.items():
            rel = f'{paired_ratio(times, ref):.2f}' if ref else '-'
            print(f'| {method} | {median(times):.3f} | {rel} | {diff:.2g} |')
        extra['onnxruntime'] = {
            m:
            dict(
                latency_s=median(t),
                latency_rounds_s=t,
                latency_tries_s=tries,
                max_abs_diff=d)
            for m, (t, tries, d) in onnx_rows.items()
        }
        if ref:
            extra['ratio_intervals'].update(
                print_intervals({
                    f'onnxruntime latency {m} / linear': (t, ref)
                    for m, (t, _, _) in onnx_rows.items() if m != 'linear'
                }))
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(
            dict(args=vars(args), environment=env, rows=rows, **extra),
            f,
            indent=2)
    print(f'Wrote {args.out}')


if __name__ == '__main__':  # the --memory-of worker (cpu_peak_memory)
    sys.exit(main())
