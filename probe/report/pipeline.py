"""Input-pipeline checks of a model: scaling, batch dependence, determinism.

- **Scaling.** Accuracy on the contract's `[0, 1]` pixels, on the same images ×255 and on the
  images standardised with the per-channel mean and std of the selected images.  A model that
  does better on another scaling has its preprocessing wrong.
- **Batch dependence.** The eval-mode logits of every image in working batches of R images
  and again in groups of R/2 (other companions).  Any change beyond float noise means the
  prediction depends on the rest of the batch (BatchNorm using batch statistics whatever the
  mode, e.g. a model traced in train mode).
- **Determinism.** The same forward passes twice (dropout left on, random layers).

Changes are relative: max |Δ logit| of a row over the largest |logit| of its reference row.
A row that is finite in one pass and not in the other changes by `+inf`; a row non-finite in
both changes by 0 (the non-finite logits are counted apart, in `finite`).

    ds = probe.report.pipeline.run(model, data, n=256)
    probe.report.pipeline.summary(ds)

Its pieces in the report (title, budgets, checks, reading, figure) follow below, as a probe's
`report.py` holds them.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from probe import runner
from probe.errors import ParameterError
from probe.execution import Execution, Unpack, check
from probe.logits import accuracy, classify
from probe.report.checks import Measure, Spec, Threshold, number
from probe.results import variable

if TYPE_CHECKING:
    from matplotlib.axes import Axes

PROBE = "pipeline"
BATCH_SIZE = 64         # images per reference forward pass (R)
MIN_IMAGES = 4          # two groups of at least two images each
SCALINGS = ("unit", "x255", "standardised")
SCALING_NAMES = {"unit": "[0, 1] (the contract)", "x255": "[0, 255]", "standardised": "standardised (mean/std)"}
STD_FLOOR = 1e-6


def _grouped_logits(model: nn.Module, x: torch.Tensor, size: int) -> torch.Tensor:
    """Logits of `x` in consecutive groups of `size` images, a last group of one merged into the previous."""
    bounds = list(range(0, len(x), size)) + [len(x)]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
        bounds.pop(-2)
    with torch.no_grad():
        return torch.cat([model(x[a:b]).float() for a, b in zip(bounds[:-1], bounds[1:])])


def relative_change(reference: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """(N,) max |other − reference| / max |reference| per row; +inf where exactly one row is
    finite, 0 where neither is."""
    ok_ref, ok_other = torch.isfinite(reference).all(1), torch.isfinite(other).all(1)
    both = ok_ref & ok_other
    scale = reference.nan_to_num().abs().amax(1).clamp_min(torch.finfo(reference.dtype).tiny)
    change = (other.nan_to_num() - reference.nan_to_num()).abs().amax(1) / scale
    change = torch.where(both, change, torch.zeros_like(change))
    return torch.where(ok_ref != ok_other, torch.full_like(change, math.inf), change)


def _compute(model: nn.Module) -> runner.Compute:
    def compute(chunk: runner.Chunk) -> xr.Dataset:
        x, y = chunk.x, chunk.y
        if len(x) < MIN_IMAGES:
            raise ParameterError(f"the input-pipeline checks need at least {MIN_IMAGES} images, got {len(x)}")
        size = max(MIN_IMAGES, min(chunk.batch_size, len(x)))
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        std = x.std(dim=(0, 2, 3), keepdim=True).clamp_min(STD_FLOOR)
        reference = _grouped_logits(model, x, size)
        scaled = {"unit": reference, "x255": _grouped_logits(model, x * 255.0, size),
                  "standardised": _grouped_logits(model, (x - mean) / std, size)}
        predictions = [classify(scaled[name]) for name in SCALINGS]
        regrouped = _grouped_logits(model, x, size // 2)
        repeated = _grouped_logits(model, x, size)
        batch_change, repeat_change = relative_change(reference, regrouped), relative_change(reference, repeated)
        labels = y.cpu().numpy()
        first = predictions[0][0]
        return xr.Dataset({
            "correct": variable(("scaling", "sample"), np.stack([(p == y).cpu().numpy() for p, _ in predictions]),
                                "classified correctly with the images so scaled"),
            "finite": variable(("scaling", "sample"), np.stack([f.cpu().numpy() for _, f in predictions]),
                               "logits finite with the images so scaled"),
            "batch_change": variable("sample", batch_change.double().cpu().numpy(),
                                     f"relative logit change between working batches of {size} and of {size // 2}",
                                     "1"),
            "batch_prediction_changed": variable("sample", (classify(regrouped)[0] != first).cpu().numpy(),
                                                 "the prediction changed with the rest of the batch"),
            "repeat_change": variable("sample", repeat_change.double().cpu().numpy(),
                                      "relative logit change between two identical forward passes", "1"),
            "repeat_prediction_changed": variable("sample", (classify(repeated)[0] != first).cpu().numpy(),
                                                  "the prediction changed between two identical passes"),
            "label": variable("sample", labels, "true class"),
            "standardise_mean": variable("channel", mean.flatten().double().cpu().numpy(),
                                         "per-channel mean of the selected images (standardised scaling)"),
            "standardise_std": variable("channel", std.flatten().double().cpu().numpy(),
                                        "per-channel std of the selected images (standardised scaling)"),
        }, coords={"scaling": list(SCALINGS), "sample": chunk.indices})
    return compute


def finalize(ds: xr.Dataset) -> xr.Dataset:
    """Accuracy (%) per scaling over the samples whose logits are finite."""
    ds["accuracy"] = variable("scaling", accuracy(ds["correct"].values, ds["finite"].values, -1),
                              "accuracy with the images so scaled", "%")
    return ds


def run(model: nn.Module, data: Any, **execution: Unpack[Execution]) -> xr.Dataset:
    """The input-pipeline measurements of the selected samples (at least 4), in one chunk:
    correctness per scaling, batch-dependence and repeat changes per sample.  `batch_size`
    is the reference working batch R (default 64); the shared options are documented in
    `probe.execution.Execution` (one chunk: no `shard`)."""
    execution = check(run, execution, excluded=("shard",))
    model = runner.classifier(model)
    plan = runner.Plan(_compute(model), options={}, finalize=finalize, chunk_size=None, batch_size=BATCH_SIZE)
    return runner.run(PROBE, model, data, plan, **execution)


def summary(ds: xr.Dataset) -> dict[str, float | int]:
    """Accuracy (%) per scaling, the gain (points) of the best other scaling over [0, 1], the
    largest relative batch and repeat changes, the predictions they changed, and the samples
    whose [0, 1] logits are not finite."""
    acc = {name: float(value) for name, value in zip(ds["scaling"].values, ds["accuracy"].values)}
    return {
        "samples": int(ds.sizes["sample"]),
        **{f"accuracy_{name}": acc[name] for name in SCALINGS},
        "scaling_gain": max(acc["x255"], acc["standardised"]) - acc["unit"],
        "batch_change": float(ds["batch_change"].values.max()),
        "batch_prediction_changes": int(ds["batch_prediction_changed"].values.sum()),
        "repeat_change": float(ds["repeat_change"].values.max()),
        "repeat_prediction_changes": int(ds["repeat_prediction_changed"].values.sum()),
        "non_finite": int((~ds["finite"].values[0]).sum()),
    }


# ============================================================================= in the report

TITLE = "Input pipeline"
BUDGETS = {   # samples (n) and own options of the stage under each budget of `probe.report.budgets`
    "quick": {"n": 256},
    "standard": {"n": 512},
    "thorough": {"n": 1024},
}


# ----------------------------------------------------------------------------- checks

def _scaling(ds: xr.Dataset, context: dict) -> Measure:
    # Accuracy gain of the best other scaling ([0, 255] or standardised) over [0, 1]: paired
    # on the same images, so a couple of points is already a preference.  The LeNet loses
    # ~7 points on either; a model expecting [0, 255] gains ~77.
    acc = dict(zip(ds["scaling"].values, ds["accuracy"].values))
    best = "x255" if acc["x255"] >= acc["standardised"] else "standardised"
    return Measure(float(acc[best] - acc["unit"]), Threshold("lower", 2.0, 5.0),
                   f"[0, 1] {number(float(acc['unit']))} %, [0, 255] {number(float(acc['x255']))} %, "
                   f"standardised {number(float(acc['standardised']))} %")


def _relative_change(variable: str, changed: str) -> Callable[[xr.Dataset, dict], Measure]:
    # Relative logit change (max |Δ| / max |logit|).  Float reordering gives ~1e-7 on a CPU and
    # up to ~1e-3 with TF32 convolutions on a GPU; BatchNorm on batch statistics changes the
    # logits by ~10 % (LeNet: 0.13) and flips predictions.
    def measure(ds: xr.Dataset, context: dict) -> Measure:
        return Measure(float(ds[variable].values.max()), Threshold("lower", 1e-4, 1e-2),
                       f"{int(ds[changed].values.sum())} predictions changed")
    return measure


CHECKS = (
    Spec("input_scaling", "accuracy gain of another input scaling", "input pipeline", "pipeline", "points",
         _scaling),
    Spec("batch_dependence", "eval-mode logits depend on the batch", "input pipeline", "pipeline", "",
         _relative_change("batch_change", "batch_prediction_changed")),
    Spec("determinism", "two identical forward passes differ", "input pipeline", "pipeline", "",
         _relative_change("repeat_change", "repeat_prediction_changed")),
)
REASONS: dict[str, tuple[str, str]] = {
    "input_scaling": ("The model contract is images in [0, 1]; a model doing better on [0, 255] or standardised "
                      "images expects another scaling. Paired on the same images, so a few points already count.",
                      'docs/ARCHITECTURE.md, "The probe contract"'),
    "batch_dependence": ("In eval mode a sample's logits must not depend on the rest of the batch: float "
                         "reordering gives about 1e-7 on a CPU and up to 1e-3 with TF32 on a GPU, BatchNorm on "
                         "batch statistics about 0.1.",
                         'Ioffe & Szegedy 2015, "Batch normalization" (ICML)'),
    "determinism": ("Two identical forward passes must agree up to float reordering (below 1e-4).", ""),
}


# ----------------------------------------------------------------------------- reading

def reading(v: dict, ds: xr.Dataset) -> str:
    """One sentence: accuracy per scaling, batch dependence and repeatability."""
    batch = "depend" if v["batch_change"] > 1e-4 else "do not depend"
    repeat = "differ" if v["repeat_change"] > 1e-4 else "agree"
    return (f"Accuracy is {number(v['accuracy_unit'])} % on [0, 1] pixels, {number(v['accuracy_x255'])} % on "
            f"[0, 255] and {number(v['accuracy_standardised'])} % on standardised images; eval-mode logits {batch} "
            f"on the rest of the batch and two identical passes {repeat}.")


# ----------------------------------------------------------------------------- figure

CAPTION = ("Accuracy with the images in [0, 1] (the contract), ×255 and standardised. The [0, 1] bar should be "
           "the highest; the legend gives how much the logits change with the batch and on a repeat (0 or "
           "float noise is right).")


def figure(results: dict[str, xr.Dataset]) -> Axes:
    """Accuracy per input scaling, every model overlaid."""
    from probe.plot.pipeline import scalings
    from probe.report.figures import one, panels
    return scalings(one(results), ax=panels(1)[0])
