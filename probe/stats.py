"""Confidence intervals and paired tests for the numbers probes report.

    probe.stats.proportion(correct)             # Estimate(value, low, high, n): Wilson score interval
    probe.stats.quantile(margins, 0.5)          # order-statistic (binomial) interval of the median
    probe.stats.mean(losses)                    # Student t interval
    probe.stats.bootstrap(statistic, n)         # seeded percentile bootstrap over samples, paired across cells

Every interval is two-sided at `confidence` (95 % by default).  `+inf` stands for a value that
did not converge: it ranks above every finite value and is never dropped, so a quantile whose
interval reaches into the non-converged share gets `+inf` as its upper bound.

- Wilson score interval for a proportion (Wilson 1927).
- Distribution-free interval for a quantile from two order statistics, whose coverage is a
  binomial probability (Hahn & Meeker 1991, ch. 5): the pair of ranks with the fewest order
  statistics between them whose coverage is at least `confidence`.
- t interval for the mean of per-sample values (Student 1908).
- Percentile bootstrap (Efron & Tibshirani 1993, ch. 13): every replicate draws n samples with
  replacement; one draw serves every cell of a result, so differences between cells stay paired.
- Paired tests: exact McNemar test (McNemar 1947) on discordant pairs, Wilcoxon signed-rank test
  (Wilcoxon 1945), Holm's step-down adjustment across the cells of one result (Holm 1979).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import stats as scipy_stats

from probe.errors import ParameterError

CONFIDENCE = 0.95
RESAMPLES = 2000        # bootstrap replicates
BOOTSTRAP_SEED = 0
BLOCK = 250             # bootstrap replicates drawn at once (bounds the memory of the count matrix)


class Estimate(NamedTuple):
    """A number, its confidence interval (same unit) and the samples it rests on."""

    value: float
    low: float
    high: float
    n: int

    def scaled(self, factor: float) -> Estimate:
        """The same estimate in another unit (e.g. a proportion in percent)."""
        return Estimate(self.value * factor, self.low * factor, self.high * factor, self.n)


def check_confidence(confidence: float) -> float:
    """`confidence` as a float in (0, 1), else a `ParameterError`."""
    value = float(confidence)
    if not 0.0 < value < 1.0:
        raise ParameterError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    return value


def normal_quantile(confidence: float = CONFIDENCE) -> float:
    """z with `P(|Z| ≤ z)` = `confidence` for a standard normal Z (1.96 at 95 %)."""
    return float(scipy_stats.norm.ppf(0.5 + check_confidence(confidence) / 2))


def wilson(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a proportion `successes / n` (as fractions); (0, 1) when n = 0."""
    if n <= 0:
        check_confidence(confidence)
        return 0.0, 1.0
    z, p = normal_quantile(confidence), successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half))   # exact at k = 0 and k = n


def proportion(flags: npt.ArrayLike, confidence: float = CONFIDENCE) -> Estimate:
    """The share of true `flags` (a fraction) with its Wilson interval; 0 in (0, 1) when empty."""
    flags = np.asarray(flags, dtype=bool).reshape(-1)
    n, k = len(flags), int(flags.sum())
    low, high = wilson(k, n, confidence)
    return Estimate(k / n if n else 0.0, low, high, n)


def order_ranks(n: int, q: float, confidence: float = CONFIDENCE) -> tuple[int, int]:
    """Ranks (l, u), 1-based, of the order statistics bounding the q-quantile of n values with
    coverage P(l ≤ B < u) ≥ `confidence`, B ~ Binomial(n, q): the pair with the fewest ranks
    between them, then the one whose two tails are most nearly equal.  l = 0 means no lower
    bound (−inf), u = n + 1 no upper bound (+inf); used only when n is too small otherwise."""
    check_confidence(confidence)
    if not 0.0 < q < 1.0:
        raise ParameterError(f"quantile must lie strictly between 0 and 1, got {q}")
    # below[r] = P(B ≤ r − 1) for r = 0..n+1: the probability that x_(r) lies above the quantile
    below = np.concatenate([[0.0], scipy_stats.binom.cdf(np.arange(n), n, q), [1.0]])
    best: tuple[tuple[bool, int, float], int, int] | None = None
    for lower in range(0, n + 1):
        upper = int(np.searchsorted(below, below[lower] + confidence - 1e-12, side="left"))
        if upper > n + 1:
            break
        upper = max(upper, lower + 1)
        key = (lower == 0 or upper == n + 1, upper - lower, abs(below[lower] - (1.0 - below[upper])))
        if best is None or key < best[0]:
            best = (key, lower, upper)
    assert best is not None   # (0, n + 1) always covers
    return best[1], best[2]


