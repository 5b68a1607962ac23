"""ESP training: L2 noise of random size with labels smoothed by that size.

The size is `k ~ N(ε, σ = τ/2)` truncated to [ε − τ, ε + τ] (inverse-CDF sampling), the
direction uniform on the L2 sphere.  The noisy image is kept in the [0, 1] box by rescaling
rather than clipping: if `x + δ` leaves the box it is mapped affinely back onto it
(`(z − lo) / (hi − lo)` with lo = min(0, min z), hi = max(1, max z)), which keeps the noise
pattern (clipping would cancel the half of the noise that points out of a saturated pixel).
The target is `s(k)` on the true class and `(1 − s(k)) / (C − 1)` elsewhere, with
`s(z) = 1` for z <= ε and `exp(−λ (z − ε))` above, `λ = −ln(1/C + ξ) / τ` so that
`s(ε + τ) = 1/C + ξ`.  `--augment esp:EPS[:TAU[:XI]]`, defaults τ = ε, ξ = 0.5.
"""
from __future__ import annotations

import math

import torch

from probe.augment.base import Augmentation
from probe.balls import draw
from probe.errors import ParameterError


class ESP(Augmentation):
    """L2 noise of truncated-Gaussian size, box-preserving rescaling, exponential label smoothing."""

    name = "esp"

    def __init__(self, eps: float, num_classes: int, tau: float | None = None, xi: float = 0.5) -> None:
        tau = eps if tau is None else tau
        if not (eps > 0 and 0 < tau <= eps):
            raise ParameterError(f"ESP needs ε > 0 and 0 < τ <= ε, got ε={eps}, τ={tau}")
        if num_classes < 2:
            raise ParameterError(f"ESP needs at least 2 classes, got {num_classes}")
        if not 0 <= xi < 1 - 1 / num_classes:
            raise ParameterError(f"ESP needs 0 <= ξ < 1 − 1/C = {1 - 1 / num_classes:.3g}, got {xi}")
        self.eps, self.tau, self.xi, self.num_classes = float(eps), float(tau), float(xi), int(num_classes)
        self.rate = -math.log(1.0 / num_classes + xi) / tau

    def confidence(self, size: torch.Tensor) -> torch.Tensor:
        """s(k): 1 up to ε, then exponential decay reaching 1/C + ξ at ε + τ."""
        return torch.exp(-self.rate * (size - self.eps).clamp_min(0.0))

    def sizes(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Noise sizes from N(ε, τ/2) truncated to [ε − τ, ε + τ], by inverse CDF."""
        sigma = self.tau / 2.0
        lo, hi = torch.special.ndtr(torch.tensor([-2.0, 2.0], dtype=torch.float64))
        u = torch.rand(n, generator=generator, device=generator.device, dtype=torch.float64)
        size = self.eps + sigma * torch.special.ndtri(lo + u * (hi - lo))
        return size.clamp(self.eps - self.tau, self.eps + self.tau).float()

    def apply(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(x)
        size = self.sizes(n, generator)
        direction = draw(n, x[0].numel(), [2.0], generator, sphere=True).unit[:, 0]
        z = x.reshape(n, -1) + (size[:, None] * direction).to(x.device)
        lo = z.amin(1, keepdim=True).clamp_max(0.0)
        hi = z.amax(1, keepdim=True).clamp_min(1.0)
        images = ((z - lo) / (hi - lo)).clamp(0.0, 1.0).reshape(x.shape)
        s = self.confidence(size).to(x.device)
        targets = ((1.0 - s) / (self.num_classes - 1))[:, None].expand(n, self.num_classes).clone()
        targets[torch.arange(n, device=x.device), y] = s
        return images, targets


def from_spec(args: str, info: dict) -> ESP:
    """`EPS[:TAU[:XI]]` → `ESP`; the number of classes comes from the dataset facts."""
    if "num_classes" not in info:
        raise ParameterError("ESP needs the number of classes (info['num_classes'])")
    parts = args.split(":") if args else []
    if not 1 <= len(parts) <= 3:
        raise ParameterError("usage: --augment esp:EPS[:TAU[:XI]], e.g. esp:0.5")
    try:
        values = [float(v) for v in parts]
    except ValueError:
        raise ParameterError(f"ESP parameters must be numbers, got '{args}'") from None
    eps, tau, xi = values[0], values[1] if len(values) > 1 else None, values[2] if len(values) > 2 else 0.5
    return ESP(eps, int(info["num_classes"]), tau, xi)
