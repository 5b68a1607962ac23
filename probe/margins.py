"""Margin sweeps: subspace-constrained DeepFool over DCT bands, random or user subspaces.

The margin of `x` in subspace `S` is the smallest `‖δ‖₂`, `δ ∈ S`, that changes the
prediction, measured by DeepFool with every gradient projected onto `S` (REFERENCE.md §2).
All (subspace × sample) pairs of a chunk go through one batched DeepFool call.  Samples
where DeepFool does not converge (or cannot move inside `S`) get margin `+inf` and
`converged = False`.  `python -m probe.margins` runs a sweep from the command line.
"""
from __future__ import annotations

import argparse
from typing import Callable, Sequence

import numpy as np
import torch
import xarray as xr
from torch import nn

from probe import cli, results
from probe.attacks import deepfool
from probe.data import get_batch, image_shape, subset_indices
from probe.errors import ParameterError
from probe.runner import run_chunked
from probe.spectral import SubspaceFamily, dct_diagonal_blocks, random_subspaces

PROBE = "margins"


def _pairs_result(model: nn.Module, dataset, family: SubspaceFamily, indices: np.ndarray, device: torch.device,
                  batch_size: int, **attack) -> xr.Dataset:
    """DeepFool for every (subspace, sample) pair of `indices`; a `(subspace, sample)` result.

    Pairs are ordered sample-major and attacked `batch_size` at a time (small working
    batches stay in cache); the pairs of one sample share their first linearisation.
    """
    x, y = get_batch(dataset, indices)
    x = x.to(device)
    count, n = len(family), len(indices)
    rows = n * count                                                # row i·S + s: sample i in subspace s
    parts = []
    for start in range(0, rows, batch_size):
        pair = torch.arange(start, min(start + batch_size, rows))
        sample, member = pair // count, pair % count
        parts.append(deepfool(model, x[sample.to(device)], subspace=family.select(member), groups=sample, **attack))
    grid = lambda name: torch.cat([getattr(p, name) for p in parts]).view(n, count).T.cpu().numpy()  # noqa: E731
    margin = grid("norm").astype(np.float64)
    label = torch.cat([p.label for p in parts]).view(n, count)[:, 0].cpu().numpy()
    data = {
        "margin": (("subspace", "sample"), margin, {"long_name": "L2 margin in the subspace (+inf: not converged)",
                                                    "units": "pixel L2 ([0,1] scale)"}),
        "converged": (("subspace", "sample"), grid("converged"),
                      {"long_name": "DeepFool changed the prediction"}),
        "iterations": (("subspace", "sample"), grid("iterations"), {"long_name": "DeepFool steps", "units": "1"}),
        "adv_label": (("subspace", "sample"), grid("adv_label"), {"long_name": "prediction at x + perturbation"}),
        "label": ("sample", y.numpy(), {"long_name": "true class"}),
        "prediction": ("sample", label, {"long_name": "predicted class of the clean image"}),
    }
    coords = {"subspace": ("subspace", np.arange(count)), "sample": ("sample", np.asarray(indices, dtype=np.int64))}
    coords.update({name: ("subspace", values, attrs) for name, (values, attrs) in family.coordinates().items()})
    return xr.Dataset(data, coords=coords)


