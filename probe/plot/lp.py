"""Lp-geometry figures: overlap curves (the Lp-corruption paper's concentration figure), accuracy
under Lp noise (one panel per norm, or a norm × strength heat map), mCE_Lp / iCE across models."""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np
from matplotlib.lines import Line2D

from probe.balls import norm_name
from probe.errors import ParameterError
from probe.plot import intervals, labelled, style

DIRECTION_LABELS = {"lp_in_reference": "Lp ball in reference", "reference_in_lp": "reference in Lp ball"}
DIRECTION_LINES = ("-", "--")


def _name(p: float) -> str:
    """A norm's name for a figure: 'L∞' rather than 'Linf'."""
    return "L∞" if math.isinf(p) else norm_name(p)


def _norm_panels(norms: list[float], ax, aspect: float):
    """One axes per norm: a new figure (no empty panel), the given sequence, or the one given axes."""
    if ax is None:
        return style.panels(len(norms), style.TWO_COLUMN, aspect=aspect)[1]
    axes = list(np.ravel(ax)) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
    if len(axes) < len(norms):
        raise ParameterError(f"{len(norms)} norms draw {len(norms)} panels: pass ax= a sequence of {len(norms)} axes, "
                             f"p= one norm, or ax=None for a new figure (got {len(axes)})")
    return axes


@style.styled
def overlap(results, ax=None, p: float | None = None):
    """Share of samples of one ball inside the other against the radius, one panel per norm: both
    directions (solid: Lp ball in the reference, dashed: the reverse), ±2 s.e. bands, 50 % points
    marked.  Several results (list or dict label → result) are overlaid, one colour each.  `ax`:
    None (new figure), a sequence of axes (one per norm), or one axes with `p` naming the norm.
    Returns the first panel (the legend is above the panels of a new figure, else in the first one)."""
    models = labelled(results)
    first = models[0][1]
    norms = [float(q) for q in first["p"].values] if p is None else [float(p)]
    axes = _norm_panels(norms, ax, aspect=0.8)
    several = len(models) > 1
    for panel, q in zip(axes, norms):
        for m, (label, ds) in enumerate(models):
            radius = ds["radius"].sel(p=q).values
            for i, direction in enumerate(ds["direction"].values):
                color = style.color(m if several else i)
                cell = ds.sel(direction=direction, p=q)
                frac, err = 100 * cell["fraction"].values, 100 * cell["stderr"].values
                panel.plot(radius, frac, color=color, ls=DIRECTION_LINES[i % 2] if several else "-")
                panel.fill_between(radius, frac - 2 * err, frac + 2 * err, color=color, alpha=0.25, lw=0)
                r50 = float(cell["radius_50"])
                if np.isfinite(r50):
                    panel.plot([r50], [50], marker="o", ms=3, color=color)
                    if not several:
                        panel.annotate(f"{r50:.3g}", (r50, 50), textcoords="offset points", xytext=(3, 3 - 10 * i),
                                       fontsize=6)
        panel.set_xscale("log")
        style.plain_log_ticks(panel.xaxis)
        _keep_inside(panel)
        panel.set_title(f"{_name(q)} vs {first.attrs.get('reference', 'reference')}")
        panel.set_xlabel("radius ε (share of coordinates)" if q == 0 else f"radius ε ({_name(q)} norm)")
        panel.set_ylabel("samples inside (%)")
        panel.set_ylim(-3, 103)
    directions = [DIRECTION_LABELS.get(str(d), str(d)) for d in first["direction"].values]
    if several:
        handles = [Line2D([], [], color=style.color(m), label=label) for m, (label, _) in enumerate(models)]
        handles += [Line2D([], [], color="0.3", ls=DIRECTION_LINES[i % 2], label=d) for i, d in enumerate(directions)]
    else:
        handles = [Line2D([], [], color=style.color(i), label=d) for i, d in enumerate(directions)]
    handles.append(Line2D([], [], color="0.3", marker="o", ls="none", ms=3, label="50 % point"))
    _legend(axes, handles, ax is None)
    return axes[0]


def _keep_inside(ax) -> None:
    """Put the labels of points in the right quarter of a (log-x) panel to their left, so they stay inside."""
    low, high = np.log(ax.get_xlim())
    for text in ax.texts:
        if np.log(text.xy[0]) > low + 0.75 * (high - low):
            text.set_horizontalalignment("right")
            text.set_position((-text.get_position()[0], text.get_position()[1]))


def _strength_ticks(ax, strengths: np.ndarray) -> None:
    ax.set_xticks(range(len(strengths)), [f"{s:.2g}" for s in strengths], rotation=45, ha="right")


@style.styled
def heatmap(ds, ax=None, label: str | None = None):
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
    title = f"clean {float(ds['clean_accuracy']):.1f} %, mCE_Lp {float(ds['mce_lp']):.1f} %, iCE {float(ds['ice']):.1f} %"
    ax.set_title(f"{label}: {title}" if label else title)
    ax.figure.colorbar(image, ax=ax, label="accuracy (%)", fraction=0.05, pad=0.02)
    return ax


@style.styled
def accuracy(results, ax=None, p: float | None = None, label: str | None = None):
    """Accuracy against noise strength (RMS pixel change): one panel per norm with every model's
    curve, its 95 % Wilson band and its clean accuracy (dotted); n in the legend.  `ax`: None (new
    figure), a sequence of axes (one per norm), or one axes with `p` naming the norm (`heatmap`
    draws every norm of one result on one axes).  Several results: a list or a dict label → result."""
    models = labelled(results)
    if label is not None and len(models) == 1:
        models = [(label, models[0][1])]
    norms = [float(q) for q in models[0][1]["p"].values] if p is None else [float(p)]
    axes = _norm_panels(norms, ax, aspect=0.6)
    handles, lowest = [], 100.0
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


def _legend(axes, handles, own_figure: bool) -> None:
    """The legend of a panel grid: above the panels of a figure drawn here, else in the first panel."""
    if own_figure:
        axes[0].figure.legend(handles=handles, loc="outside upper center", ncol=min(len(handles), 3), fontsize=6)
    else:
        axes[0].legend(handles=handles, loc="lower left", fontsize=6, framealpha=0.9)


@style.styled
def summary_bars(runs: Mapping[str, object], ax=None):
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
