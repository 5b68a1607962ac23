"""Chunked, resumable execution of a probe over dataset samples.

A probe supplies `compute(indices) -> xarray.Dataset` (with a `sample` dimension whose
coordinate is `indices`).  The runner calls it chunk by chunk, rewrites `out` atomically
with everything finished so far, and on `resume=True` skips the chunks already in `out`.
Chunks are always cut from the full index list at the same places, so a resumed run gives
the result of an uninterrupted one as long as `compute` depends only on its indices.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np
import xarray as xr

from probe import results
from probe.errors import ParameterError

DIM = "sample"


def _concat(parts: list[xr.Dataset]) -> xr.Dataset:
    return xr.concat(parts, dim=DIM, data_vars="minimal", coords="minimal", compat="override",
                     join="outer", combine_attrs="override")


def run_chunked(compute: Callable[[np.ndarray], xr.Dataset], indices: np.ndarray, attrs: dict, *,
                chunk_size: int, out: str | Path | None = None, resume: bool = False,
                progress: Callable[[int], None] | None = None) -> xr.Dataset:
    """Run `compute` over `indices` in chunks of `chunk_size`; return the combined result.

    `attrs` are the provenance attributes (see `probe.results.provenance`).  With `out`,
    the partial result is saved after each chunk (attribute `complete` false until the end).
    `progress(k)` is called with the number of samples finished in each chunk.
    """
    indices = np.asarray(indices, dtype=np.int64)
    if chunk_size <= 0:
        raise ParameterError(f"chunk size must be positive, got {chunk_size}")
    chunks = [indices[i:i + chunk_size] for i in range(0, len(indices), chunk_size)]
    parts: list[xr.Dataset] = []
    previous_elapsed = 0.0
    if resume and out is not None and Path(out).exists():
        done = results.load(out)
        if done.attrs.get("probe") != attrs.get("probe") or done.attrs.get("parameters") != attrs.get("parameters"):
            raise ParameterError(f"--resume: {out} was written by a run with different parameters; "
                                 f"remove it or run without --resume")
        finished = set(done[DIM].values.tolist())
        if not finished <= set(indices.tolist()):
            raise ParameterError(f"--resume: {out} holds samples that this run does not select (different --n or --seed?)")
        parts.append(done)
        previous_elapsed = float(done.attrs.get("elapsed_seconds", 0.0))
        if progress is not None:
            progress(len(finished))
        chunks = [chunk for chunk in chunks if not set(chunk.tolist()) <= finished]
    start = time.perf_counter()
    combined = parts[0] if parts else None
    for chunk in chunks:
        parts.append(compute(chunk))
        combined = _concat(parts) if len(parts) > 1 else parts[0]
        parts = [combined]
        if out is not None:
            combined.attrs = dict(attrs, complete=False,
                                  elapsed_seconds=previous_elapsed + time.perf_counter() - start)
            results.save(combined, out)
        if progress is not None:
            progress(len(chunk))
    if combined is None:
        raise ParameterError("no samples to process")
    combined = combined.sel({DIM: indices})
    combined.attrs = dict(attrs, complete=True, elapsed_seconds=previous_elapsed + time.perf_counter() - start)
    if out is not None:
        results.save(combined, out)
    return combined
