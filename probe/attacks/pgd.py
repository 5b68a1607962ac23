"""Projected gradient descent (Madry et al.) in the L2 or L∞ ball, batched over samples.

Maximises the cross-entropy of `model(x + δ)` over `‖δ‖ ≤ ε` with `x + δ` inside the box:
a random start in the ball, then `steps` signed (L∞) or normalised (L2) gradient steps,
each followed by projection onto the ball and the box.  Used for adversarial training.

A sample whose input gradient is non-finite (NaN or inf logits or loss) makes no move at
that step: its δ stays as it was (never NaN) and `pgd_attack` counts the skipped steps.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from probe.errors import ParameterError

NORMS = ("l2", "linf")


@dataclass
class PGDResult:
    """Per-sample outcome of `pgd_attack`."""

    perturbation: torch.Tensor   # δ, same shape as x, ‖δ‖ ≤ ε and x + δ inside the box
    failed_steps: torch.Tensor   # (N,) int64 steps skipped because the input gradient was not finite


def _random_start(x: torch.Tensor, norm: str, epsilon: float, generator: torch.Generator | None) -> torch.Tensor:
    device = generator.device if generator is not None else x.device
    if norm == "linf":
        return ((torch.rand(x.shape, generator=generator, device=device) * 2 - 1) * epsilon).to(x.device)
    direction = torch.randn(x.shape, generator=generator, device=device).to(x.device)
    radius = torch.rand(len(x), generator=generator, device=device).to(x.device) ** (1.0 / x[0].numel())
    return direction / direction.flatten(1).norm(dim=1).view(-1, 1, 1, 1) * (epsilon * radius).view(-1, 1, 1, 1)


def _project(delta: torch.Tensor, norm: str, epsilon: float) -> torch.Tensor:
    if norm == "linf":
        return delta.clamp(-epsilon, epsilon)
    norms = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    return delta * (epsilon / norms).clamp(max=1.0).view(-1, 1, 1, 1)


def pgd_attack(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, *, norm: str = "l2",
               epsilon: float = 1.0, steps: int = 7, step_size: float | None = None, random_start: bool = True,
               generator: torch.Generator | None = None,
               bounds: tuple[float, float] | None = (0.0, 1.0)) -> PGDResult:
    """Adversarial perturbation δ (same shape as `x`) with `‖δ‖_norm ≤ ε`; `targets` are labels or soft labels.

    `step_size` defaults to 2.5·ε/steps.  The model is used as it is (mode unchanged); only
    gradients with respect to the input are computed.  A sample whose gradient is not finite
    skips that step (zero step) and the skip is counted in `failed_steps`.
    """
    if norm not in NORMS:
        raise ParameterError(f"unknown PGD norm '{norm}' (expected one of {', '.join(NORMS)})")
    if epsilon <= 0 or steps < 1:
        raise ParameterError("PGD needs ε > 0 and at least one step")
    step_size = 2.5 * epsilon / steps if step_size is None else step_size
    x = x.detach()
    delta = _random_start(x, norm, epsilon, generator) if random_start else torch.zeros_like(x)
    if bounds is not None:
        delta = (x + delta).clamp(*bounds) - x
    failed_steps = torch.zeros(len(x), dtype=torch.int64, device=x.device)
    for _ in range(steps):
        delta.requires_grad_(True)
        with torch.enable_grad():
            loss = F.cross_entropy(model(x + delta), targets)
            (grad,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            usable = torch.isfinite(grad.flatten(1)).all(dim=1)
            failed_steps += ~usable
            grad = torch.where(usable.view(-1, *([1] * (grad.ndim - 1))), grad, torch.zeros_like(grad))
            if norm == "linf":
                step = step_size * grad.sign()
            else:
                step = step_size * grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
            delta = _project(delta + step, norm, epsilon)
            if bounds is not None:
                delta = (x + delta).clamp(*bounds) - x
    return PGDResult(perturbation=delta.detach(), failed_steps=failed_steps)


def pgd(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, **options: Any) -> torch.Tensor:
    """The perturbation δ of `pgd_attack(model, x, targets, **options)` (same keyword options)."""
    return pgd_attack(model, x, targets, **options).perturbation
