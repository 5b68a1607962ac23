"""DeepAugment (Hendrycks et al. 2021): images through a corruption network
whose weights are freshly and randomly distorted for every image.

Each image draws four levels uniformly in [0, strength] and gets its own copy of the
network's weights φ, every block `φ_b` (each layer's weight and bias apart) distorted by

- noise scaled to the block's norm: `+ level · 0.5 · (‖φ_b‖₂ / √d_b) · N(0, 1)` per weight;
- random zeroing: each weight set to 0 with probability `level · 0.1`;
- random sign flips: each weight negated with probability `level · 0.1`;
- perturbed activations: every output unit of every layer scaled by `1 + level · 0.5 · N(0, 1)`
  (its weights and bias together, which scales the unit's activation before the nonlinearity).

`strength=0` is the clean reconstruction `c_φ(x)`.  A fraction `p` of the images (drawn per
image) is replaced by its DeepAugment version, the rest stay clean, so that training sees both
("DeepAugment-processed or clean sample").  All images go through the network at once
(`probe.params.per_image_forward`).  `--augment deepaugment:net=NET.pt[,strength=1][,p=0.5]`.
"""
from __future__ import annotations

import torch
from torch import nn

from probe import ranges
from probe.augment.augmix import uniform
from probe.augment.network import NetworkAugmentation
from probe.params import parameter_blocks, per_image_forward

NOISE, ZERO, FLIP, ACTIVATION = 0.5, 0.1, 0.1, 0.5   # distortions at level 1


def _normal(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randn(shape, generator=generator, device=generator.device).to(device)


def distort(phi: dict[str, torch.Tensor], n: int, strength: float,
            generator: torch.Generator) -> dict[str, torch.Tensor]:
    """`n` randomly distorted copies of the weights `phi` (block name → (n, *shape)); see the module docstring."""
    device = next(iter(phi.values())).device
    levels = uniform((n, 4), generator, device) * strength                    # noise, zeroing, flips, activations
    units: dict[tuple[str, int], torch.Tensor] = {}
    distorted = {}
    for name, tensor in phi.items():
        def per_image(values: torch.Tensor) -> torch.Tensor:
            return values.view(n, *[1] * tensor.ndim)  # noqa: B023 (called only within this iteration)
        rms = tensor.norm() / tensor.numel() ** 0.5
        w = tensor[None] + per_image(levels[:, 0] * NOISE * rms) * _normal((n, *tensor.shape), generator, device)
        w = torch.where(uniform((n, *tensor.shape), generator, device) < per_image(levels[:, 1] * ZERO), 0.0, w)
        w = torch.where(uniform((n, *tensor.shape), generator, device) < per_image(levels[:, 2] * FLIP), -w, w)
        if tensor.ndim:
            key = (name.rpartition(".")[0], tensor.shape[0])       # a layer's weight and bias share their units
            if key not in units:
                units[key] = 1.0 + levels[:, 3:4] * ACTIVATION * _normal((n, tensor.shape[0]), generator, device)
            w = w * units[key].view(n, tensor.shape[0], *[1] * (tensor.ndim - 1))
        distorted[name] = w
    return distorted


class DeepAugment(NetworkAugmentation):
    """A fraction `p` of the images replaced by `c_{φ̃}(x)` with per-image distorted weights φ̃."""

    name = "deepaugment"
    OPTIONS = {"strength": 1.0, "p": 0.5}

    def __init__(self, net: nn.Module, strength: float = 1.0, p: float = 0.5) -> None:
        ranges.check(strength=(strength, ranges.NON_NEGATIVE), p=(p, ranges.in_range(0.0, 1.0)))
        super().__init__(net)
        self.strength, self.p = float(strength), float(p)

    @torch.no_grad()
    def augment(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Every image of `x` through the network with its own distorted weights."""
        net = self.network(x)
        distorted = distort(parameter_blocks(net), len(x), self.strength, generator)
        return per_image_forward(net, distorted, x).clamp(0.0, 1.0)

    def apply(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        rows = (uniform((len(x),), generator, x.device) < self.p).nonzero().squeeze(1)
        out = x.clone()
        if len(rows):
            out[rows] = self.augment(x[rows], generator)
        return out, y
