"""Reading classes out of logits without ever reading a class out of NaN.

`torch.argmax` of a row holding NaN returns the NaN's position, and of a row of `-inf` the
first class, so a broken model would look like one that predicts class 0.  Every probe
classifies through `classify`, which marks such rows instead.
"""
from __future__ import annotations

import torch

NO_CLASS = -1  # the prediction stored for a sample whose logits are not finite


def finite_rows(logits: torch.Tensor) -> torch.Tensor:
    """(N,) bool: every logit of the row is finite."""
    return torch.isfinite(logits).all(dim=1)


def classify(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted classes (N,) with `NO_CLASS` where the row is not finite, and the finite mask."""
    finite = finite_rows(logits)
    prediction = logits.argmax(dim=1)
    return torch.where(finite, prediction, torch.full_like(prediction, NO_CLASS)), finite
