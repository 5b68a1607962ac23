"""AdA training (Calian et al. 2022): each batch replaced by its adversarial
corruptions through a corruption network's weights (`probe.attacks.ada`).

The attack runs with the classifier in eval mode (no BatchNorm coupling of the samples, no
update of its running statistics) and takes gradients with respect to the weight offsets only,
so the classifier and the corruption network come out of it unchanged; the loss is the
cross-entropy on the corrupted images in the classifier's training mode.
`--augment ada:net=NET.pt[,nu=0.015][,steps=10]`.
"""
from __future__ import annotations

import torch
from torch import nn

from probe import ranges
from probe.attacks.ada import ada_attack
from probe.augment.network import NetworkAugmentation
from probe.errors import ParameterError
from probe.params import eval_mode
from probe.ssim import GUARD_THRESHOLD


class AdA(NetworkAugmentation):
    """Adversarial corruptions with relative radius `nu` and `steps` FGSM steps, SSIM-guarded."""

    name = "ada"
    maximises = True
    OPTIONS = {"nu": 0.015, "steps": 10}

    def __init__(self, net: nn.Module, nu: float = 0.015, steps: int = 10, threshold: float = GUARD_THRESHOLD) -> None:
        ranges.check(nu=(nu, ranges.NON_NEGATIVE), steps=(steps, ranges.integer(0)))
        super().__init__(net)
        self.nu, self.steps, self.threshold = float(nu), int(steps), float(threshold)

    def apply(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        raise ParameterError("AdA attacks the classifier: use images(model, x, y, generator)")

    def images(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
               generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        net = self.network(x)
        with eval_mode(model):
            result = ada_attack(model, net, x, y, nu=self.nu, steps=self.steps, generator=generator,
                                threshold=self.threshold)
        return result.images, y
