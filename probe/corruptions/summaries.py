"""Summaries of a corruption-probe result: accuracy per cell, clean accuracy, the mCE variants.

Accuracies count only the samples whose logits were finite (the `finite` and `clean_finite`
flags); a cell with none gets 0 %.  The CIFAR-style mCE is always there; the ImageNet-style
and relative mCE need a reference (`reference`): the built-in AlexNet table, or another
result of this probe.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from probe import results, stats
from probe.corruptions import mce as mce_lib
from probe.corruptions.registry import CORRUPTIONS
from probe.errors import DataError, ParameterError
from probe.logits import accuracy_over_finite
from probe.results import variable

PROBE = "corruptions"
ALL_SEVERITIES = [1, 2, 3, 4, 5]
SUMMARY = ("accuracy", "clean_accuracy", "corruption_accuracy", "mce", "ce", "relative_ce", "imagenet_mce",
           "relative_mce", "reference_error", "reference_relative_error", "reference_corruption")


def check_reference(reference: str | Path, severities: list[int]) -> None:
    """Refuse, before any work, a reference that cannot normalise these severities."""
    spec = str(reference)
    if spec in ("auto", "none"):
        return
    if spec == "alexnet":
        if severities != ALL_SEVERITIES:
            raise ParameterError("reference alexnet needs all five severities (the table holds means over 1..5)")
    elif not Path(spec).is_file():
        raise ParameterError(f"reference must be alexnet, none, auto or a result file of this probe; "
                             f"no such file: {spec}")


def summarize(ds: xr.Dataset, reference: str | Path | None = "auto", family: str | None = None) -> xr.Dataset:
    """Add accuracy per cell, clean accuracy, corruption accuracy, CIFAR-style mCE and, with a
    reference, ImageNet-style and relative mCE.  `reference`: 'alexnet', 'none', 'auto'
    (AlexNet for ImageNet parameters) or a path to another result of this probe; `family`: the
    parameter table used (default: the one the result records)."""
    family = family or ds.attrs.get(results.PARAMETER_PREFIX + "params_family", "cifar")
    ds = ds.drop_vars([name for name in SUMMARY if name in ds.variables])
    ds.attrs = {k: v for k, v in ds.attrs.items() if k != "mce_reference"}
    correct, finite = ds["correct"].values, ds["finite"].values
    cells = np.array([[accuracy_over_finite(correct[i, j], finite[i, j]) for j in range(correct.shape[1])]
                      for i in range(correct.shape[0])])
    ds["accuracy"] = variable(("corruption", "severity"), cells, "accuracy on corrupted images", "%")
    accuracy = ds["accuracy"]
    ds["clean_accuracy"] = variable((), accuracy_over_finite(ds["clean_correct"].values, ds["clean_finite"].values),
                                    "accuracy on clean images", "%")
    corruptions = ds["corruption"].values.tolist()
    benchmark = [c for c in corruptions if c in CORRUPTIONS] or corruptions
    ds["corruption_accuracy"] = variable((), float(accuracy.sel(corruption=benchmark).mean()),
                                         "mean accuracy over the benchmark cells", "%")
    ds["mce"] = variable((), mce_lib.cifar_mce(accuracy.sel(corruption=benchmark).values),
                         "CIFAR-style mCE: 100 − mean accuracy over the benchmark cells", "%")
    ds.attrs["mce_corruptions"] = benchmark
    found = _reference(reference, family, ds)
    if found is not None:
        name, errors_ref, clean_ref = found
        errors = {c: 100.0 - accuracy.sel(corruption=c).values for c in benchmark if c in errors_ref}
        ce = mce_lib.corruption_errors(errors, errors_ref)
        relative = mce_lib.relative_corruption_errors(errors, 100.0 - float(ds["clean_accuracy"]), errors_ref,
                                                      clean_ref)
        ds = ds.assign_coords(reference_corruption=list(ce))
        ds["ce"] = variable("reference_corruption", list(ce.values()), f"corruption error normalised by {name}", "%")
        ds["relative_ce"] = variable("reference_corruption", list(relative.values()),
                                     f"relative corruption error normalised by {name}", "%")
        severity_count = len(ds["severity"])
        reference_error = [float(np.sum(np.broadcast_to(errors_ref[c], severity_count))) for c in ce]
        ds["reference_error"] = variable("reference_corruption", reference_error,
                                         f"{name}'s errors summed over the severities (CE denominator)", "%")
        ds["reference_relative_error"] = variable("reference_corruption",
                                                  [e - severity_count * clean_ref for e in reference_error],
                                                  f"{name}'s errors less its clean error, summed over the severities "
                                                  "(relative CE denominator)", "%")
        ds["imagenet_mce"] = variable((), mce_lib.mean_ce(ce), f"mCE normalised by {name}", "%")
        ds["relative_mce"] = variable((), mce_lib.mean_ce(relative), f"relative mCE normalised by {name}", "%")
        ds.attrs["mce_reference"] = name
    return ds


def _reference(reference: str | Path | None, family: str,
               ds: xr.Dataset) -> tuple[str, dict[str, Any], float] | None:
    """(name, per-corruption reference errors in %, reference clean error in %) or None."""
    spec = "none" if reference is None else str(reference)
    severities = ds["severity"].values.tolist()
    if spec == "auto":
        if family != "imagenet" or severities != ALL_SEVERITIES:
            return None
        spec = "alexnet"
    if spec == "none":
        return None
    check_reference(spec, severities)
    if spec == "alexnet":
        errors, clean = mce_lib.alexnet_reference()
        return "AlexNet", errors, clean
    other = results.load(spec)
    if other.attrs.get("probe") != PROBE or "accuracy" not in other:
        raise DataError(f"reference {spec}: not a result of the corruption probe")
    missing = set(severities) - set(other["severity"].values.tolist())
    if missing:
        raise ParameterError(f"reference {spec}: lacks severities {sorted(missing)}")
    other_errors = 100.0 - other["accuracy"].sel(severity=severities)
    errors = {c: other_errors.sel(corruption=c).values for c in other["corruption"].values.tolist()}
    return str(other.attrs.get("model", spec)), errors, 100.0 - float(other["clean_accuracy"])


def derived(ds: xr.Dataset, counts: np.ndarray) -> np.ndarray:
    """Per bootstrap replicate (rows of resampling `counts`, see `probe.stats.bootstrap`): the
    corruption accuracy, CIFAR-style mCE and, with a reference, ImageNet-style and relative mCE
    (%), as in `summarize`; shape (replicates, 2 or 4)."""
    correct, finite = np.moveaxis(ds["correct"].values, -1, 0), np.moveaxis(ds["finite"].values, -1, 0)
    accuracy = 100.0 * stats.weighted_share(counts, correct, finite)           # (replicates, corruption, severity)
    corruptions = ds["corruption"].values.tolist()
    benchmark = [corruptions.index(c) for c in np.atleast_1d(ds.attrs["mce_corruptions"]).tolist()]
    corruption_accuracy = accuracy[:, benchmark].reshape(len(counts), -1).mean(axis=1)
    columns = [corruption_accuracy, 100.0 - corruption_accuracy]
    if "imagenet_mce" in ds:
        chosen = [corruptions.index(c) for c in ds["reference_corruption"].values.tolist()]
        errors = 100.0 - accuracy[:, chosen]
        clean_error = 100.0 - 100.0 * stats.weighted_share(counts, ds["clean_correct"].values,
                                                           ds["clean_finite"].values)
        relative_denominator = ds["reference_relative_error"].values
        relative = np.where(relative_denominator > 0, 100.0 * (errors - clean_error[:, None, None]).sum(axis=2)
                            / np.where(relative_denominator > 0, relative_denominator, 1.0), np.inf)
        columns += [(100.0 * errors.sum(axis=2) / ds["reference_error"].values).mean(axis=1), relative.mean(axis=1)]
    return np.stack(columns, axis=1)


def summary(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> dict[str, float | int]:
    """Clean and corruption accuracy (%, over finite logits), CIFAR-style mCE, the reference-
    normalised mCE when present, and the counts of samples and of non-finite evaluations
    (`non_finite`: samples whose clean logits are not finite; `non_finite_cells`: (corruption,
    severity, sample) cells whose logits are not finite).  Each number has `_low` and `_high` at
    `confidence`: Wilson for the clean accuracy, a paired percentile bootstrap over samples for
    the others."""
    n = int(ds.sizes["sample"])
    numbers: dict[str, float | int] = {"samples": n, **stats.entries(
        "clean_accuracy", stats.percent(ds["clean_correct"].values, ds["clean_finite"].values, confidence))}
    names = ["corruption_accuracy", "mce"] + (["imagenet_mce", "relative_mce"] if "imagenet_mce" in ds else [])
    low, high = stats.bootstrap(lambda counts: derived(ds, counts), n, confidence)
    for i, name in enumerate(names):
        numbers.update(stats.entries(name, stats.Estimate(float(ds[name]), float(low[i]), float(high[i]), n)))
    numbers["non_finite"] = int((~ds["clean_finite"].values).sum())
    numbers["non_finite_cells"] = int((~ds["finite"].values).sum())
    return numbers
