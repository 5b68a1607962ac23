"""Blur corruptions: defocus, glass, motion, zoom and Gaussian blur.

Batched on tensors.  Motion blur is a per-image line kernel at a random angle (one-sided,
Gaussian-weighted taps: the reference used ImageMagick's motion blur with these radius and
σ values); it is applied as a sum of shifted copies, one per tap, with edge replication.
"""
from __future__ import annotations

import math
from typing import Any

import kornia
import torch

from probe.corruptions.common import (degrees, gaussian_blur as _gaussian, gaussian_taps, line_offsets, randint,
                                      shift_sum, zoom)


def gaussian_blur(x: torch.Tensor, p: dict[str, Any], generator: torch.Generator | None) -> torch.Tensor:
    """Gaussian blur of width σ (edges replicated)."""
    return _gaussian(x, p["sigma"]).clamp(0, 1)


def disk_kernel(radius: float, alias_sigma: float, like: torch.Tensor) -> torch.Tensor:
    """Normalised disk of `radius` pixels smoothed by a 3×3 Gaussian of σ `alias_sigma`: (1, k, k)."""
    support = math.ceil(radius) + 1
    grid = torch.arange(-support, support + 1, dtype=like.dtype, device=like.device)
    disk = ((grid[:, None] ** 2 + grid[None, :] ** 2) <= radius ** 2).to(like.dtype)
    disk = disk / disk.sum()
    taps = torch.exp(-torch.tensor([1.0, 0.0, 1.0], dtype=like.dtype, device=like.device) / (2 * alias_sigma ** 2))
    taps = taps / taps.sum()
    smooth = kornia.filters.filter2d(disk[None, None], (taps[:, None] * taps[None, :])[None], border_type="constant")
    return smooth[0] / smooth.sum()


def defocus_blur(x: torch.Tensor, p: dict[str, Any], generator: torch.Generator | None) -> torch.Tensor:
    """Convolution with an anti-aliased disk (out-of-focus lens); reflected borders."""
    kernel = disk_kernel(p["radius"], p["alias_sigma"], x)
    border = "reflect" if kernel.shape[-1] // 2 < min(x.shape[-2:]) else "replicate"
    return kornia.filters.filter2d(x, kernel, border_type=border).clamp(0, 1)


def glass_blur(x: torch.Tensor, p: dict[str, Any], generator: torch.Generator | None) -> torch.Tensor:
    """Blur, then locally scramble pixels (frosted glass), then blur again.

    The reference meant to swap every interior pixel with a neighbour at an offset drawn
    from [−δ, δ−1]², but its NumPy tuple assignment of two views copies instead of swapping:
    each pixel takes its neighbour's value.  `probe` reproduces that effective operation as
    one batched gather per iteration (identical to the reference for δ = 1, i.e. every CIFAR
    severity; for δ ≥ 2 the reference's in-place loop sometimes reads an already-copied pixel).
    """
    n, c, h, w = x.shape
    delta, sigma = int(p["delta"]), p["sigma"]
    x = _gaussian(x, sigma).clamp(0, 1)
    rows = torch.arange(h, device=x.device)[None, :, None]
    cols = torch.arange(w, device=x.device)[None, None, :]
    interior = (rows > delta) & (rows <= h - delta) & (cols > delta) & (cols <= w - delta)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    for _ in range(int(p["iterations"])):
        offsets = randint(-delta, delta, (n, 2, h, w), generator, x.device) * interior
        source_rows = (rows + offsets[:, 0]).clamp(0, h - 1)[:, None]
        source_cols = (cols + offsets[:, 1]).clamp(0, w - 1)[:, None]
        x = x[batch, channel, source_rows, source_cols]
    return _gaussian(x, sigma).clamp(0, 1)


def motion_kernel_taps(n: int, radius: int, sigma: float, angle_range: tuple[float, float],
                       generator: torch.Generator | None, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Offsets (N, 2R+1, 2) and weights (N, 2R+1) of per-image motion-blur line kernels."""
    taps = 2 * int(radius) + 1
    angles = degrees(angle_range[0], angle_range[1], n, generator, like)
    weights = gaussian_taps(sigma, taps, like).expand(n, taps)
    return line_offsets(angles, taps), weights


def motion_blur(x: torch.Tensor, p: dict[str, Any], generator: torch.Generator | None) -> torch.Tensor:
    """Camera shake: a line kernel of 2R+1 Gaussian-weighted taps at an angle drawn from U(−45°, 45°)."""
    offsets, weights = motion_kernel_taps(x.shape[0], p["radius"], p["sigma"], (-45.0, 45.0), generator, x)
    return shift_sum(x, offsets, weights).clamp(0, 1)


def zoom_blur(x: torch.Tensor, p: dict[str, Any], generator: torch.Generator | None) -> torch.Tensor:
    """Average of the image and its centre zooms by each factor in `zooms` (1.00, 1.01, ...)."""
    out = x.clone()
    for factor in p["zooms"]:
        out = out + zoom(x, factor)
    return (out / (len(p["zooms"]) + 1)).clamp(0, 1)
