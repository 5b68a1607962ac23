"""probe.stats against scipy and exact binomial enumeration; coverage of the 95 % intervals on seeded subsets."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats as scipy_stats
from test_runner import QUICK_OPTIONS

from probe import models, registry, stats
from probe.errors import ParameterError


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (7, 10), (10, 10), (45, 50), (860, 1000)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_matches_scipy(k, n, confidence):
    expected = scipy_stats.binomtest(k, n).proportion_ci(confidence, method="wilson")
    np.testing.assert_allclose(stats.wilson(k, n, confidence), (expected.low, expected.high), atol=1e-12)
    estimate = stats.proportion(np.arange(n) < k, confidence)
    assert estimate.value == k / n and estimate.n == n


def test_confidence_outside_zero_one_is_a_user_error():
    for bad in (0.0, 1.0, 95, -0.5):
        with pytest.raises(ParameterError, match="confidence"):
            stats.median([1.0, 2.0, 3.0], bad)


@pytest.mark.parametrize("n", [6, 10, 25, 50, 101])
@pytest.mark.parametrize("q", [0.25, 0.5, 0.9])
def test_order_statistic_ranks_cover_by_exact_enumeration(n, q):
    """Coverage of [x_(l), x_(u)] for a continuous distribution is P(l ≤ B ≤ u − 1), B ~ Bin(n, q):
    enumerate B's pmf."""
    lower, upper = stats.order_ranks(n, q, 0.95)
    pmf = [math.comb(n, b) * q ** b * (1 - q) ** (n - b) for b in range(n + 1)]
    coverage = sum(pmf[b] for b in range(lower, upper))
    assert coverage >= 0.95 - 1e-12
    # no pair of ranks with fewer order statistics between them covers
    for lo in range(0, n + 1):
        for hi in range(lo + 1, min(lo + upper - lower, n + 2)):
            assert sum(pmf[b] for b in range(lo, hi)) < 0.95 - 1e-12 or (lo, hi) == (lower, upper)


def test_median_interval_bounds_are_the_chosen_order_statistics():
    values = np.random.default_rng(1).lognormal(size=41)
    estimate = stats.median(values)
    lower, upper = stats.order_ranks(41, 0.5)
    assert estimate.value == np.median(values)
    assert (estimate.low, estimate.high) == (np.sort(values)[lower - 1], np.sort(values)[upper - 1])
    assert estimate.low < estimate.value < estimate.high


def test_non_converged_values_rank_last_and_open_the_interval():
    values = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6] + [math.inf] * 5)
    estimate = stats.median(values)
    assert estimate.value == 0.6 and estimate.high == math.inf and estimate.n == 11
    mostly_inf = stats.median([0.1] + [math.inf] * 9)
    assert mostly_inf.value == math.inf and mostly_inf.high == math.inf


@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_t_interval_matches_scipy(confidence):
    values = np.random.default_rng(2).normal(3.0, 2.0, size=30)
    expected = scipy_stats.t.interval(confidence, 29, loc=values.mean(), scale=scipy_stats.sem(values))
    estimate = stats.mean(values, confidence)
    np.testing.assert_allclose((estimate.low, estimate.high), expected, rtol=1e-12)
    assert stats.mean([1.0, math.inf]).high == math.inf


def test_bootstrap_percentile_interval_agrees_with_scipy():
    values = np.random.default_rng(3).exponential(size=80)
    low, high = stats.bootstrap(lambda counts: counts @ values / len(values), len(values))
    ci = scipy_stats.bootstrap((values,), np.mean, n_resamples=2000, method="percentile",
                               rng=np.random.default_rng(0)).confidence_interval
    np.testing.assert_allclose((low, high), (ci.low, ci.high), atol=0.05)
    again = stats.bootstrap(lambda counts: counts @ values / len(values), len(values))
    assert (low, high) == again                                              # seeded


def test_bootstrap_is_paired_across_cells():
    """One resampling serves every cell: two identical cells get identical intervals, and the
    interval of their difference is exactly zero."""
    flags = np.random.default_rng(4).random((60, 2)) < 0.7
    flags[:, 1] = flags[:, 0]
    low, high = stats.bootstrap(lambda counts: stats.weighted_share(counts, flags), 60)
    assert low[0] == low[1] and high[0] == high[1] and low[0] < flags[:, 0].mean() < high[0]
    diff = stats.bootstrap(lambda counts: np.diff(stats.weighted_share(counts, flags), axis=1)[:, 0], 60)
    assert diff == (0.0, 0.0)


