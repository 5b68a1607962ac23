"""The lp probe in the sanity report (`probe.report`): its title, budgets, checks
(with the reason for each threshold and the paper it follows), reading and figure."""
from __future__ import annotations

from typing import TYPE_CHECKING

import xarray as xr

from probe.lp import summary
from probe.report.checks import Measure, Spec, Threshold, estimated, number

if TYPE_CHECKING:
    from matplotlib.axes import Axes

TITLE = "Random Lp noise"
BUDGETS = {   # samples (n) and own options of the stage under each budget of `probe.report.budgets`
    "quick": {"n": 200, "norms": ["L0", "L2", "Linf"], "levels": 4},
    "standard": {"n": 500, "levels": 6},
    "thorough": {"n": 1000},
}


# ----------------------------------------------------------------------------- checks

def _ice(ds: xr.Dataset, context: dict) -> Measure:
    # iCE: relative rise of the error under imperceptible random noise.  Published standard
    # CIFAR model 9.7 %; small samples make it noisy (±15 % at 200 samples), hence 25 / 100 %.
    return estimated(summary, "ice", Threshold("lower", 25.0, 100.0),
                     f"mCE_Lp {number(float(ds['mce_lp']))} %")(ds, context)


CHECKS = (
    Spec("imperceptible_noise", "iCE (error rise under imperceptible noise)", "geometry and robustness", "lp",
         "%", _ice),
)
REASONS: dict[str, tuple[str, str]] = {
    "imperceptible_noise": ("Imperceptible random noise should barely change the error (published standard CIFAR "
                            "model: iCE 9.7 %); noisy on small samples (±15 % at 200), hence 25 / 100 %.",
                            'Siedel et al. 2024, "Investigating the corruption robustness of image classifiers '
                            'with random Lp-norm corruptions" (VISAPP)'),
}


# ----------------------------------------------------------------------------- reading

READING = ("Random Lp noise costs an mCE_Lp of {mce_lp} % [{mce_lp_low}, {mce_lp_high}], and imperceptible "
           "noise changes the error by {ice} % [{ice_low}, {ice_high}] (iCE).")


# ----------------------------------------------------------------------------- figure

CAPTION = ("Accuracy (%) under random noise of each Lp norm (rows) and strength (columns). Look for accuracy "
           "falling gradually with strength, not at the smallest strength.")


def figure(results: dict[str, xr.Dataset]) -> Axes:
    """The norm × strength accuracy heat map of every model, side by side."""
    from probe.lp.plot import heatmap
    from probe.report.figures import side_by_side
    return side_by_side(lambda ds, ax: heatmap(ds, ax=ax), results)[0]
