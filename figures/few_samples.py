"""Thesis Fig. 4.13, a few samples move the boundary: the margin along each sample's original
adversarial direction before and after fine-tuning a trained model with 100 training samples
replaced by their DeepFool adversarial versions, for those 100 and for untouched samples (box
25–75 %, whiskers 5–95 %, median; one point per sample).

Reads `DIR/few_samples.nc` (issue 15's analysis): `margin(stage, sample)` with `stage` ∈ {before,
after} (+inf: not converged) and the boolean `replaced(sample)` (True for the replaced samples).
Writes `few_samples.pdf`:

    python -m figures.few_samples DIR [--out DIR] [--format pdf|png|svg]
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from figures import common
from probe import results
from probe.margins import plot as margin_plots
from probe.plot import style

FILE, COMMAND = "few_samples.nc", "the few-samples analysis of issue 15 (Fig. 4.13)"
WIDTH = 0.35


@style.styled
def draw(folder: Path) -> dict:
    """{'few_samples': margins before / after for the replaced and the untouched samples}."""
    ds = results.load(common.need(Path(folder) / FILE, COMMAND))
    replaced = ds["replaced"].values.astype(bool)
    groups = {f"replaced ({replaced.sum()})": replaced, f"untouched ({(~replaced).sum()})": ~replaced}
    stages = [str(s) for s in ds["stage"].values]
    margins = ds["margin"].transpose("stage", "sample").values
    level = margin_plots.ceiling(margins)
    figure, ax = style.new_axes(style.ONE_COLUMN, aspect=0.75, layout="constrained")
    rng = np.random.default_rng(0)
    handles = []
    for s, stage in enumerate(stages):
        color = style.color(s)
        for g, mask in enumerate(groups.values()):
            x = g + (s - (len(stages) - 1) / 2) * WIDTH
            margin_plots.boxes(ax, margins[s, mask], x, 0.8 * WIDTH, color, level)
            shown = np.where(np.isfinite(margins[s, mask]), margins[s, mask], level)
            ax.scatter(x + rng.uniform(-0.25, 0.25, len(shown)) * WIDTH, shown, s=2, color=color, alpha=0.4,
                       linewidths=0)
        handles.append(margin_plots.box_handle(color, f"{stage} fine-tuning"))
    handles.append(margin_plots.median_handle())
    if not np.isfinite(margins).all():
        handles.append(margin_plots.not_converged_line(ax, level))
    ax.set_yscale("log")
    style.plain_log_ticks(ax.yaxis)
    ax.set_xticks(range(len(groups)), list(groups))
    ax.set_xlabel("training samples")
    ax.set_ylabel("margin along the original adversarial direction")
    ax.legend(handles=handles, loc="best")
    return {"few_samples": figure}


if __name__ == "__main__":
    raise SystemExit(common.main(draw, __doc__))
