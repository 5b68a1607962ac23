"""Working batches that fit a memory budget, and what to do when they still do not.

The memory of one row of a probe's working batch is about `row_cost × activations(one image)`:
the activations of one forward pass, times how many activation-sized tensors the probe keeps
per row.  Measured peaks (extra resident memory per row over the activations of one image):
a forward pass without gradients ≤ 1; a DeepFool step with 10 candidates (one forward and one
batched backward over the 9 cotangents) 3.1 on a CIFAR-style ResNet-18 at 224×224 and 2.9 on
a ResNet-50, hence `DEEPFOOL_ROW_COST`; a Hessian-vector product (double backward) about 4.
`activation_bytes` measures the activations once per run with forward hooks (TorchScript modules
take none: there the tensors every operator of one forward pass creates are counted instead);
`working_batch` turns a budget into rows.  The budget is the free CUDA memory of the device, or
`max_memory` (default 2 GiB on CPU and MPS, where free memory cannot be read reliably).  An
out-of-memory error during a chunk is caught by the runner, which halves the working batch and
runs the chunk again (`is_out_of_memory`).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from probe.errors import ParameterError
from probe.params import eval_mode

GIB = 2 ** 30
DEEPFOOL_ROW_COST = 3.5     # measured 2.9–3.1 (see above), with a margin
DEFAULT_CPU_BUDGET = 2 * GIB
CUDA_FREE_FRACTION = 0.8   # of the free CUDA memory: the rest for the allocator's fragmentation
UNITS = {"k": 2 ** 10, "m": 2 ** 20, "g": 2 ** 30, "t": 2 ** 40}


def parse_size(text: str | int | float) -> int:
    """'2G', '512M', '1.5g', '300000000' → bytes."""
    if isinstance(text, (int, float)):
        size = float(text)
    else:
        body = str(text).strip().lower().removesuffix("ib").removesuffix("b")
        scale = UNITS.get(body[-1:], 1)
        try:
            size = float(body[:-1] if body[-1:] in UNITS else body) * scale
        except ValueError:
            raise ParameterError(f"a memory size is a number of bytes with an optional K/M/G/T, got '{text}'") from None
    if not (math.isfinite(size) and size > 0):
        raise ParameterError(f"a memory size must be a positive finite number of bytes, got '{text}'")
    return int(size)


def budget(device: torch.device, max_memory: str | int | float | None = None) -> int:
    """Bytes a probe's working batch may use on `device`: `max_memory` if given (capped by the
    free CUDA memory on CUDA), else 80 % of the free CUDA memory, else 2 GiB."""
    limit = parse_size(max_memory) if max_memory is not None else None
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        available = int(CUDA_FREE_FRACTION * free)
        return min(limit, available) if limit is not None else available
    return limit if limit is not None else DEFAULT_CPU_BUDGET


@torch.no_grad()
def activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of every module output (the activations a backward pass keeps) for the images `x`,
    per image: one forward pass in eval mode with hooks on the leaf modules, or, for a model holding
    TorchScript modules (which take no hooks), counting the tensors every operator of the
    forward pass creates (`operator_output_bytes`).  `measure(model)` names the method used."""
    if _scripted(model):
        with eval_mode(model):
            return max(operator_output_bytes(model, x), x.numel() * x.element_size()) // max(len(x), 1)
    total = 0

    def count(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        nonlocal total
        for tensor in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(tensor, torch.Tensor):
                total += tensor.numel() * tensor.element_size()

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(count) for m in leaves]
    try:
        with eval_mode(model):
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    input_bytes = x.numel() * x.element_size()
    return max(total, input_bytes) // max(len(x), 1)


def _scripted(model: nn.Module) -> bool:
    return any(isinstance(m, torch.jit.ScriptModule) for m in model.modules())


HOOKS = "forward hooks on the leaf modules"
OPERATORS = "tensors created by the operators of one forward pass (TorchScript: no module hooks)"


def measure(model: nn.Module) -> str:
    """How `activation_bytes` measures `model` (recorded in results as `memory_measure`)."""
    return OPERATORS if _scripted(model) else HOOKS


class _OutputBytes(TorchDispatchMode):
    """Sums the bytes of every tensor an operator returns that is not a view of its inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func: Callable[..., Any], types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        given = {t.untyped_storage().data_ptr() for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
        for tensor in tree_leaves(out):
            if isinstance(tensor, torch.Tensor) and tensor.untyped_storage().data_ptr() not in given:
                self.total += tensor.numel() * tensor.element_size()
        return out


@torch.no_grad()
def operator_output_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the tensors the operators of `model(x)` create (views excluded), at the
    dispatcher, so TorchScript modules are counted too: an upper bound of the activations
    that module hooks see (1.2–1.3 × on LeNet and ResNet-18)."""
    counter = _OutputBytes()
    with counter:
        model(x)
    return counter.total


def working_batch(budget_bytes: int, row_bytes: float, cap: int) -> int:
    """Rows of a working batch within `budget_bytes` (at least 1, at most `cap`)."""
    return int(max(1, min(cap, budget_bytes // max(row_bytes, 1))))


def is_out_of_memory(error: BaseException) -> bool:
    """Whether `error` is an allocator's out-of-memory failure (CUDA, MPS or CPU)."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    message = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in message or "can't allocate memory" in message)
