"""`python -m probe.sparsefool CHECKPOINT --data SPEC [--lam L] [--delta D] [--overshoot E] ...`."""
from __future__ import annotations

import argparse

import xarray as xr

from probe import stats
from probe.commands.common import non_finite_note, positive_int, summary_table
from probe.sparsefool import summary
from probe.tables import estimate, interval


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lam", type=float,
                        help="λ ≥ 1: boundary point x_i + λ r (default %(default)s)")
    parser.add_argument("--max-iter", type=positive_int, help="outer iterations (default %(default)s)")
    parser.add_argument("--overshoot", type=float,
                        help="final overshoot ε: x0 + (1 + ε)(x_i − x0) (default %(default)s)")
    parser.add_argument("--delta", type=float,
                        help="perceptibility bound ±δ per pixel on the 0–255 scale (e.g. 25; default: none)")
    parser.add_argument("--candidates", type=int,
                        help="DeepFool candidate classes (default %(default)s)")
    parser.add_argument("--save-perturbations", action="store_true",
                        help="also store the clean images and perturbations (needed for the example grid)")


def report(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> str:
    """The summary table (numbers with intervals and n), and a line on samples with non-finite logits."""
    numbers = summary(ds, confidence)
    return "\n".join([summary_table(numbers, confidence)]
                     + non_finite_note(numbers, "never fooled, excluded from the rates"))


def headline(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> str:
    """The result in one line (the demo's summary)."""
    numbers = summary(ds, confidence)
    return (f"fooling rate {interval(estimate(numbers, 'fooling_rate'), '.1f', '%')}, median "
            f"{interval(estimate(numbers, 'median_perturbed_pixels'), '.2f', '%')} of pixels, "
            f"{1000 * numbers['mean_time_per_sample']:.0f} ms/sample; n = {numbers['samples']}")
