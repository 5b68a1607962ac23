"""Lp-ball geometry: norms, `NORM:RADIUS` specs, uniform sampling, random Lp corruptions, radii.

The one module that the Lp probe, the overlap probe, the Lp-noise and ESP augmentations and
the figures use for anything about Lp balls; tensors in, tensors out, no probe logic.

Norms are floats: `p = 0` is L0 (its "radius" is a fraction of the coordinates) and
`p = inf` is L∞.  Sampling in the numerically stable form: with
`X ~ Gamma(1 + 1/p)` and `V ~ U(0, 1)`, `|g| = X^(1/p) · V` has the density ∝ exp(−|t|^p)
of `Gamma(1/p)^(1/p)` without drawing `Gamma(1/p)` (which underflows in float32 for large
p), and the normalisation `g / ‖g‖_p` is done in logs, so every p in (0, ∞] works in
float32.  (The stable form is often written with the factor `V^(1/p)`; the exact identity
`Gamma(a) = Gamma(a + 1) · V^(1/a)` with a = 1/p gives `V^1`, which the moment test checks.)

L0 corruptions replace `round(ε·d)` coordinates chosen without replacement by random values:
`{0, 1}` ("binary", for testing) or uniform in [0, 1] ("uniform", for training).  Without an
image (`sample_ball`), an L0 sample has `round(ε·d)` nonzero coordinates uniform in [−1, 1],
the largest change the [0, 1] box allows.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

import torch
from scipy.special import gammaln

from probe.errors import ParameterError

L0_VALUES = ("binary", "uniform")
CIFAR_DIM = 3072


# ----------------------------------------------------------------------------- names and specs

def parse_norm(text: str | float) -> float:
    """'L0', 'L0.5', 'L2', 'Linf' / 'inf' / 'L∞' (or a number) → p as a float (0: L0, inf: L∞)."""
    if isinstance(text, (int, float)):
        p = float(text)
    else:
        body = text.strip()
        body = body[1:] if body[:1] in ("L", "l") else body
        if body.lower() in ("inf", "∞", "max"):
            p = math.inf
        else:
            try:
                p = float(body)
            except ValueError:
                raise ParameterError(f"unknown norm '{text}' (expected L0, L0.5, L1, L2, ..., Linf)") from None
    if not p >= 0 or math.isnan(p):
        raise ParameterError(f"the norm exponent p must be in [0, inf], got {text}")
    return p


def parse_norms(norms: Sequence[str | float] | str | float) -> list[float]:
    """Norm names or exponents ('L0', 2, 'Linf'; or one string 'L0 L2') → distinct floats."""
    items: list[str | float]
    if isinstance(norms, str):
        items = list(norms.replace(",", " ").split())
    else:
        items = [norms] if isinstance(norms, (int, float)) else list(norms)
    ps = [parse_norm(item) for item in items]
    if not ps:
        raise ParameterError("need at least one norm")
    if len(set(ps)) != len(ps):
        raise ParameterError(f"norms must be distinct, got {', '.join(map(norm_name, ps))}")
    return ps


def norm_name(p: float) -> str:
    """The display name of a norm: 'L0', 'L0.5', 'L2', 'Linf'."""
    return "Linf" if math.isinf(p) else f"L{p:g}"


def check_radius(p: float, radius: float) -> None:
    """A `ParameterError` unless `radius` is a valid radius of an Lp ball (L0: a fraction in [0, 1])."""
    if not radius >= 0 or math.isinf(radius):
        raise ParameterError(f"the radius of a {norm_name(p)} ball must be finite and non-negative, got {radius}")
    if p == 0 and radius > 1:
        raise ParameterError(f"an L0 radius is a fraction of the coordinates in [0, 1], got {radius}")


def parse_ball(text: str) -> tuple[float, float]:
    """'L2:0.25' → (2.0, 0.25): the one parser of `NORM:RADIUS`, radius checked."""
    name, sep, value = str(text).partition(":")
    try:
        radius = float(value) if sep else None
    except ValueError:
        radius = None
    if radius is None:
        raise ParameterError(f"expected NORM:RADIUS (e.g. L2:0.25), got '{text}'")
    p = parse_norm(name)
    check_radius(p, radius)
    return p, radius


def ball_name(p: float, radius: float) -> str:
    """The `NORM:RADIUS` text of a ball, which `parse_ball` reads back exactly: 'L2:0.25'."""
    text = repr(float(radius))
    return f"{norm_name(p)}:{text[:-2] if text.endswith('.0') else text}"


# ----------------------------------------------------------------------------- norms

@overload
def l0_count(radius: float, dim: int) -> int: ...
@overload
def l0_count(radius: torch.Tensor, dim: int) -> torch.Tensor: ...
def l0_count(radius: float | torch.Tensor, dim: int) -> int | torch.Tensor:
    """How many coordinates an L0 radius (a fraction) changes: round(radius·d), halves rounded up."""
    if isinstance(radius, torch.Tensor):
        return torch.floor(radius * dim + 0.5).long()
    return int(math.floor(radius * dim + 0.5))


def norm(v: torch.Tensor, p: float) -> torch.Tensor:
    """‖v‖_p over the last axis, overflow/underflow-safe; for p = 0 the *fraction* of nonzeros."""
    if p == 0:
        return (v != 0).sum(-1).to(v.dtype) / v.shape[-1]
    a = v.abs()
    top = a.amax(-1)
    if math.isinf(p):
        return top
    safe = torch.where(top > 0, top, torch.ones_like(top))
    total = ((a / safe[..., None]) ** p).sum(-1)
    return torch.where(top > 0, safe * torch.exp(torch.log(total) / p), torch.zeros_like(top))


# ----------------------------------------------------------------------------- sampling

@dataclass
class Draw:
    """The random numbers behind Lp samples, one row per (sample, norm).

    `unit` (…, d): a sample of the unit Lp ball (rows with p > 0); `rank` (…, d): the rank
    of each coordinate in a random order (L0 rows: radius ε changes the coordinates of rank
    < round(ε·d), so larger radii contain smaller ones); `value` (…, d): uniform [0, 1]
    numbers for the L0 replacement values.
    """

    unit: torch.Tensor
    rank: torch.Tensor
    value: torch.Tensor

    def to(self, device: torch.device) -> Draw:
        return Draw(self.unit.to(device), self.rank.to(device), self.value.to(device))

    def row(self, j: int) -> Draw:
        """The draws of norm j from draws shaped (n, norms, d)."""
        return Draw(self.unit[:, j], self.rank[:, j], self.value[:, j])

    def select(self, rows: slice) -> Draw:
        """The draws of some samples (first axis)."""
        return Draw(self.unit[rows], self.rank[rows], self.value[rows])

    @staticmethod
    def cat(parts: Sequence[Draw], device: torch.device) -> Draw:
        """Draws of several sample groups stacked along the first axis, on `device`."""
        return Draw(*(torch.cat([getattr(d, f) for d in parts]).to(device) for f in ("unit", "rank", "value")))


def draw(n: int, dim: int, ps: Sequence[float], generator: torch.Generator | None = None, *,
         sphere: bool = False, device: torch.device | str | None = None) -> Draw:
    """Random numbers for `n` samples of each norm in `ps`, shaped (n, len(ps), dim).

    Drawn on `generator.device` (else `device`, else CPU) in float32.
    """
    if n < 0 or dim <= 0:
        raise ParameterError(f"need n >= 0 samples and a positive dimension, got n={n}, dim={dim}")
    device = torch.device(generator.device if generator is not None else (device or "cpu"))
    ps = [float(q) for q in ps]
    shape = (n, len(ps), dim)
    finite = [j for j, q in enumerate(ps) if 0 < q < math.inf]
    cube = [j for j, q in enumerate(ps) if math.isinf(q)]
    l0 = [j for j, q in enumerate(ps) if q == 0]
    v = torch.rand(shape, generator=generator, device=device)
    w = torch.rand(shape, generator=generator, device=device)
    r = torch.rand((n, len(ps), 1), generator=generator, device=device)
    sign = torch.where(w < 0.5, -1.0, 1.0)
    unit = torch.zeros(shape, device=device)
    if finite:
        # |g| = X^(1/p) V with X ~ Gamma(1 + 1/p), normalised in logs; radius U^(1/d) unless on the sphere
        p = torch.tensor([ps[j] for j in finite], device=device)[None, :, None]
        x = torch._standard_gamma((1.0 + 1.0 / p).expand(n, len(finite), dim).contiguous(), generator=generator)
        log_g = torch.log(x) / p + torch.log(v[:, finite])
        log_norm = torch.logsumexp(p * log_g, dim=-1, keepdim=True) / p
        log_radius = 0.0 if sphere else torch.log(r[:, finite]) / dim
        unit[:, finite] = sign[:, finite] * torch.exp(log_g - log_norm + log_radius)
    if cube:
        # L∞: uniform in the cube; on its surface one uniformly chosen coordinate sits at ±1
        values = 2.0 * v[:, cube] - 1.0
        if sphere:
            face = torch.floor(r[:, cube] * dim).long().clamp_max(dim - 1)
            values = values.scatter(-1, face, torch.gather(sign[:, cube], -1, face))
        unit[:, cube] = values
    rank = torch.zeros(shape, dtype=torch.int32, device=device)
    if l0:
        order = torch.argsort(v[:, l0], dim=-1)
        positions = torch.arange(dim, dtype=torch.int32, device=device).expand(order.shape)
        rank[:, l0] = torch.empty_like(positions).scatter_(-1, order, positions)
    return Draw(unit, rank, w)


def _l0_mask(d: Draw, radius: float | torch.Tensor, dim: int) -> torch.Tensor:
    k = l0_count(radius if not isinstance(radius, torch.Tensor) else radius.to(d.rank.device), dim)
    if isinstance(k, torch.Tensor):
        k = k[..., None]
    return d.rank < k


def sample_ball(n: int, dim: int, p: float, radius: float, generator: torch.Generator | None = None,
                sphere: bool = False) -> torch.Tensor:
    """`n` points uniform in the Lp ball of `radius` in `dim` dimensions (on its sphere with
    `sphere=True`; for L0: exactly round(radius·d) nonzeros), as an (n, dim) float32 tensor
    on `generator.device` (CPU without a generator)."""
    check_radius(p, radius)
    d = draw(n, dim, [p], generator, sphere=sphere).row(0)
    if p == 0:
        return torch.where(_l0_mask(d, radius, dim), 2.0 * d.value - 1.0, torch.zeros_like(d.value))
    return radius * d.unit


def sample_l0(n: int, dim: int, radius: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Boolean masks (n, dim), each with exactly round(radius·d) coordinates chosen without replacement."""
    check_radius(0.0, radius)
    return _l0_mask(draw(n, dim, [0.0], generator).row(0), radius, dim)


