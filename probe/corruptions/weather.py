"""Weather corruptions: snow, frost, fog, brightness, and the extra spatter.

Frost blends random crops of the reference's frost photographs when they are installed
(`frost_photos`: the `imagecorruptions` package, `pip install probe-robustness[photos]`), as published.
Otherwise `frost_texture` synthesises a seeded frost-like layer (ice needles: sparse seeds drawn
out along three random directions, over a fractal haze, tinted pale blue), so that frost
numbers are comparable between `probe` runs but not to CIFAR-10-C's; a corruption result
records which source it used (`frost_photos.frost_source`).

Spatter's water mode is simplified: the reference shades the water drops with a Canny edge
map, an L2 distance transform, histogram equalisation and an emboss filter (OpenCV); here the
distance to the drop boundary is a chessboard distance from repeated erosion, followed by
rank equalisation, the same emboss kernel and a 3×3 box blur.  Mud mode is as published.
"""
from __future__ import annotations

import math
from typing import Any

import kornia
import torch
import torch.nn.functional as F

from probe.corruptions import frost_photos
from probe.corruptions.blur import motion_kernel_taps
from probe.corruptions.common import (
    colour,
    degrees,
    gaussian_blur,
    line_offsets,
    luma,
    normal,
    separable_filter,
    shift_sum,
    uniform,
    zoom,
)

WATER = (175 / 255, 238 / 255, 238 / 255)
MUD = (63 / 255, 42 / 255, 20 / 255)
FROST_TINT = (0.85, 0.93, 1.0)


def plasma_fractal(n: int, size: int, decay: float, generator: torch.Generator | None,
                   like: torch.Tensor) -> torch.Tensor:
    """(N, size, size) diamond-square fractal noise in [0, 1]; `size` a power of two.

    Each level averages its four neighbours and adds U(−w, w)·w, `w` divided by `decay`
    per level (the fog map of the reference).
    """
    grid = torch.zeros(n, size, size, dtype=like.dtype, device=like.device)
    step, wibble = size, 100.0
    while step >= 2:
        half = step // 2
        corners = grid[:, ::step, ::step]
        square = corners + corners.roll(-1, 1)
        square = square + square.roll(-1, 2)
        grid[:, half::step, half::step] = square / 4 + wibble * uniform(tuple(square.shape), generator, like,
                                                                        -wibble, wibble)
        centres = grid[:, half::step, half::step]
        corners = grid[:, ::step, ::step]
        left = centres + centres.roll(1, 1) + corners + corners.roll(-1, 2)
        grid[:, ::step, half::step] = left / 4 + wibble * uniform(tuple(left.shape), generator, like, -wibble, wibble)
        top = centres + centres.roll(1, 2) + corners + corners.roll(-1, 1)
        grid[:, half::step, ::step] = top / 4 + wibble * uniform(tuple(top.shape), generator, like, -wibble, wibble)
        step //= 2
        wibble /= decay
    grid = grid - grid.amin(dim=(1, 2), keepdim=True)
    return grid / grid.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)


def fog(x: torch.Tensor, p: dict[str, Any], generator: torch.Generator | None) -> torch.Tensor:
    """Add `strength` × a fractal haze (the same on every channel), then rescale by max/(max + strength)."""
    n, _, h, w = x.shape
    haze = plasma_fractal(n, p["map_size"], p["decay"], generator, x)[:, None, :h, :w]
    peak = x.amax(dim=(1, 2, 3), keepdim=True)
    return ((x + p["strength"] * haze) * peak / (peak + p["strength"])).clamp(0, 1)


