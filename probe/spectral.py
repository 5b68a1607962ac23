"""The orthonormal 2-D DCT, frequency transforms of images, and subspace families.

`dct2(x) = C x Cᵀ` on the last two axes, with `C` the orthonormal DCT-II matrix, so the
transform is orthogonal (Parseval holds) and `idct2` is its transpose.
"""
from __future__ import annotations

import abc
import functools
import math
from collections.abc import Sequence

import numpy as np
import torch

from probe.errors import ParameterError, ShapeError


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


def corner_mask(height: int, width: int, band: int, corner: str,
                device: torch.device | str | None = None) -> torch.Tensor:
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


# ----------------------------------------------------------------------------- subspace families
#
# A family holds S subspaces of the image space R^(C×H×W) and projects a batch whose rows
# may each belong to a different member: `project(g, which)` with `which[i]` the member of
# row i.  DCT families are 0/1 masks on the DCT coefficients (transform, mask, inverse);
# basis families hold orthonormal columns U (S, D, k).  `select(which)` binds members to the
# rows of a batch, giving the projector that `probe.attacks.deepfool` takes.

IMAGE_SIZE_DEFAULTS = {28: (8, 1), 32: (8, 2), 224: (16, 16)}  # N → (block K, stride T)


def default_block_stride(size: int) -> tuple[int, int]:
    """Block size K and stride T for N×N images: 28→(8,1), 32→(8,2), 224→(16,16).

    Other sizes: K = 8 up to 64 pixels, else 16; T so that about 20 diagonal blocks fit.
    """
    if size in IMAGE_SIZE_DEFAULTS:
        return IMAGE_SIZE_DEFAULTS[size]
    block = min(size, 8 if size <= 64 else 16)
    return block, max(1, math.ceil((size - block) / 20))


