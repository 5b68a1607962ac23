"""The one place where numeric options are checked: finite, and in their range.

A probe's `run`, `probe.train.fit`, `probe.corruption_net.pretrain` and the other entry points
declare the range of each numeric keyword, e.g.

    ranges.check(lam=(lam, ranges.at_least(1.0)), overshoot=(overshoot, ranges.NON_NEGATIVE),
                 candidates=(candidates, ranges.integer(2)))

and `check` raises one `ParameterError` naming the first value outside its range (NaN and ±inf
are outside every range).  Python callers and the command lines (which convert the error into
one `error: ...` line, exit 2) get the same message.  A value of None is an option left unset;
a list or tuple is checked element by element.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import cast

import numpy as np

from probe.errors import ParameterError

SEED_LIMIT = 2 ** 63   # seeds are non-negative 63-bit integers (torch.Generator.manual_seed, SeedSequence)


@dataclass(frozen=True)
class Range:
    """Admissible values: finite numbers between `low` and `high` (each bound included unless
    its `*_open` flag is set), integers only when `integer`."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    integer: bool = False

    def admits(self, value: object) -> bool:
        """Whether `value` is a number of this range."""
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            return False
        if self.integer and not isinstance(value, numbers.Integral):
            return False
        # an integer is compared as it is (int or np.integer), exactly, not through float
        number = float(value) if not self.integer else cast(int, value)
        if not self.integer and not math.isfinite(number):
            return False
        above = number > self.low if self.low_open else number >= self.low
        below = number < self.high if self.high_open else number <= self.high
        return above and below

    def __str__(self) -> str:
        kind = "an integer" if self.integer else "a finite number"
        low, high = _bound(self.low), _bound(self.high)
        if math.isinf(self.low) and math.isinf(self.high):
            return kind
        if math.isinf(self.high):
            return f"{kind} {'>' if self.low_open else '≥'} {low}"
        if math.isinf(self.low):
            return f"{kind} {'<' if self.high_open else '≤'} {high}"
        return f"{kind} in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"


def _bound(value: float) -> str:
    return str(int(value)) if math.isfinite(value) and float(value).is_integer() else f"{value:g}"


FINITE = Range()
POSITIVE = Range(0.0, low_open=True)
NON_NEGATIVE = Range(0.0)
SEED = Range(0, SEED_LIMIT, high_open=True, integer=True)


def at_least(low: float) -> Range:
    """Finite numbers ≥ `low`."""
    return Range(low)


def in_range(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Range:
    """Finite numbers between `low` and `high` (closed unless a side is open)."""
    return Range(low, high, low_open=low_open, high_open=high_open)


def integer(low: float = -math.inf, high: float = math.inf) -> Range:
    """Integers in [`low`, `high`] (unbounded by default)."""
    return Range(low, high, integer=True)


def check(**declared: tuple[object, Range]) -> None:
    """`ParameterError` naming the first option whose value (or an element of it) is outside its
    range: `check(name=(value, range), ...)`; None values are options left unset."""
    for name, (value, allowed) in declared.items():
        if value is None:
            continue
        several = isinstance(value, (list, tuple, np.ndarray))
        values = [_plain(v) for v in (np.asarray(value, dtype=object).reshape(-1) if several else [value])]
        if not values or not all(allowed.admits(v) for v in values):
            raise ParameterError(f"{'each of ' if several else ''}{name} must be {allowed}, "
                                 f"got {values if several else values[0]}")


def _plain(value: object) -> object:
    """A numpy scalar as the Python number it holds (so that integer types are recognised)."""
    return value.item() if isinstance(value, np.generic) else value


__all__ = ["FINITE", "NON_NEGATIVE", "POSITIVE", "Range", "SEED", "SEED_LIMIT", "at_least", "check", "in_range",
           "integer"]
