"""`python -m example_probe CHECKPOINT --data SPEC [--norm 2|inf]`: the probe's own options and
its summary text (the shared options come from `probe.commands.common.make_parser`)."""
from __future__ import annotations

import argparse

import xarray as xr

from example_probe import NORMS, summary
from probe import stats
from probe.commands.common import non_finite_note
from probe.tables import estimate, interval


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--norm", choices=NORMS,   # no default here: the library's (`run`'s) is taken
                        help="norm of the gradient: 2 (all pixels) or inf (the largest entry) (default %(default)s)")


def report(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> str:
    """The median gradient norm with its interval, and the samples."""
    numbers = summary(ds, confidence)
    return "\n".join([f"median gradient norm {interval(estimate(numbers, 'median_gradient_norm'), '.4g')} "
                      f"on {numbers['samples']} samples"] + non_finite_note(numbers, "their norm is +inf"))


def headline(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> str:
    """The result in one line (the demo's summary)."""
    numbers = summary(ds, confidence)
    return f"median ‖∇ₓ loss‖ {interval(estimate(numbers, 'median_gradient_norm'))}; n = {numbers['samples']}"
