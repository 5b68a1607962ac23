"""Margins: distance to the decision boundary inside DCT frequency bands, random or user subspaces.

The margin of `x` in subspace `S` is the smallest `‖δ‖₂`, `δ ∈ S`, that changes the
prediction, measured by DeepFool with every gradient projected onto `S`.
The reported margin is `‖(1 + η) r‖`, as published.  `variant` picks DeepFool's convention:
"original" (default) is the rule of the subspace DeepFool of Ortiz-Jiménez et al. (2020, "Hold me
tight!", §3) and of the DeepFool authors (Moosavi-Dezfooli et al., 2016): linearise at the
iterate `x0 + r`, step `max(|g| / ‖P w‖, 1e-4)`, check at the overshot point; "foolbox"
linearises at the overshot point with foolbox's step rule (see `probe.attacks.deepfool`).  With
`refine=True` the result also holds `margin_refined`, the exact distance to the boundary along
the direction found (bisection), a tighter upper bound of the true margin.  Samples where DeepFool does not
converge (or cannot move inside `S`, or meets non-finite logits) get margin `+inf` with
`converged = False` (and `stuck` / `non_finite` saying why).  A `PerSampleBases` family measures
every sample in its own subspace (one `subspace` entry), e.g. along its own adversarial direction.

    ds = probe.margins.run(model, data, n=500, basis="dct")       # (subspace, sample)
    probe.margins.summary(ds)
"""
from __future__ import annotations

import copy
import hashlib
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from probe import ranges, runner, stats
from probe.attacks.deepfool import VARIANTS, DeepFoolResult, deepfool
from probe.errors import ParameterError
from probe.execution import Execution, Unpack, check
from probe.logits import classify
from probe.memory import DEEPFOOL_ROW_COST
from probe.results import variable
from probe.spectral import Bases, DCTMasks, PerSampleBases, SubspaceFamily, dct_diagonal_blocks, random_subspaces

PROBE = "margins"
CHUNK_SIZE = 64     # samples per stored chunk
BATCH_SIZE = 128    # (subspace, sample) pairs per DeepFool call
BASES = ("dct", "random")
REFINE_STEPS = 20   # bisection steps of `refine`: a bracket of (1 + η)·2⁻²⁰ ≈ 1e-6 of ‖r‖


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
    """SHA-256 of the subspaces themselves (masks or bases, and the sample of each per-sample
    basis): identifies a user-given family."""
    tensor = family.masks if isinstance(family, DCTMasks) else family.bases if isinstance(family, Bases) else None
    if tensor is None:
        raise ParameterError(f"cannot identify subspaces of type {type(family).__name__}")
    digest = hashlib.sha256(tensor.detach().cpu().contiguous().numpy().tobytes())
    if isinstance(family, PerSampleBases):
        digest.update(family.indices.tobytes())
    return digest.hexdigest()


def subspaces_per_sample(family: SubspaceFamily) -> int:
    """How many subspaces each sample is measured in: every member, or its own one (`PerSampleBases`)."""
    return 1 if isinstance(family, PerSampleBases) else len(family)


def precise_twin(model: nn.Module) -> nn.Module:
    """A float64 copy of `model` for the bisection of `boundary_distance`, or `model` itself where it
    is float64 already, sits on a device without float64 (MPS) or cannot be copied."""
    parameter = next(iter(model.parameters()), None)
    if parameter is None or parameter.dtype == torch.float64 or parameter.device.type == "mps":
        return model
    try:
        return copy.deepcopy(model).to(torch.float64).eval()
    except (RuntimeError, TypeError, copy.Error):        # not copyable: bisect in the model's own precision
        return model


