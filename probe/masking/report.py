"""The masking probe in the sanity report (`probe.report`): its title, budgets, checks
(with the reason for each threshold and the paper it follows), reading and figure."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from probe.masking import summary
from probe.report.checks import ATHALYE, CARLINI, SUCCESS, Measure, Spec, Threshold, estimated, number, paired, share

if TYPE_CHECKING:
    from matplotlib.axes import Axes

TITLE = "Gradient masking"
BUDGETS = {   # samples (n) and own options of the stage under each budget of `probe.report.budgets`
    "quick": {"n": 64, "steps": [1, 10]},
    "standard": {"n": 128, "steps": [1, 5, 20]},
    "thorough": {"n": 500, "steps": [1, 5, 20, 50]},
}


# ----------------------------------------------------------------------------- checks

def _gradients(ds: xr.Dataset, context: dict) -> Measure:
    # The top-two logit margin has a non-zero, finite input gradient almost everywhere for a
    # piecewise-smooth network; a locally constant model (quantised input) has none.
    zero, bad = ds["gradient_zero"].values.astype(bool), ~ds["gradient_finite"].values.astype(bool)
    return share(zero | bad, Threshold("lower", 1.0, 10.0), f"{int(zero.sum())} zero, {int(bad.sum())} non-finite")


def _loss_steps(ds: xr.Dataset, context: dict) -> Measure:
    # Smallest rise over the radii of the mean PGD loss from 1 step to the most steps.  A fall
    # beyond float noise means the iterative attack is broken (fail); no rise at all means
    # either a linear model or gradients that do not lead anywhere (warn).  LeNet: ≥ 0.07 nats.
    return estimated(summary, "loss_rise_steps", Threshold("higher", 1e-3, -1e-2),
                     f"{int(ds['steps'].values[0])} → {int(ds['steps'].values[-1])} steps")(ds, context)


def _loss_radius(ds: xr.Dataset, context: dict) -> Measure | str:
    # Smallest rise of the mean loss (most steps) from one radius to the next: a larger ball
    # contains the smaller one, so it must rise; flat means the attack is not moving (a
    # quantised input gives exactly 0).  LeNet: ≥ 0.5 nats.
    if ds.sizes["radius"] < 2:
        return "one radius only"
    return estimated(summary, "loss_rise_radius", Threshold("higher", 1e-2, 1e-3))(ds, context)


def _gap(stronger: Callable[[xr.Dataset], np.ndarray | None], name: str) -> Callable[[xr.Dataset, dict], Measure | str]:
    # Largest excess (over the radii) of the iterative attack's accuracy over the accuracy under
    # `stronger` (one-step, noise, transfer), in points: the iterative white-box attack must be
    # the strongest.  Pass within 3 points or 2 samples, warn within 10 points or 4 samples.
    # LeNet: the iterative attack is 0–25 points stronger than one step and ~80 than noise.
    def measure(ds: xr.Dataset, context: dict) -> Measure | str:
        other = stronger(ds)
        if other is None:
            return f"no {name}: give a baseline model"
        gap = ds["accuracy"].values[:, -1] - other
        worst = int(gap.argmax())
        return Measure(float(gap.max()), Threshold("lower", paired(ds, 3.0), 2 * paired(ds, 5.0)),
                       f"at radius {number(float(ds['radius'].values[worst]))}")
    return measure


CHECKS = (
    Spec("deepfool_success", "unbounded DeepFool success", "gradient masking", "masking", "%",
         estimated(summary, "deepfool_success", SUCCESS)),
    Spec("zero_gradients", "zero or non-finite input gradients", "gradient masking", "masking", "% of samples",
         _gradients),
    Spec("loss_vs_steps", "PGD loss rises with steps", "gradient masking", "masking", "nats", _loss_steps),
    Spec("loss_vs_radius", "PGD loss rises with radius", "gradient masking", "masking", "nats", _loss_radius),
    Spec("one_step_vs_iterative", "iterative PGD weaker than one step", "gradient masking", "masking", "points",
         _gap(lambda ds: ds["accuracy"].values[:, 0], "one-step attack")),
    Spec("noise_vs_attack", "PGD weaker than random noise of its norm", "gradient masking", "masking", "points",
         _gap(lambda ds: ds["noise_accuracy"].values, "noise")),
    Spec("transfer_vs_white_box", "white-box PGD weaker than transfer from the baseline", "gradient masking",
         "masking", "points",
         _gap(lambda ds: ds["transfer_accuracy"].values if "transfer_accuracy" in ds else None, "transfer")),
)
REASONS: dict[str, tuple[str, str]] = {
    "deepfool_success": ("An unbounded gradient attack must fool every image; less than about 100 % means the "
                         "gradients do not lead to the boundary (masked gradients).", f"{CARLINI}; {ATHALYE}"),
    "zero_gradients": ("A piecewise-smooth network has a non-zero, finite input gradient almost everywhere; zero "
                       "gradients (e.g. quantised input) shatter gradient attacks.", ATHALYE),
    "loss_vs_steps": ("More attack iterations must not lower the loss reached; a fall beyond float noise means the "
                      "iterative attack is broken.", CARLINI),
    "loss_vs_radius": ("A larger ball contains the smaller one, so the loss reached must rise with the radius.",
                       CARLINI),
    "one_step_vs_iterative": ("Iterative attacks must be at least as strong as one step (within 3 points or two "
                              "samples).", f"{CARLINI}; {ATHALYE}"),
    "noise_vs_attack": ("Random noise of the same norm must not beat a gradient attack.", CARLINI),
    "transfer_vs_white_box": ("A transfer attack from another model must not beat the white-box attack.",
                              f"{CARLINI}; {ATHALYE}"),
}


# ----------------------------------------------------------------------------- reading

def reading(v: dict, ds: xr.Dataset) -> str:
    """One sentence: DeepFool success, accuracy after one step, PGD and noise (and transfer)."""
    steps = int(ds["steps"].values[-1])
    transfer = (f", transferred from the baseline {number(v['transfer_accuracy'])} %"
                if "transfer_accuracy" in v else "")
    return (f"Unbounded DeepFool fools {number(v['deepfool_success'])} % of the images; at radius "
            f"{number(v['radius'])} accuracy is {number(v['one_step_accuracy'])} % after one step, "
            f"{number(v['iterative_accuracy'])} % after PGD-{steps} and {number(v['noise_accuracy'])} % under random "
            f"noise of the same norm{transfer}.")


# ----------------------------------------------------------------------------- figure

CAPTION = ("Gradient-masking symptoms: the loss should rise with steps and radius (left); accuracy under the "
           "iterative attack should be lowest, below one step and far below random noise (right).")


def figure(results: dict[str, xr.Dataset]) -> Axes:
    """Loss against steps and radius, and accuracy per attack, every model overlaid."""
    from probe.masking.plot import overview
    from probe.report.figures import one, panels
    return overview(one(results), ax=panels(2))