def _point_quantile(ordered: np.ndarray, q: float) -> float:
    """The sample q-quantile; the median averages the two middle values (+inf when one is +inf)."""
    if q == 0.5:
        return float(np.median(ordered))
    return float(np.quantile(ordered, q, method="inverted_cdf"))


def quantile(values: npt.ArrayLike, q: float = 0.5, confidence: float = CONFIDENCE) -> Estimate:
    """The q-quantile of `values` (+inf allowed: not converged) with its distribution-free
    order-statistic interval; nothing is dropped.  Empty: +inf in (−inf, +inf)."""
    ordered = np.sort(np.asarray(values, dtype=np.float64).reshape(-1))
    n = len(ordered)
    if n == 0:
        check_confidence(confidence)
        return Estimate(math.inf, -math.inf, math.inf, 0)
    lower, upper = order_ranks(n, q, confidence)
    low = float(ordered[lower - 1]) if lower >= 1 else -math.inf
    high = float(ordered[upper - 1]) if upper <= n else math.inf
    return Estimate(_point_quantile(ordered, q), low, high, n)


def median(values: npt.ArrayLike, confidence: float = CONFIDENCE) -> Estimate:
    """The median with its order-statistic interval (see `quantile`)."""
    return quantile(values, 0.5, confidence)


def mean(values: npt.ArrayLike, confidence: float = CONFIDENCE) -> Estimate:
    """The mean with its t interval.  A +inf value makes mean and interval +inf; fewer than two
    values give (−inf, +inf)."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    n = len(values)
    check_confidence(confidence)
    if n == 0:
        return Estimate(math.inf, -math.inf, math.inf, 0)
    centre = float(values.mean())
    if not math.isfinite(centre):
        return Estimate(centre, centre, centre, n)
    if n < 2:
        return Estimate(centre, -math.inf, math.inf, n)
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, n - 1) * values.std(ddof=1) / math.sqrt(n))
    return Estimate(centre, centre - half, centre + half, n)


def resample_counts(n: int, resamples: int, generator: np.random.Generator) -> np.ndarray:
    """(resamples, n) counts: how often each of n samples is drawn in each bootstrap replicate."""
    draws = generator.integers(0, n, size=(resamples, n))
    offsets = (np.arange(resamples) * n)[:, None]
    return np.bincount((draws + offsets).reshape(-1), minlength=resamples * n).reshape(resamples, n)


def percentile_interval(replicates: npt.ArrayLike, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """The percentile interval over axis 0 of bootstrap `replicates` (+inf kept: no interpolation
    across it, the lower end rounds down and the upper end up)."""
    alpha = 1.0 - check_confidence(confidence)
    replicates = np.asarray(replicates, dtype=np.float64)
    return (np.quantile(replicates, alpha / 2, axis=0, method="lower"),
            np.quantile(replicates, 1 - alpha / 2, axis=0, method="higher"))


def bootstrap(statistic: Callable[[np.ndarray], np.ndarray], n: int, confidence: float = CONFIDENCE,
              resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Seeded percentile bootstrap over n samples of a derived number (or array of numbers).

    `statistic(counts)` takes a (replicates, n) matrix of resampling counts (row r: how often
    each sample appears in replicate r; all ones is the original data) and returns the
    statistic per replicate, shape (replicates, ...).  One count matrix serves every cell,
    so the cells of one result are resampled together (paired).  Returns (low, high).
    """
    check_confidence(confidence)
    if n < 1 or resamples < 1:
        raise ParameterError(f"the bootstrap needs samples and resamples, got n={n}, resamples={resamples}")
    generator = np.random.default_rng(seed)
    blocks = [np.asarray(statistic(resample_counts(n, min(BLOCK, resamples - start), generator)), dtype=np.float64)
              for start in range(0, resamples, BLOCK)]
    return percentile_interval(np.concatenate(blocks), confidence)


