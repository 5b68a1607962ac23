"""Flatness figures from `probe='flatness'` results: curves with error bands (one or several
models), the Hessian spectrum (top eigenvalues and the SLQ spectral density), and 1-D / 2-D
landscape slices.

Values stored as `+inf` (a loss that was not finite) are left out of the drawing (gaps)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from probe.errors import ParameterError
from probe.flatness import flatness_estimate
from probe.plot import Results, labelled, style

if TYPE_CHECKING:
    from collections.abc import Callable

    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from numpy.typing import ArrayLike

DENSITY_RANGE = 0.1   # the density axis reaches down to this fraction of the lowest Ritz-value peak


def _label(ds: xr.Dataset) -> str:
    sha = str(ds.attrs.get("model_sha256", ""))[:6]
    return f"{ds.attrs.get('model', 'model')}{' ' + sha if sha else ''}"


def _named(results: Results) -> list[tuple[str, xr.Dataset]]:
    """(label, result) pairs, a single result labelled by its model and weights."""
    return [(label if label is not None else _label(ds), ds) for label, ds in labelled(results)]


def _drawable(values: ArrayLike) -> np.ma.MaskedArray:
    """The values with the non-finite ones masked (drawn as gaps)."""
    return np.ma.masked_invalid(np.asarray(values, dtype=float))


@style.styled
def curves(ds: xr.Dataset | Sequence[xr.Dataset] | Mapping[str, xr.Dataset], ax: Axes | None = None,
           band: float | None = None, **kwargs: Any) -> Axes:
    """F(γ) against the radius with its 95 % percentile bootstrap interval over directions shaded
    (or, with `band`, ± `band` standard errors); several models by list or {label: ds}."""
    if ax is None:
        _, ax = style.new_axes()
    named = _named(ds)
    for i, (label, result) in enumerate(named):
        radius, mean, se = result["radius"].values, _drawable(result["flatness"]), _drawable(result["flatness_se"])
        ax.plot(radius, mean, marker="o", ms=3, color=style.color(i), label=label, **kwargs)
        if band is None:
            estimates = [flatness_estimate(result, j) for j in range(len(radius))]
            low, high = _drawable([e.low for e in estimates]), _drawable([e.high for e in estimates])
        else:
            low, high = mean - band * se, mean + band * se
        ax.fill_between(radius, low, high, color=style.color(i), alpha=0.25, lw=0)
    first = named[0][1]
    units = first["radius"].attrs.get("units", "")
    ax.set_xlabel(f"radius γ{f' ({units})' if units else ''}")
    ax.set_ylabel("flatness F(γ) (nats)")
    handles, _ = ax.get_legend_handles_labels()
    directions = first.sizes.get("direction", 0)
    spread = "95 % CI (bootstrap)" if band is None else f"± {band:g} s.e."
    handles.append(Patch(color="0.5", alpha=0.35, label=f"{spread}, n = {directions} directions"))
    # above the panel: the band reaches its corners
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.01), frameon=False)
    return ax


def _density_floor(ds: xr.Dataset) -> float:
    """The lowest density worth showing: a fraction of the smallest peak at a Ritz value."""
    grid, rho = ds["spectrum"].values, ds["density"].values
    nodes = ds["slq_node"].values.ravel() if "slq_node" in ds else grid[[int(np.argmax(rho))]]
    peaks = np.interp(nodes[np.isfinite(nodes)], grid, rho)
    peaks = peaks[peaks > 0]
    return DENSITY_RANGE * float(peaks.min()) if peaks.size else float(rho.max()) * 1e-6


@style.styled
def spectrum(results: Results, ax: Axes | None = None) -> Axes:
    """The Hessian spectrum: the SLQ spectral density on a log axis (where the result has it) with
    the top eigenvalues (power iteration) as dashed lines, or the top eigenvalues as bars by rank;
    the trace in the legend.  Several results (list or dict) are overlaid, one colour each."""
    if ax is None:
        _, ax = style.new_axes()
    named = _named(results)
    with_density = [pair for pair in named if "density" in pair[1]]
    if not with_density:
        return eigenvalues(results, ax=ax)
    handles: list[Artist] = []
    floors: list[float] = []
    for i, (label, ds) in enumerate(with_density):
        color = style.color(i)
        rho = np.where(ds["density"].values > 0, ds["density"].values, np.nan)
        ax.plot(ds["spectrum"].values, rho, color=color)
        floors.append(_density_floor(ds))
        text = label if len(with_density) > 1 else "SLQ density"
        if "trace" in ds and np.isfinite(float(ds["trace"])):
            text += f", trace {float(ds['trace']):.3g} ± {float(ds['trace_se']):.2g}"
        handles.append(Line2D([], [], color=color, label=text))
        if "eigenvalue" in ds:
            values = ds["eigenvalue"].values[np.isfinite(ds["eigenvalue"].values)]
            for value in values:
                ax.axvline(value, color=color, lw=0.6, ls="--")
            if values.size:
                handles.append(Line2D([], [], color=color, lw=0.6, ls="--", label=f"top {values.size} eigenvalues"))
    ax.set_yscale("log")
    top = max(float(np.nanmax(np.where(ds["density"].values > 0, ds["density"].values, np.nan)))
              for _, ds in with_density)
    ax.set_ylim(min(floors), top * 3)
    ax.set_xlabel("Hessian eigenvalue λ")
    ax.set_ylabel(f"spectral density ({with_density[0][1]['density'].attrs.get('units', '1/nats')})")
    # above the panel: the density peaks reach its top
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.01), frameon=False)
    return ax


@style.styled
def eigenvalues(results: Results, ax: Axes | None = None) -> Axes:
    """Top Hessian eigenvalues by rank (signed; by decreasing `|λ|`), one colour per model; the ones
    that did not converge are marked, not plotted."""
    if ax is None:
        _, ax = style.new_axes()
    named = [(label, ds) for label, ds in _named(results) if "eigenvalue" in ds]
    if not named:
        raise ParameterError("no result has Hessian eigenvalues (run with --hessian top:K)")
    width = 0.8 / len(named)
    for i, (label, ds) in enumerate(named):
        rank, values = ds["rank"].values, ds["eigenvalue"].values
        converged = ds["eigenvalue_converged"].values & np.isfinite(values)
        x = rank + (i - (len(named) - 1) / 2) * width
        text = label if len(named) > 1 else "eigenvalue (power iteration)"
        ax.bar(x[converged], values[converged], width=width, color=style.color(i), label=text)
        for r in x[~converged]:
            ax.annotate("not converged", (r, 0), rotation=90, ha="center", va="bottom", fontsize=6)
    ax.axhline(0, color="black", lw=0.5)
    ax.set_xticks(named[0][1]["rank"].values)
    ax.set_xlabel("rank (by |λ|)")
    ax.set_ylabel("Hessian eigenvalue λ")
    ax.legend(loc="upper right")
    return ax


@style.styled
def landscape_1d(results: Results, ax: Axes | None = None) -> Axes:
    """Loss along a 1-D slice through the trained weights (at 0); several models overlaid."""
    if ax is None:
        _, ax = style.new_axes()
    named = _named(results)
    for i, (label, ds) in enumerate(named):
        ax.plot(ds["alpha"].values, _drawable(ds["landscape_1d"]), color=style.color(i), label=label)
    ax.axvline(0, color="0.5", lw=0.5, ls=":")
    ax.set_xlabel(named[0][1]["alpha"].attrs.get("long_name", "α (0: the trained weights)").replace(" (", "\n(", 1))
    ax.set_ylabel("loss (nats)")
    # above the panel: the curve rises at both ends
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.01), frameon=False)
    return ax


@style.styled
def landscape_2d(ds: xr.Dataset, ax: Axes | None = None, levels: int = 20, **kwargs: Any) -> Axes:
    """Filled contours of the loss on a 2-D slice, the trained weights marked at the origin."""
    if ax is None:
        _, ax = style.new_axes(aspect=0.85)
    alpha, beta, values = ds["alpha"].values, ds["beta"].values, _drawable(ds["landscape_2d"])
    filled = ax.contourf(alpha, beta, values.T, levels=levels, cmap=style.SEQUENTIAL, **kwargs)
    ax.contour(alpha, beta, values.T, levels=levels, colors="white", linewidths=0.3)
    ax.plot([0], [0], marker="*", color="white", ms=6, ls="none")
    ax.figure.colorbar(filled, ax=ax, label="loss (nats)")
    ax.set_xlabel("α (first direction)")
    ax.set_ylabel("β (second direction)")
    ax.grid(False)
    return ax


PANELS: dict[str, Callable[..., Axes]] = {"flatness": curves, "spectrum": spectrum, "landscape_1d": landscape_1d}


def _panels(ds: xr.Dataset) -> list[str]:
    """The panels a result has data for, in the summary's order."""
    names = ["flatness"] if "flatness" in ds else []
    names += ["spectrum"] if ("density" in ds or "eigenvalue" in ds) else []
    names += [name for name in ("landscape_1d", "landscape_2d") if name in ds]
    return names


