"""The state of a model as probes need it: mode, device, and its parameters in flat form.

`eval_mode(model)` is the one eval-mode context of the toolkit (attacks, probes and the
runner use it).  Probes that move the weights (flatness, landscapes, Hessian) work on one flat vector over
the selected parameters.  `preserved(model)` puts the model in eval mode and, however the
block ends, copies the saved parameters and buffers back (never "subtract the
perturbation", which drifts in floating point), so BN statistics and weights come out
bit-identical.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from probe.errors import ParameterError


def trainable(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The (name, parameter) pairs that require gradients, in registration order."""
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ParameterError("the model has no trainable parameters")
    return named


def is_filter_weight(param: torch.Tensor) -> bool:
    """Weights with a filter (output-unit) axis: conv kernels and linear matrices, not biases or BN."""
    return param.ndim >= 2


def flatten(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate tensors into one detached 1-D vector."""
    return torch.cat([t.detach().reshape(-1) for t in tensors])


def unflatten(vector: torch.Tensor, like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Split a flat vector into views shaped like `like`."""
    sizes = [t.numel() for t in like]
    if vector.numel() != sum(sizes):
        raise ParameterError(f"vector has {vector.numel()} entries, the parameters have {sum(sizes)}")
    return [chunk.view_as(t) for chunk, t in zip(torch.split(vector, sizes), like)]


@torch.no_grad()
def assign(params: Sequence[torch.Tensor], vector: torch.Tensor) -> None:
    """Copy a flat vector into the parameters (in place)."""
    for p, value in zip(params, unflatten(vector, params)):
        p.copy_(value)


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """Clones of every parameter and buffer, keyed by state-dict name."""
    return {name: t.detach().clone() for name, t in model.state_dict(keep_vars=True).items()}


@torch.no_grad()
def restore(model: nn.Module, saved: dict[str, torch.Tensor]) -> None:
    """Copy the saved parameters and buffers back into the model."""
    for name, tensor in model.state_dict(keep_vars=True).items():
        tensor.copy_(saved[name])


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode inside the block (BatchNorm uses running statistics, dropout is off); the
    previous train/eval flag is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@contextlib.contextmanager
def preserved(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode inside the block; afterwards parameters, buffers and the train flag are as before."""
    saved = snapshot(model)
    try:
        with eval_mode(model):
            yield model
    finally:
        restore(model, saved)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); the CPU for a model with neither."""
    for tensor in model.parameters():
        return tensor.device
    for buffer in model.buffers():
        return buffer.device
    return torch.device("cpu")


def parameter_blocks(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter by name, detached: each weight and each bias is its own block."""
    return {name: p.detach() for name, p in model.named_parameters()}


def per_image_forward(model: nn.Module, parameters: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """`model` applied to each image `x[i]` with its own parameters `{name: parameters[name][i]}`, batched
    with `torch.func.vmap` over `functional_call` (no loop over images); parameters missing from
    `parameters`, and buffers, are the model's own."""
    def one(own: dict[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(model, own, (image[None],))[0]
    return torch.func.vmap(one)(parameters, x)


__all__ = ["assign", "eval_mode", "flatten", "is_filter_weight", "model_device", "parameter_blocks",
           "per_image_forward", "preserved", "restore", "snapshot", "trainable", "unflatten"]