def sweep(model: nn.Module, data, subspaces: SubspaceFamily, n: int | None = None, *,
          indices: Sequence[int] | None = None, seed: int = 0, candidates: int = 10, overshoot: float = 0.02,
          max_iter: int = 100, batch_size: int = 128, chunk_size: int = 64,
          device: torch.device | str | None = None,
          out=None, resume: bool = False, attrs: dict | None = None,
          progress: Callable[[int], None] | None = None) -> xr.Dataset:
    """Margins of `n` seeded samples (or the given `indices`) of `data` in every member of `subspaces`.

    Returns an `xarray.Dataset` with dimensions `(subspace, sample)` (see the module doc);
    `batch_size` is the number of (subspace, sample) pairs per DeepFool call.  With `out`,
    partial results are saved after every `chunk_size` samples and `resume=True` continues them.
    """
    if max_iter < 1 or batch_size < 1 or chunk_size < 1:
        raise ParameterError("max_iter, batch_size and chunk_size must be positive")
    device = torch.device(device) if device is not None else next(model.parameters(), torch.empty(0)).device
    if tuple(image_shape(data)) != subspaces.shape:
        raise ParameterError(f"subspaces are for images {subspaces.shape} but the data has {tuple(image_shape(data))}")
    indices = subset_indices(len(data), n, seed) if indices is None else np.asarray(indices, dtype=np.int64)
    model = model.to(device)
    parameters = {"subspaces": subspaces.kind, "count": len(subspaces), "candidates": candidates,
                  "overshoot": overshoot, "max_iter": max_iter, "n": len(indices), "seed": seed}
    attrs = dict(attrs) if attrs is not None else results.provenance(PROBE, parameters, model=model, seed=seed,
                                                                      device=device)
    compute = lambda chunk_indices: _pairs_result(model, data, subspaces, chunk_indices, device,  # noqa: E731
                                                  batch_size, candidates=candidates, overshoot=overshoot,
                                                  max_iter=max_iter)
    ds = run_chunked(compute, indices, attrs, chunk_size=chunk_size, out=out, resume=resume, progress=progress)
    not_converged = 1.0 - ds["converged"].values.mean(axis=1)
    ds["not_converged"] = ("subspace", not_converged, {"long_name": "fraction of samples not converged", "units": "1"})
    ds.attrs["fraction_not_converged"] = float(1.0 - ds["converged"].values.mean())
    if out is not None:
        results.save(ds, out)
    return ds


def summary_rows(ds: xr.Dataset) -> list[list]:
    """Per subspace: index, band start, dimension, median margin (inf-aware), fraction not converged."""
    starts = ds["band_start"].values if "band_start" in ds.coords else np.full(ds.sizes["subspace"], -1)
    medians = np.median(ds["margin"].values, axis=1)
    return [[int(s), int(a), int(d), float(m), float(f)] for s, a, d, m, f in
            zip(ds["subspace"].values, starts, ds["dimension"].values, medians, ds["not_converged"].values)]


# ----------------------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    parser = cli.make_parser("python -m probe.margins",
                             "Margins of a classifier in DCT frequency bands (or random subspaces) by subspace DeepFool.")
    parser.add_argument("--basis", default="dct", choices=("dct", "random"),
                        help="diagonal DCT blocks, or as many random subspaces of the same dimension")
    parser.add_argument("--block", type=int, help="DCT block size K (default from the image size)")
    parser.add_argument("--stride", type=int, help="DCT block stride T (default from the image size)")
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--candidates", type=int, default=10)
    parser.add_argument("--overshoot", type=float, default=0.02)
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    return parser


def subspaces_for(args: argparse.Namespace, shape: tuple[int, int, int]) -> SubspaceFamily:
    """The DCT blocks of `--block/--stride`, or random subspaces matching their count and dimension."""
    blocks = dct_diagonal_blocks(shape, args.block, args.stride)
    if args.basis == "dct":
        return blocks
    return random_subspaces(shape, int(blocks.dimensions[0]), count=len(blocks), seed=args.seed)


def run(args: argparse.Namespace) -> None:
    device, model, dataset, indices = cli.setup(args)
    family = subspaces_for(args, tuple(image_shape(dataset)))
    parameters = {k: v for k, v in vars(args).items() if k not in ("out", "plot", "quiet", "resume", "device")}
    attrs = results.provenance(PROBE, parameters, model=model, data=args.data, split=args.split, seed=args.seed,
                               device=device)
    bar = cli.progress_bar(len(indices), "margins", args.quiet)
    ds = sweep(model, dataset, family, indices=indices, seed=args.seed, candidates=args.candidates,
               overshoot=args.overshoot, max_iter=args.max_iter, batch_size=args.batch_size, device=device,
               out=args.out, resume=args.resume, attrs=attrs, progress=bar.update)
    bar.close()
    if not args.quiet:
        print(cli.format_table(["subspace", "band start", "dim", "median margin", "not converged"], summary_rows(ds)))
        print(f"not converged overall: {ds.attrs['fraction_not_converged']:.3f}"
              + (f"\nresult: {args.out}" if args.out else ""))
    cli.save_outputs(ds, args)


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_command(build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
