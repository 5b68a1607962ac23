"""Flatness figures from `probe='flatness'` results: curves with error bands (one or several
models), Hessian eigenvalues and spectral density, and 1-D / 2-D landscape slices.

Values stored as `+inf` (a loss that was not finite) are left out of the drawing (gaps)."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import xarray as xr

from probe.plot import style

PANELS = ("flatness", "eigenvalue", "density", "landscape_1d", "landscape_2d")


def _label(ds: xr.Dataset) -> str:
    sha = str(ds.attrs.get("model_sha256", ""))[:6]
    return f"{ds.attrs.get('model', 'model')}{' ' + sha if sha else ''}"


def _named(results) -> list[tuple[str, xr.Dataset]]:
    if isinstance(results, xr.Dataset):
        return [(_label(results), results)]
    if isinstance(results, Mapping):
        return list(results.items())
    return [(_label(ds), ds) for ds in results]


def _drawable(values: np.ndarray) -> np.ma.MaskedArray:
    """The values with the non-finite ones masked (drawn as gaps)."""
    return np.ma.masked_invalid(np.asarray(values, dtype=float))


def curves(ds: xr.Dataset | Sequence[xr.Dataset] | Mapping[str, xr.Dataset], ax=None, band: float = 1.0,
           **kwargs):
    """F(γ) against the radius, ± `band` standard errors shaded; several models by list or {label: ds}."""
    if ax is None:
        _, ax = style.new_axes()
    for i, (label, result) in enumerate(_named(ds)):
        radius, mean, se = result["radius"].values, _drawable(result["flatness"]), _drawable(result["flatness_se"])
        ax.plot(radius, mean, marker="o", ms=3, color=style.color(i), label=label, **kwargs)
        ax.fill_between(radius, mean - band * se, mean + band * se, color=style.color(i), alpha=0.25, lw=0)
    first = _named(ds)[0][1]
    ax.set_xlabel(f"radius γ ({first['radius'].attrs.get('units', '')})")
    ax.set_ylabel("flatness F(γ) (nats)")
    ax.legend(loc="upper left")
    return ax


def spectrum(ds: xr.Dataset, ax=None, **kwargs):
    """Top Hessian eigenvalues by rank (signed); non-converged ones are marked, not plotted."""
    if ax is None:
        _, ax = style.new_axes()
    rank, values = ds["rank"].values, ds["eigenvalue"].values
    converged = ds["eigenvalue_converged"].values & np.isfinite(values)
    colors = [style.color(3) if v < 0 else style.color(0) for v in values[converged]]
    ax.bar(rank[converged], values[converged], color=colors, **kwargs)
    for r in rank[~converged]:
        ax.annotate("not converged", (r, 0), rotation=90, ha="center", va="bottom", fontsize=6)
    ax.axhline(0, color="black", lw=0.5)
    ax.set_xticks(rank)
    ax.set_xlabel("rank (by |λ|)")
    ax.set_ylabel("Hessian eigenvalue λ")
    return ax


def density(ds: xr.Dataset, ax=None, floor: float = 1e-6, **kwargs):
    """SLQ spectral density on a log scale, with the top eigenvalues as vertical lines."""
    if ax is None:
        _, ax = style.new_axes()
    grid, rho = ds["spectrum"].values, ds["density"].values
    ax.semilogy(grid, np.maximum(rho, floor * rho.max()), color=style.color(0), **kwargs)
    if "eigenvalue" in ds:
        for value in ds["eigenvalue"].values[np.isfinite(ds["eigenvalue"].values)]:
            ax.axvline(value, color=style.color(3), lw=0.6, ls="--")
    ax.set_xlabel("eigenvalue λ")
    ax.set_ylabel("density")
    return ax


def landscape_1d(ds: xr.Dataset, ax=None, **kwargs):
    """Loss along a 1-D slice."""
    if ax is None:
        _, ax = style.new_axes()
    ax.plot(ds["alpha"].values, _drawable(ds["landscape_1d"]), color=style.color(0), **kwargs)
    ax.set_xlabel(ds["alpha"].attrs.get("long_name", "α"))
    ax.set_ylabel("loss (nats)")
    return ax


def landscape_2d(ds: xr.Dataset, ax=None, levels: int = 20, **kwargs):
    """Filled contours of the loss on a 2-D slice, the trained weights marked at the origin."""
    if ax is None:
        _, ax = style.new_axes(aspect=0.85)
    alpha, beta, values = ds["alpha"].values, ds["beta"].values, _drawable(ds["landscape_2d"])
    filled = ax.contourf(alpha, beta, values.T, levels=levels, cmap="viridis", **kwargs)
    ax.contour(alpha, beta, values.T, levels=levels, colors="white", linewidths=0.3)
    ax.plot([0], [0], marker="*", color="white", ms=6)
    ax.figure.colorbar(filled, ax=ax, label="loss (nats)")
    ax.set_xlabel("α")
    ax.set_ylabel("β")
    ax.grid(False)
    return ax


DRAW = {"flatness": curves, "eigenvalue": spectrum, "density": density,
        "landscape_1d": landscape_1d, "landscape_2d": landscape_2d}


def summary(ds: xr.Dataset, ax=None):
    """Every panel the result has, side by side (on `ax`: only the first); returns the first axes."""
    present = [name for name in PANELS if name in ds]
    if ax is not None:
        return DRAW[present[0]](ds, ax=ax)
    _, axes = style.new_axes(width=style.TWO_COLUMN if len(present) > 1 else style.ONE_COLUMN,
                             aspect=0.8, ncols=min(len(present), 3), nrows=int(np.ceil(len(present) / 3)),
                             squeeze=False)
    flat = axes.ravel()
    for name, panel in zip(present, flat):
        DRAW[name](ds, ax=panel)
    for panel in flat[len(present):]:
        panel.set_visible(False)
    flat[0].figure.tight_layout()
    return flat[0]
