"""Are two runs of the same computations identical?  Every netCDF file of one folder against the
file of the same relative path in the other: every variable and coordinate (values bit for bit,
NaN where NaN, dtype, dimensions) and every attribute, of the files and of their variables,
except those that say when, how long, with which versions or where a run happened, and the
variables that measure wall time (units of seconds).

    python -m analyses.compare_runs BEFORE AFTER     # e.g. two `python -m analyses.demo --out` folders

Prints one line per difference and exits with status 1 when there is any (0 when none).
Used to check that a refactoring changes no number of the demo.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

# attributes that differ between two runs of the same computation
IGNORED = frozenset({"created", "elapsed_seconds"})
IGNORED_SUFFIXES = ("_version", "_seconds", "_duration", "_path", "_dir")
TIME_UNITS = frozenset({"s", "ms", "seconds"})   # a variable in these units measures wall time


def ignored(key: str, value: Any) -> bool:
    """Whether attribute `key` records time, versions or places rather than the computation."""
    return key in IGNORED or key.endswith(IGNORED_SUFFIXES) or (isinstance(value, str) and value.startswith("/"))


def same_value(a: Any, b: Any) -> bool:
    """Exact equality of two attribute values (arrays element by element, NaN equal to NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def attribute_differences(where: str, a: dict, b: dict) -> Iterator[str]:
    for key in sorted(set(a) | set(b)):
        if ignored(key, a.get(key, b.get(key))):
            continue
        if key not in a or key not in b:
            yield f"{where}: attribute {key} only in {'the second' if key not in a else 'the first'}"
        elif not same_value(a[key], b[key]):
            yield f"{where}: attribute {key} differs ({str(a[key])[:60]!r} vs {str(b[key])[:60]!r})"


def dataset_differences(name: str, a: xr.Dataset, b: xr.Dataset) -> Iterator[str]:
    """One line per difference between the datasets `a` and `b` (named `name`)."""
    yield from attribute_differences(name, a.attrs, b.attrs)
    names_a, names_b = set(a.variables), set(b.variables)
    for variable in sorted(names_a ^ names_b):
        yield f"{name}: variable {variable} only in {'the first' if variable in names_a else 'the second'}"
    for variable in sorted(names_a & names_b):
        va, vb = a[variable].variable, b[variable].variable
        where = f"{name}:{variable}"
        if va.attrs.get("units") in TIME_UNITS and vb.attrs.get("units") in TIME_UNITS:
            continue
        if va.dims != vb.dims or va.shape != vb.shape or va.dtype != vb.dtype:
            yield f"{where}: dims/shape/dtype {va.dims} {va.shape} {va.dtype} vs {vb.dims} {vb.shape} {vb.dtype}"
            continue
        if not same_value(va.values, vb.values):
            if va.dtype.kind in "fc":
                differing = ~((va.values == vb.values) | (np.isnan(va.values) & np.isnan(vb.values)))
                largest = np.nanmax(np.abs(va.values - vb.values)[differing]) if differing.any() else 0.0
                yield f"{where}: {int(differing.sum())} of {va.size} values differ (largest by {largest:.3g})"
            else:
                yield f"{where}: {int((va.values != vb.values).sum())} of {va.size} values differ"
        yield from attribute_differences(where, va.attrs, vb.attrs)


def folder_differences(first: Path, second: Path) -> Iterator[str]:
    """One line per difference between the netCDF files of two folders (searched recursively)."""
    files_a = {p.relative_to(first) for p in first.rglob("*.nc") if ".nc.parts" not in str(p)}
    files_b = {p.relative_to(second) for p in second.rglob("*.nc") if ".nc.parts" not in str(p)}
    if not files_a and not files_b:
        yield f"no .nc files in {first} or {second}"
    for path in sorted(files_a ^ files_b):
        yield f"{path}: only in {first if path in files_a else second}"
    for path in sorted(files_a & files_b):
        with xr.open_dataset(first / path) as a, xr.open_dataset(second / path) as b:
            yield from dataset_differences(str(path), a.load(), b.load())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analyses.compare_runs", description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path, help="folder of the first run")
    parser.add_argument("second", type=Path, help="folder of the second run")
    args = parser.parse_args(argv)
    for folder in (args.first, args.second):
        if not folder.is_dir():
            print(f"error: {folder} is not a folder", file=sys.stderr)
            return 2
    count = 0
    for line in folder_differences(args.first, args.second):
        print(line)
        count += 1
    compared = len([p for p in args.first.rglob("*.nc") if ".nc.parts" not in str(p)])
    print(f"{compared} files compared: {'no differences' if not count else f'{count} differences'}")
    return 1 if count else 0


if __name__ == "__main__":
    sys.exit(main())
