"""`python -m probe.overlap [--dim 3072] [--reference l2:4] [--norms ...] [--samples N] [--radii R]
[--image INDEX --data SPEC] --out overlap.nc [--plot overlap.png]`."""
from __future__ import annotations

import argparse

import xarray as xr
from torch.utils.data import Dataset

from probe import stats
from probe.balls import norm_name
from probe.commands import common
from probe.commands.common import positive_int
from probe.overlap import DIRECTIONS
from probe.tables import ci, format_table


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dim", type=positive_int,
                        help="dimension without --image (default: %(default)s, a CIFAR image)")
    parser.add_argument("--reference", metavar="NORM:RADIUS",
                        help="the reference ball (default: %(default)s)")
    parser.add_argument("--norms", nargs="+", metavar="NORM",
                        help="norms of the other ball (default: %(default)s)")
    parser.add_argument("--samples", type=positive_int,
                        help="Monte Carlo samples per norm (default: %(default)s)")
    parser.add_argument("--radii", type=int, help="radii per norm on the curve (default: %(default)s)")
    parser.add_argument("--image", type=int, metavar="INDEX",
                        help="clip around image INDEX of --data/--split (the dimension is the image's)")


def load_data(args: argparse.Namespace) -> Dataset | None:
    """The dataset of --data only when --image asks for one of its images."""
    return common.load_data(args) if args.image is not None else None


def progress(args: argparse.Namespace, data: Dataset | None) -> tuple[int, str]:
    """No per-sample progress: the Monte Carlo runs in one piece (and there is no --n)."""
    return 0, "sample"


def _radii(ds: xr.Dataset, direction: str, confidence: float) -> list[stats.Estimate]:
    """Per norm, the 50 % radius in `direction` with the order-statistic interval of its median."""
    return [stats.median(ds["threshold"].sel(direction=direction, p=p).values, confidence) for p in ds["p"].values]


def report(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> str:
    """The run in one line, then the 50 % radius of every norm in both directions, with intervals."""
    image = ds.attrs.get("param_image")
    where = f"clipped around image {image}" if ds.attrs["clipped"] else "unclipped"
    header = (f"reference {ds.attrs['reference']}, d = {ds.attrs['dim']}, n = {ds.sizes['draw']} Monte Carlo samples "
              f"per norm, {where}")
    columns = [_radii(ds, direction, confidence) for direction in DIRECTIONS]
    rows = [[norm_name(float(p)), columns[0][j], columns[1][j]] for j, p in enumerate(ds["p"].values)]
    headers = ["norm", f"r50 (Lp in ref) [{ci(confidence)}]", f"r50 (ref in Lp) [{ci(confidence)}]"]
    return f"{header}\n{format_table(headers, rows)}"


def headline(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> str:
    """The result in one line (the demo's summary): the 50 % radius of every norm inside the reference."""
    radii = ", ".join(f"{norm_name(float(p))} {common.interval(r)}"
                      for p, r in zip(ds["p"].values, _radii(ds, DIRECTIONS[0], confidence)))
    return f"50% radii (ball in {ds.attrs['reference']}): {radii}; n = {ds.sizes['draw']}"
