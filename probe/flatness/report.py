"""The flatness probe in the sanity report (`probe.report`): its title, budgets, checks
(with the reason for each threshold and the paper it follows), reading and figure."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import xarray as xr

from probe.flatness import flatness_estimate, loss_evaluations
from probe.report.checks import Measure, Spec, Threshold, number

if TYPE_CHECKING:
    from matplotlib.axes import Axes

TITLE = "Flatness and curvature"
BUDGETS = {   # samples (n) and own options of the stage under each budget of `probe.report.budgets`
    "quick": {"n": 256, "directions": 6, "filter_norm": True, "radii": [0.05, 0.1],
                     "hessian": "top:1,trace:10"},
    "standard": {"n": 1000, "directions": 20, "filter_norm": True, "hessian": "top:3,trace:20"},
    "thorough": {"n": 2000, "directions": 50, "filter_norm": True, "hessian": "top:5,trace:50,density"},
}


def progress_total(samples: int, options: dict) -> tuple[int, str]:
    """What the stage's progress counts: loss evaluations, not samples."""
    keys = ("radii", "directions", "filter_norm", "landscape", "points")
    return loss_evaluations(**{k: v for k, v in options.items() if k in keys}), "eval"


# ----------------------------------------------------------------------------- checks

def _flatness(ds: xr.Dataset, context: dict) -> Measure | str:
    # F(γ) at the largest radius: at a minimum, random weight perturbations raise the loss.  A
    # loss that falls (the interval over directions below 0) warns: the weights are not at a minimum.
    if "flatness" not in ds:
        return "no flatness sweep"
    estimate = flatness_estimate(ds)
    return Measure(estimate.value, Threshold("higher", 0.0, -math.inf),
                   f"γ = {number(float(ds['radius'].values[-1]))}, {estimate.n} directions", estimate.low,
                   estimate.high)


def _eigenvalue(ds: xr.Dataset, context: dict) -> Measure | str:
    # The dominant (largest |λ|) Hessian eigenvalue is positive at a minimum; negative warns.
    if "eigenvalue" not in ds:
        return "no Hessian eigenvalues"
    return Measure(float(ds["eigenvalue"].values[0]), Threshold("higher", 0.0, -math.inf))


CHECKS = (
    Spec("flatness", "loss rises around the weights (F(γ))", "geometry and robustness", "flatness", "nats",
         _flatness),
    Spec("hessian", "dominant Hessian eigenvalue", "geometry and robustness", "flatness", "", _eigenvalue),
)
REASONS: dict[str, tuple[str, str]] = {
    "flatness": ("At a minimum random weight perturbations raise the loss; a fall by more than two standard "
                 "errors means the weights are not at a minimum.", 'Li et al. 2018, "Visualizing the loss '
                 'landscape of neural nets" (NeurIPS)'),
    "hessian": ("The dominant Hessian eigenvalue is positive at a minimum.", 'Yao et al. 2020, "PyHessian: neural '
                'networks through the lens of the Hessian" (IEEE BigData)'),
}


# ----------------------------------------------------------------------------- reading

def reading(v: dict, ds: xr.Dataset) -> str:
    """One sentence: the loss rise at the radius, the dominant eigenvalue and the trace (those measured)."""
    parts = []
    if "flatness" in v:
        parts.append(f"random weight perturbations of radius {number(v['radius'])} raise the loss by "
                     f"{number(v['flatness'])} [{number(v['flatness_low'])}, {number(v['flatness_high'])}] nats")
    if "top_eigenvalue" in v:
        parts.append(f"the dominant Hessian eigenvalue is {number(v['top_eigenvalue'])}")
    if "trace" in v:
        parts.append(f"the trace {number(v['trace'])}")
    text = ", ".join(parts) if parts else f"the loss at the weights is {number(v['loss'])} nats"
    return text[0].upper() + text[1:] + "."


# ----------------------------------------------------------------------------- figure

CAPTION = ("Loss rise F(γ) under random weight perturbations of radius γ (± s.e. band). At a minimum it "
           "is positive and grows with γ; a flatter curve is a flatter minimum.")


def figure(results: dict[str, xr.Dataset]) -> Axes:
    """The loss-rise curves of every model overlaid (each model's default plot side by side when one
    has no flatness sweep)."""
    from probe.flatness.plot import curves
    from probe.plot import plot_result
    from probe.report.figures import panels, side_by_side
    if all("flatness" in ds for ds in results.values()):
        return curves(results, ax=panels(1)[0])
    return side_by_side(lambda ds, ax: plot_result(ds, ax=ax), results)[0]
