"""`python -m probe.lp CHECKPOINT --data SPEC [--norms L0 L2 Linf] [--levels 10] [--max-strength 0.2] ...`."""
from __future__ import annotations

import argparse

import xarray as xr

from probe.balls import L0_VALUES, norm_name
from probe.commands.common import format_table, non_finite_note, positive_int
from probe.lp import DEFAULT_LEVELS, DEFAULT_MAX_STRENGTH, DEFAULT_NORMS, summary


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--norms", nargs="+", default=list(DEFAULT_NORMS), metavar="NORM",
                        help="norms of the grid: L0, L0.5, L1, L2, ..., Linf (default: %(default)s)")
    parser.add_argument("--levels", type=positive_int, default=DEFAULT_LEVELS,
                        help="noise strengths per norm (default: %(default)s)")
    parser.add_argument("--max-strength", type=float, default=DEFAULT_MAX_STRENGTH,
                        help="largest noise strength, as RMS pixel change; the levels are equally spaced up to it, "
                             "and each norm's radius is the one with that RMS (default: %(default)s)")
    parser.add_argument("--strengths", nargs="+", type=float, metavar="S",
                        help="explicit noise strengths (RMS pixel change) instead of --levels/--max-strength")
    parser.add_argument("--imperceptible", nargs="+", metavar="NORM:RADIUS",
                        help="imperceptible balls for iCE, for this image size (default: the published CIFAR radii "
                             "Linf:0.01 L0.5:25000 L1:25 L2:0.5 L10:0.03 L50:0.02 moved to equal RMS)")
    parser.add_argument("--l0-values", choices=L0_VALUES, default="binary",
                        help="values that L0 noise writes into pixels (default: %(default)s)")


def report(ds: xr.Dataset) -> str:
    """Per norm: largest radius, mean accuracy, accuracy at the largest strength; then the summary."""
    rows = [[norm_name(float(p)), float(ds["radius"].sel(p=p)[-1]), float(ds["accuracy"].sel(p=p).mean()),
             float(ds["accuracy"].sel(p=p)[-1])] for p in ds["p"].values]
    numbers = summary(ds)
    lines = [format_table(["norm", "largest radius", "mean acc (%)", "acc at largest (%)"], rows),
             f"clean accuracy {numbers['clean_accuracy']:.2f}%   mCE_Lp {numbers['mce_lp']:.2f}   "
             f"iCE {numbers['ice']:.2f}%   ({numbers['samples']} samples)"]
    return "\n".join(lines + non_finite_note(numbers, "excluded from the accuracies"))


def headline(ds: xr.Dataset) -> str:
    """The result in one line (the demo's summary)."""
    numbers = summary(ds)
    return f"clean {numbers['clean_accuracy']:.1f}%, mCE_Lp {numbers['mce_lp']:.2f}%, iCE {numbers['ice']:.2f}%"
