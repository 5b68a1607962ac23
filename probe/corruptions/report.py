"""The corruptions probe in the sanity report (`probe.report`): its title, budgets, checks
(with the reason for each threshold and the paper it follows), reading and figure."""
from __future__ import annotations

from typing import TYPE_CHECKING

import xarray as xr

from probe.report.checks import Measure, Spec, Threshold, number

if TYPE_CHECKING:
    from matplotlib.axes import Axes

TITLE = "Common corruptions"
BUDGETS = {   # samples (n) and own options of the stage under each budget of `probe.report.budgets`
    "quick": {"n": 128},
    "standard": {"n": 500},
    "thorough": {"n": 2000, "corruptions": "all"},
}


# ----------------------------------------------------------------------------- checks

def _mild_corruptions(ds: xr.Dataset, context: dict) -> Measure:
    # Accuracy lost at the mildest severity (mean over corruptions), in points.  Published
    # CIFAR standard models lose ~8 points at severity 1; LeNet on the sample ~6.
    mild = float(ds["accuracy"].mean("corruption").values[0])
    return Measure(float(ds["clean_accuracy"]) - mild, Threshold("lower", 10.0, 25.0),
                   f"severity {int(ds['severity'].values[0])}; mCE {number(float(ds['mce']))} %")


CHECKS = (
    Spec("mild_corruptions", "accuracy lost to the mildest corruptions", "geometry and robustness", "corruptions",
         "points", _mild_corruptions),
)
REASONS: dict[str, tuple[str, str]] = {
    "mild_corruptions": ("Standard CIFAR models lose about 8 points at severity 1; much more means a brittle "
                         "model or input pipeline.", 'Hendrycks & Dietterich 2019, "Benchmarking neural network '
                         'robustness to common corruptions and perturbations" (ICLR)'),
}


# ----------------------------------------------------------------------------- reading

def numbers(ds: xr.Dataset) -> dict[str, float]:
    """The accuracy (%) at every severity (mean over the corruptions), beside the summary."""
    return {f"accuracy_severity_{int(severity)}": float(value)
            for severity, value in zip(ds["severity"].values, ds["accuracy"].mean("corruption").values)}


READING = ("Under common corruptions accuracy falls to {corruption_accuracy} % [{corruption_accuracy_low}, "
           "{corruption_accuracy_high}] on average (mCE {mce} % [{mce_low}, {mce_high}]).")


# ----------------------------------------------------------------------------- figure

CAPTION = ("Accuracy (%) per corruption and severity (heat map) and mean accuracy against severity. "
           "Look for a gentle fall; one dark row names the corruption the model is brittle to.")


def figure(results: dict[str, xr.Dataset]) -> Axes:
    """The heat map of every model, then the accuracy per severity of all of them."""
    from probe.corruptions.plot import heatmap, severity_curves
    from probe.report.figures import side_by_side
    axes = side_by_side(lambda ds, ax: heatmap(ds, ax=ax, annotate=False), results, extra=1)
    severity_curves(results, ax=axes[-1])
    return axes[0]