@style.styled
def summary(results: Results, ax: Axes | Sequence[Axes] | None = None) -> Axes:
    """Every panel the results have — flatness curves, the Hessian spectrum, the landscape slices —
    and no empty one; several results are overlaid (a 2-D landscape gets one panel per model).
    `ax`: None for a new figure, or a sequence of as many axes as panels (one axes when there is
    one panel).  Returns the first axes."""
    named = _named(results)
    present = [name for name in ("flatness", "spectrum", "landscape_1d", "landscape_2d")
               if any(name in _panels(ds) for _, ds in named)]
    if not present:
        raise ParameterError("the result has nothing to draw (no flatness, Hessian or landscape variables)")
    mapping = {label: ds for label, ds in named}
    several = mapping if len(named) > 1 else named[0][1]
    jobs: list[tuple[str, tuple[str, xr.Dataset] | None]] = [(name, None) for name in present if name != "landscape_2d"]
    if "landscape_2d" in present:
        jobs += [("landscape_2d", (label, ds)) for label, ds in named if "landscape_2d" in ds]
    count = len(jobs)
    if ax is not None:
        axes = style.axes_for(ax, count, "flatness.summary")
    else:
        _, axes = style.panels(count, style.TWO_COLUMN if count > 1 else style.ONE_COLUMN, aspect=0.8)
    for (name, one), panel in zip(jobs, axes):
        if one is None:
            PANELS[name]({k: v for k, v in mapping.items() if name in _panels(v)} if len(named) > 1 else several,
                         ax=panel)
        else:
            landscape_2d(one[1], ax=panel)
            if len(named) > 1:
                panel.set_title(one[0])
    return axes[0]
