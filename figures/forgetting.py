"""Thesis Fig. 4.8, forgetting and recovery: margins per DCT band of one model after each stage —
trained on low-pass ∪ high-pass Fashion-MNIST, fine-tuned on low-pass images only, then on both
again — one panel per stage (box 25–75 %, whiskers 5–95 %, median; non-converged at the top), the
stage's accuracies on the low-pass and high-pass test sets in its title.  The high-frequency
boundaries disappear after the low-pass stage and come back.

Reads `DIR/forgetting.nc` (issue 15's forgetting analysis): `margin(stage, subspace, sample)` in
pixel L2 (+inf: not converged) with the `band_start(subspace)` coordinate of the DCT blocks, and
optionally `accuracy(stage, test_set)` in %.  Writes `forgetting.pdf`:

    python -m figures.forgetting DIR [--out DIR] [--format pdf|png|svg]
"""
from __future__ import annotations

from pathlib import Path

from figures import common
from probe import results
from probe.margins import plot as margin_plots
from probe.plot import style

FILE, COMMAND = "forgetting.nc", "the forgetting-and-recovery analysis of issue 15 (Fig. 4.8)"


@style.styled
def draw(folder: Path) -> dict:
    """{'forgetting': one margin panel per stage}."""
    ds = results.load(common.need(Path(folder) / FILE, COMMAND))
    stages = [str(s) for s in ds["stage"].values]
    figure, axes = style.panels(len(stages), style.TWO_COLUMN, aspect=0.75)
    for panel, stage in zip(axes, stages):
        margin_plots.bands(ds.sel(stage=stage), ax=panel, log=True)
        title = stage
        if "accuracy" in ds:
            scores = ds["accuracy"].sel(stage=stage)
            title += "\n" + ", ".join(f"{test} {float(scores.sel(test_set=test)):.0f} %"
                                      for test in scores["test_set"].values)
        panel.set_title(title)
    common.same_scale(axes)
    common.shared_legend(figure, axes)
    return {"forgetting": figure}


if __name__ == "__main__":
    raise SystemExit(common.main(draw, __doc__))