def weighted_share(counts: np.ndarray, flags: np.ndarray, among: np.ndarray | None = None) -> np.ndarray:
    """Per bootstrap replicate, the share of true `flags` in every cell.

    `flags` has samples on its first axis (n, ...); `among` (same shape, default all) restricts
    each cell to some samples (e.g. those with finite logits).  Returns (replicates, ...)
    fractions, 0 where a cell has none."""
    flags = np.asarray(flags, dtype=np.float64)
    among = np.ones_like(flags) if among is None else np.asarray(among, dtype=np.float64)
    shape = flags.shape[1:]
    hits = counts @ (flags * among).reshape(len(flags), -1)
    total = counts @ among.reshape(len(among), -1)
    share = np.divide(hits, total, out=np.zeros_like(hits), where=total > 0)
    return share.reshape((len(counts), *shape))


def entries(name: str, estimate: Estimate) -> dict[str, float]:
    """`{name: value, name_low: low, name_high: high}`: how a summary carries an estimate."""
    return {name: float(estimate.value), f"{name}_low": float(estimate.low), f"{name}_high": float(estimate.high)}


def percent(flags: npt.ArrayLike, among: npt.ArrayLike | None = None, confidence: float = CONFIDENCE) -> Estimate:
    """The share (%) of true `flags` among the samples where `among` holds (default all), with
    its Wilson interval."""
    flags = np.asarray(flags, dtype=bool)
    chosen = flags if among is None else flags[np.asarray(among, dtype=bool)]
    return proportion(chosen, confidence).scaled(100.0)


def samples_needed(n: int, width: float, target_width: float) -> int:
    """The n that would bring an interval of `width` at n samples to `target_width`, since the
    width shrinks as 1/√n; +inf widths (an interval open to non-convergence) give 0 (unknown)."""
    if not (math.isfinite(width) and width > 0 and target_width > 0):
        return 0
    return max(n, math.ceil(n * (width / target_width) ** 2))


# ----------------------------------------------------------------------------- paired tests

def mcnemar(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Exact two-sided McNemar p-value of paired binary outcomes `a`, `b`: a binomial test of
    the discordant pairs at 1/2; 1 when there are none."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    if only_a + only_b == 0:
        return 1.0
    return float(scipy_stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)


def paired_differences(a: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray:
    """a − b per sample, where +inf (not converged) is larger than every finite value: a pair
    with one +inf gets ±inf, a pair with +inf on both sides a tie (0)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    both = np.isinf(a) & np.isinf(b) & (np.sign(a) == np.sign(b))
    return np.where(both, 0.0, a - np.where(both, 0.0, b))


def signed_rank(differences: npt.ArrayLike) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired `differences` (from `paired_differences`):
    zero differences are dropped (Wilcoxon's convention), ±inf rank above every finite one
    (tied among themselves); 1 when every difference is zero."""
    d = np.asarray(differences, dtype=np.float64).reshape(-1)
    d = d[d != 0]
    if len(d) == 0:
        return 1.0
    finite = np.isfinite(d)
    top = 2.0 * (float(np.abs(d[finite]).max()) if finite.any() else 1.0) + 1.0
    d = np.where(finite, d, np.sign(d) * top)
    return float(scipy_stats.wilcoxon(d).pvalue)


def holm(pvalues: npt.ArrayLike) -> np.ndarray:
    """Holm's step-down adjusted p-values (same order and shape as `pvalues`)."""
    p = np.asarray(pvalues, dtype=np.float64)
    flat = p.reshape(-1)
    m = len(flat)
    order = np.argsort(flat, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * flat[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out.reshape(p.shape)


__all__ = ["BOOTSTRAP_SEED", "CONFIDENCE", "Estimate", "RESAMPLES", "bootstrap", "check_confidence", "entries", "holm",
           "mcnemar", "mean", "median", "normal_quantile", "order_ranks", "paired_differences", "percent",
           "percentile_interval", "proportion", "quantile", "resample_counts", "samples_needed", "signed_rank",
           "weighted_share", "wilson"]
