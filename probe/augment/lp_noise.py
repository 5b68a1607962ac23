"""Random Lp-noise training: every training image gets a random Lp corruption.

`--augment lp:L0:0.01` (the published best single choice) or a mixture `lp:L0:0.01,L2:0.5`,
in which every image draws one of the listed norms uniformly.  L0 noise writes uniform
[0, 1] values (the training variant); other norms are added and clipped to [0, 1].
"""
from __future__ import annotations

import torch

from probe.augment.base import Augmentation
from probe.balls import ball_name, corrupt, parse_ball
from probe.errors import ParameterError


class LpNoise(Augmentation):
    """Corrupt each image with uniform noise from one of the Lp balls `balls` [(p, radius), ...]."""

    name = "lp"

    def __init__(self, balls: list[tuple[float, float]]) -> None:
        if not balls:
            raise ParameterError("lp noise needs at least one NORM:RADIUS")
        self.balls = balls

    def apply(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        choice = torch.randint(len(self.balls), (len(x),), generator=generator, device=generator.device).to(x.device)
        out = x.clone()
        for j, (p, radius) in enumerate(self.balls):
            picked = choice == j
            if picked.any():
                out[picked] = corrupt(x[picked], p, radius, generator, l0_values="uniform")[0]
        return out, y

    def __repr__(self) -> str:
        return "LpNoise(" + ",".join(ball_name(p, radius) for p, radius in self.balls) + ")"


def from_spec(args: str, info: dict) -> LpNoise:
    """`L0:0.01` or `L0:0.01,L2:0.5` → `LpNoise`."""
    if not args:
        raise ParameterError("usage: --augment lp:NORM:RADIUS[,NORM:RADIUS...], e.g. lp:L0:0.01")
    return LpNoise([parse_ball(item) for item in args.split(",")])
