"""Paired comparison of two results of one probe on the same samples.

    delta = probe.compare.compare(a, b)           # a, b: results (xr.Dataset) or paths to them
    delta["correct_difference"]                   # per cell: a − b, with _low, _high, _p, _p_holm

For every per-sample quantity both results hold, and every cell (band, corruption and
severity, norm and strength, ...), the difference a − b with its interval and a two-sided
p-value of the paired test:

- per-sample outcomes (correct, fooled): the difference of the shares in percentage points,
  a paired percentile bootstrap interval over samples (Efron & Tibshirani 1993) and the exact
  McNemar test on the discordant pairs (McNemar 1947);
- per-sample values (margins, pixel counts, distances): the median of the paired differences
  with its order-statistic interval (Hahn & Meeker 1991) and the Wilcoxon signed-rank test
  (Wilcoxon 1945).  +inf (not converged) ranks above every finite value: a pair with one +inf
  differs by ±inf, a pair with +inf on both sides is a tie (difference 0, dropped by the test).

The p-values are adjusted with Holm's step-down procedure across all cells of the comparison
(Holm 1979).  Results of different probes, data or samples are refused.
"""
from __future__ import annotations

import os
from typing import cast

import numpy as np
import xarray as xr

from probe import results, stats
from probe.errors import ParameterError
from probe.results import variable

OUTCOMES = ("correct", "clean_correct", "fooled", "imperceptible_correct", "noise_correct", "transfer_correct",
            "reconstruction_correct", "deepfool_converged")
VALUES = ("margin", "margin_refined", "perturbed_coordinates", "perturbed_pixel_fraction", "l2", "deepfool_l2")
SAMPLE = "sample"
IDENTITY = ("probe", "data", "split", "data_size")


def _load(result: xr.Dataset | str | os.PathLike) -> xr.Dataset:
    return result if isinstance(result, xr.Dataset) else results.load(result)


def check_comparable(a: xr.Dataset, b: xr.Dataset) -> None:
    """Refuse (one line) results of different probes or data, or on different samples."""
    for key in IDENTITY:
        if a.attrs.get(key) != b.attrs.get(key):
            raise ParameterError(f"the results differ in {key} ({a.attrs.get(key)} vs {b.attrs.get(key)}): "
                                 "a paired comparison needs the same probe, data and samples")
    if SAMPLE not in a.dims or SAMPLE not in b.dims:
        raise ParameterError(f"results of probe '{a.attrs.get('probe')}' hold no per-sample values to compare")
    first, second = a[SAMPLE].values, b[SAMPLE].values
    if len(first) != len(second) or set(first.tolist()) != set(second.tolist()):
        shared = len(np.intersect1d(first, second))
        raise ParameterError(f"the results are on different samples ({len(first)} and {len(second)}, {shared} shared): "
                             "run both with the same --n and --seed (or the same indices)")


def _cells(values: np.ndarray) -> np.ndarray:
    """(samples, cells): a per-sample array with the sample axis first, other axes flattened."""
    return values.reshape(len(values), -1)


def _outcomes(a: np.ndarray, b: np.ndarray, confidence: float) -> dict[str, np.ndarray]:
    a, b = _cells(a).astype(bool), _cells(b).astype(bool)
    low, high = stats.bootstrap(lambda counts: 100.0 * (stats.weighted_share(counts, a)
                                                       - stats.weighted_share(counts, b)), len(a), confidence)
    return {"a": 100.0 * a.mean(axis=0), "b": 100.0 * b.mean(axis=0),
            "difference": 100.0 * (a.mean(axis=0) - b.mean(axis=0)), "low": low, "high": high,
            "p": np.array([stats.mcnemar(a[:, j], b[:, j]) for j in range(a.shape[1])])}


def _values(a: np.ndarray, b: np.ndarray, confidence: float) -> dict[str, np.ndarray]:
    a, b = _cells(a).astype(np.float64), _cells(b).astype(np.float64)
    d = stats.paired_differences(a, b)
    medians = [stats.median(d[:, j], confidence) for j in range(d.shape[1])]
    return {"a": np.median(a, axis=0), "b": np.median(b, axis=0),
            "difference": np.array([m.value for m in medians]), "low": np.array([m.low for m in medians]),
            "high": np.array([m.high for m in medians]),
            "p": np.array([stats.signed_rank(d[:, j]) for j in range(d.shape[1])])}


