"""Errors a user can fix.  The command line prints them as one `error: ...` line, exit 2.

Anything that is not a `ProbeError` is a bug and keeps its traceback.
"""


class ProbeError(Exception):
    """Base class of every error caused by input the user can correct."""


class DataError(ProbeError):
    """A dataset is missing, unknown, truncated or malformed."""


class CheckpointError(ProbeError):
    """A checkpoint is missing, untrusted, or does not match its architecture."""


class ModelError(ProbeError):
    """A model's outputs break the model contract (logits (N, K), K ≥ 2, finite)."""


class ShapeError(ProbeError):
    """Images do not have the shape or channel count the model expects."""


class ParameterError(ProbeError):
    """A parameter is out of range or malformed."""


class ResumeError(ProbeError):
    """`resume=True` found a saved run that is not the same run."""


class ProbeWarning(UserWarning):
    """Something the user should look at that does not stop the run (the command prints it as
    one `warning: ...` line)."""
