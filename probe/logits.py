"""Reading classes out of logits without ever reading a class out of NaN, and accuracy over them.

`torch.argmax` of a row holding NaN returns the NaN's position, and of a row of `-inf` the
first class, so a broken model would look like one that predicts class 0.  Every probe
classifies through `classify`, which marks such rows instead, and counts accuracy over the
finite rows only (`accuracy_over_finite`, `accuracy`).  These helpers sit below the probes so
that probes, training and the report share them without importing one another.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

NO_CLASS = -1  # the prediction stored for a sample whose logits are not finite
BATCH_SIZE = 256  # images per forward pass where only logits are needed (evaluate, training's evaluation)


def finite_rows(logits: torch.Tensor) -> torch.Tensor:
    """(N,) bool: every logit of the row is finite."""
    return torch.isfinite(logits).all(dim=1)


def classify(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted classes (N,) with `NO_CLASS` where the row is not finite, and the finite mask."""
    finite = finite_rows(logits)
    prediction = logits.argmax(dim=1)
    return torch.where(finite, prediction, torch.full_like(prediction, NO_CLASS)), finite


@torch.no_grad()
def batched_logits(model: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The model's logits on `x`, `batch_size` images at a time (float32)."""
    return torch.cat([model(x[i:i + batch_size]).float() for i in range(0, len(x), batch_size)])


def accuracy_over_finite(correct: np.ndarray, finite: np.ndarray) -> float:
    """Accuracy in percent over the samples whose logits are finite (0.0 when there are none)."""
    return float(100.0 * correct[finite].mean()) if finite.any() else 0.0


def accuracy(correct: np.ndarray, finite: np.ndarray, axis: int = 0) -> np.ndarray | float:
    """Accuracy in percent over the finite entries along `axis` (0 where none is finite)."""
    count = finite.sum(axis)
    hits = (correct & finite).sum(axis)
    return 100.0 * np.divide(hits, count, out=np.zeros(np.shape(count)), where=count > 0)