@torch.no_grad()
def boundary_distance(model: nn.Module, x: torch.Tensor, found: DeepFoolResult, overshoot: float,
                      steps: int = REFINE_STEPS) -> torch.Tensor:
    """(N,) `t ‖r‖` for the t in [0, 1 + η] where `F(x + t r)` leaves `F(x)`, by bisection along each
    DeepFool direction `r` (`steps` batched forward passes; the bracket ends at most
    (1 + η)·2^-steps·‖r‖ above the crossing, on a point whose prediction differs); `+inf` where
    DeepFool did not converge.  A tight upper bound of the subspace margin, free of the overshoot
    and of DeepFool's step floor (Ortiz-Jiménez et al., 2020, §3 define the margin as the minimal
    norm).  Bisection assumes the segment crosses the boundary once; otherwise it returns one of its
    crossings, still an upper bound of the margin.  A point with non-finite logits counts as not crossed.

    The points `x + t r` are formed and classified in the precision of `model`'s parameters: pass a
    float64 model (`precise_twin`) for an exact answer.  In float32 the rounding of `x + t r` (about
    3e-8 per pixel near 0.5) and of the logits moves the crossing by ~1e-7 in input units, 1e-4 of
    a margin of 1e-3."""
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), x.dtype)
    low = torch.zeros(len(x), dtype=torch.float64, device=x.device)
    high = torch.full_like(low, 1.0 + overshoot)
    rows = torch.nonzero(found.converged).flatten()
    x, r, label = x[rows].to(dtype), found.r[rows].to(dtype), found.label[rows]
    for _ in range(steps if len(rows) else 0):
        middle = (low[rows] + high[rows]) / 2
        prediction, finite = classify(model(x + middle.to(dtype).view(-1, *[1] * (x.dim() - 1)) * r))
        crossed = finite & (prediction != label)
        high[rows] = torch.where(crossed, middle, high[rows])
        low[rows] = torch.where(crossed, low[rows], middle)
    distance = high * found.r.flatten(1).norm(dim=1).double()
    return torch.where(found.converged, distance, torch.full_like(distance, float("inf")))


def _refined(model: nn.Module, x: torch.Tensor, parts: list[DeepFoolResult], count: int,
             overshoot: float) -> torch.Tensor:
    """`boundary_distance` of every pair of the working batches `parts` (rows i·S + s, in order)."""
    out, start = [], 0
    for part in parts:
        sample = torch.arange(start, start + len(part.label), device=x.device) // count
        out.append(boundary_distance(model, x[sample], part, overshoot))
        start += len(part.label)
    return torch.cat(out)


