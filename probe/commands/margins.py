"""`python -m probe.margins CHECKPOINT --data SPEC [--basis dct|random] [--block K] [--stride T] ...`."""
from __future__ import annotations

import argparse

import numpy as np
import xarray as xr

from probe.commands.common import format_table, positive_int
from probe.attacks.deepfool import VARIANTS
from probe.margins import BASES, summary


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--basis", default="dct", choices=BASES,
                        help="diagonal DCT blocks, or as many random subspaces of the same dimension")
    parser.add_argument("--block", type=positive_int, help="DCT block size K (default from the image size)")
    parser.add_argument("--stride", type=positive_int, help="DCT block stride T (default from the image size)")
    parser.add_argument("--max-iter", type=positive_int, default=100, help="DeepFool steps (default %(default)s)")
    parser.add_argument("--candidates", type=int, default=10, help="candidate classes (default %(default)s)")
    parser.add_argument("--overshoot", type=float, default=0.02, help="DeepFool overshoot η (default %(default)s)")
    parser.add_argument("--variant", default=VARIANTS[0], choices=VARIANTS,
                        help="DeepFool convention: 'original' (the authors' and \"Hold me tight\" code: linearise at "
                             "the iterate, step floor 1e-4) or 'foolbox' (linearise at the overshot point) "
                             "(default %(default)s)")
    parser.add_argument("--refine", action="store_true",
                        help="also store margin_refined: the exact distance to the boundary along each direction "
                             "found (bisection, about 20 more forward passes per pair)")


def report(ds: xr.Dataset) -> str:
    """Per subspace: band start, dimension, median margin (and refined margin), fraction not converged."""
    starts = ds["band_start"].values if "band_start" in ds.coords else np.full(ds.sizes["subspace"], -1)
    shown = [name for name in ("margin", "margin_refined") if name in ds]
    medians = [np.median(ds[name].values, axis=1) for name in shown]
    rows = [[int(s), int(a), int(d), *(float(m[i]) for m in medians), float(f)] for i, (s, a, d, f) in
            enumerate(zip(ds["subspace"].values, starts, ds["dimension"].values, ds["not_converged"].values))]
    table = format_table(["subspace", "band start", "dim", *(f"median {n.replace('_', ' ')}" for n in shown),
                          "not converged"], rows)
    return f"{table}\nnot converged overall: {1.0 - float(ds['converged'].mean()):.3f}"


def headline(ds: xr.Dataset) -> str:
    """The result in one line (the demo's summary)."""
    numbers = summary(ds)
    return (f"median margin per band {numbers['median_margin_smallest']:.3g} … {numbers['median_margin_largest']:.3g} "
            f"(lowest band {numbers['median_margin_lowest_band']:.3g}); not converged "
            f"{100 * numbers['not_converged']:.1f}%")
