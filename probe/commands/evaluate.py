"""`python -m probe.evaluate CHECKPOINT --data SPEC`: accuracy, per class."""
from __future__ import annotations

import argparse

import xarray as xr

from probe.commands.common import format_table, non_finite_note
from probe.evaluate import summary
from probe.results import class_label


def add_options(parser: argparse.ArgumentParser) -> None:
    """The evaluate probe has no options of its own."""


def report(ds: xr.Dataset) -> str:
    """Accuracy per class, then overall (over samples with finite logits)."""
    finite = ds.isel(sample=ds["finite"].values)
    per_class = finite["correct"].astype(float).groupby(finite["label"]).mean() * 100
    rows = [(class_label(ds, int(c)), int((finite["label"] == c).sum()), float(a))
            for c, a in zip(per_class["label"].values, per_class.values)]
    numbers = summary(ds)
    lines = [format_table(["class", "samples", "accuracy %"], rows),
             f"accuracy: {numbers['accuracy']:.2f}% on {numbers['samples']} samples"]
    return "\n".join(lines + non_finite_note(numbers, "excluded from the accuracy"))


def headline(ds: xr.Dataset) -> str:
    """The result in one line (the demo's summary)."""
    numbers = summary(ds)
    return f"accuracy {numbers['accuracy']:.2f}% on {numbers['samples']} test images"
