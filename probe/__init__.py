"""probe: diagnostics of the decision boundary of trained image classifiers.

Every probe has the same call (see `probe.registry` for the list):

    ds = probe.margins.run(model, data, n=500, seed=0, out="margins.nc", **options)
    probe.margins.summary(ds)

`model` is any `torch.nn.Module` mapping images in [0, 1] of shape (N, C, H, W) to logits;
results are `xarray.Dataset`s (see `probe.results`).  Sub-modules are imported on first use.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from probe.errors import CheckpointError, DataError, ModelError, ParameterError, ProbeError, ResumeError, ShapeError

__version__ = "0.2.0"

__all__ = ["CheckpointError", "DataError", "ModelError", "ParameterError", "ProbeError", "ResumeError",
           "ShapeError", "__version__"]


def __getattr__(name: str) -> ModuleType:
    """`probe.margins`, `probe.data`, ... are imported when first used."""
    try:
        module = importlib.import_module(f"probe.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"probe.{name}":
            raise
        raise AttributeError(f"module 'probe' has no attribute '{name}'") from None
    globals()[name] = module
    return module
