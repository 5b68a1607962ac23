"""Digital corruptions: contrast, elastic transform, pixelate, JPEG, and the extra saturate.

JPEG is encoded and decoded by Pillow (libjpeg, 4:2:0 chroma subsampling at these
qualities), one image at a time after rounding to 8 bits: the only per-image loop of the
package, kept because it is the real codec.  Everything else is batched on tensors.
"""
from __future__ import annotations

import io
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from probe.corruptions.common import box_resize_matrix, gaussian_blur, separable, uniform


def contrast(x: torch.Tensor, p: dict[str, Any], generator: torch.Generator | None) -> torch.Tensor:
    """Scale each channel's deviation from its mean by `factor`."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    return ((x - mean) * p["factor"] + mean).clamp(0, 1)


def saturate(x: torch.Tensor, p: dict[str, Any], generator: torch.Generator | None) -> torch.Tensor:
    """HSV saturation `S·scale + shift` (hue and value kept).

    RGB: with V = max and S = (V − min)/V, every channel moves along `V − (V − x)·S'/S`;
    grey pixels (S = 0) have hue 0 (red), as in the reference's skimage conversion.
    Greyscale (common.py's rule): the tiled grey image gets `(V, V(1−S'), V(1−S'))` with
    S' = shift, whose luma is `V (1 − 0.701 shift)`; so severities with shift 0 leave a
    greyscale image unchanged.
    """
    value = x.amax(dim=1, keepdim=True)
    if x.shape[1] == 1:
        return (x * (1 - (1 - 0.299) * min(max(p["shift"], 0.0), 1.0))).clamp(0, 1)
    low = x.amin(dim=1, keepdim=True)
    sat = torch.where(value > 0, (value - low) / value.clamp_min(1e-12), torch.zeros_like(value))
    target = (sat * p["scale"] + p["shift"]).clamp(0, 1)
    coloured = value - (value - x) * target / sat.clamp_min(1e-12)
    red = torch.cat([value, value * (1 - target), value * (1 - target)], dim=1)
    return torch.where(sat > 0, coloured, red).clamp(0, 1)


def pixelate(x: torch.Tensor, p: dict[str, Any], generator: torch.Generator | None) -> torch.Tensor:
    """Box-downsample to `factor` × the size, then box-upsample back (Pillow's BOX filter)."""
    h, w = x.shape[-2:]
    small_h, small_w = int(h * p["factor"]), int(w * p["factor"])
    down = separable(x, box_resize_matrix(h, small_h, x.dtype, x.device),
                     box_resize_matrix(w, small_w, x.dtype, x.device))
    up = separable(down, box_resize_matrix(small_h, h, x.dtype, x.device),
                   box_resize_matrix(small_w, w, x.dtype, x.device))
    return up.clamp(0, 1)


def _jpeg_one(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    mode = "L" if image.shape[-1] == 1 else "RGB"
    Image.fromarray(image[..., 0] if mode == "L" else image, mode=mode).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    decoded = np.asarray(Image.open(buffer).convert(mode))
    return decoded[..., None] if mode == "L" else decoded


def jpeg_compression(x: torch.Tensor, p: dict[str, Any], generator: torch.Generator | None) -> torch.Tensor:
    """JPEG encode/decode at `quality` (Pillow, per image, 8-bit)."""
    pixels = (x * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    decoded = np.stack([_jpeg_one(image, int(p["quality"])) for image in pixels])
    return torch.from_numpy(decoded).permute(0, 3, 1, 2).to(device=x.device, dtype=x.dtype) / 255


def _pixel_grid(h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """(H, W, 2) pixel coordinates (x, y)."""
    ys, xs = torch.meshgrid(torch.arange(h, dtype=like.dtype, device=like.device),
                            torch.arange(w, dtype=like.dtype, device=like.device), indexing="ij")
    return torch.stack([xs, ys], dim=-1)


def _sample(x: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Bilinear sampling of `x` at pixel coordinates `coords` (N, H, W, 2) (x, y), mirrored borders."""
    h, w = x.shape[-2:]
    scale = torch.tensor([2 / max(w - 1, 1), 2 / max(h - 1, 1)], dtype=x.dtype, device=x.device)
    return F.grid_sample(x, coords * scale - 1, mode="bilinear", padding_mode="reflection", align_corners=True)


def elastic_transform(x: torch.Tensor, p: dict[str, Any], generator: torch.Generator | None) -> torch.Tensor:
    """A random affine warp (three control points jittered by U(−a, a) pixels), then a smooth random
    displacement field (U(−1, 1) noise blurred by σ, times α); bilinear, mirrored borders.

    The field's blur reflects at the border as SciPy's mode 'reflect' does, also when the kernel
    is wider than the image (ImageNet severity 1: σ ≈ 171 px on 224 px): the zero-mean noise
    stays zero-mean (displacements of about a pixel), where replicating the edge would turn it
    into one coherent shift of tens of pixels."""
    n, _, h, w = x.shape
    centre = torch.tensor([w // 2, h // 2], dtype=x.dtype, device=x.device)
    side = min(h, w) // 3
    source = torch.stack([centre + side, centre + torch.tensor([side, -side], dtype=x.dtype, device=x.device),
                          centre - side])
    moved = source + uniform((n, 3, 2), generator, x, -p["affine"], p["affine"])
    ones = torch.ones(n, 3, 1, dtype=x.dtype, device=x.device)
    # output pixel q samples the input at B q, with B the affine map taking the moved points back
    back = torch.linalg.solve(torch.cat([moved, ones], dim=2), source.expand(n, 3, 2))
    grid = _pixel_grid(h, w, x)
    homogeneous = torch.cat([grid, torch.ones(h, w, 1, dtype=x.dtype, device=x.device)], dim=-1)
    warped = _sample(x, torch.einsum("hwk,nkj->nhwj", homogeneous, back))
    field = uniform((n, 2, h, w), generator, x, -1.0, 1.0)
    field = gaussian_blur(field, p["sigma"], truncate=3.0, border="reflect") * p["alpha"]
    return _sample(warped, grid + field.permute(0, 2, 3, 1)).clamp(0, 1)
