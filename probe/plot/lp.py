"""Lp-geometry figures: overlap curves, accuracy under Lp noise, mCE_Lp / iCE across models."""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np
from matplotlib.ticker import FuncFormatter, NullFormatter

from probe.balls import norm_name
from probe.plot import style

DIRECTION_LABELS = {"lp_in_reference": "Lp ball in reference", "reference_in_lp": "reference in Lp ball"}


def _name(p: float) -> str:
    """A norm's name for a figure: 'L∞' rather than 'Linf'."""
    return "L∞" if math.isinf(p) else norm_name(p)


def _two_and_five(value: float, _position) -> str:
    """Label the 2× and 5× minor ticks of a log axis (short ranges show no decade ticks)."""
    mantissa = value / 10 ** math.floor(math.log10(value))
    return f"{value:.3g}" if round(mantissa, 6) in (2.0, 5.0) else ""


def overlap(ds, ax=None, p: float | None = None):
    """Fraction inside against the radius, one panel per norm (both directions, ±2 s.e. bands, 50 %
    points marked).  `ax`: None (new figure), a sequence of axes (one per norm), or one axes
    with `p` naming the norm to draw.  Returns the first panel."""
    norms = [float(q) for q in ds["p"].values] if p is None else [float(p)]
    if ax is None:
        ncols = min(3, len(norms))
        nrows = math.ceil(len(norms) / ncols)
        _, axes = style.new_axes(style.TWO_COLUMN, aspect=0.8, ncols=ncols, nrows=nrows,
                                 squeeze=False, layout="constrained")
        axes = list(axes.ravel())
        for extra in axes[len(norms):]:
            extra.set_visible(False)
    else:
        axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
    for panel, q in zip(axes, norms):
        radius = ds["radius"].sel(p=q).values
        for i, direction in enumerate(ds["direction"].values):
            cell = ds.sel(direction=direction, p=q)
            frac, err = 100 * cell["fraction"].values, 100 * cell["stderr"].values
            panel.plot(radius, frac, color=style.color(i), label=DIRECTION_LABELS.get(str(direction), str(direction)))
            panel.fill_between(radius, frac - 2 * err, frac + 2 * err, color=style.color(i), alpha=0.25, lw=0)
            r50 = float(cell["radius_50"])
            if np.isfinite(r50):
                panel.plot([r50], [50], marker="o", ms=3, color=style.color(i))
                panel.annotate(f"{r50:.3g}", (r50, 50), textcoords="offset points", xytext=(3, 3 - 10 * i), fontsize=6)
        panel.set_xscale("log")
        if radius.max() / radius.min() < 100:  # less than two decades: label the minor ticks too
            panel.xaxis.set_minor_formatter(FuncFormatter(_two_and_five))
            panel.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.3g}"))
            panel.tick_params(axis="x", which="minor", labelsize=6)
        else:
            panel.xaxis.set_minor_formatter(NullFormatter())
        panel.set_title(f"{_name(q)} vs {ds.attrs.get('reference', 'reference')}")
        panel.set_xlabel(f"radius ({_name(q)})")
        panel.set_ylabel("inside (%)")
        panel.set_ylim(-3, 103)
    axes[0].legend(loc="lower left", fontsize=6, framealpha=0.9)
    return axes[0]


def accuracy(ds, ax=None, label: str | None = None):
    """Accuracy against noise strength (RMS pixel change), one line per norm; clean accuracy dashed."""
    if ax is None:
        _, ax = style.new_axes()
    strength = ds["strength"].values
    for j, q in enumerate(ds["p"].values):
        ax.plot(strength, ds["accuracy"].sel(p=q).values, marker="o", ms=2, color=style.color(j), label=_name(float(q)))
    ax.axhline(float(ds["clean_accuracy"]), ls="--", color="0.4", lw=0.8, label="clean")
    ax.set_xlabel("noise strength (RMS pixel change)")
    ax.set_ylabel("accuracy (%)")
    title = f"mCE_Lp {float(ds['mce_lp']):.1f}, iCE {float(ds['ice']):.1f}%"
    ax.set_title(f"{label}\n{title}" if label else title)
    ax.legend(ncol=2, fontsize=6)
    return ax


def summary_bars(runs: Mapping[str, object], ax=None):
    """mCE_Lp and iCE bars for several models (`{label: lp result}`)."""
    if ax is None:
        _, ax = style.new_axes()
    labels = list(runs)
    x = np.arange(len(labels))
    for i, (key, name) in enumerate((("mce_lp", "mCE_Lp"), ("ice", "iCE (%)"))):
        values = [float(runs[k][key]) for k in labels]
        bars = ax.bar(x + (i - 0.5) * 0.38, values, width=0.38, color=style.color(i), label=name)
        ax.bar_label(bars, fmt="%.1f", fontsize=6)
    ax.set_xticks(x, labels)
    ax.axhline(0, color="0.3", lw=0.6)
    ax.set_ylabel("%")
    ax.legend()
    return ax