def frost_texture(n: int, h: int, w: int, generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) synthetic frost layer in [0, 1] (an approximation of the frost photographs)."""
    scale = min(h, w) / 32
    size = 2 ** math.ceil(math.log2(max(h, w, 2)))
    haze = plasma_fractal(n, size, 2.0, generator, like)[:, None, :h, :w]
    seeds = (uniform((n, 1, h, w), generator, like) < 0.02).to(like.dtype) * uniform((n, 1, h, w), generator, like,
                                                                                     0.2, 0.6)
    taps = max(2, round(4 * scale)) + 1
    needles = torch.zeros_like(seeds)
    for _ in range(3):
        angle = degrees(0.0, 180.0, n, generator, like)
        offsets = torch.cat([line_offsets(angle, taps), line_offsets(angle + math.pi, taps)[:, 1:]], dim=1)
        needles = needles + shift_sum(seeds, offsets, torch.ones(n, offsets.shape[1], dtype=like.dtype,
                                                                  device=like.device))
    return gaussian_blur((0.25 * haze + needles).clamp(0, 1), 0.5 * scale)


def frost(x: torch.Tensor, p: dict[str, Any], generator: torch.Generator | None) -> torch.Tensor:
    """`image_weight · x + frost_weight · frost`: a random crop of one of the frost photographs
    resized by `photo_scale` (its luma for greyscale images), or the synthetic pale-blue layer."""
    n, c, h, w = x.shape
    if frost_photos.photos() is not None:
        layer = frost_photos.crops(n, h, w, p["photo_scale"], generator, x)
        layer = layer if c == 3 else luma(layer)
    else:
        layer = frost_texture(n, h, w, generator, x) * colour(FROST_TINT, x)
    return (p["image_weight"] * x + p["frost_weight"] * layer).clamp(0, 1)


def snow(x: torch.Tensor, p: dict[str, Any], generator: torch.Generator | None) -> torch.Tensor:
    """Falling snow: thresholded, zoomed noise streaked by motion blur (angle U(−135°, −45°)) and
    its 180° rotation, over an image brightened towards `1.5 · grey + 0.5`."""
    n, _, h, w = x.shape
    flakes = zoom(normal((n, 1, h, w), generator, x, p["loc"], p["scale"]), p["zoom"])
    flakes = torch.where(flakes < p["threshold"], torch.zeros_like(flakes), flakes).clamp(0, 1)
    offsets, weights = motion_kernel_taps(n, p["blur_radius"], p["blur_sigma"], (-135.0, -45.0), generator, x)
    flakes = shift_sum(flakes, offsets, weights)
    bright = p["blend"] * x + (1 - p["blend"]) * torch.maximum(x, luma(x) * 1.5 + 0.5)
    return (bright + flakes + flakes.flip(-2, -1)).clamp(0, 1)


def brightness(x: torch.Tensor, p: dict[str, Any], generator: torch.Generator | None) -> torch.Tensor:
    """Add `delta` to the HSV value (hue and saturation kept): the RGB vector scales by V'/V."""
    value = x.amax(dim=1, keepdim=True)
    target = (value + p["delta"]).clamp(0, 1)
    scaled = x * target / value.clamp_min(1e-12)
    return torch.where(value > 0, scaled, target.expand_as(x)).clamp(0, 1)


def _chessboard_distance(edges: torch.Tensor, limit: int) -> torch.Tensor:
    """Chessboard distance to the nearest edge pixel, capped at `limit` (repeated 3×3 dilation)."""
    distance = torch.full_like(edges, float(limit))
    reached = edges
    for step in range(limit):
        distance = torch.where((reached > 0) & (distance > step), torch.full_like(distance, float(step)), distance)
        if bool(reached.bool().all()):
            break
        reached = F.max_pool2d(reached, 3, stride=1, padding=1)
    return distance


def _equalise(v: torch.Tensor) -> torch.Tensor:
    """Per-image histogram equalisation: each value becomes its empirical CDF in [0, 1]."""
    n = v.shape[0]
    flat = v.reshape(n, -1)
    ordered = flat.sort(dim=1).values
    rank = torch.searchsorted(ordered.contiguous(), flat.contiguous(), right=True)
    return (rank.to(v.dtype) / flat.shape[1]).reshape(v.shape)


def spatter(x: torch.Tensor, p: dict[str, Any], generator: torch.Generator | None) -> torch.Tensor:
    """Water drops (pale turquoise, shaded) or mud (brown, opaque) on the lens."""
    n, _, h, w = x.shape
    liquid = gaussian_blur(normal((n, 1, h, w), generator, x, p["loc"], p["scale"]), p["sigma"])
    liquid = torch.where(liquid < p["threshold"], torch.zeros_like(liquid), liquid)
    if p["mud"]:
        mask = gaussian_blur((liquid > p["threshold"]).to(x.dtype), p["mud_sigma"])
        mask = torch.where(mask < 0.8, torch.zeros_like(mask), mask)
        return (x * (1 - mask) + colour(MUD, x) * mask).clamp(0, 1)
    wet = (liquid > 0).to(x.dtype)
    edges = wet - (-F.max_pool2d(-wet, 3, stride=1, padding=1))
    distance = _chessboard_distance(edges, p["distance_cap"])
    box = torch.full((3,), 1 / 3, dtype=x.dtype, device=x.device)
    shade = _equalise(separable_filter(distance, box))
    emboss = torch.tensor([[-2., -1., 0.], [-1., 1., 1.], [0., 1., 2.]], dtype=x.dtype, device=x.device)
    shade = kornia.filters.filter2d(shade, emboss[None], border_type="reflect").clamp(0, 1)
    shade = separable_filter(shade, box)
    drops = liquid * shade
    drops = drops / drops.amax(dim=(2, 3), keepdim=True).clamp_min(1e-12) * p["amount"]
    return (x + drops * colour(WATER, x)).clamp(0, 1)
