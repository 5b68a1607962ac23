"""Accuracy of a model on a dataset: per-sample predictions and confidences, per class.

    ds = probe.evaluate.run(model, data)          # (sample): label, prediction, correct, confidence
    probe.evaluate.summary(ds)                    # accuracy (%) over samples with finite logits

The first sanity check of a new checkpoint.  A sample whose logits are not finite gets the
prediction -1 and `finite = False`: it is excluded from the accuracy and counted apart.
`accuracy(...)` is the plain helper that training uses; `calibration(ds)` bins the confidences
(reliability diagram, expected calibration error with 15 equal-width bins).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn
from torch.utils.data import Dataset

from probe import ranges, runner, stats
from probe.data import dataset_size, get_batch
from probe.errors import ModelError
from probe.execution import Execution, Unpack, check
from probe.logits import BATCH_SIZE, accuracy_over_finite, batched_logits, classify
from probe.params import eval_mode
from probe.results import variable

PROBE = "evaluate"
CHUNK_SIZE = 1024


def _compute(model: nn.Module) -> runner.Compute:
    def compute(chunk: runner.Chunk) -> xr.Dataset:
        logits = batched_logits(model, chunk.x, chunk.batch_size)
        classes, finite = classify(logits)
        confidence = torch.where(finite, torch.softmax(logits.nan_to_num(), dim=1).amax(1), torch.zeros(()))
        y = chunk.y.cpu().numpy()
        prediction = classes.cpu().numpy()
        return xr.Dataset({
            "label": variable("sample", y, "true class"),
            "prediction": variable("sample", prediction, "predicted class (-1: logits not finite)"),
            "correct": variable("sample", prediction == y, "prediction is correct"),
            "finite": variable("sample", finite.cpu().numpy(), "all logits finite"),
            "confidence": variable("sample", confidence.cpu().numpy(),
                                   "softmax probability of the prediction (0: logits not finite)", "1"),
        }, coords={"sample": chunk.indices})
    return compute


def run(model: nn.Module, data: Any, **execution: Unpack[Execution]) -> xr.Dataset:
    """Per-sample label, prediction, correctness, finiteness and confidence over `sample`.

    The probe has no options of its own; the shared ones (`n`, `seed`, `device`, `out`, ...) are
    documented in `probe.execution.Execution`."""
    execution = check(run, execution)
    model = runner.classifier(model)
    plan = runner.Plan(_compute(model), options={}, chunk_size=CHUNK_SIZE, batch_size=BATCH_SIZE)
    return runner.run(PROBE, model, data, plan, **execution)


def summary(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> dict[str, float | int]:
    """Accuracy (%) over samples with finite logits (Wilson interval), the samples, the non-finite
    count, and the mean confidence (t interval), each with `_low` and `_high` at `confidence`."""
    finite = ds["finite"].values.astype(bool)
    mean_confidence = stats.mean(ds["confidence"].values[finite], confidence) if finite.any() else \
        stats.Estimate(0.0, 0.0, 0.0, 0)
    return {
        "samples": int(ds.sizes["sample"]),
        **stats.entries("accuracy", stats.percent(ds["correct"].values, finite, confidence)),
        "non_finite": int((~finite).sum()),
        **stats.entries("mean_confidence", mean_confidence),
    }


def predict(model: nn.Module, dataset: Dataset, indices: Sequence[int] | np.ndarray | None = None,
            batch_size: int = BATCH_SIZE, device: torch.device | str = "cpu",
            transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Predicted classes (-1 where the logits are not finite) and true labels, in eval mode.

    `transform` (tensor → tensor) is applied to each batch of images on `device` first.
    """
    indices = np.arange(dataset_size(dataset)) if indices is None else np.asarray(indices)   # map-style
    predictions, labels = [], []
    with eval_mode(model), torch.no_grad():
        for start in range(0, len(indices), batch_size):
            x, y = get_batch(dataset, indices[start:start + batch_size])
            x = x.to(device)
            predictions.append(classify(model(transform(x) if transform is not None else x))[0].cpu().numpy())
            labels.append(y.numpy())
    return np.concatenate(predictions), np.concatenate(labels)


def accuracy(model: nn.Module, dataset: Dataset, indices: Sequence[int] | np.ndarray | None = None,
             batch_size: int = BATCH_SIZE, device: torch.device | str = "cpu",
             transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> float:
    """Top-1 accuracy in percent over the samples with finite logits (a `ModelError` if none)."""
    predictions, labels = predict(model, dataset, indices, batch_size, device, transform)
    finite = predictions >= 0
    if not finite.any():
        raise ModelError("the model's logits are not finite on any image")
    return accuracy_over_finite(predictions == labels, finite)


CALIBRATION_BINS = 15   # equal-width confidence bins of the expected calibration error (Guo et al. 2017)


def calibration(ds: xr.Dataset, bins: int = CALIBRATION_BINS) -> xr.Dataset:
    """Reliability of the confidences of an evaluate result: per equal-width confidence bin
    (b/B, (b+1)/B] (confidence 0 in the first) the samples, mean confidence and accuracy (%),
    and the expected calibration error `ece` = Σ_b (n_b / N) |accuracy_b − confidence_b| (%),
    over the samples whose logits are finite.  Empty bins hold 0 with `count` 0."""
    ranges.check(bins=(bins, ranges.integer(1)))
    finite = ds["finite"].values.astype(bool)
    confidence = ds["confidence"].values[finite].astype(np.float64)
    correct = ds["correct"].values[finite].astype(np.float64)
    which = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    mean_confidence = np.divide(np.bincount(which, confidence, bins), count, out=np.zeros(bins), where=count > 0)
    mean_accuracy = np.divide(np.bincount(which, correct, bins), count, out=np.zeros(bins), where=count > 0)
    gap = np.abs(mean_accuracy - mean_confidence)
    ece = float(100.0 * (count * gap).sum() / count.sum()) if count.sum() else 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    return xr.Dataset({
        "count": variable("bin", count, "samples in the bin", "samples"),
        "confidence": variable("bin", 100.0 * mean_confidence, "mean confidence in the bin", "%"),
        "accuracy": variable("bin", 100.0 * mean_accuracy, "accuracy in the bin", "%"),
        "ece": variable((), ece, "expected calibration error", "%"),
    }, coords={"bin": np.arange(bins), "lower": ("bin", 100.0 * edges[:-1]), "upper": ("bin", 100.0 * edges[1:])})
