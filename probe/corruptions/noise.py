"""Noise corruptions: Gaussian, shot (Poisson), impulse (salt and pepper) and speckle.

Each takes a batch `(N, C, H, W)` in [0, 1], its severity parameters (`params.py`) and a
generator, and returns the corrupted batch clipped to [0, 1].  Noise is independent per
pixel and channel, as in the reference.
"""
from __future__ import annotations

from typing import Any

import torch

from probe.corruptions.common import normal, poisson, uniform


def gaussian_noise(x: torch.Tensor, p: dict[str, Any], generator: torch.Generator | None) -> torch.Tensor:
    """`x + N(0, σ²)`."""
    return (x + normal(tuple(x.shape), generator, x, std=p["sigma"])).clamp(0, 1)


def shot_noise(x: torch.Tensor, p: dict[str, Any], generator: torch.Generator | None) -> torch.Tensor:
    """`Poisson(x c) / c`: photon noise with variance `x / c`."""
    return (poisson(x * p["rate"], generator) / p["rate"]).clamp(0, 1)


def impulse_noise(x: torch.Tensor, p: dict[str, Any], generator: torch.Generator | None) -> torch.Tensor:
    """A fraction `amount` of the values set to 0 or 1 with equal probability (salt and pepper)."""
    hit = uniform(tuple(x.shape), generator, x) < p["amount"]
    salt = uniform(tuple(x.shape), generator, x) < 0.5
    return torch.where(hit, salt.to(x.dtype), x)


def speckle_noise(x: torch.Tensor, p: dict[str, Any], generator: torch.Generator | None) -> torch.Tensor:
    """Multiplicative noise `x + x N(0, σ²)`."""
    return (x + x * normal(tuple(x.shape), generator, x, std=p["sigma"])).clamp(0, 1)
