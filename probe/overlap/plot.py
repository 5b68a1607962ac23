"""The overlap probe's figure: overlap curves (the Lp-corruption paper's concentration figure)."""
from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from probe.plot import Results, labelled, style
from probe.plot.norms import legend as _legend
from probe.plot.norms import name as _name
from probe.plot.norms import norm_panels as _norm_panels

DIRECTION_LABELS = {"lp_in_reference": "Lp ball in reference", "reference_in_lp": "reference in Lp ball"}
DIRECTION_LINES = ("-", "--")


@style.styled
def overlap(results: Results, ax: Axes | list[Axes] | tuple[Axes, ...] | None = None, p: float | None = None) -> Axes:
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
        for m, (_, ds) in enumerate(models):
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


def _keep_inside(ax: Axes) -> None:
    """Put the labels of points in the right quarter of a (log-x) panel to their left, so they stay inside."""
    low, high = np.log(ax.get_xlim())
    for text in ax.texts:
        if np.log(text.xy[0]) > low + 0.75 * (high - low):   # type: ignore[attr-defined]  # annotations: they have xy
            text.set_horizontalalignment("right")
            text.set_position((-text.get_position()[0], text.get_position()[1]))
