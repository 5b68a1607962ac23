"""`python -m probe.margins CHECKPOINT --data SPEC [--basis dct|random] [--block K] [--stride T] ...`."""
from __future__ import annotations

import argparse

import numpy as np
import xarray as xr

from probe import stats
from probe.attacks.deepfool import VARIANTS
from probe.commands.common import positive_int
from probe.margins import BASES, band_medians, summary
from probe.tables import ci, estimate, format_table, interval


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--basis", choices=BASES,
                        help="diagonal DCT blocks, or as many random subspaces of the same dimension")
    parser.add_argument("--block", type=positive_int, help="DCT block size K (default from the image size)")
    parser.add_argument("--stride", type=positive_int, help="DCT block stride T (default from the image size)")
    parser.add_argument("--max-iter", type=positive_int, help="DeepFool steps (default %(default)s)")
    parser.add_argument("--candidates", type=int, help="candidate classes (default %(default)s)")
    parser.add_argument("--overshoot", type=float, help="DeepFool overshoot η (default %(default)s)")
    parser.add_argument("--variant", choices=VARIANTS,
                        help="DeepFool convention: 'original' (the authors' and \"Hold me tight\" code: linearise at "
                             "the iterate, step floor 1e-4) or 'foolbox' (linearise at the overshot point) "
                             "(default %(default)s)")
    parser.add_argument("--refine", action="store_true",
                        help="also store margin_refined: the exact distance to the boundary along each direction "
                             "found (bisection, about 20 more forward passes per pair)")


def report(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> str:
    """Per subspace: band start, dimension, median margin (and refined margin) with its
    order-statistic interval, fraction not converged; then n."""
    starts = ds["band_start"].values if "band_start" in ds.coords else np.full(ds.sizes["subspace"], -1)
    shown = [name for name in ("margin", "margin_refined") if name in ds]
    medians = [band_medians(ds, confidence, name) for name in shown]
    rows = [[int(s), int(a), int(d), *(m[i] for m in medians), float(f)] for i, (s, a, d, f) in
            enumerate(zip(ds["subspace"].values, starts, ds["dimension"].values, ds["not_converged"].values))]
    table = format_table(["subspace", "band start", "dim",
                          *(f"median {n.replace('_', ' ')} [{ci(confidence)}]" for n in shown), "not converged"], rows)
    numbers = summary(ds, confidence)
    return (f"{table}\nnot converged overall: {interval(estimate(numbers, 'not_converged'), '.3f')}   "
            f"(n = {numbers['samples']} samples; +inf: an interval reaching the samples not converged)")


def headline(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> str:
    """The result in one line (the demo's summary)."""
    numbers = summary(ds, confidence)
    return (f"median margin per band {numbers['median_margin_smallest']:.3g} … "
            f"{numbers['median_margin_largest']:.3g} "
            f"(lowest band {interval(estimate(numbers, 'median_margin_lowest_band'))}); not converged "
            f"{100 * numbers['not_converged']:.1f}%; n = {numbers['samples']}")
