"""`python -m probe.adversarial_corruptions CHECKPOINT --corruption-net NET.pt [--radius 0 0.0075 0.015 0.03]
[--steps 10] [--ssim-threshold 0.3] [--examples 4]`.

`--radius` holds the relative radii ν of AdA's weight offsets (the result's dimension `nu`).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
import xarray as xr

from probe.adversarial_corruptions import RADII, summary
from probe.commands.common import format_table, non_finite_note
from probe.models.corruption_nets import corruption_network
from probe.ssim import GUARD_THRESHOLD


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer ≥ 0, got {value}")
    return value


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corruption-net", type=Path, required=True, metavar="NET.pt",
                        help="the corruption network (python -m probe.corruption_net)")
    parser.add_argument("--radius", type=float, nargs="+", default=list(RADII), metavar="NU",
                        help="relative radii ν of the weight offsets (default %(default)s)")
    parser.add_argument("--steps", type=_non_negative_int, default=10, help="FGSM steps (default %(default)s)")
    parser.add_argument("--ssim-threshold", type=float, default=GUARD_THRESHOLD,
                        help="SSIM guard threshold (default %(default)s)")
    parser.add_argument("--examples", type=_non_negative_int, default=4,
                        help="example images kept for the figure (default %(default)s)")


def prepare(args: argparse.Namespace, options: dict, device: torch.device) -> dict:
    """Load the corruption network onto the device."""
    return dict(options, corruption_net=corruption_network(args.corruption_net, device))


def report(ds: xr.Dataset) -> str:
    """Per ν: robust accuracy, median SSIM before and after the guard, guard rate, mean loss."""
    rows = []
    for nu in ds["nu"].values:
        cell = ds.sel(nu=nu)
        finite = cell["finite"].values
        loss = float(cell["loss"].values[finite].mean()) if finite.any() else float("inf")
        rows.append([float(nu), float(cell["robust_accuracy"]), float(cell["ssim_quantile"].sel(quantile=0.5)),
                     float(cell["ssim_guarded_quantile"].sel(quantile=0.5)), float(cell["guard_rate"]), loss])
    numbers = summary(ds)
    lines = [format_table(["nu", "robust acc %", "median SSIM", "after guard", "guard rate", "mean loss"], rows),
             f"clean accuracy {numbers['clean_accuracy']:.2f}%   reconstruction accuracy "
             f"{numbers['reconstruction_accuracy']:.2f}% (median SSIM {float(ds['reconstruction_ssim'].median()):.3f})"]
    return "\n".join(lines + non_finite_note(numbers, "excluded from the accuracies"))


def headline(ds: xr.Dataset) -> str:
    """The result in one line (the demo's summary)."""
    accuracy = ds["robust_accuracy"].values
    nu = ds["nu"].values
    median = ds["ssim_quantile"].sel(quantile=0.5).values
    fired = 100 * float(ds["guard_fired"].mean())
    return (f"robust accuracy {accuracy[0]:.1f}% (ν={nu[0]:g}) → {accuracy[-1]:.1f}% (ν={nu[-1]:g}); "
            f"median SSIM {median[0]:.2f} → {median[-1]:.2f}; guard fired {fired:.1f}%")
