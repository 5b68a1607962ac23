"""AdA (Calian et al. 2022): worst-case corruptions through a corruption network's weights.

Every image `x_i` gets its own weight offset `β_i` for the corruption network `c_φ`.  Each
parameter tensor `φ_b` of the network (every layer's weight and bias apart) is one block with
radius `ν_b = ν ‖φ_b‖₂`; the feasible set is `‖β_{i,b}‖₂ ≤ ν_b` for every block.  From a
uniformly random point of the feasible set, `steps` iterations of FGSM ascend the classifier's
cross-entropy of `c_{φ+β}(x)` (sign steps of ¼ of the median `ν_b`), each followed by the
projection of every block onto its ball (by rescaling).  The final corruption passes the SSIM
guard (`probe.ssim.ssim_guard`).  Gradients are taken with respect to β only: φ and the
classifier never change.  All images are attacked at once (`probe.params.per_image_forward`:
vmap over `functional_call`), never in a loop over images.

A sample whose logits or gradient are not finite makes no move at that step (its offset stays
as it was, never NaN) and the skipped step is counted.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from probe.errors import ParameterError
from probe.logits import finite_rows
from probe.params import parameter_blocks, per_image_forward
from probe.ssim import GUARD_THRESHOLD, ssim_guard

Offsets = dict[str, torch.Tensor]   # block name → (N, *block shape)


@dataclasses.dataclass
class AdAResult:
    """Per-image outcome of `ada_attack`."""

    images: torch.Tensor          # (N, C, H, W) the adversarial corruptions after the SSIM guard
    logits: torch.Tensor          # (N, K) the classifier's logits on `images` (float32)
    loss: torch.Tensor            # (N,) cross-entropy on `images` (+inf where the logits are not finite)
    ssim_before: torch.Tensor     # (N,) SSIM(x, c_{φ+β}(x)) before the guard
    ssim_after: torch.Tensor      # (N,) SSIM(x, images)
    gamma: torch.Tensor           # (N,) the guard's blend weight (1: untouched)
    guard_fired: torch.Tensor     # (N,) bool
    failed_steps: torch.Tensor    # (N,) int64 steps skipped because logits or gradient were not finite
    offsets: Offsets              # β, inside the feasible set


def block_radii(phi: dict[str, torch.Tensor], nu: float) -> dict[str, float]:
    """`ν ‖φ_b‖₂` for every block."""
    return {name: float(nu) * float(tensor.norm()) for name, tensor in phi.items()}


def step_size(radii: dict[str, float]) -> float:
    """¼ of the median block radius (the published FGSM step)."""
    return 0.25 * float(torch.tensor(list(radii.values()), dtype=torch.float64).median())


def _split(flat: torch.Tensor, phi: dict[str, torch.Tensor]) -> Offsets:
    """(N, P) → one (N, *shape) tensor per block, in `phi`'s order."""
    parts = torch.split(flat, [t.numel() for t in phi.values()], dim=1)
    return {name: part.reshape(len(flat), *tensor.shape) for part, (name, tensor) in zip(parts, phi.items())}


def _draws(n: int, size: int, kind: str, generator: torch.Generator | None,
           generators: Sequence[torch.Generator] | None) -> torch.Tensor:
    """(n, size) normal or uniform draws: one row per per-image generator, or all from `generator`."""
    draw = torch.randn if kind == "normal" else torch.rand
    if generators is not None:
        return torch.stack([draw(size, generator=g, device=g.device) for g in generators])
    device = generator.device if generator is not None else "cpu"
    return draw((n, size), generator=generator, device=device)


def random_start(phi: dict[str, torch.Tensor], radii: dict[str, float], n: int,
                 generator: torch.Generator | None = None,
                 generators: Sequence[torch.Generator] | None = None) -> Offsets:
    """Offsets drawn uniformly from every block's ball (direction uniform on the sphere, radius
    `ν_b u^(1/d_b)`); with `generators`, image i's offsets come from `generators[i]` alone."""
    if generators is not None and len(generators) != n:
        raise ParameterError(f"{len(generators)} generators for {n} images")
    device = next(iter(phi.values())).device
    sizes = [t.numel() for t in phi.values()]
    direction = _split(_draws(n, sum(sizes), "normal", generator, generators).to(device), phi)
    uniform = _draws(n, len(phi), "uniform", generator, generators).to(device, torch.float64)
    offsets = {}
    for b, (name, tensor) in enumerate(phi.items()):
        d = direction[name]
        norms = d.flatten(1).norm(dim=1).clamp_min(1e-12)
        radius = radii[name] * uniform[:, b] ** (1.0 / tensor.numel())
        offsets[name] = d * (radius.to(d.dtype) / norms).view(-1, *[1] * tensor.ndim)
    return offsets


