"""Timings compared by paired rounds: the order of a round, the ratio
of two timings over rounds with its interval, and the peak of the bytes
PyTorch allocates on the CPU."""
import numpy as np
from scipy import stats
from torch.profiler import ProfilerActivity, profile


def round_order(items, index):
    """``items`` in round ``index``: as given in even rounds, reversed in
    odd ones."""
    return list(items) if index % 2 == 0 else list(items)[::-1]


def ratio_interval(times, reference_times, level=0.95):
    """Geometric mean of the per-round ratios and its ``level`` t interval
    over the rounds (of the log ratios): how far the machine's noise lets
    a ratio be told from a target. NaN with fewer than two rounds."""
    logs = np.log(np.asarray(times) / np.asarray(reference_times))
    if len(logs) < 2:
        return (float('nan'), ) * 3
    mean, sem = logs.mean(), logs.std(ddof=1) / np.sqrt(len(logs))
    half = stats.t.ppf(0.5 + level / 2, len(logs) - 1) * sem
    return tuple(float(np.exp(v)) for v in (mean, mean - half, mean + half))


def peak_allocated(fn):
    """Run ``fn()`` and return the peak of the bytes allocated on the CPU
    through PyTorch's allocator above those allocated when it started:
    what ``torch.cuda.max_memory_allocated`` measures on CUDA, which the
    CPU has no counter for. The profiler records every allocation and
    free; their running sum in time order peaks there. (Its function
    events fold an op's temporaries into the op's net change, so the raw
    events are read.) A block allocated before ``fn`` and freed in it is
    not seen freed (the profiler never learnt its size): the result is
    then an upper bound. Two training steps from a built model free only
    what they allocated."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as p:
        fn()
    changes = [(e.start_ns(), e.nbytes())
               for e in p.profiler.kineto_results.events()
               if e.name() == '[memory]' and e.device_type().name == 'CPU']
    live = peak = 0
    for _, nbytes in sorted(changes, key=lambda c: c[0]):
        live += nbytes
        peak = max(peak, live)
    return peak
