"""`python -m probe.flatness CHECKPOINT --data SPEC [--radii R ...] [--directions D] [--filter-norm]
[--hessian top:K,trace,density] [--landscape 1d|2d [--towards CHECKPOINT]] ...`."""
from __future__ import annotations

import argparse

import numpy as np
import torch
import xarray as xr
from torch.utils.data import Dataset

from probe import hessian, stats
from probe.commands import common
from probe.flatness import (
    DEFAULT_RADII,
    DEFAULT_RELATIVE_RADII,
    LANDSCAPES,
    flatness_estimate,
    loss_evaluations,
    summary,
)


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--radii", type=float, nargs="+", metavar="R",
                        help=f"perturbation radii (default {' '.join(map(str, DEFAULT_RADII))}; with --filter-norm "
                             f"{' '.join(map(str, DEFAULT_RELATIVE_RADII))})")
    parser.add_argument("--directions", type=int,
                        help="random directions, each used as a ± pair (0: skip the sweep; default %(default)s)")
    parser.add_argument("--filter-norm", action="store_true", help="filter-normalised directions (radius relative)")
    parser.add_argument("--include-bias-bn", action="store_true",
                        help="also perturb biases and BN parameters in filter-normalised directions")
    parser.add_argument("--hessian", metavar="SPEC",
                        help="comma-separated: top:K (eigenvalues), trace[:M] (Hutchinson vectors), "
                             "density[:STEPS] (SLQ), e.g. top:5,trace,density")
    parser.add_argument("--eig-method", choices=sorted(hessian.METHODS))
    parser.add_argument("--max-iter", type=int, help="eigenvalue iterations (default %(default)s)")
    parser.add_argument("--tol", type=float,
                        help="relative eigenvector residual tolerance (default %(default)s)")
    parser.add_argument("--density-probes", type=int, help="SLQ probe vectors (default %(default)s)")
    parser.add_argument("--landscape", choices=LANDSCAPES, help="also compute a landscape slice")
    parser.add_argument("--towards", metavar="CHECKPOINT",
                        help="second checkpoint (read with --factory, --trust-checkpoint): the slice's first "
                             "direction goes towards its weights")
    parser.add_argument("--alpha-range", type=float, nargs=2, metavar=("LO", "HI"),
                        help="first slice axis (default -1 1; with --towards -0.5 1.5)")
    parser.add_argument("--beta-range", type=float, nargs=2, metavar=("LO", "HI"))
    parser.add_argument("--points", type=int, help="grid points per slice axis (default %(default)s)")


def prepare(args: argparse.Namespace, options: dict, device: torch.device) -> dict:
    """`--towards PATH` becomes the model it names, loaded like the main checkpoint."""
    if options.get("towards") is not None:
        options["towards"] = common.load_model(args, device, path=options["towards"])
    return options


def progress(args: argparse.Namespace, data: Dataset) -> tuple[int, str]:
    """The flatness probe counts loss evaluations, not samples."""
    return loss_evaluations(radii=args.radii, directions=args.directions, filter_norm=args.filter_norm,
                            landscape=args.landscape, points=args.points), "eval"


def report(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> str:
    """Short text tables of the flatness curve (with bootstrap intervals over directions) and the
    Hessian numbers."""
    numbers = summary(ds, confidence)
    head = (f"{numbers['samples']} samples, loss at the trained weights "
            f"{common.interval(common.estimate(numbers, 'loss'), '.4f')} ({common.ci(confidence)})")
    if numbers["non_finite"]:
        head += f"\nnon-finite logits or loss on {numbers['non_finite']} samples (left out of every loss)"
    blocks = [head]
    if "flatness" in ds:
        rows: list[tuple[object, ...]] = [(float(r), flatness_estimate(ds, i, confidence), float(se),
                 f"{100 * se / abs(f):.1f}%" if f and np.isfinite(f) else "-")
                for i, (r, f, se) in enumerate(zip(ds["radius"].values, ds["flatness"].values,
                                                   ds["flatness_se"].values))]
        blocks.append(common.format_table(["radius", f"flatness [{common.ci(confidence)}]", "std err", "rel"], rows)
                      + f"\n(n = {ds.sizes['direction']} directions; intervals: percentile bootstrap over them)")
        if numbers["non_finite_directions"]:
            blocks.append(f"{numbers['non_finite_directions']} of {ds.sizes['direction']} directions met a "
                          f"non-finite loss: F(γ) is +inf at those radii")
    if "eigenvalue" in ds:
        rows = [(int(k), float(v), bool(c)) for k, v, c in
                zip(ds["rank"].values, ds["eigenvalue"].values, ds["eigenvalue_converged"].values)]
        blocks.append(common.format_table(["rank", "eigenvalue", "converged"], rows))
        if np.any(ds["eigenvalue"].values < 0):
            blocks.append("note: a dominant eigenvalue is negative (the loss curves down along it)")
    if "trace" in ds:
        blocks.append(f"Hessian trace {common.interval(common.estimate(numbers, 'trace'), '.5g')} "
                      f"(± {float(ds['trace_se']):.2g} std err, Hutchinson)")
    if "hvp_count" in ds:
        blocks.append(f"{int(ds['hvp_count'])} Hessian-vector products over {int(ds['parameter_count'])} "
                      f"parameters, {1e3 * float(ds['seconds_per_hvp']):.1f} ms each")
        if not bool(ds["hessian_finite"]):
            blocks.append("a Hessian-vector product was not finite: its eigenvalues and trace are +inf")
    if numbers.get("non_finite_points"):
        blocks.append(f"landscape: the loss is not finite at {numbers['non_finite_points']} points (+inf)")
    return "\n\n".join(blocks)


def headline(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> str:
    """The result in one line (the demo's summary): what was computed of F(γ), λ_max and the trace."""
    numbers = summary(ds, confidence)
    parts = []
    if "flatness" in numbers:
        parts.append(f"F(γ={numbers['radius']:.3g}) {common.interval(common.estimate(numbers, 'flatness'), '.4g')}")
    if "top_eigenvalue" in numbers:
        parts.append(f"top eigenvalue {numbers['top_eigenvalue']:.4g}")
    if "trace" in numbers:
        parts.append(f"trace {common.interval(common.estimate(numbers, 'trace'), '.4g')}")
    text = ", ".join(parts) or f"loss {common.interval(common.estimate(numbers, 'loss'), '.4g')}"
    return f"{text}; n = {numbers['samples']}"
