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

from probe.corruptions.common import degrees, gaussian_taps, line_offsets, randint, shift_sum, zoom
from probe.corruptions.common import gaussian_blur as _gaussian


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


def shuffle_pixels(x: torch.Tensor, offsets: torch.Tensor, delta: int) -> torch.Tensor:
    """One pass of the reference's pixel shuffle: scanning from the bottom-right, every pixel
    (h, w) with δ < h ≤ H − δ and δ < w ≤ W − δ takes, in place, the current value of pixel
    (h + dy, w + dx), `offsets` (N, 2, H, W) holding (dy, dx) in [−δ, δ − 1].

    The reference writes this as a swap, but its tuple assignment of two NumPy views copies
    (the partner keeps its value), and a pixel scanned earlier already holds its new value
    when a later one reads it.  So pixel p ends with the input value at `origin(p)`:
    `source(p)` itself, or `origin(source(p))` when the source was scanned before p.  Those
    chains run towards the bottom-right, never in a cycle, and are resolved for all pixels and
    images at once by pointer jumping (log of the chain length gathers), which gives exactly
    the sequential loop's output.
    """
    n, c, h, w = x.shape
    rows = torch.arange(h, device=x.device)[:, None]
    cols = torch.arange(w, device=x.device)[None, :]
    scanned = ((rows > delta) & (rows <= h - delta) & (cols > delta) & (cols <= w - delta)).flatten()
    position = (rows * w + cols).flatten()
    moved = (rows + offsets[:, 0]) * w + cols + offsets[:, 1]
    source = torch.where(scanned, moved.flatten(1), position)                  # (N, H·W)
    pending = scanned[source] & (source > position)                           # the source was scanned first
    origin, pointer = source, source
    while bool(pending.any()):
        ahead = pending.gather(1, pointer)
        origin = torch.where(pending & ~ahead, origin.gather(1, pointer), origin)
        pointer = torch.where(pending & ahead, pointer.gather(1, pointer), pointer)
        pending = pending & ahead
    return x.flatten(2).gather(2, origin[:, None, :].expand(n, c, h * w)).view(n, c, h, w)


def glass_blur(x: torch.Tensor, p: dict[str, Any], generator: torch.Generator | None) -> torch.Tensor:
    """Blur, then locally scramble pixels (frosted glass) `iterations` times, then blur again.

    Each scramble is the reference's sequential in-place pass (`shuffle_pixels`), with offsets
    drawn uniformly from [−δ, δ − 1]² for every pixel, as (N, 2, H, W) per pass.
    """
    n, _, h, w = x.shape
    delta, sigma = int(p["delta"]), p["sigma"]
    x = _gaussian(x, sigma).clamp(0, 1)
    for _ in range(int(p["iterations"])):
        x = shuffle_pixels(x, randint(-delta, delta, (n, 2, h, w), generator, x.device), delta)
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
