"""Statistics of the claims study: paired differences that survive many
comparisons.

A claim compares two methods trained with the same seeds and tested on the
same test images. Its data are two arrays ``correct_a`` and ``correct_b`` of
shape ``(seeds, images)``: 1 where that seed's model got that image right.

- :func:`paired_bootstrap`: the difference of mean accuracy (points), its
  percentile interval and two-sided p-value, from a two-level bootstrap:
  resample the seeds, then within each drawn seed the test images; both
  methods keep the same draws (paired). Both sources of variance (training
  seed, finite test set) are in the interval.
- :func:`pooled_bootstrap`: the same for a claim over several tasks (the
  mean of the tasks' differences, each task resampled on its own).
- :func:`tost`: two one-sided tests for "within ``margin`` points", from the
  same bootstrap distribution: equivalent when the ``1 - 2 alpha`` interval
  lies inside ``[-margin, margin]``.
- :func:`holm`: Holm's step-down adjustment over the primary claims (scipy
  has none; statsmodels is not a dependency).
- :func:`min_detectable_difference`: the smallest true difference the design
  detects with the given power, from the per-seed differences' SD (paired t
  design over seeds; the bootstrap SE when it is larger).
- :func:`seeds_needed`: the seeds a claim needs to detect a target
  difference, sized from a pilot's per-seed SD.
- :func:`verdict` and :func:`equivalence_verdict`: holds / contradicted /
  not shown.
"""
import math

import numpy as np
from scipy import stats

ALPHA = 0.05
POWER = 0.8


def _as_pair(correct_a, correct_b):
    a = np.asarray(correct_a, dtype=np.float64)
    b = np.asarray(correct_b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError('correct_a and correct_b must have the same shape '
                         f'(seeds, images); got {a.shape} and {b.shape}')
    if a.shape[0] < 2 or a.shape[1] < 1:
        raise ValueError(f'a paired comparison needs at least 2 seeds and 1 '
                         f'test image; got shape {a.shape}')
    return a, b


def bootstrap_differences(correct_a, correct_b, num_samples=10000, seed=0):
    """The bootstrap distribution of ``mean(a) - mean(b)`` in points.

    Each sample draws ``S`` seeds with replacement and, for every drawn
    seed, ``N`` of its test images with replacement (the same images for
    both methods). Returns an array of ``num_samples`` differences.
    """
    a, b = _as_pair(correct_a, correct_b)
    d = a - b  # per seed and image: -1, 0 or 1
    num_seeds, num_images = d.shape
    rng = np.random.default_rng(seed)
    out = np.empty(num_samples)
    for i in range(num_samples):
        seeds = rng.integers(num_seeds, size=num_seeds)
        images = rng.integers(num_images, size=(num_seeds, num_images))
        out[i] = d[seeds[:, None], images].mean()
    return 100. * out


def two_sided_p(samples, null=0.):
    """Percentile-bootstrap p-value of ``difference == null``: twice the
    smaller tail beyond ``null`` (the interval's dual), at most 1."""
    samples = np.asarray(samples)
    low = np.mean(samples <= null)
    high = np.mean(samples >= null)
    return float(min(1., 2. * min(low, high)))


def paired_bootstrap(correct_a,
                     correct_b,
                     alpha=ALPHA,
                     num_samples=10000,
                     seed=0):
    """Mean difference (points), ``1 - alpha`` percentile interval, p-value
    and bootstrap SE of ``a - b``; see :func:`bootstrap_differences`."""
    a, b = _as_pair(correct_a, correct_b)
    samples = bootstrap_differences(a, b, num_samples, seed)
    low, high = np.quantile(samples, [alpha / 2, 1 - alpha / 2])
    return dict(
        mean=float(100. * (a - b).mean()),
        low=float(low),
        high=float(high),
        p=two_sided_p(samples),
        se=float(samples.std(ddof=1)),
        samples=samples)


def pooled_bootstrap(pairs, alpha=ALPHA, num_samples=10000, seed=0):
    """:func:`paired_bootstrap` of a claim over several tasks: the mean over
    tasks of each task's difference. ``pairs`` is a list of
    ``(correct_a, correct_b)``, one per task; each task is resampled on
    its own (its seeds are its own runs). Adds ``seed_sd``: the SD over
    seeds of the per-seed difference averaged over the tasks (the seeds
    every task has), for :func:`min_detectable_difference`."""
    if not pairs:
        raise ValueError('pooled_bootstrap needs at least one task')
    pairs = [_as_pair(a, b) for a, b in pairs]
    samples = np.mean([
        bootstrap_differences(a, b, num_samples, seed + k)
        for k, (a, b) in enumerate(pairs)
    ],
                      axis=0)
    low, high = np.quantile(samples, [alpha / 2, 1 - alpha / 2])
    num_seeds = min(a.shape[0] for a, _ in pairs)
    per_seed = np.mean(
        [100. * (a[:num_seeds] - b[:num_seeds]).mean(1) for a, b in pairs],
        axis=0)
    return dict(
        mean=float(np.mean([100. * (a - b).mean() for a, b in pairs])),
        low=float(low),
        high=float(high),
        p=two_sided_p(samples),
        se=float(samples.std(ddof=1)),
        seed_sd=float(per_seed.std(ddof=1)),
        num_seeds=int(num_seeds),
        samples=samples)


def tost(samples, margin, alpha=ALPHA):
    """Equivalence within ``[-margin, margin]`` points from bootstrap
    ``samples`` of the difference: ``(p, low, high)`` with ``p`` the larger
    of the two one-sided p-values and ``(low, high)`` the ``1 - 2 alpha``
    interval; equivalent when ``p < alpha`` (the interval inside the
    margins)."""
    if margin <= 0:
        raise ValueError(f'margin must be > 0 points; got {margin}')
    samples = np.asarray(samples)
    p_low = np.mean(samples <= -margin)  # H0: difference <= -margin
    p_high = np.mean(samples >= margin)  # H0: difference >= +margin
    low, high = np.quantile(samples, [alpha, 1 - alpha])
    return float(max(p_low, p_high)), float(low), float(high)


def holm(pvalues):
    """Holm's step-down adjusted p-values, in the input order: the i-th
    smallest of m is multiplied by ``m - i + 1`` (i from 1), then made
    non-decreasing and capped at 1. Reject where adjusted ``<= alpha``."""
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1 or np.any((p < 0) | (p > 1)):
        raise ValueError(f'p-values must be a list in [0, 1]; got {pvalues}')
    m = p.size
    order = np.argsort(p, kind='stable')
    scaled = np.minimum(1., p[order] * (m - np.arange(m)))
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted.tolist()


def min_detectable_difference(sd, num_seeds, alpha=ALPHA, power=POWER):
    """Smallest true mean difference a paired t design over ``num_seeds``
    seeds with per-seed difference SD ``sd`` detects with ``power`` at
    two-sided level ``alpha``: ``(t_{1-alpha/2} + t_{power}) sd / sqrt(n)``
    with ``n - 1`` degrees of freedom."""
    if num_seeds < 2:
        raise ValueError(f'num_seeds must be >= 2; got {num_seeds}')
    df = num_seeds - 1
    t = stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)
    return float(t * sd / math.sqrt(num_seeds))