def compare(a: xr.Dataset | str | os.PathLike, b: xr.Dataset | str | os.PathLike,
            confidence: float = stats.CONFIDENCE) -> xr.Dataset:
    """The paired comparison of results `a` and `b` (datasets or paths) of one probe on the same
    samples: per quantity V and cell, `V_a`, `V_b` (share in % or median), `V_difference` (a − b),
    `V_difference_low` / `_high` at `confidence`, `V_p` and the Holm-adjusted `V_p_holm`."""
    stats.check_confidence(confidence)
    return _compare(_load(a), _load(b), confidence)


def _compare(a: xr.Dataset, b: xr.Dataset, confidence: float) -> xr.Dataset:
    """`compare` of two loaded results."""
    check_comparable(a, b)
    b = b.sel({SAMPLE: a[SAMPLE].values})
    found: dict[str, tuple[xr.DataArray, dict[str, np.ndarray], bool]] = {}
    for quantities, paired in ((OUTCOMES, _outcomes), (VALUES, _values)):
        for name in quantities:
            if name in a and name in b and SAMPLE in a[name].dims:
                first = a[name].transpose(SAMPLE, ...)
                found[name] = (first, paired(first.values, b[name].transpose(*first.dims).values, confidence),
                               paired is _outcomes)
    if not found:
        raise ParameterError(f"results of probe '{a.attrs.get('probe')}' hold no per-sample outcome or value "
                             "to compare")
    adjusted = stats.holm(np.concatenate([numbers["p"] for _, numbers, _ in found.values()]))
    names = [str(ds.attrs.get("model", label)) for ds, label in ((a, "a"), (b, "b"))]
    if names[0] == names[1]:   # the same architecture: tell them apart by their weights
        names = [f"{name} {str(ds.attrs.get('model_sha256', ''))[:6]}".strip() for name, ds in zip(names, (a, b))]
    out = xr.Dataset(attrs={"probe": a.attrs.get("probe"), "samples": int(a.sizes[SAMPLE]),
                            "confidence": confidence, "model_a": names[0], "model_b": names[1],
                            "model_a_sha256": str(a.attrs.get("model_sha256", "")),
                            "model_b_sha256": str(b.attrs.get("model_sha256", "")),
                            "data": str(a.attrs.get("data", "")), "seed": a.attrs.get("seed", -1),
                            "compared": list(found)})
    start = 0
    for name, (first, numbers, outcome) in found.items():
        dims = cast("tuple[str, ...]", first.dims[1:])   # results name their dimensions by strings
        shape = tuple(first.sizes[d] for d in dims)
        unit = "percentage points" if outcome else first.attrs.get("units", "")
        test = "exact McNemar" if outcome else "Wilcoxon signed-rank (+inf ranked last; inf − inf a tie)"
        what = "share (%)" if outcome else "median"
        difference = "difference of the shares" if outcome else "median paired difference"
        level = f"{100 * confidence:g}%"
        coords = {d: first[d].values for d in dims if d in first.coords}
        piece = {
            f"{name}_a": variable(dims, numbers["a"].reshape(shape), f"{what} of {name}, result a",
                                  "%" if outcome else unit),
            f"{name}_b": variable(dims, numbers["b"].reshape(shape), f"{what} of {name}, result b",
                                  "%" if outcome else unit),
            f"{name}_difference": variable(dims, numbers["difference"].reshape(shape),
                                           f"a − b: {difference} of {name}", unit),
            f"{name}_difference_low": variable(dims, np.asarray(numbers["low"]).reshape(shape),
                                               f"lower end of the {level} interval of the difference", unit),
            f"{name}_difference_high": variable(dims, np.asarray(numbers["high"]).reshape(shape),
                                                f"upper end of the {level} interval of the difference", unit),
            f"{name}_p": variable(dims, numbers["p"].reshape(shape), f"two-sided p-value, {test}"),
            f"{name}_p_holm": variable(dims, adjusted[start:start + numbers["p"].size].reshape(shape),
                                       "p-value adjusted by Holm across every cell of the comparison"),
        }
        start += numbers["p"].size
        out = out.merge(xr.Dataset(piece, coords=coords))
    return out


def rows(delta: xr.Dataset) -> list[tuple[str, str, int]]:
    """(quantity, cell label, flat index) of every compared cell, in order."""
    found = []
    for name in np.atleast_1d(delta.attrs["compared"]).tolist():
        field = delta[f"{name}_difference"]
        labels = [", ".join(f"{d}={field[d].values[i]}" if d in field.coords else f"{d}={i}"
                            for d, i in zip(field.dims, index)) for index in np.ndindex(field.shape)]
        found += [(name, label, k) for k, label in enumerate(labels)]
    return found


__all__ = ["OUTCOMES", "VALUES", "check_comparable", "compare", "rows"]
