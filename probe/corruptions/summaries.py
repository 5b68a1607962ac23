"""Summaries of a corruption-probe result: accuracy per cell, clean accuracy, the mCE variants.

Accuracies count only the samples whose logits were finite (the `finite` and `clean_finite`
flags); a cell with none gets 0 %.  The CIFAR-style mCE is always there; the ImageNet-style
and relative mCE need a reference (`reference`): the built-in AlexNet table, or another
result of this probe.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from probe import results
from probe.corruptions import mce as mce_lib
from probe.corruptions.registry import CORRUPTIONS
from probe.errors import DataError, ParameterError
from probe.evaluate import accuracy_over_finite
from probe.results import variable

PROBE = "corruptions"
ALL_SEVERITIES = [1, 2, 3, 4, 5]
SUMMARY = ("accuracy", "clean_accuracy", "corruption_accuracy", "mce", "ce", "relative_ce", "imagenet_mce",
           "relative_mce", "reference_corruption")


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
        ds["imagenet_mce"] = variable((), mce_lib.mean_ce(ce), f"mCE normalised by {name}", "%")
        ds["relative_mce"] = variable((), mce_lib.mean_ce(relative), f"relative mCE normalised by {name}", "%")
        ds.attrs["mce_reference"] = name
    return ds


def _reference(reference: str | Path | None, family: str, ds: xr.Dataset):
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


def summary(ds: xr.Dataset) -> dict[str, float | int]:
    """Clean and corruption accuracy (%, over finite logits), CIFAR-style mCE, the reference-
    normalised mCE when present, and the counts of samples and of non-finite evaluations
    (`non_finite`: samples whose clean logits are not finite; `non_finite_cells`: (corruption,
    severity, sample) cells whose logits are not finite)."""
    numbers: dict[str, float | int] = {
        "samples": int(ds.sizes["sample"]),
        "clean_accuracy": float(ds["clean_accuracy"]),
        "corruption_accuracy": float(ds["corruption_accuracy"]),
        "mce": float(ds["mce"]),
    }
    if "imagenet_mce" in ds:
        numbers.update(imagenet_mce=float(ds["imagenet_mce"]), relative_mce=float(ds["relative_mce"]))
    numbers["non_finite"] = int((~ds["clean_finite"].values).sum())
    numbers["non_finite_cells"] = int((~ds["finite"].values).sum())
    return numbers