def seeds_needed(sd, target, alpha=ALPHA, power=POWER, minimum=8, maximum=64):
    """The fewest seeds (at least ``minimum``) whose minimum detectable
    difference is at most ``target`` points, or ``maximum`` if none is."""
    if target <= 0:
        raise ValueError(f'target must be > 0 points; got {target}')
    for n in range(max(2, minimum), maximum + 1):
        if min_detectable_difference(sd, n, alpha, power) <= target:
            return n
    return maximum


def verdict(expected_sign, low, high, p_adjusted, alpha=ALPHA):
    """``'holds'`` when the Holm-adjusted p is below ``alpha`` and the
    interval lies on the claimed side of 0 (``expected_sign`` +1 or -1);
    ``'contradicted'`` when it is significant on the other side; else
    ``'not shown'``."""
    if expected_sign not in (1, -1):
        raise ValueError(f'expected_sign must be 1 or -1; got '
                         f'{expected_sign}')
    if p_adjusted >= alpha:
        return 'not shown'
    if (low > 0 and expected_sign == 1) or (high < 0 and expected_sign == -1):
        return 'holds'
    if (low > 0) or (high < 0):
        return 'contradicted'
    return 'not shown'


def equivalence_verdict(low, high, margin, p_adjusted, alpha=ALPHA):
    """``'holds'`` when the Holm-adjusted TOST p is below ``alpha``;
    ``'contradicted'`` when the (95 %) interval ``[low, high]`` lies
    entirely beyond ``+-margin``; else ``'not shown'``."""
    if p_adjusted < alpha:
        return 'holds'
    if low > margin or high < -margin:
        return 'contradicted'
    return 'not shown'
