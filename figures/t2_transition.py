"""Thesis Fig. 4.10, the sharp transition on T2(ρ = 20, ε, σ = 1, K = 3): the median margin along u1
and along u2 (25–75 % shaded) of the MLP against ε.  Below ε ≈ 0.5 the network ignores u1 (large or
non-converged margins along it); above, it separates the classes along u1 (margin ≈ ε/2).

Reads `DIR/t2.nc` (issue 15's T2 analysis): `margin(epsilon, subspace, sample)` with `subspace` ∈
{u1, u2} (+inf: not converged), drawn from `margin_refined` (the exact distance along the direction
found) when that is saved, and optionally `test_accuracy(epsilon)` in %.  Writes `t2_transition.pdf`:

    python -m figures.t2_transition DIR [--out DIR] [--format pdf|png|svg]
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from figures import common
from probe import results
from probe.margins import plot as margin_plots
from probe.plot import style

FILE, COMMAND = "t2.nc", "the T2 analysis of issue 15 (Fig. 4.10)"


@style.styled
def draw(folder: Path) -> dict:
    """{'t2_transition': margins against ε (and the test accuracy below when saved)}."""
    ds = results.load(common.need(Path(folder) / FILE, COMMAND))
    epsilon = ds["epsilon"].values.astype(float)
    with_accuracy = "test_accuracy" in ds
    figure, axes = style.new_axes(style.ONE_COLUMN, aspect=0.5 if with_accuracy else 0.7,
                                  nrows=2 if with_accuracy else 1, sharex=True, squeeze=False,
                                  layout="constrained", gridspec_kw={"height_ratios": [3, 1]} if with_accuracy else {})
    ax = axes[0, 0]
    # the exact distance along DeepFool's direction when measured: on these saturated MLPs DeepFool's
    # last linear step overshoots the boundary several times over
    variable = "margin_refined" if "margin_refined" in ds else "margin"
    margins = ds[variable].transpose("epsilon", "subspace", "sample").values
    level = margin_plots.ceiling(margins)
    handles = []
    for i, subspace in enumerate(ds["subspace"].values):
        color = style.color(i)
        filled = np.where(np.isfinite(margins[:, i]), margins[:, i], level)
        low, median, high = np.percentile(filled, [25, 50, 75], axis=1)
        ax.plot(epsilon, median, marker="o", color=color)
        ax.fill_between(epsilon, low, high, color=color, alpha=0.25, lw=0)
        handles.append(Line2D([], [], color=color, marker="o", label=f"along {subspace}: median"))
    handles.append(Patch(color="0.5", alpha=0.35, label="25–75 %"))
    if not np.isfinite(margins).all():
        handles.append(margin_plots.not_converged_line(ax, level))
    ax.set_yscale("log")
    style.plain_log_ticks(ax.yaxis)
    ax.set_ylabel("refined margin ‖δ‖₂" if variable == "margin_refined" else "margin ‖δ‖₂")
    ax.legend(handles=handles, loc="best")
    if with_accuracy:
        accuracy = axes[1, 0]
        accuracy.plot(epsilon, ds["test_accuracy"].values, marker="s", color=style.color(2), label="test accuracy")
        accuracy.set_ylabel("test acc. (%)")
        accuracy.set_ylim(min(90.0, float(ds["test_accuracy"].min()) - 2), 101)
        accuracy.legend(loc="lower right")
    axes[-1, 0].set_xlabel("ε (strength of the feature along u1)")
    return {"t2_transition": figure}


if __name__ == "__main__":
    raise SystemExit(common.main(draw, __doc__))