class SubspaceFamily(abc.ABC):
    """S subspaces of the image space, applied as operators to batches of shape (N, C, H, W)."""

    kind = "subspace"

    def __init__(self, shape: tuple[int, int, int]) -> None:
        self.shape = tuple(int(s) for s in shape)

    def __len__(self) -> int:
        return len(self.dimensions)

    @property
    @abc.abstractmethod
    def dimensions(self) -> np.ndarray:
        """(S,) dimension of every member."""

    def coordinates(self) -> dict[str, tuple[np.ndarray, dict]]:
        """Coordinates along the `subspace` dimension of a result: name → (values, attrs)."""
        return {"dimension": (self.dimensions, {"long_name": "subspace dimension", "units": "1"})}

    @abc.abstractmethod
    def project(self, g: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
        """Orthogonal projection of each row `g[i]` onto member `which[i]`."""

    @abc.abstractmethod
    def squared_norms(self, g: torch.Tensor) -> torch.Tensor:
        """(N, S): ‖P_s g_i‖² for every row and every member."""

    def select(self, which: int | Sequence[int] | np.ndarray | torch.Tensor) -> Subspace:
        """The projector of member `which` (an int: every row) or members `which[i]` (one per row)."""
        which = torch.as_tensor(which, dtype=torch.int64)
        if which.numel() and (int(which.min()) < 0 or int(which.max()) >= len(self)):
            raise ParameterError(f"subspace index out of range 0..{len(self) - 1}")
        return Subspace(self, which)

    def check_input(self, g: torch.Tensor) -> None:
        if tuple(g.shape[1:]) != self.shape:
            raise ShapeError(f"subspaces of images {self.shape} cannot project a batch of shape {tuple(g.shape)}")


class Subspace:
    """A projector binding the members of a family to the rows of one batch (see `SubspaceFamily.select`)."""

    def __init__(self, family: SubspaceFamily, which: torch.Tensor) -> None:
        self.family = family
        self.which = which

    def project(self, g: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Project rows of `g`; `rows[i]` is the position of `g[i]` in the batch the members were bound to."""
        which = self.which.to(g.device)
        members = which.expand(len(g)) if which.ndim == 0 else which[rows.to(g.device)]
        return self.family.project(g, members)


class DCTMasks(SubspaceFamily):
    """Subspaces spanned by sets of 2-D DCT frequencies (the same set in every channel).

    `masks` (S, H, W) is 0/1; projection is `IDCT2(M ⊙ DCT2(g))`, never a dense basis.
    `starts` (S, 2) are the first row and column frequency of each block.
    """

    kind = "dct"

    def __init__(self, shape: tuple[int, int, int], masks: torch.Tensor, starts: np.ndarray, block: int,
                 stride: int) -> None:
        super().__init__(shape)
        if masks.shape[1:] != self.shape[1:]:
            raise ShapeError(f"DCT masks {tuple(masks.shape[1:])} do not match images {self.shape[1:]}")
        self.masks = masks.float()
        self.starts = np.asarray(starts, dtype=np.int64).reshape(-1, 2)
        self.block, self.stride = int(block), int(stride)

    @property
    def dimensions(self) -> np.ndarray:
        return self.shape[0] * self.masks.flatten(1).sum(1).round().long().numpy()

    def coordinates(self) -> dict[str, tuple[np.ndarray, dict]]:
        return {**super().coordinates(),
                "band_start": (self.starts[:, 0], {"long_name": "first DCT row frequency of the block", "units": "1"}),
                "band_col_start": (self.starts[:, 1],
                                   {"long_name": "first DCT column frequency of the block", "units": "1"})}

    def project(self, g: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
        self.check_input(g)
        masks = self.masks.to(device=g.device, dtype=g.dtype)[which.to(g.device)]
        return idct2(dct2(g) * masks[:, None])

    def squared_norms(self, g: torch.Tensor) -> torch.Tensor:
        self.check_input(g)
        power = dct2(g).square().sum(1)  # (N, H, W), summed over channels
        return torch.einsum("nhw,shw->ns", power, self.masks.to(device=g.device, dtype=g.dtype))


def _block_masks(shape: Sequence[int], starts: list[tuple[int, int]], block: int) -> torch.Tensor:
    masks = torch.zeros(len(starts), shape[1], shape[2])
    for s, (a, b) in enumerate(starts):
        masks[s, a:a + block, b:b + block] = 1.0
    return masks


def _block_parameters(shape: Sequence[int], block: int | None, stride: int | None) -> tuple[int, int, int]:
    size = min(shape[1], shape[2])
    default_block, default_stride = default_block_stride(size)
    block = default_block if block is None else int(block)
    stride = default_stride if stride is None else int(stride)
    if not 1 <= block <= size or stride < 1:
        raise ParameterError(f"DCT blocks need 1 ≤ block ≤ {size} and stride ≥ 1, got block {block}, stride {stride}")
    return block, stride, size


def dct_diagonal_blocks(shape: tuple[int, int, int], block: int | None = None,
                        stride: int | None = None) -> DCTMasks:
    """Diagonal DCT blocks `[a, a+K) × [a, a+K)`, `a = s·T`, while `a + K ≤ N`.

    Defaults from the image size: 28→K8 T1 (21 blocks), 32→K8 T2 (13), 224→K16 T16 (14).
    """
    block, stride, size = _block_parameters(shape, block, stride)
    starts = [(a, a) for a in range(0, size - block + 1, stride)]
    return DCTMasks(shape, _block_masks(shape, starts, block), np.array(starts), block, stride)


def dct_offdiagonal_blocks(shape: tuple[int, int, int], block: int | None = None, stride: int | None = None,
                           include_diagonal: bool = False) -> DCTMasks:
    """Every block `[a, a+K) × [b, b+K)` of the stride grid with `a ≠ b` (all of them with `include_diagonal`)."""
    block, stride, _ = _block_parameters(shape, block, stride)
    rows = range(0, shape[1] - block + 1, stride)
    cols = range(0, shape[2] - block + 1, stride)
    starts = [(a, b) for a in rows for b in cols if include_diagonal or a != b]
    if not starts:
        raise ParameterError("no off-diagonal DCT block fits these images; use a smaller block or stride")
    return DCTMasks(shape, _block_masks(shape, starts, block), np.array(starts), block, stride)


class Bases(SubspaceFamily):
    """Subspaces given by orthonormal bases `U` (S, D, k), D = C·H·W (user bases, random subspaces)."""

    def __init__(self, shape: tuple[int, int, int], bases: torch.Tensor, orthonormalize: bool = False,
                 tolerance: float = 1e-4, kind: str = "basis") -> None:
        super().__init__(shape)
        self.kind = kind
        bases = torch.as_tensor(bases)
        if bases.ndim == 2:
            bases = bases[None]
        dim = int(np.prod(self.shape))
        if bases.ndim != 3 or bases.shape[1] != dim or not 1 <= bases.shape[2] <= dim:
            raise ShapeError(f"bases must have shape (S, {dim}, k) with 1 ≤ k ≤ {dim}, got {tuple(bases.shape)}")
        bases = bases.double()
        if orthonormalize:
            bases = torch.linalg.qr(bases).Q
        gram = bases.transpose(1, 2) @ bases
        error = float((gram - torch.eye(bases.shape[2], dtype=bases.dtype)).abs().max())
        if error > tolerance:
            raise ParameterError(f"bases are not orthonormal (max |UᵀU − I| = {error:.2g}); pass orthonormalize=True")
        self.bases = bases.float()

    @property
    def dimensions(self) -> np.ndarray:
        return np.full(self.bases.shape[0], self.bases.shape[2], dtype=np.int64)

    def project(self, g: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
        self.check_input(g)
        flat = g.flatten(1)
        out = torch.empty_like(flat)
        which = which.to(g.device)
        bases = self.bases.to(device=g.device, dtype=g.dtype)
        for member in torch.unique(which).tolist():  # one matmul per member present, not per row
            rows = (which == member).nonzero()[:, 0]
            u = bases[member]
            out[rows] = (flat[rows] @ u) @ u.T
        return out.view_as(g)

    def squared_norms(self, g: torch.Tensor) -> torch.Tensor:
        self.check_input(g)
        bases = self.bases.to(device=g.device, dtype=g.dtype)
        return torch.einsum("nd,sdk->nsk", g.flatten(1), bases).square().sum(2)


class PerSampleBases(Bases):
    """One orthonormal basis per sample: member `m` (of `bases` (M, D, k)) belongs to the dataset
    sample `indices[m]`, so a margins run measures each sample in its own subspace (e.g. along its
    own adversarial direction) and has a single `subspace` entry."""

    kind = "per-sample"

    def __init__(self, shape: tuple[int, int, int], bases: torch.Tensor, indices: Sequence[int] | np.ndarray,
                 orthonormalize: bool = False,
                 tolerance: float = 1e-4) -> None:
        super().__init__(shape, bases, orthonormalize, tolerance, kind=self.kind)
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(self.indices) != self.bases.shape[0] or len(np.unique(self.indices)) != len(self.indices):
            raise ParameterError(f"per-sample bases need one distinct sample index per basis "
                                 f"({self.bases.shape[0]} bases, {len(self.indices)} indices)")
        self._order = np.argsort(self.indices)

    def coordinates(self) -> dict[str, tuple[np.ndarray, dict]]:
        return {"dimension": (self.dimensions[:1], {"long_name": "subspace dimension", "units": "1"})}

    def members(self, indices: Sequence[int] | np.ndarray) -> torch.Tensor:
        """The member (basis) of each dataset index in `indices`; a `ParameterError` if one has none."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        where = np.searchsorted(self.indices, indices, sorter=self._order).clip(max=len(self.indices) - 1)
        members = self._order[where]
        missing = indices[self.indices[members] != indices]
        if len(missing):
            raise ParameterError(f"{len(missing)} selected sample(s) have no basis of their own "
                                 f"(e.g. index {int(missing[0])})")
        return torch.as_tensor(members, dtype=torch.int64)


def random_subspaces(shape: tuple[int, int, int], dimension: int, count: int = 1, seed: int = 0) -> Bases:
    """`count` random orthonormal `dimension`-dimensional subspaces (QR of a seeded Gaussian matrix)."""
    dim = int(np.prod(shape))
    if not 1 <= dimension <= dim or count < 1:
        raise ParameterError(f"random subspaces need 1 ≤ dimension ≤ {dim} and count ≥ 1")
    gaussian = torch.randn(count, dim, dimension, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return Bases(shape, torch.linalg.qr(gaussian).Q, kind="random")


def energy_spectrum(delta: torch.Tensor, family: SubspaceFamily) -> torch.Tensor:
    """(N, S): share of each perturbation's energy in each member, `‖P_s δ‖² / ‖δ‖²` (0 for δ = 0)."""
    total = delta.flatten(1).square().sum(1, keepdim=True)
    return family.squared_norms(delta) / torch.where(total > 0, total, torch.ones_like(total))
