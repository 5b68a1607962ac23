"""`python -m probe.evaluate CHECKPOINT --data SPEC`: accuracy, per class."""
from __future__ import annotations

import argparse

import numpy as np
import xarray as xr

from probe import stats
from probe.commands.common import non_finite_note
from probe.evaluate import summary
from probe.results import class_label
from probe.tables import ci, estimate, format_table, interval


def add_options(parser: argparse.ArgumentParser) -> None:
    """The evaluate probe has no options of its own."""


def report(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> str:
    """Accuracy per class, then overall (over samples with finite logits), with Wilson intervals."""
    finite, correct, labels = ds["finite"].values.astype(bool), ds["correct"].values, ds["label"].values
    rows = [(class_label(ds, int(c)), int((finite & (labels == c)).sum()),
             stats.percent(correct, finite & (labels == c), confidence))
            for c in np.unique(labels[finite])]
    numbers = summary(ds, confidence)
    lines = [format_table(["class", "samples", f"accuracy % [{ci(confidence)}]"], rows),
             f"accuracy: {interval(estimate(numbers, 'accuracy'), '.2f', '%')} on {numbers['samples']} samples "
             f"({ci(confidence)})"]
    return "\n".join(lines + non_finite_note(numbers, "excluded from the accuracy"))


def headline(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> str:
    """The result in one line (the demo's summary)."""
    numbers = summary(ds, confidence)
    return f"accuracy {interval(estimate(numbers, 'accuracy'), '.2f', '%')} on {numbers['samples']} test images"
