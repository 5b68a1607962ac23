"""The execution contract: the keyword options every probe's `run` shares, declared once.

A probe's `run(model, data, *, <its own options>, **execution)` takes its own options by name
and these shared ones through `**execution: Unpack[Execution]`, which it hands to the runner
(`probe.runner.run`), the only code that acts on them: it selects the samples, resolves the
data and the device, sizes the working batch from the memory budget, stores chunks and resumes.

    probe.margins.run(model, data, max_iter=50, n=32, seed=0, out="margins.nc")

`DEFAULTS` holds the value each field takes when it is not given; the command lines take their
defaults from it (`probe.commands.common`), so the two cannot drift.  A probe that does not use
a field (a single-chunk probe has no `shard`) names it in `check(..., excluded=...)`, and
passing it is an error, as is any keyword that is neither the probe's own nor a field here.
"""
from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypedDict, cast

import numpy as np
import torch

from probe.errors import ParameterError

if sys.version_info >= (3, 11):
    from typing import Unpack
else:   # pragma: no cover - Python 3.10
    from typing_extensions import Unpack

__all__ = ["DEFAULTS", "PER_SAMPLE", "Execution", "Unpack", "check", "complete", "fields"]


class Execution(TypedDict, total=False):
    """The shared keyword options of every probe's `run` (each optional; defaults in `DEFAULTS`)."""

    n: int | None
    """How many samples, a seeded subset of that size sorted by dataset index
    (default None: every sample, or exactly `indices`)."""
    indices: Collection[int] | np.ndarray | None
    """The dataset indices to measure, distinct, in this order; with `n` too, `n` must equal their
    number (default None: chosen by `n` and `seed`)."""
    seed: int
    """Seed of every random draw of the run, the sample subset's and the probe's own (noise,
    directions, random subspaces), an integer in [0, 2**63) (default 0)."""
    device: torch.device | str | None
    """Where the model and the data go
    (default None: the model's own device), e.g. 'cpu', 'cuda:1'."""
    batch_size: int | None
    """Cap on the working batch of the computation, a positive integer; the memory budget may lower
    it, never the result (default None: the probe's own working batch)."""
    out: str | os.PathLike | None
    """The result file (.nc), its finished chunks stored beside it in `OUT.parts/` and folded into
    it at the end (default None: the result is only returned)."""
    resume: bool
    """Continue an interrupted run of the same probe, options, model, data and samples from `out`
    (default False: start afresh)."""
    progress: Any
    """True (a progress bar on stderr), False/None (silent), a callable receiving the samples' worth
    of work done, or a `probe.progress` sink (default None)."""
    max_memory: str | int | None
    """Memory the working batch may use, bytes or a size such as '2G' (`probe.memory.parse_size`)
    (default None: 80 % of the free CUDA memory, 2 GiB on a CPU)."""
    shard: str | tuple[int, int] | None
    """Compute only the chunks c with c mod N = I into `out`, given as 'I/N' or (I, N)
    (default None: every chunk); a shard for `probe.merge` (job arrays)."""


DEFAULTS: dict[str, Any] = {"n": None, "indices": None, "seed": 0, "device": None, "batch_size": None, "out": None,
                            "resume": False, "progress": None, "max_memory": None, "shard": None}


PER_SAMPLE = ("n", "indices", "batch_size", "resume", "progress", "max_memory", "shard")
"""The fields a probe without dataset samples (one computation, `probe.runner.run_once`) does not take."""


def fields() -> tuple[str, ...]:
    """The fields of `Execution`, in declaration order."""
    return tuple(Execution.__annotations__)


def check(run: Callable[..., Any], given: Mapping[str, Any], excluded: Collection[str] = ()) -> Execution:
    """The execution keywords `given` to `run`, every field it takes filled with its default.

    A keyword that is neither a field of `Execution` (less `excluded`, the fields `run` does not
    take) nor one of `run`'s own options is a `ParameterError` naming the known ones."""
    taken = [name for name in fields() if name not in excluded]
    unknown = [name for name in given if name not in taken]
    if unknown:
        own = [name for name, parameter in inspect.signature(run).parameters.items()
               if parameter.kind is inspect.Parameter.KEYWORD_ONLY]
        where = f"{run.__module__}.{run.__name__}"
        raise ParameterError(f"{where} got unknown option{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(map(repr, unknown))} (known: {', '.join(own + taken)})")
    return cast(Execution, {name: given.get(name, DEFAULTS[name]) for name in taken})


def complete(given: Mapping[str, Any]) -> dict[str, Any]:
    """Every field of `Execution`: `given`, else its default."""
    return {name: given.get(name, DEFAULTS[name]) for name in fields()}
