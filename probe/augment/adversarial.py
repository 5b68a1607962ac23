"""Adversarial training (PGD in the L2 or L∞ ball), wrapping any other augmentation.

`--adversarial l2:EPS[:STEPS]` or `linf:EPS[:STEPS]` (default 7 steps, step 2.5·ε/steps,
random start).  The inner augmentation first produces the images and targets; PGD then
attacks them with the model in eval mode (so the attack neither couples samples through
BatchNorm nor updates its running statistics), and the loss is the cross-entropy on the
attacked images in the model's training mode.  `monitor(delta)`, if set, sees every
batch of PGD perturbations (e.g. to record their energy spectrum during training).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from probe import ranges
from probe.attacks.pgd import NORMS, pgd
from probe.augment.base import TWO_MAXIMISATIONS, Augmentation
from probe.errors import ParameterError
from probe.params import eval_mode


class AdversarialTraining(Augmentation):
    """PGD adversarial examples of the (inner-augmented) batch replace the clean batch."""

    name = "adversarial"
    maximises = True

    def __init__(self, norm: str, epsilon: float, steps: int = 7, inner: Augmentation | None = None,
                 monitor: Callable[[torch.Tensor], None] | None = None) -> None:
        if norm not in NORMS:
            raise ParameterError(f"adversarial training needs a norm in {NORMS}, got '{norm}'")
        ranges.check(epsilon=(epsilon, ranges.POSITIVE), steps=(steps, ranges.integer(1)))
        self.norm, self.epsilon, self.steps = norm, float(epsilon), int(steps)
        self.inner = inner or Augmentation()
        if self.inner.maximises:
            raise ParameterError(TWO_MAXIMISATIONS)
        self.monitor = monitor

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        images, targets = self.inner.apply(x, y, generator)
        with eval_mode(model):
            delta = pgd(model, images, targets, norm=self.norm, epsilon=self.epsilon, steps=self.steps,
                        generator=generator)
        if self.monitor is not None:
            self.monitor(delta)
        logits = model(images + delta)
        return F.cross_entropy(logits, targets), logits


def parse_adversarial(spec: str, inner: Augmentation | None = None) -> AdversarialTraining:
    """`l2:EPS[:STEPS]` or `linf:EPS[:STEPS]`, wrapping `inner`."""
    parts = spec.split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        norm, epsilon = parts[0].lower(), float(parts[1])
        steps = int(parts[2]) if len(parts) == 3 else 7
    except ValueError:
        raise ParameterError(f"--adversarial must be l2:EPS[:STEPS] or linf:EPS[:STEPS], got '{spec}'") from None
    return AdversarialTraining(norm, epsilon, steps, inner)
