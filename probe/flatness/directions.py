"""Directions in parameter space along which the flatness probe moves the weights.

A direction is one flat vector over the trainable parameters (`probe.params.trainable`).
Random directions are drawn in float64 from a generator seeded by the run seed, the stream
(sphere sweep or landscape) and the direction's number (`probe.seeding`), so direction d
is the same whatever the number of directions; they are cast to the parameters' dtype
before they move to the parameters' device (MPS has no float64).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from probe import params as P
from probe import seeding
from probe.errors import ParameterError

FLATNESS_STREAM, LANDSCAPE_STREAM = 0, 1


def direction_generator(seed: int, stream: int, index: int, device: torch.device | str | None = None
                        ) -> torch.Generator:
    """The generator of direction `index` of `stream` for parameters on `device`."""
    return seeding.generator(seed, stream, index, device=device)


def _gaussian(shape: tuple[int, ...] | int, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """A float64 Gaussian draw cast to `like`'s dtype, on `like`'s device."""
    draw = torch.randn(shape, generator=generator, dtype=torch.float64, device=generator.device)
    return draw.to(like.dtype).to(like.device)


def sphere_direction(params: Sequence[torch.Tensor], generator: torch.Generator) -> torch.Tensor:
    """A flat unit vector uniform on the sphere over all `params` (a normalised Gaussian)."""
    total = sum(p.numel() for p in params)
    u = torch.randn(total, generator=generator, dtype=torch.float64, device=generator.device)
    return (u / u.norm()).to(params[0].dtype).to(params[0].device)


def filter_normalized_direction(params: Sequence[torch.Tensor], generator: torch.Generator,
                                include_bias_bn: bool = False) -> torch.Tensor:
    """A flat Gaussian direction whose every filter has the norm of the matching weight filter.

    Filters are slices along the first axis of weights with ≥ 2 dimensions.  One-dimensional
    parameters (biases, BN scales and shifts) get zero, or with `include_bias_bn` a Gaussian
    rescaled to the norm of the whole parameter.
    """
    parts = []
    for p in params:
        d = _gaussian(p.shape, generator, p)
        w = p.detach()
        if P.is_filter_weight(p):
            rows, weight_rows = d.reshape(len(d), -1), w.reshape(len(w), -1)
            scale = weight_rows.norm(dim=1, keepdim=True) / rows.norm(dim=1, keepdim=True).clamp_min(1e-30)
            parts.append((rows * scale).reshape(-1))
        elif include_bias_bn:
            parts.append((d * (w.norm() / d.norm().clamp_min(1e-30))).reshape(-1))
        else:
            parts.append(torch.zeros(p.numel(), device=p.device, dtype=p.dtype))
    return torch.cat(parts)


def make_direction(params: Sequence[torch.Tensor], generator: torch.Generator, filter_norm: bool,
                   include_bias_bn: bool) -> torch.Tensor:
    """Filter-normalised or plain unit-sphere direction, as chosen."""
    if filter_norm:
        return filter_normalized_direction(params, generator, include_bias_bn)
    return sphere_direction(params, generator)


def check_same_shapes(model: nn.Module, other: nn.Module) -> None:
    """`other` has trainable parameters of the same shapes as `model`'s (else a ParameterError)."""
    mine = [tuple(p.shape) for _, p in P.trainable(model)]
    if mine != [tuple(p.shape) for _, p in P.trainable(other)]:
        raise ParameterError("towards: the second model's parameters do not match the first model's")


def direction_towards(model: nn.Module, other: nn.Module) -> torch.Tensor:
    """θ_other − θ over the trainable parameters (shapes must match)."""
    check_same_shapes(model, other)
    mine, theirs = [p for _, p in P.trainable(model)], [p for _, p in P.trainable(other)]
    return P.flatten(theirs).to(mine[0].device) - P.flatten(mine)
