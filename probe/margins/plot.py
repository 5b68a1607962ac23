"""Margin figures: the distribution of margins in every subspace — one box per DCT band, from
low to high frequency, as the thesis draws them (Figs. 4.3, 4.7, 4.11) — for one model or
several, and the energy spectrum of perturbations per band."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib import cm, colormaps
from matplotlib.colors import BoundaryNorm
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from probe import stats
from probe.plot import Results, labelled, style

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from numpy.typing import ArrayLike

QUANTILES = (5.0, 25.0, 50.0, 75.0, 95.0)   # whisker, box, median, box, whisker
LEGEND_ROW = 0.07                           # height of a legend row, as a share of the figure's width
LOG_SPAN = 20.0                             # 'auto' draws a log axis when the 95th / 5th percentile exceed this


def _band_axis(ax: Axes, ds: xr.Dataset) -> None:
    """Ticks and label of the subspace axis: DCT blocks by their first frequency, low to high."""
    positions = np.arange(ds.sizes["subspace"])
    if "band_start" in ds.coords:
        labels, name = [str(int(v)) for v in ds["band_start"].values], "DCT band (low → high frequency)"
    else:
        labels, name = [str(v).replace("_", " ") for v in ds["subspace"].values], "subspace"
    step = int(np.ceil(len(labels) / 12))   # at most about a dozen labels; a tick for every band
    ax.set_xticks(positions, [label if i % step == 0 else "" for i, label in enumerate(labels)])
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.set_xlabel(name)
    ax.grid(False, axis="x")


def _log_scale(finite: np.ndarray, log: bool | str) -> bool:
    """Whether to draw a log axis: `log` itself, or for 'auto' whether the margins span decades."""
    if log != "auto":
        return bool(log)
    positive = finite[finite > 0]
    if positive.size < 2:
        return False
    low, high = np.percentile(positive, [5, 95])
    return bool(high / low > LOG_SPAN)


def ceiling(values: ArrayLike, log: bool = True) -> float:
    """The level at which non-converged (+inf) margins are drawn: above every finite one."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    return float(finite.max()) * (2.0 if log else 1.12) if finite.size else 1.0


def not_converged_line(ax: Axes, level: float) -> Line2D:
    """The dotted line at `level` that non-converged margins sit on, and its legend entry."""
    ax.axhline(level, color="0.5", lw=0.6, ls=":")
    return Line2D([], [], color="0.5", lw=0.6, ls=":", label="not converged")


def boxes(ax: Axes, margins: np.ndarray, positions: ArrayLike, width: float, color: tuple[float, float, float],
          level: float,
          confidence: float = stats.CONFIDENCE) -> np.ndarray:
    """One box (25–75 %), whiskers (5–95 %) and black median per row of `margins` (rows × samples), +inf
    counted at `level`, and a black bar over the median's order-statistic interval (`confidence`;
    an end at +inf drawn at `level`); returns the quantiles (5, 25, 50, 75, 95) × rows."""
    q = np.percentile(np.where(np.isfinite(margins), margins, level), QUANTILES, axis=-1).reshape(5, -1)
    intervals = [stats.median(row, confidence) for row in np.atleast_2d(margins)]
    line = {"color": color, "linewidth": 0.6}
    ax.bxp([{"whislo": a, "q1": b, "med": c, "q3": d, "whishi": e} for a, b, c, d, e in q.T],
           positions=np.atleast_1d(positions), widths=width, patch_artist=True, showfliers=False,
           manage_ticks=False, boxprops={"facecolor": (*color, 0.35), "edgecolor": color, "linewidth": 0.6},
           whiskerprops=line, capprops=line, medianprops={"color": "black", "linewidth": 1.0})
    for x, m in zip(np.atleast_1d(positions), intervals):
        ax.plot([x, x], [max(m.low, 0.0), min(m.high, level)], color="black", lw=1.6, solid_capstyle="butt")
    return q


def box_handle(color: tuple[float, float, float], label: str | None) -> Patch:
    """The legend entry of `boxes` in `color`, named `label` (else by its quantiles)."""
    return Patch(facecolor=(*color, 0.35), edgecolor=color, label=label or "25–75 %, whiskers 5–95 %")


def median_handle() -> Line2D:
    """The legend entry of the medians of `boxes`."""
    return Line2D([], [], color="black", lw=1.0, label="median")


def interval_handle(confidence: float = stats.CONFIDENCE) -> Line2D:
    """The legend entry of the bars over the medians' intervals drawn by `boxes`."""
    return Line2D([], [], color="black", lw=1.6, marker="|", ls="none",
                  label=f"{100 * confidence:g} % CI of the median")


