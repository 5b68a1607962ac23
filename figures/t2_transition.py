"""Thesis Fig. 4.10, the sharp transition on T2(ρ = 20, ε, σ = 1, K = 3): the median margin along u1
and along u2 of the MLP against ε, with its order-statistic interval, over the seeds that fit; below,
the share of the seeds tried that fit.  Below ε ≈ 0.5 the network ignores u1 (large or non-converged
margins along it); above, it separates the classes along u1 (margin ≈ ε/2).

Reads `DIR/t2.nc` (`python -m analyses.t2_transition`): `median_margin(epsilon, subspace)` with
`median_margin_low`, `median_margin_high` and `median_samples` (0: no seed measured at that ε, not
drawn), +inf where not converged; `fit_fraction(epsilon)`, `fits(epsilon, seed)` and
`tried(epsilon, seed)`.  Writes `t2_transition.pdf`:

    python -m figures.t2_transition DIR [--out DIR] [--format pdf|png|svg]
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D

from figures import common
from probe import results, stats
from probe.margins import plot as margin_plots
from probe.plot import style

FILE, COMMAND = "t2.nc", "python -m analyses.t2_transition (Fig. 4.10)"


@style.styled
def draw(folder: Path) -> dict:
    """{'t2_transition': median margins against ε, and the share of seeds that fit below}."""
    ds = results.load(common.need(Path(folder) / FILE, COMMAND))
    epsilon = ds["epsilon"].values.astype(float)
    figure, axes = style.new_axes(style.ONE_COLUMN, aspect=0.5, nrows=2, sharex=True, squeeze=False,
                                  layout="constrained", gridspec_kw={"height_ratios": [3, 1]})
    ax = axes[0, 0]
    measured = ds["median_samples"].values > 0
    bounds = np.stack([ds[v].values for v in ("median_margin_low", "median_margin", "median_margin_high")])
    level = margin_plots.ceiling(bounds[:, measured])
    handles = []
    for i, subspace in enumerate(ds["subspace"].values):
        color = style.color(i)
        # +inf (not converged) at the level drawn for it; NaN where no seed was measured: the line breaks
        low, median, high = np.where(measured[:, i], np.where(np.isfinite(bounds[:, :, i]), bounds[:, :, i], level),
                                     np.nan)
        ax.errorbar(epsilon, median, yerr=[median - low, high - median], marker="o", color=color, capsize=2)
        handles.append(Line2D([], [], color=color, marker="o", label=f"along {subspace}"))
    if not np.isfinite(bounds[:, measured]).all():
        handles.append(margin_plots.not_converged_line(ax, level))
    ax.set_yscale("log")
    style.plain_log_ticks(ax.yaxis)
    ax.set_ylabel(f"median refined margin ‖δ‖₂\n(bars: {stats.CONFIDENCE:.0%} interval)")
    ax.legend(handles=handles, loc="lower left")
    share = axes[1, 0]
    fitted, tried = ds["fits"].sum("seed").values, ds["tried"].sum("seed").values
    share.plot(epsilon, 100 * ds["fit_fraction"].values, marker="s", ls="none", color=style.color(2),
               label=f"seeds with training accuracy ≥ {ds.attrs.get('fit_threshold', 99):g} %")
    for x, k, n in zip(epsilon, fitted, tried):
        share.annotate(f"{k}/{n}", (x, 100 * k / n), textcoords="offset points", xytext=(0, 4), ha="center",
                       fontsize="x-small")
    share.set_ylabel("fit (%)")
    share.set_ylim(-5, 125)
    share.legend(loc="lower right", fontsize="x-small")
    axes[-1, 0].set_xlabel("ε (strength of the feature along u1)")
    return {"t2_transition": figure}


if __name__ == "__main__":
    raise SystemExit(common.main(draw, __doc__))
