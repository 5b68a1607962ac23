"""Confidence intervals in figures: the Wilson bands of accuracies drawn from the per-sample
outcomes a result stores, a shaded band and its legend entry, and the text of an interval.

The statistics are `probe.stats`' (Wilson 1927 for proportions; order statistics for medians;
the percentile bootstrap for derived numbers); this module only shapes and draws them, so every
figure shows an interval the way the command-line table prints it.
"""
from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Patch
from matplotlib.typing import ColorType
from numpy.typing import ArrayLike

from probe import stats, tables

BAND_ALPHA = 0.2   # opacity of a shaded confidence band


def wilson_percent(correct: ArrayLike, among: ArrayLike | None = None,
                   confidence: float = stats.CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson interval (%) of the share of true `correct` among the samples where `among`
    holds (default all), for every cell: samples on the last axis of `correct` (and `among`);
    returns (low, high) shaped like the other axes."""
    correct = np.asarray(correct, dtype=bool)
    among = np.ones_like(correct) if among is None else np.broadcast_to(np.asarray(among, dtype=bool), correct.shape)
    cells = [stats.percent(c, a, confidence) for c, a in zip(correct.reshape(-1, correct.shape[-1]),
                                                              among.reshape(-1, correct.shape[-1]))]
    shape = correct.shape[:-1]
    return (np.array([e.low for e in cells]).reshape(shape), np.array([e.high for e in cells]).reshape(shape))


def band(ax: Axes, x: ArrayLike, low: ArrayLike, high: ArrayLike, color: ColorType) -> None:
    """Shade the interval (`low`, `high`) over `x` in `color`."""
    ax.fill_between(np.asarray(x, dtype=float), low, high, color=color, alpha=BAND_ALPHA, lw=0)


def band_handle(method: str = "Wilson", of: str = "", confidence: float = stats.CONFIDENCE) -> Patch:
    """The legend entry of the bands drawn by `band`: '95 % CI (Wilson)', or '95 % CI of `of` (method)'."""
    subject = f" of {of}" if of else ""
    return Patch(color="0.3", alpha=BAND_ALPHA, label=f"{100 * confidence:g} % CI{subject} ({method})")


def estimate(numbers: dict, key: str) -> stats.Estimate:
    """The number `key` of a probe's `summary(ds)` with its interval and n."""
    return tables.estimate(numbers, key)


def text(estimate: stats.Estimate, spec: str = ".3g", unit: str = "") -> str:
    """`86.1 % [83.0, 88.7]`: an estimate as the command-line tables print it."""
    return tables.interval(estimate, spec, unit)


__all__ = ["BAND_ALPHA", "band", "band_handle", "estimate", "text", "wilson_percent"]