def perturb(x: torch.Tensor | None, d: Draw, p: float, radius: float | torch.Tensor,
            l0_values: str = "binary") -> torch.Tensor:
    """The realised change of Lp noise of `radius` (scalar or one per row) from draws `d`.

    With images `x` (n, dim) in [0, 1], the noise is added and clipped (L0: coordinates
    replaced), and the change actually made is returned; without (`x=None`), the noise itself.
    """
    if l0_values not in L0_VALUES:
        raise ParameterError(f"L0 values must be one of {', '.join(L0_VALUES)}, got '{l0_values}'")
    if p == 0:
        mask = _l0_mask(d, radius, d.value.shape[-1])
        if x is None:
            return torch.where(mask, 2.0 * d.value - 1.0, torch.zeros_like(d.value))
        values = (d.value < 0.5).to(x.dtype) if l0_values == "binary" else d.value.to(x.dtype)
        return torch.where(mask, values, x) - x
    delta = (radius[..., None] if isinstance(radius, torch.Tensor) else radius) * d.unit
    return delta if x is None else (x + delta).clamp(0.0, 1.0) - x


def corrupt(x: torch.Tensor, p: float, radius: float, generator: torch.Generator | None = None, *,
            l0_values: str = "binary") -> tuple[torch.Tensor, torch.Tensor]:
    """Independent random Lp corruptions of `radius` for every image of a batch.

    Returns the corrupted images (added, clipped to [0, 1]; L0 replaces round(radius·d) pixels
    by `l0_values`) and the realised norms of the changes (for L0: the changed fraction).
    Random numbers come from `generator` on its device and are moved to `x.device`.
    """
    check_radius(p, radius)
    flat = x.reshape(len(x), -1)
    d = draw(len(x), flat.shape[1], [p], generator, device=x.device).row(0).to(x.device)
    change = perturb(flat, d, p, radius, l0_values)
    return (flat + change).clamp(0.0, 1.0).reshape(x.shape), norm(change, p)


