"""The claims study's statistics against hand-computed values."""
import numpy as np
import pytest

from mmprompt.evaluation import claim_statistics as cs


def test_holm_by_hand():
    # sorted 0.01 0.03 0.04 0.2 -> x4 x3 x2 x1 = 0.04 0.09 0.08 0.2, then
    # made non-decreasing: 0.04 0.09 0.09 0.2 (back in the input order)
    assert cs.holm([0.01, 0.04, 0.03,
                    0.2]) == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert cs.holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # capped
    with pytest.raises(ValueError, match='in \\[0, 1\\]'):
        cs.holm([0.1, 1.5])


def test_bootstrap_distribution_of_two_seeds_by_hand():
    # one test image; A is right on it with seed 0 only. Drawing 2 seeds
    # with replacement: both seed 0 (1/4) -> 100, one of each (1/2) -> 50,
    # both seed 1 (1/4) -> 0 points.
    a, b = [[1], [0]], [[0], [0]]
    samples = cs.bootstrap_differences(a, b, num_samples=20000, seed=3)
    for value, share in ((100., .25), (50., .5), (0., .25)):
        assert np.mean(samples == value) == pytest.approx(share, abs=.01)
    result = cs.paired_bootstrap(a, b, num_samples=20000, seed=3)
    assert result['mean'] == 50.
    assert (result['low'], result['high']) == (0., 100.)
    # P(d* <= 0) = 1/4, P(d* >= 0) = 1: p = 2 x 1/4
    assert result['p'] == pytest.approx(.5, abs=.02)
    # SD of {100: 1/4, 50: 1/2, 0: 1/4} = sqrt(1250)
    assert result['se'] == pytest.approx(np.sqrt(1250), rel=.02)
    # a fixed seed gives the same samples
    again = cs.bootstrap_differences(a, b, num_samples=20000, seed=3)
    assert np.array_equal(samples, again)


def test_bootstrap_resamples_images_within_each_seed():
    # 2 seeds, 2 images; A is right on image 0 only, with both seeds. Seeds
    # are then exchangeable and only the image draws matter: the mean of
    # 4 draws of {1, 0} (2 per seed) is k/4 with k ~ Binomial(4, 1/2).
    a, b = [[1, 0], [1, 0]], [[0, 0], [0, 0]]
    samples = cs.bootstrap_differences(a, b, num_samples=40000, seed=0)
    for k, share in enumerate((1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)):
        assert np.mean(samples == 25. * k) == pytest.approx(share, abs=.01)


def test_pooled_bootstrap_averages_independent_tasks():
    # task 1: the 2-seed case above (100 / 50 / 0 with 1/4, 1/2, 1/4);
    # task 2: no difference at all. The pooled difference is half of
    # task 1's: 50 / 25 / 0 with the same shares.
    one = ([[1], [0]], [[0], [0]])
    two = ([[1, 0], [0, 1]], [[1, 0], [0, 1]])
    result = cs.pooled_bootstrap([one, two], num_samples=20000, seed=5)
    assert result['mean'] == 25.
    for value, share in ((50., .25), (25., .5), (0., .25)):
        assert np.mean(result['samples'] == value) == pytest.approx(
            share, abs=.01)
    # per seed: task 1 gives 100 then 0, task 2 gives 0 and 0: 50 and 0
    assert result['seed_sd'] == pytest.approx(np.std([50, 0], ddof=1))
    assert result['num_seeds'] == 2
    with pytest.raises(ValueError, match='at least one task'):
        cs.pooled_bootstrap([])


def test_shapes_are_checked():
    with pytest.raises(ValueError, match='same shape'):
        cs.paired_bootstrap([[1, 0]], [[1]])
    with pytest.raises(ValueError, match='at least 2 seeds'):
        cs.paired_bootstrap([[1, 0]], [[1, 1]])


def test_tost_by_hand():
    inside = np.linspace(-.5, .5, 1001)
    p, low, high = cs.tost(inside, margin=1.)
    # the 90 % interval of an even grid on [-.5, .5]: its 5th and 95th
    # percentiles
    assert (p, low, high) == (0., pytest.approx(-.45), pytest.approx(.45))
    shifted = np.linspace(0., 2., 1001)  # half of it at or beyond +1
    p, _, _ = cs.tost(shifted, margin=1.)
    assert p == pytest.approx(501 / 1001)
    with pytest.raises(ValueError, match='margin must be > 0'):
        cs.tost(inside, margin=0)


def test_min_detectable_difference_by_hand():
    # t tables, 4 df: t_.975 = 2.7764, t_.80 = 0.9410
    assert cs.min_detectable_difference(2.5, 5) == pytest.approx(
        (2.7764 + 0.9410) * 2.5 / np.sqrt(5), abs=1e-3)
    # 1.5 points SD: 8 seeds -> (2.3646 + 0.8960) 1.5 / sqrt 8 = 1.729,
    # 9 -> (2.3060 + 0.8889) 1.5 / 3 = 1.597: 9 seeds reach 1.6 points
    assert cs.seeds_needed(1.5, 1.6) == 9
    assert cs.seeds_needed(0.1, 5.0) == 8  # never fewer than 8
    assert cs.seeds_needed(10., 0.1, maximum=20) == 20


def test_verdicts():
    assert cs.verdict(1, 0.5, 2.0, 0.01) == 'holds'
    assert cs.verdict(-1, -3.0, -1.0, 0.01) == 'holds'
    assert cs.verdict(1, -3.0, -1.0, 0.01) == 'contradicted'
    assert cs.verdict(1, 0.5, 2.0, 0.2) == 'not shown'  # after Holm
    assert cs.verdict(1, -0.5, 2.0, 0.04) == 'not shown'
    with pytest.raises(ValueError, match='expected_sign'):
        cs.verdict(0, 0.5, 2.0, 0.01)
    # within 1 point: TOST decides holds; an interval beyond the margin
    # contradicts
    assert cs.equivalence_verdict(-0.4, 0.5, 1., 0.01) == 'holds'
    assert cs.equivalence_verdict(1.2, 3.0, 1., 0.9) == 'contradicted'
    assert cs.equivalence_verdict(-3.0, -1.1, 1., 0.9) == 'contradicted'
    assert cs.equivalence_verdict(-0.5, 1.5, 1., 0.2) == 'not shown'
