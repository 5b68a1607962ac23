"""The orthonormal 2-D DCT and frequency transforms of images.

`dct2(x) = C x Cᵀ` on the last two axes, with `C` the orthonormal DCT-II matrix, so the
transform is orthogonal (Parseval holds) and `idct2` is its transpose.
"""
from __future__ import annotations

import functools
import math

import torch


@functools.lru_cache(maxsize=32)
def _dct_matrix_cpu(n: int) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    matrix = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    matrix[0] /= math.sqrt(2.0)
    return matrix


def dct_matrix(n: int, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
    """The orthonormal DCT-II matrix `C` (rows are frequencies): `C @ v` is the DCT of `v`."""
    return _dct_matrix_cpu(n).to(dtype=dtype, device=device)


def dct2(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal 2-D DCT-II over the last two axes (any leading shape)."""
    rows = dct_matrix(x.shape[-2], x.dtype, x.device)
    cols = dct_matrix(x.shape[-1], x.dtype, x.device)
    return rows @ x @ cols.T


def idct2(coefficients: torch.Tensor) -> torch.Tensor:
    """Inverse of `dct2` (its transpose)."""
    rows = dct_matrix(coefficients.shape[-2], coefficients.dtype, coefficients.device)
    cols = dct_matrix(coefficients.shape[-1], coefficients.dtype, coefficients.device)
    return rows.T @ coefficients @ cols


def frequency_flip(x: torch.Tensor) -> torch.Tensor:
    """`IDCT2(reverse rows and columns of DCT2(x))`: orthogonal, involutive; swaps low and high frequencies."""
    return idct2(torch.flip(dct2(x), dims=(-2, -1)))


def corner_mask(height: int, width: int, band: int, corner: str, device=None) -> torch.Tensor:
    """0/1 mask keeping the `band × band` top-left ('low') or bottom-right ('high') DCT coefficients."""
    mask = torch.zeros(height, width, device=device)
    if corner == "low":
        mask[:band, :band] = 1.0
    elif corner == "high":
        mask[height - band:, width - band:] = 1.0
    else:
        raise ValueError(f"corner must be 'low' or 'high', got {corner!r}")
    return mask


def low_pass(x: torch.Tensor, band: int) -> torch.Tensor:
    """Keep the `band × band` lowest DCT frequencies of every channel (last two axes)."""
    return idct2(dct2(x) * corner_mask(x.shape[-2], x.shape[-1], band, "low", x.device))


def high_pass(x: torch.Tensor, band: int) -> torch.Tensor:
    """Keep the `band × band` highest DCT frequencies of every channel (last two axes)."""
    return idct2(dct2(x) * corner_mask(x.shape[-2], x.shape[-1], band, "high", x.device))
