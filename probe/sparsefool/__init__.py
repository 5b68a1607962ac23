"""SparseFool over a dataset: how few pixels change the model's decision.

For every selected image: whether SparseFool fooled the model, how many pixels (a pixel
counts when any channel changes) and coordinates it changed, the L1 / L2 / L∞ size of the
change, the classes, outer iterations, time per sample and the failure flags.  Values of
samples that were not fooled are `+inf` (with `fooled = False` beside them).  A sample whose
logits were not finite anywhere the attack looked is flagged `non_finite`, never fooled, and
left out of the summary's rates and medians.  Optionally the clean images and the
perturbations themselves (for figures, transfer and attribution analyses).

    ds = probe.sparsefool.run(model, data, n=100, delta=25)      # δ on the 0–255 scale
    probe.sparsefool.summary(ds)
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from probe import runner, stats
from probe.attacks.sparsefool import FLAGS, SparseFoolResult, check_options, sparsefool
from probe.errors import ParameterError
from probe.execution import Execution, Unpack, check
from probe.memory import DEEPFOOL_ROW_COST
from probe.results import variable

PROBE = "sparsefool"
CHUNK_SIZE = 64     # samples per stored chunk
BATCH_SIZE = 64     # samples per SparseFool call (the working batch)
PIXEL_SCALE = 255.0  # δ is given on the 0–255 scale; the attack works on [0, 1]
FLAG_TEXT = {
    "deepfool_failed": "a DeepFool step found no boundary (or a zero or non-finite normal); stopped",
    "wrong_side": "the image was past its linearised boundary; stopped",
    "unreachable": "at some step the bounds did not reach the linearised boundary",
    "non_finite": "the logits were not finite (clean image, an iterate or the final image); stopped, never fooled",
    "overshoot_reverted": "the overshot image fell back into the original class; the adversarial last iterate "
                          "x_i was returned instead",
}
UNITS = "pixel intensity [0, 1]"


def _sync(device: torch.device) -> None:
    """Wait for the device, so that the time of an attack is its own."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _concat(parts: list[SparseFoolResult]) -> SparseFoolResult:
    return SparseFoolResult(**{field.name: torch.cat([getattr(p, field.name) for p in parts])
                               for field in dataclasses.fields(SparseFoolResult)})


def _compute(model: nn.Module, attack: dict, save_perturbations: bool) -> runner.Compute:
    """The per-chunk computation: SparseFool on working batches of at most `chunk.batch_size` images."""

    def compute(chunk: runner.Chunk) -> xr.Dataset:
        parts, seconds = [], []
        for start in range(0, len(chunk.indices), chunk.batch_size):
            x = chunk.x[start:start + chunk.batch_size]
            _sync(chunk.device)
            begin = time.perf_counter()
            parts.append(sparsefool(model, x, progress=chunk.progress, **attack))
            _sync(chunk.device)
            seconds.append(np.full(len(x), (time.perf_counter() - begin) / len(x)))
        res = _concat(parts)
        fooled = res.fooled.cpu().numpy()
        flat = res.perturbation.flatten(1)
        pixels = chunk.x.shape[2] * chunk.x.shape[3]

        def metric(values: torch.Tensor) -> np.ndarray:
            return np.where(fooled, values.double().cpu().numpy(), np.inf)

        count = metric(res.perturbed_pixels)
        variables = {
            "fooled": variable("sample", fooled,
                               "SparseFool changed the prediction (fresh forward pass on the final image)"),
            "label": variable("sample", chunk.y.cpu().numpy(), "true class"),
            "prediction": variable("sample", res.label.cpu().numpy(),
                                   "predicted class of the clean image (-1: logits not finite)"),
            "adv_label": variable("sample", res.adv_label.cpu().numpy(),
                                  "prediction on the perturbed image (-1: logits not finite)"),
            "iterations": variable("sample", res.iterations.cpu().numpy(), "outer SparseFool iterations",
                                   "iterations"),
            "perturbed_pixels": variable("sample", count, "perturbed pixels (any channel changed)", "pixels"),
            "perturbed_pixel_fraction": variable("sample", 100.0 * count / pixels,
                                                 "perturbed pixels, share of the image", "%"),
            "perturbed_coordinates": variable("sample", metric(res.perturbed_coordinates),
                                              "perturbed coordinates (pixel × channel)", "coordinates"),
            "l1": variable("sample", metric(flat.abs().sum(1)), "L1 norm of the perturbation", UNITS),
            "l2": variable("sample", metric(flat.norm(dim=1)), "L2 norm of the perturbation", UNITS),
            "linf": variable("sample", metric(flat.abs().amax(1)), "L∞ norm of the perturbation", UNITS),
            "time": variable("sample", np.concatenate(seconds), "attack time per sample (batched)", "s"),
            **{name: variable("sample", getattr(res, name).cpu().numpy(), FLAG_TEXT[name]) for name in FLAGS},
        }
        if save_perturbations:
            dims = ("sample", "channel", "row", "col")
            variables["image"] = variable(dims, chunk.x.cpu().numpy().astype(np.float32), "clean image", UNITS)
            variables["perturbation"] = variable(dims, res.perturbation.cpu().numpy().astype(np.float32),
                                                 "perturbation x_adv − x", UNITS)
        return xr.Dataset(variables, coords={"sample": chunk.indices})

    return compute


