"""Models as people hold them: any output form, any float dtype, behind one logits interface.

Probes call a model as `model(x) -> logits (N, K)` on float32 pixels in [0, 1].  A model
may instead return a tuple or list (its first element is the logits), a dict (the entry
`output`, default 'logits'), or an object with a `.logits` attribute (Hugging Face style),
and its weights may be float16 or bfloat16.  `classifier(model)` wraps such a model in
`Classifier`: the images are cast to the model's dtype, the model computes in it, and the
logits come back as float32, so margins, distances and losses are accumulated in float32
while the gradient still flows to the float32 pixels.  Probes wrap every model this way
(`probe.runner.classifier`); a float32 model returning a tensor gives the same numbers
wrapped or not.
"""
from __future__ import annotations

import itertools
from typing import Any, cast

import torch
from torch import nn

from probe.errors import ModelError

DEFAULT_OUTPUT = "logits"


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype of the model's first floating parameter (else buffer); float32 for neither."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def logits_of(output: Any, key: str = DEFAULT_OUTPUT) -> torch.Tensor:
    """The logits inside a model's output: the tensor itself, a tuple's or list's first element,
    a dict's entry `key`, or an object's `.logits`; a `ModelError` for anything else."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        if not output:
            raise ModelError("the model returns an empty tuple; probes need logits as its first element")
        return logits_of(output[0], key)
    if isinstance(output, dict):
        if key not in output:
            raise ModelError(f"the model returns a dict without the entry '{key}' (entries: "
                             f"{', '.join(map(str, output)) or 'none'}); name the logits with --output KEY (output=)")
        return logits_of(output[key], key)
    if isinstance(getattr(output, key, None), torch.Tensor):
        return getattr(output, key)
    raise ModelError(f"the model must return logits (a tensor, a tuple, a dict or an object with .{key}), "
                     f"got {type(output).__name__}")


def set_probe_info(model: nn.Module, info: dict[str, Any]) -> None:
    """Record a model's checkpoint facts (architecture, kwargs, metadata) as its `probe_info` attribute
    (through `cast`: `nn.Module.__setattr__` is typed for tensors and modules only)."""
    cast(Any, model).probe_info = info


class Classifier(nn.Module):
    """`model` seen as float32 pixels → float32 logits (N, K); see the module docstring."""

    def __init__(self, model: nn.Module, output: str = DEFAULT_OUTPUT) -> None:
        super().__init__()
        self.model = model
        self.output = output

    @property
    def probe_info(self) -> dict:
        """The wrapped model's checkpoint facts (architecture, kwargs, metadata)."""
        return getattr(self.model, "probe_info", {})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = model_dtype(self.model)
        logits = logits_of(self.model(x.to(dtype) if x.is_floating_point() else x), self.output)
        return logits.float()


def classifier(model: nn.Module, output: str | None = None) -> Classifier:
    """`model` wrapped in `Classifier` (reading the logits from `output`, default 'logits');
    a `Classifier` is returned as it is, unless another `output` is asked for."""
    if isinstance(model, Classifier):
        if output is None or output == model.output:
            return model
        model = model.model
    return Classifier(model, output or DEFAULT_OUTPUT)


def unwrap(model: nn.Module) -> nn.Module:
    """The user's model inside a `Classifier` (its weights are what a result names)."""
    return model.model if isinstance(model, Classifier) else model
