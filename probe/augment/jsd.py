"""The Jensen–Shannon consistency loss shared by AugMix and PRIME.

`CE(clean) + λ · mean_i KL(p_i ‖ M)` over the predictions p_i on the clean image and two
independent augmentations, `M` their mean (clamped to [1e-7, 1] before the log), λ = 12.
All three views go through the model in one forward pass, as in the published code.
"""
from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from probe.augment.base import Augmentation

JSD_WEIGHT = 12.0


def jsd_consistency(logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """`mean_i KL(p_i ‖ M)` (batch mean) for the softmax predictions of several views."""
    probabilities = [F.softmax(z, dim=1) for z in logits]
    log_mixture = torch.clamp(torch.stack(probabilities).mean(0), 1e-7, 1.0).log()
    total = sum(F.kl_div(log_mixture, p, reduction="batchmean") for p in probabilities)   # a tensor: never empty
    return cast(torch.Tensor, total / len(probabilities))


def jsd_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor], generator: torch.Generator,
             weight: float = JSD_WEIGHT) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy on the clean batch plus `weight` × JSD over (clean, aug1, aug2); returns (loss, clean logits)."""
    views = torch.cat([x, augment(x, generator), augment(x, generator)])
    clean, first, second = model(views).chunk(3)
    return F.cross_entropy(clean, y) + weight * jsd_consistency([clean, first, second]), clean


class ConsistencyAugmentation(Augmentation, abc.ABC):
    """An augmentation `augment(x, generator)` whose loss is cross-entropy on augmented images,
    or, with `jsd=True`, the JSD consistency loss over (clean, aug1, aug2)."""

    def __init__(self, jsd: bool = False) -> None:
        self.jsd = bool(jsd)

    @abc.abstractmethod
    def augment(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augmented images in [0, 1]: the one thing a concrete augmentation defines."""

    def apply(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return self.augment(x, generator), y

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        if self.jsd:
            return jsd_loss(model, x, y, self.augment, generator)
        return super().loss(model, x, y, generator)
