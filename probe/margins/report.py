"""The margins probe in the sanity report (`probe.report`): its title, budgets, checks
(with the reason for each threshold and the paper it follows), reading and figure."""
from __future__ import annotations

from typing import TYPE_CHECKING

import xarray as xr

from probe.report.checks import Measure, Spec, Threshold, share

if TYPE_CHECKING:
    from matplotlib.axes import Axes

TITLE = "DCT margin curve"
BUDGETS = {   # samples (n) and own options of the stage under each budget of `probe.report.budgets`
    "quick": {"n": 16, "max_iter": 50},
    "standard": {"n": 64},
    "thorough": {"n": 256},
}


# ----------------------------------------------------------------------------- checks

def _low_band(ds: xr.Dataset, context: dict) -> Measure:
    # Share of samples whose margin in the lowest DCT band converged.  Standard models have
    # their smallest margins there; non-convergence at high frequencies is normal and is not
    # judged.  LeNet: 100 %.
    return share(ds["converged"].values[0].astype(bool), Threshold("higher", 90.0, 50.0))


CHECKS = (
    Spec("low_frequency_margins", "DeepFool converges in the lowest DCT band", "geometry and robustness",
         "margins", "%", _low_band),
)
REASONS: dict[str, tuple[str, str]] = {
    "low_frequency_margins": ("Standard models have their smallest margins in the lowest DCT band, where DeepFool "
                              "must converge; non-convergence at high frequencies is normal.",
                              'Ortiz-Jiménez et al. 2020, "Hold me tight! Influence of discriminative features '
                              'on deep network boundaries" (NeurIPS)'),
}


# ----------------------------------------------------------------------------- reading

READING = ("The median DeepFool margin is {median_margin_lowest_band} in the lowest DCT band and "
           "{median_margin_highest_band} in the highest; a fraction {not_converged} of the band margins did not "
           "converge (normal at high frequencies, not a masking symptom).")


# ----------------------------------------------------------------------------- figure

CAPTION = ("Distance to the decision boundary inside each DCT frequency band (box: 25–75 %, whiskers 5–95 %). "
           "Standard models have their smallest margins at low frequencies; numbers above the boxes: % not "
           "converged.")


def figure(results: dict[str, xr.Dataset]) -> Axes:
    """The margins per DCT band, every model overlaid."""
    from probe.margins.plot import bands
    from probe.report.figures import one, panels
    return bands(one(results), ax=panels(1)[0])