def test_resample_counts_draw_n_each():
    counts = stats.resample_counts(7, 100, np.random.default_rng(0))
    assert counts.shape == (100, 7) and (counts.sum(axis=1) == 7).all()


def test_mcnemar_is_the_exact_binomial_on_discordant_pairs():
    a = np.array([1] * 30 + [0] * 10 + [1] * 2 + [0] * 8, dtype=bool)
    b = np.array([1] * 30 + [1] * 10 + [0] * 2 + [0] * 8, dtype=bool)
    assert stats.mcnemar(a, b) == pytest.approx(scipy_stats.binomtest(2, 12, 0.5).pvalue)
    assert stats.mcnemar(a, a) == 1.0


def test_signed_rank_matches_scipy_and_ranks_inf_last():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=20), rng.normal(0.5, size=20)
    assert stats.signed_rank(stats.paired_differences(a, b)) == pytest.approx(scipy_stats.wilcoxon(a - b).pvalue)
    a_inf = np.append(a, [math.inf, math.inf])
    b_inf = np.append(b, [1.0, math.inf])
    d = stats.paired_differences(a_inf, b_inf)
    assert d[-2] == math.inf and d[-1] == 0.0               # inf − inf is a tie, dropped like any zero difference
    big = np.append(a - b, 100.0)                           # the same ranks as a finite largest difference
    assert stats.signed_rank(d) == pytest.approx(scipy_stats.wilcoxon(big).pvalue)


def test_holm_matches_a_hand_computed_case():
    np.testing.assert_allclose(stats.holm([0.01, 0.04, 0.03, 0.2]), [0.04, 0.09, 0.09, 0.2])
    np.testing.assert_allclose(stats.holm([0.5, 0.6]), [1.0, 1.0])


def test_samples_needed_scales_with_the_square_of_the_width():
    assert stats.samples_needed(100, 0.2, 0.1) == 400
    assert stats.samples_needed(100, 0.05, 0.1) == 100
    assert stats.samples_needed(100, math.inf, 0.1) == 0


SUBSETS, SUBSET_SIZE = 2000, 50


def test_95_percent_intervals_cover_the_population_value_on_seeded_subsets():
    """2000 seeded subsets of 50 from a fixed population of stored per-sample values: the median
    interval (margins, 8 % not converged) and the Wilson interval (correctness) cover the
    population value in 93–97 % of subsets."""
    rng = np.random.default_rng(2024)
    population = 20_000
    margins = rng.lognormal(0.0, 0.6, population)
    margins[rng.random(population) < 0.08] = math.inf
    correct = rng.random(population) < 0.83
    true_median, true_accuracy = np.median(margins), correct.mean()
    covered_median = covered_accuracy = 0
    for seed in range(SUBSETS):
        chosen = np.random.default_rng(seed).permutation(population)[:SUBSET_SIZE]
        m = stats.median(margins[chosen])
        a = stats.proportion(correct[chosen])
        covered_median += m.low <= true_median <= m.high
        covered_accuracy += a.low <= true_accuracy <= a.high
    assert 0.93 <= covered_median / SUBSETS <= 0.97, covered_median / SUBSETS
    assert 0.93 <= covered_accuracy / SUBSETS <= 0.97, covered_accuracy / SUBSETS


@pytest.mark.parametrize("name", list(registry.PROBES))
def test_every_summary_carries_intervals_around_its_numbers(name, sample_test):
    """Each headline x comes with x_low ≤ x ≤ x_high (same unit) and the samples; a narrower
    confidence gives a narrower interval (an untrained LeNet: the numbers need not be good)."""
    entry = registry.entry(name)
    if entry.uses_model:
        torch.manual_seed(0)
        model = models.build("lenet", in_channels=1, num_classes=10, image_size=(28, 28))
        ds = entry.load().run(model, sample_test, n=24, seed=0, **QUICK_OPTIONS.get(name, {}))
    else:
        ds = entry.load().run(samples=200, dim=64, norms=["Linf", "L1"])
    numbers = entry.load().summary(ds)
    assert numbers["samples"] > 0
    headlines = [key[:-4] for key in numbers if key.endswith("_low")]
    assert headlines, numbers
    for key in headlines:
        assert numbers[f"{key}_low"] <= numbers[key] <= numbers[f"{key}_high"], (key, numbers)
    narrow = entry.load().summary(ds, confidence=0.5)
    for key in headlines:
        assert numbers[f"{key}_low"] <= narrow[f"{key}_low"] and narrow[f"{key}_high"] <= numbers[f"{key}_high"], key