def _pairs(model: nn.Module, family: SubspaceFamily, attack: dict, refine: bool = False) -> runner.Compute:
    """The per-chunk computation: DeepFool for every (subspace, sample) pair of the chunk, and with
    `refine` the bisection distance along each direction found (`boundary_distance`).

    Pairs are ordered sample-major and attacked `batch_size` at a time (small working batches
    stay in cache); the pairs of one sample share their first linearisation.  With per-sample
    bases each sample has one pair, in its own basis.
    """
    count = subspaces_per_sample(family)
    twins: dict[torch.device, nn.Module] = {}      # float64 copies of the model for `refine`, per device

    def compute(chunk: runner.Chunk) -> xr.Dataset:
        n = len(chunk.indices)
        rows = n * count                                            # row i·S + s: sample i in subspace s
        own = family.members(chunk.indices) if isinstance(family, PerSampleBases) else None
        parts = []
        for start in range(0, rows, chunk.batch_size):
            pair = torch.arange(start, min(start + chunk.batch_size, rows))
            sample, member = pair // count, pair % count
            if own is not None:
                member = own[sample]
            parts.append(deepfool(model, chunk.x[sample.to(chunk.device)], subspace=family.select(member),
                                  groups=sample, **attack))
            chunk.progress(len(pair) / count)                           # samples' worth of (band, sample) pairs

        def grid(name: str) -> np.ndarray:
            return torch.cat([getattr(p, name) for p in parts]).view(n, count).T.cpu().numpy()

        label = torch.cat([p.label for p in parts]).view(n, count)[:, 0].cpu().numpy()
        coords: dict[str, tuple[Any, ...]] = {"subspace": ("subspace", np.arange(count)),
                                             "sample": ("sample", chunk.indices)}
        coords.update({name: ("subspace", values, attrs) for name, (values, attrs) in family.coordinates().items()})
        result = xr.Dataset({
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
        if refine:
            if chunk.device not in twins:
                twins[chunk.device] = precise_twin(model)
            refined = _refined(twins[chunk.device], chunk.x, parts, count,
                               attack["overshoot"]).view(n, count).T.cpu().numpy()
            result["margin_refined"] = variable(
                ("subspace", "sample"), refined, "L2 distance to the boundary along the DeepFool direction, "
                "bisection on t ∈ [0, 1+η] (+inf: not converged)", "pixel L2 ([0,1] scale)")
        return result

    return compute


def finalize(ds: xr.Dataset) -> xr.Dataset:
    """Add the fraction of samples not converged per subspace (a pure function of the result)."""
    ds["not_converged"] = variable("subspace", 1.0 - ds["converged"].values.mean(axis=1),
                                   "fraction of samples not converged", "1")
    return ds


def run(model: nn.Module, data: Any, *, basis: str = "dct", block: int | None = None, stride: int | None = None,
        subspaces: SubspaceFamily | None = None, max_iter: int = 100, candidates: int = 10, overshoot: float = 0.02,
        refine: bool = False, variant: str = "original", **execution: Unpack[Execution]) -> xr.Dataset:
    """Margins of the selected samples in every subspace: a `(subspace, sample)` result.

    `basis` 'dct' (diagonal DCT blocks of `block`×`block`, stride `stride`; defaults from the
    image size: 21 bands at 28×28, 13 at 32×32, 14 at 224×224) or 'random' (as many seeded
    random subspaces of the same dimension); or any `subspaces` family (`probe.spectral`); a
    `PerSampleBases` family measures each sample in its own basis (by default the samples it
    has bases for; every selected sample must have one).
    `batch_size` caps the (subspace, sample) pairs per DeepFool call.  `variant` is DeepFool's
    convention: "original" (the "Hold me tight" and DeepFool authors' rule, default) or "foolbox".
    `refine` adds `margin_refined`, the bisection distance to the boundary along each direction
    found (`boundary_distance`, `REFINE_STEPS` more forward passes of a float64 copy of the model,
    except on MPS), beside `margin`.  The shared options (`n`, `indices`, `seed`, `device`,
    `out`, ...) are documented in `probe.execution.Execution`.
    """
    execution = check(run, execution)
    model = runner.classifier(model)
    ranges.check(max_iter=(max_iter, ranges.integer(1)), candidates=(candidates, ranges.integer(2)),
                 overshoot=(overshoot, ranges.NON_NEGATIVE), block=(block, ranges.integer(1)),
                 stride=(stride, ranges.integer(1)))
    if variant not in VARIANTS:
        raise ParameterError(f"unknown variant '{variant}' (expected one of {', '.join(VARIANTS)})")
    if isinstance(subspaces, PerSampleBases) and execution["indices"] is None and execution["n"] is None:
        execution["indices"] = subspaces.indices
    attack = {"candidates": candidates, "overshoot": overshoot, "max_iter": max_iter, "variant": variant}

    def prepare(context: runner.Context) -> runner.Plan:
        if subspaces is None:
            family = subspace_family(context.shape, basis, block, stride, context.seed)
            described = {"basis": basis, "block": block, "stride": stride}
        else:
            if tuple(subspaces.shape) != context.shape:
                raise ParameterError(f"subspaces are for images {subspaces.shape} but the data has {context.shape}")
            family = subspaces
            described = {"basis": family.kind, "subspaces_sha256": family_sha256(family)}
            if isinstance(family, PerSampleBases):
                family.members(context.indices)   # every sample has its basis
        options = dict(described, count=subspaces_per_sample(family), max_iter=max_iter, candidates=candidates,
                       overshoot=overshoot, refine=bool(refine), variant=variant)
        return runner.Plan(_pairs(model, family, attack, bool(refine)), options, finalize=finalize,
                           row_cost=DEEPFOOL_ROW_COST, chunk_size=CHUNK_SIZE, batch_size=BATCH_SIZE)

    return runner.run(PROBE, model, data, prepare, **execution)


def band_medians(ds: xr.Dataset, confidence: float = stats.CONFIDENCE, name: str = "margin") -> list[stats.Estimate]:
    """Per subspace, the median of `name` over samples with its order-statistic interval
    (+inf margins, not converged, rank last: an interval reaching them ends at +inf)."""
    return [stats.median(row, confidence) for row in ds[name].values]


def summary(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> dict[str, float | int]:
    """Median margin (over samples) of the lowest and highest band, the smallest and largest
    band median, the fraction of (subspace, sample) pairs not converged, and the number of
    samples whose logits were not finite (at the image or along an attack).  Each number has
    `_low` and `_high` at `confidence`: order-statistic intervals for the medians (the smallest
    and largest band median carry their band's), a percentile bootstrap over samples for the
    share not converged."""
    medians = band_medians(ds, confidence)
    values = np.array([m.value for m in medians])
    not_converged = ~ds["converged"].values.astype(bool)
    low, high = stats.bootstrap(lambda counts: stats.weighted_share(counts, not_converged.T).mean(axis=1),
                                ds.sizes["sample"], confidence)
    return {
        "samples": int(ds.sizes["sample"]),
        "subspaces": int(ds.sizes["subspace"]),
        **stats.entries("median_margin_lowest_band", medians[0]),
        **stats.entries("median_margin_highest_band", medians[-1]),
        **stats.entries("median_margin_smallest", medians[int(np.argmin(values))]),
        **stats.entries("median_margin_largest", medians[int(np.argmax(values))]),
        **stats.entries("not_converged", stats.Estimate(float(not_converged.mean()), float(low), float(high),
                                                        ds.sizes["sample"])),
        "non_finite": int(ds["non_finite"].values.any(axis=0).sum()),
    }
