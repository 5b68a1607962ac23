"""Test-time BatchNorm adaptation (Schneider et al. 2020): mix source and batch statistics.

Every BatchNorm layer normalises a batch of n images with
`μ = N/(N+n) μ_source + n/(N+n) μ_batch` and the same mix of the variances (the batch
variance biased, as train-mode BatchNorm uses).  N = 0 is full adaptation (train-mode
BatchNorm on that batch); N → ∞ is the unadapted model.  The layers' outputs are replaced
through forward hooks that are removed afterwards, so the model's parameters, buffers and
mode are exactly as they were.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from probe import ranges
from probe.errors import ParameterError


def parse_bn_adapt(spec: str | Sequence) -> tuple[float, int]:
    """'N:n' (or a pair (N, n)) → (prior strength N ≥ 0, adaptation batch size n ≥ 1)."""
    if isinstance(spec, str):
        prior, sep, size = spec.partition(":")
    else:
        pair = list(spec) if isinstance(spec, (tuple, list)) else []
        prior, sep, size = (pair[0], ":", pair[1]) if len(pair) == 2 else ("", "", "")
    try:
        prior_value, size_value = float(prior), int(size)
    except (TypeError, ValueError):
        raise ParameterError(f"bn_adapt must be N:n (source prior N ≥ 0, batch size n ≥ 1), got '{spec}'") from None
    if not sep or size_value < 1 or size_value != float(size):
        raise ParameterError(f"bn_adapt must be N:n with a finite N ≥ 0 and an integer n ≥ 1, got '{spec}'")
    ranges.check(bn_adapt_prior=(prior_value, ranges.NON_NEGATIVE))
    return prior_value, size_value


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The model's BatchNorm layers that track running statistics."""
    return [m for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats and m.running_mean is not None]


Hook = Callable[[nn.modules.batchnorm._BatchNorm, tuple[torch.Tensor], torch.Tensor], torch.Tensor]


def _mixing_hook(prior: float) -> Hook:
    def hook(module: nn.modules.batchnorm._BatchNorm, inputs: tuple[torch.Tensor],
             output: torch.Tensor) -> torch.Tensor:
        x = inputs[0]
        dims = [0] + list(range(2, x.ndim))
        batch_mean = x.mean(dim=dims)
        batch_var = x.var(dim=dims, unbiased=False)
        weight = prior / (prior + x.shape[0])
        # `batchnorm_layers` keeps only layers that track running statistics: both are tensors
        mean = weight * cast(torch.Tensor, module.running_mean) + (1.0 - weight) * batch_mean
        var = weight * cast(torch.Tensor, module.running_var) + (1.0 - weight) * batch_var
        return F.batch_norm(x, mean, var, module.weight, module.bias, False, 0.0, module.eps)
    return hook


@contextlib.contextmanager
def bn_adaptation(model: nn.Module, prior: float) -> Iterator[nn.Module]:
    """Within the block, every forward pass of `model` uses statistics adapted to its batch."""
    ranges.check(prior=(prior, ranges.NON_NEGATIVE))
    layers = batchnorm_layers(model)
    if not layers:
        raise ParameterError("the model has no BatchNorm layers with running statistics: BN adaptation does not apply")
    handles = [layer.register_forward_hook(_mixing_hook(float(prior))) for layer in layers]
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def adapted_logits(model: nn.Module, x: torch.Tensor, prior: float, batch: int) -> torch.Tensor:
    """Logits of `x` with each consecutive group of `batch` images adapted on its own statistics."""
    ranges.check(batch=(batch, ranges.integer(1)))
    with bn_adaptation(model, prior):
        return torch.cat([model(part) for part in x.split(batch)])