# ----------------------------------------------------------------------------- radii

def unit_rms(p: float, dim: int) -> float:
    """Root-mean-square coordinate of a uniform sample of the unit Lp ball in `dim` dimensions
    (large-d law: ‖u‖₂² ≈ d/(d+2) · d·E g² / (d/p)^(2/p), E g² = Γ(3/p)/Γ(1/p); L∞: 1/√3).
    L0 radii are fractions and have no unit ball: see `equivalent_radius`."""
    if math.isinf(p):
        return 1.0 / math.sqrt(3.0)
    if p == 0:
        raise ParameterError("L0 radii are fractions; use equivalent_radius")
    log_sq = (math.log(dim / (dim + 2.0)) + gammaln(3.0 / p) - gammaln(1.0 / p) - (2.0 / p) * math.log(dim / p))
    return math.exp(0.5 * log_sq)


def equivalent_radius(p: float, strength: float, dim: int) -> float:
    """The Lp radius whose uniform noise changes pixels by `strength` RMS (the default-grid rule;
    L0 at radius ε: √(ε/3), the RMS of replacing a fraction ε of uniform pixels by {0, 1}).

    For CIFAR (d = 3072) the L2 ball of radius 4 has strength 4/√3072 ≈ 0.072, and this rule
    gives the published 50 %-overlap radii (L∞ 0.125, L1 157, L0.5 2.5e5, L10 0.228, L0 0.016).
    """
    if strength < 0:
        raise ParameterError(f"noise strength must be non-negative, got {strength}")
    if p == 0:
        return min(1.0, 3.0 * strength ** 2)
    return strength / unit_rms(p, dim)


def scale_radius(p: float, radius: float, dim: int, from_dim: int = CIFAR_DIM) -> float:
    """A radius for `from_dim` moved to `dim` at equal RMS pixel change (L0 fractions unchanged)."""
    if p == 0:
        return radius
    return radius * unit_rms(p, from_dim) / unit_rms(p, dim)