def run(model: nn.Module, data: Any, *, lam: float = 3.0, max_iter: int = 20, overshoot: float = 0.02,
        delta: float | None = None, candidates: int = 10, save_perturbations: bool = False,
        **execution: Unpack[Execution]) -> xr.Dataset:
    """SparseFool on the selected samples: one row per dataset index.

    `lam` (λ ≥ 1) places the boundary point `x_i + λ r`; `overshoot` is the final overshoot ε
    of `x0 + (1 + ε)(x_i − x0)`; `delta` is the perceptibility bound ±δ per pixel on the
    0–255 scale (None: only the [0, 1] box); `candidates` are DeepFool's candidate classes.
    `save_perturbations` also stores the clean images and the perturbations.  `batch_size`
    caps the images per SparseFool call; the shared options (`n`, `seed`, `device`, `out`, ...)
    are documented in `probe.execution.Execution`.
    """
    execution = check(run, execution)
    model = runner.classifier(model)
    if delta is not None and not 0 < delta <= PIXEL_SCALE:
        raise ParameterError(f"delta must be in (0, 255] (the 0–255 pixel scale), got {delta}")
    scaled = None if delta is None else delta / PIXEL_SCALE
    check_options(lam, max_iter, overshoot, scaled, candidates)
    options = {"lam": lam, "max_iter": max_iter, "overshoot": overshoot, "delta": delta, "candidates": candidates,
               "save_perturbations": save_perturbations}
    attack = {"lam": lam, "max_iter": max_iter, "overshoot": overshoot, "delta": scaled, "candidates": candidates}
    plan = runner.Plan(_compute(model, attack, save_perturbations), options, row_cost=DEEPFOOL_ROW_COST,
                       chunk_size=CHUNK_SIZE, batch_size=BATCH_SIZE)
    return runner.run(PROBE, model, data, plan, **execution)


def summary(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> dict[str, float | int]:
    """Fooling rate (%) over the samples with finite logits; over the fooled images the median
    share of perturbed pixels (%), perturbed coordinates and L2; mean outer iterations (finite
    samples), mean attack time per sample (s); and the count of every flag (`non_finite` too, and
    `overshoot_reverted`: fooled samples returned at their last iterate because the overshoot undid it).
    Each number has `_low` and `_high` at `confidence`: Wilson for the rate, order-statistic
    intervals for the medians (+inf in (−inf, +inf) when nothing was fooled), t for the means."""
    finite = ~ds["non_finite"].values.astype(bool)
    fooled = ds["fooled"].values.astype(bool) & finite

    def median(name: str) -> stats.Estimate:
        return stats.median(ds[name].values[fooled], confidence)

    iterations = stats.mean(ds["iterations"].values[finite], confidence) if finite.any() else \
        stats.Estimate(0.0, 0.0, 0.0, 0)
    return {
        "samples": int(ds.sizes["sample"]),
        **stats.entries("fooling_rate", stats.percent(fooled, finite, confidence)),
        **stats.entries("median_perturbed_pixels", median("perturbed_pixel_fraction")),
        **stats.entries("median_perturbed_coordinates", median("perturbed_coordinates")),
        **stats.entries("median_l2", median("l2")),
        **stats.entries("mean_iterations", iterations),
        **stats.entries("mean_time_per_sample", stats.mean(ds["time"].values, confidence)),
        **{name: int(ds[name].values.sum()) if name in ds else 0 for name in FLAGS},  # results before a flag existed
    }
