"""Margin figures: margin distribution per subspace band, and perturbation energy spectra."""
from __future__ import annotations

from typing import Mapping

import numpy as np

from probe.plot import style


def _band_positions(ds) -> tuple[np.ndarray, str]:
    if "band_start" in ds.coords:
        return ds["band_start"].values.astype(float), "DCT block start (frequency)"
    return ds["subspace"].values.astype(float), "subspace"


def _as_mapping(results) -> Mapping[str, object]:
    if hasattr(results, "data_vars"):  # one result (an xarray.Dataset is itself a Mapping)
        return {None: results}
    if isinstance(results, Mapping):
        return results
    return {str(r.attrs.get("model", i)): r for i, r in enumerate(results)}


def bands(results, ax=None, log: bool = False, points: bool = True, jitter: float = 0.3,
          max_points: int = 200, seed: int = 0, **line_style):
    """Margins per band: median line plus jittered points, for one result or several models.

    `results` is a margins result, a list of them, or a dict label → result (one colour
    each).  Non-converged samples (margin `+inf`) are drawn as crosses on a line above the
    largest finite margin, and a band whose median is infinite gets an open marker there.
    """
    if ax is None:
        _, ax = style.new_axes(style.ONE_COLUMN, 0.7)
    mapping = _as_mapping(results)
    finite = np.concatenate([ds["margin"].values[np.isfinite(ds["margin"].values)].ravel() for ds in mapping.values()])
    top = float(finite.max()) * (1.6 if log else 1.1) if finite.size else 1.0
    rng = np.random.default_rng(seed)
    xlabel = "subspace"
    for i, (label, ds) in enumerate(mapping.items()):
        color = style.color(i)
        positions, xlabel = _band_positions(ds)
        margins = ds["margin"].values
        if points:
            count = min(max_points, margins.shape[1])
            chosen = rng.choice(margins.shape[1], count, replace=False)
            shown = margins[:, chosen]
            x = positions[:, None] + rng.uniform(-jitter, jitter, shown.shape)
            ok = np.isfinite(shown)
            ax.scatter(x[ok], shown[ok], s=2, alpha=0.25, color=color, linewidths=0)
            ax.scatter(x[~ok], np.full((~ok).sum(), top), s=6, marker="x", alpha=0.4, color=color, linewidths=0.6)
        median = np.median(margins, axis=1)
        ax.plot(positions, np.where(np.isfinite(median), median, top), marker="o", ms=3, color=color,
                label=label, **line_style)
        infinite = ~np.isfinite(median)
        if infinite.any():
            ax.plot(positions[infinite], np.full(infinite.sum(), top), ls="none", marker="o", ms=5,
                    mfc="white", color=color)
    ax.axhline(top, color="0.6", lw=0.5, ls=":")
    ax.annotate("not converged", (0.99, top), xycoords=("axes fraction", "data"), ha="right", va="bottom",
                fontsize=6, color="0.4")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("margin (L2)")
    if any(label is not None for label in mapping):
        ax.legend()
    return ax


def spectrum(ds, ax=None, variable: str = "energy", over: str | None = None, **line_style):
    """Share of perturbation energy per band; one line per value of `over` (e.g. 'epoch') if given."""
    if ax is None:
        _, ax = style.new_axes(style.ONE_COLUMN, 0.7)
    positions, xlabel = _band_positions(ds)
    energy = ds[variable]
    extra = [d for d in energy.dims if d not in ("subspace", over)]
    if extra:
        energy = energy.mean(extra)
    if over is None:
        ax.plot(positions, energy.values, marker="o", ms=3, color=style.color(0), **line_style)
    else:
        values = ds[over].values
        for i, value in enumerate(values):
            ax.plot(positions, energy.sel({over: value}).values, marker="o", ms=2,
                    color=style.PALETTE[i % len(style.PALETTE)], alpha=0.4 + 0.6 * (i + 1) / len(values),
                    label=f"{over} {value}", **line_style)
        ax.legend()
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share of perturbation energy")
    return ax
