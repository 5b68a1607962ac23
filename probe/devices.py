"""The device a command runs on, from its `--device` text (`auto`, `cpu`, `cuda[:N]`, `mps`).

Below the command layer so that scripts choosing a device the way the commands do need not
import the command layer.
"""
from __future__ import annotations

import torch

from probe.errors import ParameterError


def resolve_device(spec: str = "auto") -> torch.device:
    """`auto` picks CUDA, then MPS, then CPU; anything else must be available."""
    mps = getattr(torch.backends, "mps", None)
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ParameterError(f"unknown device '{spec}'") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise ParameterError(f"--device {spec}: probes run on auto, cpu, cuda[:N] or mps")
    if device.type == "cpu" and device.index not in (None, 0):
        raise ParameterError(f"--device {spec}: there is one CPU device (cpu)")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError("--device cuda requested but CUDA is not available")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ParameterError(f"--device {spec}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not (mps is not None and mps.is_available()):
        raise ParameterError("--device mps requested but MPS is not available")
    return device
