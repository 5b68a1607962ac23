"""probe: diagnostics of the decision boundary of trained image classifiers.

Probes take any `torch.nn.Module` mapping images in [0, 1] of shape (N, C, H, W) to logits
and return `xarray.Dataset` results (see `probe.results`).
"""
from probe.errors import CheckpointError, DataError, ParameterError, ProbeError, ShapeError

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "DataError",
    "ParameterError",
    "ProbeError",
    "ShapeError",
    "__version__",
]
