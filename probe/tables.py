"""Plain aligned text tables and numbers with their intervals, as commands and analyses print them.

Below the command layer so that `analyses/` scripts and the probes' commands format tables the
same way without the scripts importing the command layer.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from probe import stats


def format_table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def estimate(numbers: dict, key: str) -> stats.Estimate:
    """The number `key` of a summary with its interval (`key_low`, `key_high`) and the samples."""
    return stats.Estimate(numbers[key], numbers[f"{key}_low"], numbers[f"{key}_high"], numbers["samples"])


def interval(value: stats.Estimate, spec: str = ".3g", unit: str = "") -> str:
    """`0.9 [0.84, 0.97]` (with `unit` after the value: `86.1% [83.0, 88.7]`)."""
    return f"{value.value:{spec}}{unit} [{value.low:{spec}}, {value.high:{spec}}]"


def ci(confidence: float) -> str:
    """`95% CI`: the label of intervals at `confidence`."""
    return f"{100 * confidence:g}% CI"


def _fmt(value: object) -> str:
    if isinstance(value, stats.Estimate):
        return interval(value, ".4g")
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)
