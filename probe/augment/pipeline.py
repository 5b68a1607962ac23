"""Several `--augment` options composed in the published order: DeepAugment,
then AdA, then every other augmentation in the order given (so AugMix comes last).

Every stage but the last produces images (`images`, which lets AdA attack the model on the
images DeepAugment made); the last stage computes the loss (e.g. AugMix's JSD consistency).
Two stages that maximise against the model (AdA, PGD adversarial training) are refused.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from probe.augment.base import TWO_MAXIMISATIONS, Augmentation
from probe.errors import ParameterError

ORDER = {"deepaugment": 0, "ada": 1}   # every other augmentation comes after these


class Pipeline(Augmentation):
    """Augmentations applied one after the other, in the published order."""

    name = "pipeline"

    def __init__(self, stages: Sequence[Augmentation]) -> None:
        stages = [stage for stage in stages if stage.name != "none"] or [Augmentation()]
        names = [stage.name for stage in stages]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ParameterError(f"--augment {', '.join(repeated)} given more than once")
        if sum(stage.maximises for stage in stages) > 1:
            raise ParameterError(TWO_MAXIMISATIONS)
        self.stages = sorted(stages, key=lambda stage: ORDER.get(stage.name, len(ORDER)))
        early = [stage.name for stage in self.stages[:-1] if getattr(stage, "jsd", False)]
        if early:
            raise ParameterError(f"the JSD loss of {', '.join(early)} needs it to be the last augmentation "
                                 f"(order: {' → '.join(stage.name for stage in self.stages)})")
        self.maximises = any(stage.maximises for stage in self.stages)

    def apply(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        for stage in self.stages:
            x, y = stage.apply(x, y, generator)
        return x, y

    def images(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
               generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        for stage in self.stages:
            x, y = stage.images(model, x, y, generator)
        return x, y

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        for stage in self.stages[:-1]:
            x, y = stage.images(model, x, y, generator)
        return self.stages[-1].loss(model, x, y, generator)

    def __repr__(self) -> str:
        return "Pipeline(" + " → ".join(stage.name for stage in self.stages) + ")"
