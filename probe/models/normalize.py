"""Input normalisation inside the model, so that every probe works in pixel space [0, 1]."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from probe import ranges


class Normalized(nn.Module):
    """`model((x - mean) / std)` with per-channel `mean` and `std` stored as buffers."""

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        ranges.check(mean=(list(mean), ranges.FINITE), std=(list(std), ranges.POSITIVE))
        self.model = model
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)
