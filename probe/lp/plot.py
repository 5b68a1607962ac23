"""Lp-noise figures: accuracy under Lp noise (one panel per norm, or a norm × strength heat map),
mCE_Lp / iCE across models."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.lines import Line2D

from probe.plot import Results, intervals, labelled, style
from probe.plot.norms import legend as _legend
from probe.plot.norms import name as _name
from probe.plot.norms import norm_panels as _norm_panels

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes


def _strength_ticks(ax: Axes, strengths: np.ndarray) -> None:
    ax.set_xticks(range(len(strengths)), [f"{s:.2g}" for s in strengths], rotation=45, ha="right")


@style.styled
def heatmap(ds: xr.Dataset, ax: Axes | None = None, label: str | None = None) -> Axes:
    """Accuracy (%) for every norm (rows) and noise strength (columns), with the clean accuracy,
    mCE_Lp and iCE in the title."""
    if ax is None:
        _, ax = style.new_axes(style.ONE_COLUMN, aspect=0.3 + 0.07 * ds.sizes["p"])
    accuracy = ds["accuracy"].transpose("p", "strength").values
    image = ax.imshow(accuracy, cmap=style.SEQUENTIAL, vmin=0, vmax=100, aspect="auto")
    for (i, j), value in np.ndenumerate(accuracy):
        ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=6, color="white" if value < 60 else "black")
    _strength_ticks(ax, ds["strength"].values)
    ax.set_yticks(range(ds.sizes["p"]), [_name(float(q)) for q in ds["p"].values])
    ax.set_xlabel("noise strength (RMS pixel change)")
    ax.set_ylabel("norm of the noise")
    ax.grid(False)
    title = (f"clean {float(ds['clean_accuracy']):.1f} %, mCE_Lp {float(ds['mce_lp']):.1f} %, "
             f"iCE {float(ds['ice']):.1f} %")
    ax.set_title(f"{label}: {title}" if label else title)
    ax.figure.colorbar(image, ax=ax, label="accuracy (%)", fraction=0.05, pad=0.02)
    return ax


@style.styled
def accuracy(results: Results, ax: Axes | Sequence[Axes] | None = None, p: float | None = None,
             label: str | None = None) -> Axes:
    """Accuracy against noise strength (RMS pixel change): one panel per norm with every model's
    curve, its 95 % Wilson band and its clean accuracy (dotted); n in the legend.  `ax`: None (new
    figure), a sequence of axes (one per norm), or one axes with `p` naming the norm (`heatmap`
    draws every norm of one result on one axes).  Several results: a list or a dict label → result."""
    models = labelled(results)
    if label is not None and len(models) == 1:
        models = [(label, models[0][1])]
    norms = [float(q) for q in models[0][1]["p"].values] if p is None else [float(p)]
    axes = _norm_panels(norms, ax, aspect=0.6)
    handles: list[Artist] = []
    lowest = 100.0
    for m, (name, ds) in enumerate(models):
        color = style.color(m)
        text = f"mCE_Lp {float(ds['mce_lp']):.1f} %, iCE {float(ds['ice']):.1f} %, n = {ds.sizes['sample']}"
        handles.append(Line2D([], [], color=color, marker="o", ms=2, label=f"{name}: {text}" if name else text))
        for panel, q in zip(axes, norms):
            panel.plot(ds["strength"].values, ds["accuracy"].sel(p=q).values, marker="o", ms=2, color=color)
            cell = ds.sel(p=q)
            low, high = intervals.wilson_percent(cell["correct"].transpose("strength", "sample").values,
                                                 cell["finite"].transpose("strength", "sample").values)
            intervals.band(panel, ds["strength"].values, low, high, color)
            lowest = min(lowest, float(low.min()))
            panel.axhline(float(ds["clean_accuracy"]), ls=":", color=color, lw=0.8)
    lowest = min([lowest] + [min(float(ds["accuracy"].min()), float(ds["clean_accuracy"])) for _, ds in models])
    for panel, q in zip(axes, norms):
        panel.set_title(_name(q))
        panel.set_xlabel("noise strength (RMS pixel change)")
        panel.set_ylabel("accuracy (%)")
        panel.set_ylim(max(0.0, lowest - 5), 101)      # one scale for every norm
    handles.append(Line2D([], [], color="0.3", ls=":", lw=0.8, label="clean accuracy"))
    handles.append(intervals.band_handle())
    _legend(axes, handles, ax is None)
    return axes[0]


@style.styled
def summary_bars(runs: Mapping[str, xr.Dataset], ax: Axes | None = None) -> Axes:
    """mCE_Lp and iCE bars for several models (`{label: lp result}`)."""
    if ax is None:
        _, ax = style.new_axes()
    labels = list(runs)
    x = np.arange(len(labels))
    for i, (key, name) in enumerate((("mce_lp", "mCE_Lp (%)"), ("ice", "iCE (%)"))):
        values = [float(runs[k][key]) for k in labels]
        bars = ax.bar(x + (i - 0.5) * 0.38, values, width=0.38, color=style.color(i), label=name)
        ax.bar_label(bars, fmt="%.1f", fontsize=6)
    ax.set_xticks(x, labels)
    ax.axhline(0, color="0.3", lw=0.6)
    ax.set_xlabel("training")
    ax.set_ylabel("corruption error (%)")
    ax.legend()
    return ax
