"""The adversarial corruptions probe in the sanity report (`probe.report`): its title, budgets, checks
(with the reason for each threshold and the paper it follows), reading and figure."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from probe.report.checks import Measure, Spec, Threshold, number, paired

if TYPE_CHECKING:
    from matplotlib.axes import Axes

TITLE = "Adversarial corruptions (AdA)"
BUDGETS = {   # samples (n) and own options of the stage under each budget of `probe.report.budgets`
    "quick": {"n": 32, "radius": [0.0, 0.015], "steps": 5},
    "standard": {"n": 128},
    "thorough": {"n": 500},
}

NEEDS = "corruption_net"   # the stage runs only when the report is given a corruption network


# ----------------------------------------------------------------------------- checks

def _adversarial_corruptions(ds: xr.Dataset, context: dict) -> Measure:
    # Accuracy lost from the unperturbed reconstructions c_φ(x) to the worst-case corruptions at
    # the largest ν (points).  The attack must not raise the accuracy (beyond two samples, from
    # its random starts; warn beyond four): if it does, the gradients through the corruption
    # network do not reach the classifier's loss.
    largest = int(np.argmax(ds["nu"].values))
    drop = float(ds["reconstruction_accuracy"]) - float(ds["robust_accuracy"].values[largest])
    return Measure(drop, Threshold("higher", -paired(ds, 0.0), -2 * paired(ds, 0.0)),
                   f"ν = {number(float(ds['nu'].values[largest]))}; clean {number(float(ds['clean_accuracy']))} %, "
                   f"reconstructed {number(float(ds['reconstruction_accuracy']))} %")


CHECKS = (
    Spec("adversarial_corruptions", "accuracy lost to adversarial corruptions (AdA)", "geometry and robustness",
         "adversarial_corruptions", "points", _adversarial_corruptions),
)
REASONS: dict[str, tuple[str, str]] = {
    "adversarial_corruptions": ("The worst-case corruptions must not raise the accuracy above the unperturbed "
                                "reconstructions (beyond two samples); if they do, the gradients through the "
                                "corruption network do not reach the classifier's loss.",
                                'Calian et al. 2022, "Defending against image corruptions through adversarial '
                                'augmentations" (ICLR)'),
}


# ----------------------------------------------------------------------------- reading

def reading(v: dict, ds: xr.Dataset) -> str:
    """One sentence: the robust accuracy at the largest ν, against the clean and reconstructed accuracy."""
    largest = int(np.argmax(ds["nu"].values))
    return (f"Worst-case corruptions through the corruption network leave "
            f"{number(float(ds['robust_accuracy'].values[largest]))} % accuracy at ν = "
            f"{number(float(ds['nu'].values[largest]))} (clean {number(v['clean_accuracy'])} %, unperturbed "
            f"reconstructions {number(v['reconstruction_accuracy'])} %).")


# ----------------------------------------------------------------------------- figure

CAPTION = ("Accuracy under worst-case corruptions through the corruption network against the "
           "relative radius ν. It should fall with ν, starting at the reconstruction "
           "accuracy (dotted).")


def figure(results: dict[str, xr.Dataset]) -> Axes:
    """The robust accuracy against ν of every model, side by side."""
    from probe.adversarial_corruptions.plot import robust_accuracy
    from probe.report.figures import side_by_side
    return side_by_side(lambda ds, ax: robust_accuracy(ds, ax=ax), results)[0]
