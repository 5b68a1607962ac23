"""Margins: distance to the decision boundary inside DCT frequency bands, random or user subspaces.

The margin of `x` in subspace `S` is the smallest `‖δ‖₂`, `δ ∈ S`, that changes the
prediction, measured by DeepFool with every gradient projected onto `S` (REFERENCE.md §2).
The reported margin is `‖(1 + η) r‖`, as published.  Samples where DeepFool does not
converge (or cannot move inside `S`, or meets non-finite logits) get margin `+inf` with
`converged = False` (and `stuck` / `non_finite` saying why).

    ds = probe.margins.run(model, data, n=500, basis="dct")       # (subspace, sample)
    probe.margins.summary(ds)
"""
from __future__ import annotations

import hashlib
from typing import Callable

import numpy as np
import torch
import xarray as xr
from torch import nn

from probe import runner
from probe.attacks.deepfool import deepfool
from probe.data import image_shape
from probe.errors import ParameterError
from probe.results import variable
from probe.spectral import Bases, DCTMasks, SubspaceFamily, dct_diagonal_blocks, random_subspaces

PROBE = "margins"
CHUNK_SIZE = 64     # samples per stored chunk
BATCH_SIZE = 128    # (subspace, sample) pairs per DeepFool call
BASES = ("dct", "random")


def subspace_family(shape: tuple[int, int, int], basis: str = "dct", block: int | None = None,
                    stride: int | None = None, seed: int = 0) -> SubspaceFamily:
    """The diagonal DCT blocks of `block`/`stride` (defaults from the image size), or as many
    random subspaces of the same dimension (seeded)."""
    if basis not in BASES:
        raise ParameterError(f"unknown basis '{basis}' (expected one of {', '.join(BASES)})")
    blocks = dct_diagonal_blocks(shape, block, stride)
    if basis == "dct":
        return blocks
    return random_subspaces(shape, int(blocks.dimensions[0]), count=len(blocks), seed=seed)


