"""`python -m probe.corruptions CHECKPOINT --data SPEC [--corruptions ...] [--severities 1-5]
[--params auto|cifar|imagenet] [--corrupted-dir DIR] [--bn-adapt N:n] [--reference alexnet|none|auto|RESULT.nc]`.

The probe's own options say which corruptions it applies; a released `*-C` folder given as
`--data` is one fixed test set, chosen with the shared `--data-corruption` / `--data-severity`.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import xarray as xr

from probe import stats
from probe.commands.common import non_finite_note
from probe.corruptions import summary
from probe.corruptions.params import TABLES
from probe.tables import ci, estimate, format_table, interval

FROST_TEXT = {"photos": "the published frost photographs",
              "synthetic": "synthetic texture (pip install probe-robustness[photos] for the published photographs)"}


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corruptions", nargs="+", metavar="NAME",
                        help="corruption names, or the groups benchmark (default), extra, all")
    parser.add_argument("--severities", help="severities, e.g. 1-5 (default), 1,3,5 or 2")
    parser.add_argument("--params", choices=("auto", *TABLES),
                        help="corruption parameter table (default auto: by image size)")
    parser.add_argument("--corrupted-dir", type=Path, metavar="DIR",
                        help="read a released CIFAR-10-C / ImageNet-C folder (the -C version of --data) "
                             "instead of generating the corruptions")
    parser.add_argument("--bn-adapt", metavar="N:n",
                        help="test-time BatchNorm adaptation: source prior N, groups of n images")
    parser.add_argument("--reference",
                        help="mCE normaliser: alexnet, none, auto (AlexNet for ImageNet parameters) or a result "
                             "file of this probe (default auto)")


def report(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> str:
    """Accuracy per corruption and severity, then the scalar summaries with intervals and n."""
    severities = ds["severity"].values.tolist()
    rows = [[c] + [float(ds["accuracy"].sel(corruption=c, severity=s)) for s in severities]
            + [float(ds["accuracy"].sel(corruption=c).mean())] for c in ds["corruption"].values.tolist()]
    table = format_table(["corruption"] + [f"s{s}" for s in severities] + ["mean"], rows)
    numbers = summary(ds, confidence)
    lines = [table, f"clean accuracy {interval(estimate(numbers, 'clean_accuracy'), '.2f', '%')}   corruption accuracy "
                    f"{interval(estimate(numbers, 'corruption_accuracy'), '.2f', '%')}   mCE (CIFAR) "
                    f"{interval(estimate(numbers, 'mce'), '.2f', '%')}"]
    if "imagenet_mce" in numbers:
        lines.append(f"mCE / {ds.attrs['mce_reference']} {interval(estimate(numbers, 'imagenet_mce'), '.2f', '%')}   "
                     f"relative mCE {interval(estimate(numbers, 'relative_mce'), '.2f', '%')}")
    lines.append(f"n = {numbers['samples']} samples, {ci(confidence)}")
    frost = _frost(ds)
    if frost:
        lines.append(f"frost: {FROST_TEXT[frost]}")
    return "\n".join(lines + non_finite_note(numbers, "excluded from the accuracies"))


def _frost(ds: xr.Dataset) -> str | None:
    """'photos' or 'synthetic' when the run generated frost, else None."""
    source = ds.attrs.get("param_frost_source", "none")
    return source if source in FROST_TEXT else None


def headline(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> str:
    """The result in one line (the demo's summary)."""
    numbers = summary(ds, confidence)
    frost = f", frost {_frost(ds)}" if _frost(ds) else ""
    return (f"clean {interval(estimate(numbers, 'clean_accuracy'), '.1f', '%')}, corruption accuracy "
            f"{interval(estimate(numbers, 'corruption_accuracy'), '.1f', '%')}, mCE "
            f"{interval(estimate(numbers, 'mce'), '.2f')}{frost}; n = {numbers['samples']}")
