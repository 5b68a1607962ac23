"""Figures of a `probe='evaluate'` result: the confusion matrix and the reliability diagram."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import numpy as np
import seaborn as sns

from probe import stats
from probe.errors import ParameterError
from probe.plot import Results, labelled, style
from probe.results import class_label

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

CELL_POINTS = 16.0   # narrowest cell (points, estimated before the layout) that holds '100' at 6 pt


def _cell_points(ax: Axes, classes: int) -> float:
    """The width of one cell of a classes × classes matrix on `ax`, in points."""
    figure = cast("Figure", ax.figure)   # the plots draw on axes of a figure, not of a subfigure
    return ax.get_position().width * figure.get_figwidth() * 72 / classes


def _confusion(ds: xr.Dataset, ax: Axes, normalize: bool, label: str | None) -> None:
    classes = int(max(ds["label"].max(), ds["prediction"].max())) + 1
    matrix = np.zeros((classes, classes))
    finite = ds["prediction"].values >= 0          # -1: logits not finite, no predicted class
    np.add.at(matrix, (ds["label"].values[finite], ds["prediction"].values[finite]), 1)
    if normalize:
        matrix = 100 * matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    sns.heatmap(matrix, ax=ax, cmap=style.SEQUENTIAL, square=True, vmin=0, vmax=100 if normalize else None,
                cbar_kws={"label": "% of the true class" if normalize else "samples"},
                annot=bool(_cell_points(ax, classes) >= CELL_POINTS), fmt=".0f", annot_kws={"fontsize": 6})
    ax.grid(False)
    if ds.attrs.get("class_names") is not None and _cell_points(ax, classes) >= CELL_POINTS:   # names fit
        names = [class_label(ds, k) for k in range(classes)]
        ax.set_xticks(np.arange(classes) + 0.5, names, rotation=90)
        ax.set_yticks(np.arange(classes) + 0.5, names, rotation=0)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    accuracy = stats.percent(ds["correct"].values, ds["finite"].values)
    title = f"accuracy {accuracy.value:.1f} % [{accuracy.low:.1f}, {accuracy.high:.1f}]\nn = {ds.sizes['sample']}"
    ax.set_title(f"{label}: {title}" if label else title)


@style.styled
def confusion(results: Results, ax: Axes | Sequence[Axes] | None = None, normalize: bool = True) -> Axes:
    """Confusion matrix (rows: true class, columns: prediction; named by the result's `class_names`
    where the cells leave room for them), row-normalised to % by default;
    several results (list, or dict label → result) side by side on a new figure."""
    models = labelled(results)
    if ax is None:
        count = len(models)
        _, axes = style.new_axes(style.ONE_COLUMN * min(count, 2), aspect=0.9, ncols=count, squeeze=False,
                                 layout="constrained")
        axes = list(axes.ravel())
    else:
        axes = list(np.ravel(ax)) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
        if len(axes) < len(models):
            raise ParameterError(f"{len(models)} results need as many axes, got {len(axes)}")
    for panel, (label, ds) in zip(axes, models):
        _confusion(ds, panel, normalize, label)
    return axes[0]


@style.styled
def reliability(results: Results, ax: Axes | None = None) -> Axes:
    """Reliability diagram: accuracy against mean confidence per confidence bin (15 equal-width
    bins, marker area ∝ samples), the diagonal of perfect calibration, and the ECE in the
    legend; one evaluate result, a list or a mapping {label: result}."""
    from probe.evaluate import calibration
    if ax is None:
        _, ax = style.new_axes(aspect=0.9)
    ax.plot([0, 100], [0, 100], color="0.5", lw=0.8, ls="--", label="perfect calibration")
    for i, (label, ds) in enumerate(labelled(results)):
        bins = calibration(ds)
        used = bins["count"].values > 0
        sizes = 4 + 60 * bins["count"].values[used] / max(int(bins["count"].values.sum()), 1)
        name = f"ECE {float(bins['ece']):.1f}%"
        ax.plot(bins["confidence"].values[used], bins["accuracy"].values[used], color=style.color(i), lw=1,
                label=f"{label}: {name}" if label else name)
        ax.scatter(bins["confidence"].values[used], bins["accuracy"].values[used], s=sizes, color=style.color(i),
                   zorder=3)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_xlabel(f"confidence (%; {bins.sizes['bin']} bins)")
    ax.set_ylabel("accuracy (%)")
    # above the panel (no title there): a small panel leaves no corner clear of the diagonal and the curves
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.01), frameon=False)
    return ax