@style.styled
def bands(results: Results, ax: Axes | None = None, log: bool | str = "auto", variable: str = "margin",
          width: float = 0.8) -> Axes:
    """Margins per subspace: one box (25–75 %) with whiskers (5–95 %) and the median per band with
    a bar over its 95 % order-statistic interval, n in the legend, for
    one margins result, a list of them or a dict label → result (boxes side by side, one colour each,
    the medians joined across bands).

    `variable` chooses the DeepFool margin 'margin' (default) or 'margin_refined' (the bisection
    distance of a run with `refine=True`).  Non-converged samples (`+inf`) count as lying on the
    dotted 'not converged' line at the top, above which each band's share of them is written (%).
    `log`: True, False or 'auto' (a log axis when the margins span more than a factor `LOG_SPAN`).
    """
    models = labelled(results)
    values = [np.asarray(ds[variable].values, dtype=float) for _, ds in models]
    unconverged = any((~np.isfinite(v)).any() for v in values)
    if ax is None:   # taller by the rows of the legend above the axes
        _, ax = style.new_axes(style.ONE_COLUMN, 0.5 + LEGEND_ROW * (len(models) + 2 + unconverged))
    finite = np.concatenate([v[np.isfinite(v)] for v in values])
    log = _log_scale(finite, log)
    level = ceiling(finite, log)
    step = width / len(models)
    handles: list[Artist] = []
    for i, ((label, _ds), margins) in enumerate(zip(models, values)):
        color = style.color(i)
        positions = np.arange(margins.shape[0]) + (i - (len(models) - 1) / 2) * step
        medians = boxes(ax, margins, positions, 0.85 * step, color, level)[2]
        ax.plot(positions, medians, color=color, lw=0.8, alpha=0.8)
        for x, share in zip(positions, 100.0 * (~np.isfinite(margins)).mean(axis=1)):
            if share > 0:
                ax.annotate(f"{share:.0f}", (x, level), xytext=(0, 1.5), textcoords="offset points", rotation=90,
                            ha="center", va="bottom", fontsize=6, color=color)
        handles.append(box_handle(color, f"{label}, n = {margins.shape[1]}" if label else
                                  f"25–75 %, whiskers 5–95 %, n = {margins.shape[1]}"))
    several = models[0][0] is not None
    handles.append(median_handle())
    if several:
        handles[-1].set_label("median (box 25–75 %, whiskers 5–95 %)")
    handles.append(interval_handle())
    if unconverged:
        handles.append(not_converged_line(ax, level))
        handles[-1].set_label("not converged (% of images above)")
    top, room = (level, 0.84) if unconverged else (float(finite.max()) if finite.size else 1.0, 1 / 1.05)
    if log:
        ax.set_yscale("log")
        bottom = float(finite[finite > 0].min()) / 1.5 if (finite > 0).any() else top / 100
        ax.set_ylim(bottom, bottom * (top / bottom) ** (1 / room))   # `room`: the share of the height below `top`
        style.plain_log_ticks(ax.yaxis)
    else:
        ax.set_ylim(0, top / room)
    _band_axis(ax, models[0][1])
    units = str(models[0][1][variable].attrs.get("units", ""))
    units = "pixels in [0, 1]" if units.startswith("pixel") else units
    name = "refined margin" if variable == "margin_refined" else "margin"
    ax.set_ylabel(f"{name} ‖δ‖₂" + (f" ({units})" if units else ""))
    # above the axes: boxes and whiskers reach into every corner of the panel
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.01), frameon=False)
    return ax


@style.styled
def spectrum(ds: xr.Dataset, ax: Axes | None = None, variable: str = "energy", over: str | None = None) -> Axes:
    """Share of perturbation energy per band (log axis); with `over` (e.g. 'epoch') one line per
    value of that dimension, coloured by it (colour bar)."""
    if ax is None:
        _, ax = style.new_axes(style.ONE_COLUMN, 0.7)
    energy = ds[variable]
    extra = [d for d in energy.dims if d not in ("subspace", over)]
    if extra:
        energy = energy.mean(extra)
    positions = np.arange(ds.sizes["subspace"])
    if over is None:
        ax.plot(positions, energy.values, marker="o", color=style.color(0))
    else:
        values = ds[over].values
        colors = colormaps[style.SEQUENTIAL].resampled(max(len(values), 2))
        for i, value in enumerate(values):
            ax.plot(positions, energy.sel({over: value}).values, marker="o", ms=2, color=colors(i))
        edges = np.arange(len(values) + 1) - 0.5
        mappable = cm.ScalarMappable(BoundaryNorm(edges, colors.N), colors)
        bar = ax.figure.colorbar(mappable, ax=ax, ticks=np.arange(len(values)), fraction=0.05, pad=0.02)
        bar.set_ticklabels([str(v) for v in values])
        bar.set_label(over)
    ax.set_yscale("log")
    _band_axis(ax, ds)
    ax.set_ylabel("share of perturbation energy (fraction)")
    return ax
