"""`python -m probe.lp CHECKPOINT --data SPEC [--norms L0 L2 Linf] [--levels 10] [--max-strength 0.2] ...`."""
from __future__ import annotations

import argparse

import xarray as xr

from probe import stats
from probe.balls import L0_VALUES, norm_name
from probe.commands.common import non_finite_note, positive_int
from probe.lp import summary
from probe.tables import ci, estimate, format_table, interval


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--norms", nargs="+", metavar="NORM",
                        help="norms of the grid: L0, L0.5, L1, L2, ..., Linf (default: %(default)s)")
    parser.add_argument("--levels", type=positive_int,
                        help="noise strengths per norm (default: %(default)s)")
    parser.add_argument("--max-strength", type=float,
                        help="largest noise strength, as RMS pixel change; the levels are equally spaced up to it, "
                             "and each norm's radius is the one with that RMS (default: %(default)s)")
    parser.add_argument("--strengths", nargs="+", type=float, metavar="S",
                        help="explicit noise strengths (RMS pixel change) instead of --levels/--max-strength")
    parser.add_argument("--imperceptible", nargs="+", metavar="NORM:RADIUS",
                        help="imperceptible balls for iCE, for this image size (default: the published CIFAR radii "
                             "Linf:0.01 L0.5:25000 L1:25 L2:0.5 L10:0.03 L50:0.02 moved to equal RMS)")
    parser.add_argument("--l0-values", choices=L0_VALUES,
                        help="values that L0 noise writes into pixels (default: %(default)s)")


def report(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> str:
    """Per norm: largest radius, mean accuracy, accuracy at the largest strength (Wilson); then the
    summary with intervals and n."""
    correct, finite = ds["correct"].values, ds["finite"].values
    rows = [[norm_name(float(p)), float(ds["radius"].sel(p=p)[-1]), float(ds["accuracy"].sel(p=p).mean()),
             stats.percent(correct[:, i, -1], finite[:, i, -1], confidence)] for i, p in enumerate(ds["p"].values)]
    numbers = summary(ds, confidence)
    lines = [format_table(["norm", "largest radius", "mean acc (%)", f"acc at largest (%) [{ci(confidence)}]"], rows),
             f"clean accuracy {interval(estimate(numbers, 'clean_accuracy'), '.2f', '%')}   mCE_Lp "
             f"{interval(estimate(numbers, 'mce_lp'), '.2f', '%')}   iCE "
             f"{interval(estimate(numbers, 'ice'), '.2f', '%')}   "
             f"(n = {numbers['samples']} samples, {ci(confidence)})"]
    return "\n".join(lines + non_finite_note(numbers, "excluded from the accuracies"))


def headline(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> str:
    """The result in one line (the demo's summary)."""
    numbers = summary(ds, confidence)
    return (f"clean {interval(estimate(numbers, 'clean_accuracy'), '.1f', '%')}, mCE_Lp "
            f"{interval(estimate(numbers, 'mce_lp'), '.2f', '%')}, iCE "
            f"{interval(estimate(numbers, 'ice'), '.2f', '%')}; "
            f"n = {numbers['samples']}")
