"""Fold the shard files of one run (`--shard I/N`) into the result a single run would have written.

    ds = probe.merge.merge([results.load(p) for p in shard_paths])    # or: python -m probe.merge OUT.nc SHARD...

Every shard must come from the same run (probe, options, seed, model weights, data, samples
and chunk size) and the shards must be 0..N−1 of one N, each once; anything else is refused.
The chunks are put back in their order and the probe's `finalize` adds its summaries.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import xarray as xr

from probe import registry, results, runner
from probe.errors import ParameterError

SHARD_ATTRIBUTES = ("shard", "shard_chunks", "samples_sha256", "chunk_size")


def _identity(ds: xr.Dataset) -> dict:
    keys = set(runner.IDENTITY_WORDS) - {"shard"}
    return {k: v for k, v in ds.attrs.items() if k in keys or k.startswith(results.PARAMETER_PREFIX)}


def merge(shards: Sequence[xr.Dataset]) -> xr.Dataset:
    """The result of the whole run from its shards (see the module docstring)."""
    if not shards:
        raise ParameterError("nothing to merge: give the shard files")
    for number, ds in enumerate(shards):
        if "shard" not in ds.attrs:
            raise ParameterError(f"file {number + 1} is not a shard (it was not made with --shard I/N)")
    first = _identity(shards[0])
    for number, ds in enumerate(shards[1:], start=2):
        other = _identity(ds)
        differing = sorted(k for k in set(first) | set(other) if first.get(k) != other.get(k))
        if differing:
            words = ", ".join(runner.IDENTITY_WORDS.get(k, k) for k in differing[:3])
            raise ParameterError(f"shard file {number} comes from another run than the first ({words} differ)")
    positions = [tuple(int(v) for v in ds.attrs["shard"].split("/")) for ds in shards]
    counts = {count for _, count in positions}
    if len(counts) != 1 or sorted(i for i, _ in positions) != list(range(counts.pop())):
        raise ParameterError(f"the shards must be 0..N-1 of one N, each once; "
                             f"got {', '.join(ds.attrs['shard'] for ds in shards)}")
    size, total = int(shards[0].attrs["chunk_size"]), int(shards[0].attrs["samples"])
    chunks: dict[int, xr.Dataset] = {}
    for ds in shards:
        start = 0
        for number in ds.attrs["shard_chunks"]:
            length = min(size, total - number * size)
            chunks[int(number)] = ds.isel({runner.DIM: slice(start, start + length)})
            chunks[int(number)].attrs = {}   # the run's attributes come from shard 0 below
            start += length
    if sorted(chunks) != list(range(math.ceil(total / size))):
        raise ParameterError("the shards do not hold every chunk of the run")
    attrs = {k: v for k, v in shards[0].attrs.items() if k not in SHARD_ATTRIBUTES + ("complete", "elapsed_seconds")}
    elapsed = sum(float(ds.attrs.get("elapsed_seconds", 0.0)) for ds in shards)
    parts = [chunks[number].assign_attrs(elapsed_seconds=elapsed if number == 0 else 0.0) for number in sorted(chunks)]
    finalize = getattr(registry.entry(attrs["probe"]).load(), "finalize", None)
    return runner.fold(parts, attrs, finalize, None)
