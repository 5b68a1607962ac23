"""Synthetic two-class sets T1 and T2 with a known discriminative direction.

T1(ε, σ): `x = U (ε y / 2 · e1 + n)`, `y ∈ {−1, +1}`, `n ~ N(0, σ²)` on coordinates 2..D,
`U` a random orthogonal matrix; an ideal classifier has margin exactly ε/2 along `u1 = U e1`.
T2(ρ, ε, σ, K) adds a second feature on `e2`: `ρ·k` (class +1) or `ρ·(k + ½)` (class −1),
`k` uniform on {−K, …, K−1}.  Samples are vectors, shaped (1, 1, D) so that every model and
probe that takes images takes them; class index 1 is y = +1.
"""
from __future__ import annotations

from typing import cast

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import Dataset

from probe.errors import ParameterError


class SyntheticDataset(Dataset):
    """Vectors (N, 1, 1, D) with labels {0, 1} and the orthogonal matrix `U` that mixed them."""

    def __init__(self, x: torch.Tensor, labels: torch.Tensor, rotation: torch.Tensor, info: dict) -> None:
        self.x, self.labels, self.rotation = x, labels, rotation
        self.info = dict(info, num_classes=2)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return 2

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return cast(tuple[int, int, int], tuple(self.x.shape[1:]))   # x is (N, 1, 1, D)

    @property
    def direction(self) -> torch.Tensor:
        """`u1 = U e1`, the discriminative direction (D,)."""
        return self.rotation[:, 0]

    def split(self, first: int) -> tuple[SyntheticDataset, SyntheticDataset]:
        """The first `first` samples and the rest, as two sets sharing the mixing matrix `U`
        (a training and a test set drawn from one distribution)."""
        if not 0 < first < len(self):
            raise ParameterError(f"cannot split {len(self)} samples after the first {first}")
        return cast(tuple[SyntheticDataset, SyntheticDataset],
                    tuple(SyntheticDataset(self.x[part], self.labels[part], self.rotation, self.info)
                          for part in (slice(0, first), slice(first, None))))

    def batch(self, indices: npt.ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        return self.x[index], self.labels[index]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.x[index], int(self.labels[index])


def _draw(n: int, dim: int, sigma: float,
          seed: int) -> tuple[torch.Generator, torch.Tensor, torch.Tensor, torch.Tensor]:
    if n < 2 or dim < 2 or sigma < 0:
        raise ParameterError("synthetic data need n ≥ 2, dimension ≥ 2 and σ ≥ 0")
    generator = torch.Generator().manual_seed(seed)
    rotation = torch.linalg.qr(torch.randn(dim, dim, generator=generator, dtype=torch.float64)).Q
    signs = torch.randint(0, 2, (n,), generator=generator) * 2 - 1
    noise = sigma * torch.randn(n, dim, generator=generator, dtype=torch.float64)
    return generator, rotation, signs, noise


def _finish(z: torch.Tensor, signs: torch.Tensor, rotation: torch.Tensor, info: dict) -> SyntheticDataset:
    x = (z @ rotation.T).float().reshape(len(z), 1, 1, -1)
    return SyntheticDataset(x, (signs > 0).long(), rotation.float(), info)


def t1(n: int = 10_000, epsilon: float = 5.0, sigma: float = 1.0, dim: int = 100, seed: int = 0) -> SyntheticDataset:
    """T1(ε, σ): class means ±ε/2 along u1, isotropic noise σ in the other D−1 directions."""
    _, rotation, signs, z = _draw(n, dim, sigma, seed)
    z[:, 0] = epsilon * signs / 2.0
    return _finish(z, signs, rotation, {"name": "T1", "epsilon": epsilon, "sigma": sigma, "dim": dim, "seed": seed})


def t2(n: int = 10_000, rho: float = 1.0, epsilon: float = 5.0, sigma: float = 1.0, k: int = 5, dim: int = 100,
       seed: int = 0) -> SyntheticDataset:
    """T2(ρ, ε, σ, K): T1 plus `ρ·k` (class +1) or `ρ·(k + ½)` (class −1) on e2, k uniform on {−K..K−1}."""
    if k < 1:
        raise ParameterError(f"T2 needs K ≥ 1, got {k}")
    generator, rotation, signs, z = _draw(n, dim, sigma, seed)
    z[:, 0] = epsilon * signs / 2.0
    steps = torch.randint(-k, k, (n,), generator=generator).double()
    z[:, 1] = rho * torch.where(signs > 0, steps, steps + 0.5)
    return _finish(z, signs, rotation, {"name": "T2", "rho": rho, "epsilon": epsilon, "sigma": sigma, "k": k,
                                        "dim": dim, "seed": seed})