def project(offsets: Offsets, radii: dict[str, float]) -> Offsets:
    """Every image's block rescaled onto its ball `‖β_b‖₂ ≤ ν_b` (unchanged when inside)."""
    projected = {}
    for name, beta in offsets.items():
        norms = beta.flatten(1).norm(dim=1)
        scale = torch.where(norms > radii[name], radii[name] / norms.clamp_min(1e-30), torch.ones_like(norms))
        projected[name] = beta * scale.view(-1, *[1] * (beta.ndim - 1))
    return projected


def corrupt(net: nn.Module, phi: dict[str, torch.Tensor], offsets: Offsets, x: torch.Tensor) -> torch.Tensor:
    """`c_{φ+β_i}(x_i)` for every image, clipped to [0, 1] (zero offsets give the reconstruction `c_φ(x)`)."""
    return per_image_forward(net, {name: phi[name] + offsets[name] for name in phi}, x).clamp(0.0, 1.0)


def zero_offsets(phi: dict[str, torch.Tensor], n: int) -> Offsets:
    """β = 0 for `n` images."""
    return {name: torch.zeros(n, *tensor.shape, dtype=tensor.dtype, device=tensor.device)
            for name, tensor in phi.items()}


def losses(model: nn.Module, images: torch.Tensor,
           targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits (float32), per-image cross-entropy (+inf where not finite) and the finite mask."""
    logits = model(images).float()
    loss = F.cross_entropy(logits.nan_to_num(0.0, 0.0, 0.0), targets, reduction="none")
    finite = finite_rows(logits) & torch.isfinite(loss)
    return logits, torch.where(finite, loss, torch.full_like(loss, torch.inf)), finite


def ada_attack(model: nn.Module, net: nn.Module, x: torch.Tensor, targets: torch.Tensor, *, nu: float = 0.015,
               steps: int = 10, generator: torch.Generator | None = None,
               generators: Sequence[torch.Generator] | None = None, threshold: float = GUARD_THRESHOLD,
               on_step: Callable[[int, Offsets], None] | None = None) -> AdAResult:
    """Adversarial corruptions of `x` through `net`'s weights, maximising the cross-entropy of `model`
    (whose mode is used as it is) for `targets` (labels or soft labels).

    `generator` draws every image's random start, or `generators` one per image (results then do
    not depend on the batch).  `on_step(k, offsets)` sees the offsets after the random start
    (k = 0) and after every step's projection.
    """
    if nu < 0 or steps < 0:
        raise ParameterError(f"AdA needs ν ≥ 0 and steps ≥ 0, got ν = {nu}, steps = {steps}")
    phi = parameter_blocks(net)
    radii = block_radii(phi, nu)
    alpha = step_size(radii)
    offsets = random_start(phi, radii, len(x), generator, generators)
    failed = torch.zeros(len(x), dtype=torch.int64, device=x.device)
    if on_step is not None:
        on_step(0, offsets)
    with torch.enable_grad():
        for step in range(1, steps + 1 if alpha > 0 else 1):
            leaves = {name: beta.requires_grad_() for name, beta in offsets.items()}
            _, loss, finite = losses(model, corrupt(net, phi, leaves, x), targets)
            grads: Sequence[torch.Tensor] = torch.autograd.grad(loss[finite].sum(), list(leaves.values()),
                                                                allow_unused=True)
            grads = [torch.zeros_like(beta) if g is None else g for g, beta in zip(grads, leaves.values())]
            usable = finite & torch.stack([torch.isfinite(g).flatten(1).all(1) for g in grads]).all(0)
            moved = {}
            for (name, beta), g in zip(leaves.items(), grads):
                move = alpha * usable.to(x.dtype).view(-1, *[1] * (g.ndim - 1))     # no move where not usable
                moved[name] = (beta + move * torch.sign(g.nan_to_num(0.0))).detach()
            offsets = project(moved, radii)
            failed += (~usable).long()
            if on_step is not None:
                on_step(step, offsets)
    with torch.no_grad():
        guarded = ssim_guard(x, corrupt(net, phi, offsets, x), threshold)
        logits, loss, _ = losses(model, guarded.images, targets)
    return AdAResult(guarded.images, logits, loss, guarded.ssim_before, guarded.ssim_after, guarded.gamma,
                     guarded.fired, failed, offsets)
