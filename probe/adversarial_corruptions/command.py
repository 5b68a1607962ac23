"""`python -m probe.adversarial_corruptions CHECKPOINT --corruption-net NET.pt [--radius 0 0.0075 0.015 0.03]
[--steps 10] [--ssim-threshold 0.3] [--examples 4]`.

`--radius` holds the relative radii ν of AdA's weight offsets (the result's dimension `nu`).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
import xarray as xr

from probe import stats
from probe.adversarial_corruptions import radius_tag, summary
from probe.commands.common import non_finite_note
from probe.models.corruption_nets import corruption_network
from probe.tables import ci, estimate, format_table, interval


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer ≥ 0, got {value}")
    return value


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corruption-net", type=Path, required=True, metavar="NET.pt",
                        help="the corruption network (python -m probe.corruption_net)")
    parser.add_argument("--radius", type=float, nargs="+", metavar="NU",
                        help="relative radii ν of the weight offsets (default %(default)s)")
    parser.add_argument("--steps", type=_non_negative_int, help="FGSM steps (default %(default)s)")
    parser.add_argument("--ssim-threshold", type=float,
                        help="SSIM guard threshold (default %(default)s)")
    parser.add_argument("--examples", type=_non_negative_int,
                        help="example images kept for the figure (default %(default)s)")


def prepare(args: argparse.Namespace, options: dict, device: torch.device) -> dict:
    """Load the corruption network onto the device."""
    return dict(options, corruption_net=corruption_network(args.corruption_net, device))


def report(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> str:
    """Per ν: robust accuracy (Wilson), median SSIM before (order-statistic interval) and after the
    guard, guard rate, mean loss; then clean and reconstruction accuracy with intervals and n."""
    numbers = summary(ds, confidence)
    rows = []
    for nu in ds["nu"].values:
        cell = ds.sel(nu=nu)
        finite = cell["finite"].values
        loss = float(cell["loss"].values[finite].mean()) if finite.any() else float("inf")
        tag = radius_tag(nu)
        rows.append([float(nu), estimate(numbers, f"robust_accuracy_nu_{tag}"),
                     estimate(numbers, f"median_ssim_nu_{tag}"), float(cell["ssim_guarded_quantile"].sel(quantile=0.5)),
                     float(cell["guard_rate"]), loss])
    lines = [format_table(["nu", f"robust acc % [{ci(confidence)}]", f"median SSIM [{ci(confidence)}]", "after guard",
                           "guard rate", "mean loss"], rows),
             f"clean accuracy {interval(estimate(numbers, 'clean_accuracy'), '.2f', '%')}   reconstruction accuracy "
             f"{interval(estimate(numbers, 'reconstruction_accuracy'), '.2f', '%')} (median SSIM "
             f"{float(ds['reconstruction_ssim'].median()):.3f})   n = {numbers['samples']} samples"]
    return "\n".join(lines + non_finite_note(numbers, "excluded from the accuracies"))


def headline(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> str:
    """The result in one line (the demo's summary)."""
    numbers = summary(ds, confidence)
    first, last = (radius_tag(nu) for nu in ds["nu"].values[[0, -1]])
    nu = ds["nu"].values
    return (f"robust accuracy {interval(estimate(numbers, f'robust_accuracy_nu_{first}'), '.1f', '%')} "
            f"(ν={nu[0]:g}) → "
            f"{interval(estimate(numbers, f'robust_accuracy_nu_{last}'), '.1f', '%')} (ν={nu[-1]:g}); median SSIM "
            f"{interval(estimate(numbers, f'median_ssim_nu_{first}'), '.2f')} → "
            f"{interval(estimate(numbers, f'median_ssim_nu_{last}'), '.2f')}; guard fired "
            f"{100 * numbers['guard_rate']:.1f}%; n = {numbers['samples']}")
