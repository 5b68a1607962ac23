"""Batched predictions and accuracy, shared by training and every probe."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from probe.data import get_batch


@torch.no_grad()
def predict(model: nn.Module, dataset, indices=None, batch_size: int = 256,
            device: torch.device | str = "cpu", transform=None) -> tuple[np.ndarray, np.ndarray]:
    """Predicted classes and true labels for `indices` (default: all) in eval mode.

    `transform` (tensor → tensor) is applied to each batch of images on `device` first.
    """
    was_training = model.training
    model.eval()
    indices = np.arange(len(dataset)) if indices is None else np.asarray(indices)
    predictions, labels = [], []
    try:
        for start in range(0, len(indices), batch_size):
            x, y = get_batch(dataset, indices[start:start + batch_size])
            x = x.to(device)
            if transform is not None:
                x = transform(x)
            predictions.append(model(x).argmax(1).cpu().numpy())
            labels.append(y.numpy())
    finally:
        model.train(was_training)
    return np.concatenate(predictions), np.concatenate(labels)


def accuracy(model: nn.Module, dataset, indices=None, batch_size: int = 256,
             device: torch.device | str = "cpu", transform=None) -> float:
    """Top-1 accuracy in percent."""
    predictions, labels = predict(model, dataset, indices, batch_size, device, transform)
    return float(100.0 * np.mean(predictions == labels))
