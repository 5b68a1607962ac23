"""Shared tensor helpers of the corruptions: seeded random draws, filters, resampling, colour.

Random numbers are drawn with the given generator on `generator.device` (the CPU default
generator when none is given) and moved to the images' device, so a corruption is exactly
reproducible from a seed on every device.

Greyscale rule: a 1-channel image is treated as the RGB image with three equal channels;
where a corruption produces colour (colour constants, the saturation shift) the result is
converted back to one channel with the ITU-R 601 luma weights.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LUMA = (0.299, 0.587, 0.114)


def _device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def uniform(shape: tuple[int, ...], generator: torch.Generator | None, like: torch.Tensor,
            low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    """U(low, high) samples of `shape` on `like`'s device and dtype."""
    u = torch.rand(shape, generator=generator, device=_device(generator))
    return (low + (high - low) * u).to(device=like.device, dtype=like.dtype)


def normal(shape: tuple[int, ...], generator: torch.Generator | None, like: torch.Tensor,
           mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
    """N(mean, std²) samples of `shape` on `like`'s device and dtype."""
    z = torch.randn(shape, generator=generator, device=_device(generator))
    return (mean + std * z).to(device=like.device, dtype=like.dtype)


def poisson(rates: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Poisson samples with the given rates (drawn on the generator's device)."""
    return torch.poisson(rates.to(_device(generator)), generator=generator).to(rates.device)


def randint(low: int, high: int, shape: tuple[int, ...], generator: torch.Generator | None,
            device: torch.device) -> torch.Tensor:
    """Integers in [low, high) of `shape` on `device`."""
    return torch.randint(low, high, shape, generator=generator, device=_device(generator)).to(device)


def border_indices(n: int, radius: int, border: str) -> torch.Tensor:
    """Source pixel of each of the `n + 2·radius` positions of an axis padded by `border`.

    'replicate' repeats the edge pixel; 'reflect' mirrors about the edge with the edge pixel
    repeated (`d c b a | a b c d | d c b a`, scipy.ndimage's mode 'reflect') and keeps
    reflecting past one image width, so a kernel wider than the image is filtered like SciPy's.
    """
    i = torch.arange(-radius, n + radius)
    if border == "replicate":
        return i.clamp(0, n - 1)
    if border != "reflect":
        raise ValueError(f"unknown border {border!r}")
    folded = i.remainder(2 * n)
    return torch.where(folded < n, folded, 2 * n - 1 - folded)


def filter_matrix(n: int, taps: torch.Tensor, border: str) -> torch.Tensor:
    """(n, n) operator correlating one axis of length `n` with `taps` (odd length), padded by `border`."""
    count = taps.numel()
    source = border_indices(n, count // 2, border)
    rows = torch.arange(n)[:, None].expand(n, count)
    cols = source[torch.arange(n)[:, None] + torch.arange(count)[None, :]]
    weights = taps.detach().to("cpu", torch.float64).expand(n, count)
    return torch.zeros(n, n, dtype=torch.float64).index_put_((rows, cols), weights, accumulate=True)


def separable_filter(x: torch.Tensor, taps: torch.Tensor, border: str = "replicate") -> torch.Tensor:
    """Correlate every channel with `taps` (odd length) along columns and rows, padded by `border`
    ('replicate' or 'reflect', see `border_indices`), for any kernel width: two (n, n) matrix products."""
    h, w = x.shape[-2:]
    rows, cols = (filter_matrix(n, taps, border).to(dtype=x.dtype, device=x.device) for n in (h, w))
    return separable(x, rows, cols)


def gaussian_blur(x: torch.Tensor, sigma: float, truncate: float = 4.0, border: str = "replicate") -> torch.Tensor:
    """Gaussian blur of every channel (radius `int(truncate σ + ½)`, like scipy/skimage); σ ≤ 0 is the identity."""
    radius = int(truncate * sigma + 0.5) if sigma > 0 else 0
    if radius < 1:
        return x
    i = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    taps = torch.exp(-(i ** 2) / (2 * sigma ** 2))
    return separable_filter(x, taps / taps.sum(), border)


def shift_sum(x: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """`Σ_t w[n,t] x[n, :, y + dy[n,t], x + dx[n,t]]` with edge replication: a sparse per-image kernel.

    `offsets` (N, T, 2) integer (dy, dx), `weights` (N, T).  Cheaper than a dense per-image
    convolution for line kernels (T taps instead of (2R+1)² weights).
    """
    n, c, h, w = x.shape
    pad = int(offsets.abs().max().item()) if offsets.numel() else 0
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate") if pad else x
    rows = torch.arange(h, device=x.device)
    cols = torch.arange(w, device=x.device)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    out = torch.zeros_like(x)
    for t in range(offsets.shape[1]):
        r = (rows[None, :] + pad + offsets[:, t, 0:1])[:, None, :, None]
        q = (cols[None, :] + pad + offsets[:, t, 1:2])[:, None, None, :]
        out = out + weights[:, t, None, None, None] * padded[batch, channel, r, q]
    return out


def line_offsets(angles: torch.Tensor, taps: int) -> torch.Tensor:
    """Integer (dy, dx) of `taps` points along a ray at `angles` (radians, per image): (N, taps, 2)."""
    i = torch.arange(taps, device=angles.device, dtype=angles.dtype)
    dy = torch.ceil(i[None, :] * torch.sin(angles)[:, None] - 0.5)
    dx = torch.ceil(i[None, :] * torch.cos(angles)[:, None] - 0.5)
    return torch.stack([dy, dx], dim=-1).long()


def clipped_zoom_matrix(n: int, factor: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(n, n) linear operator of the reference's clipped zoom along one axis.

    The reference crops `ceil(n / factor)` pixels starting at `(n − crop) // 2`, zooms them by
    `factor` with SciPy's order-1 zoom (output `round(crop · factor)` pixels, end points
    aligned) and keeps `n` pixels from `(out − n) // 2`.  Integer rounding makes small zooms
    slightly off-centre (and a 1.01 zoom of 32 pixels the identity); this matrix reproduces it.
    """
    crop = math.ceil(n / factor)
    top = (n - crop) // 2
    out = round(crop * factor)
    trim = (out - n) // 2
    position = torch.arange(trim, trim + n, dtype=torch.float64) * (crop - 1) / max(out - 1, 1)
    low = position.floor().clamp(0, crop - 1)
    frac = position - low
    high = (low + 1).clamp(max=crop - 1)
    matrix = torch.zeros(n, n, dtype=torch.float64)
    rows = torch.arange(n)
    matrix.index_put_((rows, top + low.long()), 1 - frac, accumulate=True)
    matrix.index_put_((rows, top + high.long()), frac, accumulate=True)
    return matrix.to(dtype=dtype, device=device)


def zoom(x: torch.Tensor, factor: float) -> torch.Tensor:
    """The reference's clipped zoom by `factor` ≥ 1 (same size, bilinear), as two matrix products."""
    h, w = x.shape[-2:]
    return separable(x, clipped_zoom_matrix(h, factor, x.dtype, x.device),
                     clipped_zoom_matrix(w, factor, x.dtype, x.device))


def luma(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) grey level: ITU-R 601 luma of RGB, the image itself when it has one channel."""
    if x.shape[1] == 1:
        return x
    weights = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def colour(rgb: tuple[float, float, float], like: torch.Tensor) -> torch.Tensor:
    """A colour constant as (1, C, 1, 1) for `like`'s channel count (its luma for greyscale)."""
    value = torch.tensor(rgb, dtype=like.dtype, device=like.device).view(1, 3, 1, 1)
    return value if like.shape[1] == 3 else luma(value)


def box_resize_matrix(n_in: int, n_out: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(n_out, n_in) matrix of box-filter resampling (Pillow's BOX): average the input pixels
    whose centres fall in each output pixel's footprint (nearest pixel when enlarging)."""
    scale = n_in / n_out
    width = max(scale, 1.0)
    centre = (torch.arange(n_out, dtype=torch.float64) + 0.5) * scale
    pixel = torch.arange(n_in, dtype=torch.float64) + 0.5
    t = (pixel[None, :] - centre[:, None]) / width
    weights = ((t >= -0.5) & (t < 0.5)).double()
    return (weights / weights.sum(1, keepdim=True)).to(dtype=dtype, device=device)


def separable(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """`rows @ x @ colsᵀ` on the last two axes (a separable linear image operator)."""
    return rows @ x @ cols.T


def gaussian_taps(sigma: float, taps: int, like: torch.Tensor) -> torch.Tensor:
    """Normalised one-sided Gaussian weights `exp(−i²/2σ²)`, i = 0..taps−1."""
    i = torch.arange(taps, dtype=like.dtype, device=like.device)
    w = torch.exp(-(i ** 2) / (2 * max(sigma, 1e-6) ** 2))
    return w / w.sum()


def degrees(low: float, high: float, n: int, generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    """Per-image angles drawn uniformly in [low, high) degrees, returned in radians."""
    return uniform((n,), generator, like, low, high) * (math.pi / 180)