def family_sha256(family: SubspaceFamily) -> str:
    """SHA-256 of the subspaces themselves (masks or bases): identifies a user-given family."""
    tensor = family.masks if isinstance(family, DCTMasks) else family.bases if isinstance(family, Bases) else None
    if tensor is None:
        raise ParameterError(f"cannot identify subspaces of type {type(family).__name__}")
    return hashlib.sha256(tensor.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


def _pairs(model: nn.Module, family: SubspaceFamily, attack: dict) -> runner.Compute:
    """The per-chunk computation: DeepFool for every (subspace, sample) pair of the chunk.

    Pairs are ordered sample-major and attacked `batch_size` at a time (small working batches
    stay in cache); the pairs of one sample share their first linearisation.
    """

    def compute(chunk: runner.Chunk) -> xr.Dataset:
        count, n = len(family), len(chunk.indices)
        rows = n * count                                            # row i·S + s: sample i in subspace s
        parts = []
        for start in range(0, rows, chunk.batch_size):
            pair = torch.arange(start, min(start + chunk.batch_size, rows))
            sample, member = pair // count, pair % count
            parts.append(deepfool(model, chunk.x[sample.to(chunk.device)], subspace=family.select(member),
                                  groups=sample, **attack))

        def grid(name: str) -> np.ndarray:
            return torch.cat([getattr(p, name) for p in parts]).view(n, count).T.cpu().numpy()

        label = torch.cat([p.label for p in parts]).view(n, count)[:, 0].cpu().numpy()
        coords = {"subspace": ("subspace", np.arange(count)), "sample": ("sample", chunk.indices)}
        coords.update({name: ("subspace", values, attrs) for name, (values, attrs) in family.coordinates().items()})
        return xr.Dataset({
            "margin": variable(("subspace", "sample"), grid("norm").astype(np.float64),
                               "L2 margin in the subspace, ‖(1+η) r‖ (+inf: not converged)",
                               "pixel L2 ([0,1] scale)"),
            "converged": variable(("subspace", "sample"), grid("converged"), "DeepFool changed the prediction"),
            "stuck": variable(("subspace", "sample"), grid("stuck"),
                              "no candidate gradient had a usable component in the subspace"),
            "non_finite": variable(("subspace", "sample"), grid("non_finite"), "the logits were not finite"),
            "iterations": variable(("subspace", "sample"), grid("iterations"), "DeepFool steps", "1"),
            "adv_label": variable(("subspace", "sample"), grid("adv_label"),
                                  "prediction at x + perturbation (-1: logits not finite)"),
            "label": variable("sample", chunk.y.cpu().numpy(), "true class"),
            "prediction": variable("sample", label, "predicted class of the clean image"),
        }, coords=coords)

    return compute


def _finalize(ds: xr.Dataset) -> xr.Dataset:
    ds["not_converged"] = variable("subspace", 1.0 - ds["converged"].values.mean(axis=1),
                                   "fraction of samples not converged", "1")
    return ds


def run(model: nn.Module, data, *, n: int | None = None, indices=None, seed: int = 0,
        device: torch.device | str | None = None, batch_size: int | None = None, out=None, resume: bool = False,
        progress: Callable[[int], None] | None = None, basis: str = "dct", block: int | None = None,
        stride: int | None = None, subspaces: SubspaceFamily | None = None, max_iter: int = 100,
        candidates: int = 10, overshoot: float = 0.02) -> xr.Dataset:
    """Margins of the selected samples in every subspace: a `(subspace, sample)` result.

    `basis` 'dct' (diagonal DCT blocks of `block`×`block`, stride `stride`; defaults from the
    image size: 21 bands at 28×28, 13 at 32×32, 14 at 224×224) or 'random' (as many seeded
    random subspaces of the same dimension); or any `subspaces` family (`probe.spectral`).
    `batch_size` caps the (subspace, sample) pairs per DeepFool call.
    """
    if max_iter < 1 or candidates < 2 or overshoot < 0:
        raise ParameterError("margins need max_iter ≥ 1, candidates ≥ 2 and overshoot ≥ 0")
    dataset = runner.resolve_data(data)
    shape = tuple(image_shape(dataset))
    if subspaces is None:
        family = subspace_family(shape, basis, block, stride, seed)
        described = {"basis": basis, "block": block, "stride": stride}
    else:
        if tuple(subspaces.shape) != shape:
            raise ParameterError(f"subspaces are for images {subspaces.shape} but the data has {shape}")
        family = subspaces
        described = {"basis": family.kind, "subspaces_sha256": family_sha256(family)}
    options = dict(described, count=len(family), max_iter=max_iter, candidates=candidates, overshoot=overshoot)
    attack = {"candidates": candidates, "overshoot": overshoot, "max_iter": max_iter}
    return runner.run(PROBE, model, dataset, _pairs(model, family, attack), options=options, n=n, indices=indices,
                      seed=seed, device=device, batch_size=batch_size, default_batch_size=BATCH_SIZE,
                      chunk_size=CHUNK_SIZE, out=out, resume=resume, progress=progress, finalize=_finalize)


def summary(ds: xr.Dataset) -> dict[str, float | int]:
    """Median margin (over samples) of the lowest and highest band, the smallest and largest
    band median, the fraction of (subspace, sample) pairs not converged, and the number of
    samples whose logits were not finite (at the image or along an attack)."""
    medians = np.median(ds["margin"].values, axis=1)
    return {
        "samples": int(ds.sizes["sample"]),
        "subspaces": int(ds.sizes["subspace"]),
        "median_margin_lowest_band": float(medians[0]),
        "median_margin_highest_band": float(medians[-1]),
        "median_margin_smallest": float(medians.min()),
        "median_margin_largest": float(medians.max()),
        "not_converged": float(1.0 - ds["converged"].values.mean()),
        "non_finite": int(ds["non_finite"].values.any(axis=0).sum()),
    }
