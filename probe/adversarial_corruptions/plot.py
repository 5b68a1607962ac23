"""Figures of the adversarial-corruption probe (`probe='adversarial_corruptions'` results).

- `robust_accuracy`: accuracy under AdA's corruptions against the relative radius ν, with the
  clean and reconstruction accuracies;
- `ssim_distributions`: the SSIM of the corruptions to the clean images per ν, before the
  guard (violins) and after it (medians), with the guard threshold (the paper's Fig. 1b);
- `examples`: clean images, their adversarial corruptions at every ν > 0 and the differences
  to the clean image, exaggerated (the paper's Fig. 1a);
- `overview` (the default): the three side by side.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import numpy as np
import xarray as xr

from probe import stats
from probe.adversarial_corruptions import summary
from probe.plot import intervals, style

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.collections import Collection
    from matplotlib.typing import HashableList

EXAGGERATION = 4.0   # differences are drawn as 0.5 + 4 (x̂ − x)


@style.styled
def robust_accuracy(ds: xr.Dataset, ax: Axes | None = None, label: str | None = None) -> Axes:
    """Robust accuracy (%) against ν with its 95 % Wilson band from the per-sample outcomes; the
    clean and reconstruction accuracies (the corruption network's output c_φ(x) without an
    attack) as dashed lines with their intervals in the legend; n in the legend."""
    if ax is None:
        _, ax = style.new_axes()
    nu = ds["nu"].values
    numbers = summary(ds)
    ax.plot(nu, ds["robust_accuracy"].values, marker="o", ms=3, color=style.color(0),
            label=f"{label or 'adversarial'}, n = {ds.sizes['sample']}")
    intervals.band(ax, nu, *intervals.wilson_percent(ds["correct"].transpose("nu", "sample").values,
                                                     ds["finite"].transpose("nu", "sample").values), style.color(0))
    clean, reconstruction = (intervals.text(intervals.estimate(numbers, key), ".1f", " %")
                             for key in ("clean_accuracy", "reconstruction_accuracy"))
    ax.axhline(float(ds["clean_accuracy"]), ls="--", lw=0.8, color="0.4", label=f"clean {clean}")
    ax.axhline(float(ds["reconstruction_accuracy"]), ls=":", lw=0.8, color=style.color(1),
               label=rf"reconstruction $c_\phi(x)$ {reconstruction}")
    ax.set_xlabel("relative radius ν")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 102)
    ax.set_title(f"AdA through {ds.attrs.get('param_corruption_net', 'corruption net')}, "
                 f"{ds.attrs.get('param_steps', '')} steps")
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=[*handles, intervals.band_handle()], fontsize=6)
    return ax


@style.styled
def ssim_distributions(ds: xr.Dataset, ax: Axes | None = None) -> Axes:
    """SSIM to the clean image per ν: violins before the guard, medians after it with their 95 %
    order-statistic intervals, the threshold dashed.  The y axis spans the SSIMs (the violins keep
    their shape when every SSIM is near 1); a threshold below them is named in the legend instead
    of stretching the axis."""
    if ax is None:
        _, ax = style.new_axes()
    nu = ds["nu"].values
    positions = np.arange(len(nu))
    parts = ax.violinplot([ds["ssim"].sel(nu=v).values for v in nu], positions, showmedians=True, widths=0.8)
    for body in cast("list[Collection]", parts["bodies"]):   # the stubs type every entry as one Collection
        body.set_facecolor(style.color(0))
        body.set_alpha(0.5)
    medians = [stats.median(ds["ssim_guarded"].sel(nu=v).values) for v in nu]
    centre = np.array([m.value for m in medians])
    reach = np.array([[m.value - m.low for m in medians], [m.high - m.value for m in medians]])
    ax.errorbar(positions, centre, yerr=reach, fmt="s", ms=3, lw=0.8, capsize=2, color=style.color(2),
                label=f"median after the guard, {100 * stats.CONFIDENCE:g} % CI")
    threshold = float(ds.attrs.get("param_ssim_threshold", 0.3))
    low, high = float(ds["ssim"].min()), float(ds["ssim"].max())
    pad = max(0.1 * (high - low), 0.005)
    shown = threshold >= low - 5 * pad           # near the SSIMs: drawn; far below: named only
    if shown:
        ax.axhline(threshold, ls="--", lw=0.8, color="0.4", label="guard threshold")
    else:
        ax.plot([], [], ls="--", lw=0.8, color="0.4", label=f"guard threshold {threshold:g} (below)")
    ax.set_xticks(positions, [f"{v:g}" for v in nu])
    ax.set_xlabel("relative radius ν")
    ax.set_ylabel("SSIM to the clean image")
    ax.set_ylim(min(low, threshold if shown else low) - pad, min(high + pad, 1.0 + pad))
    # above the panel: violins and intervals fill it
    ax.legend(fontsize=6, loc="lower left", bbox_to_anchor=(0, 1.01), frameon=False)
    return ax


@style.styled
def examples(ds: xr.Dataset, ax: Axes | None = None) -> Axes:
    """Rows: example images; columns: clean, the corruption at every ν > 0, then the differences to the
    clean image at every ν > 0, exaggerated."""
    nu = [v for v in ds["nu"].values if v > 0]
    clean = ds["example_clean"].values
    corrupted = ds["example_corrupted"].sel(nu=nu).values                    # (example, nu, C, H, W)
    differences = np.clip(0.5 + EXAGGERATION * (corrupted - clean[:, None]), 0.0, 1.0)
    images = np.concatenate([clean[:, None], corrupted, differences], axis=1)
    columns = ["clean"] + [f"{v:g}" for v in nu] + [f"Δ {v:g}" for v in nu]
    ax = style.image_grid(images, [f"#{s}" for s in ds["example"].values], columns, ax)
    ax.tick_params(axis="x", labelsize=6)
    ax.set_title(f"clean, adversarial corruption at ν, difference ×{EXAGGERATION:g} (Δ)")
    return ax


@style.styled
def overview(ds: xr.Dataset, ax: Axes | Sequence[Axes] | None = None) -> Axes:
    """Robust accuracy and SSIM distributions side by side, the example grid below (when the result
    holds examples); `ax`: None for a new figure, or a sequence of as many axes as panels."""
    import matplotlib.pyplot as plt
    layout = [["accuracy", "ssim"], ["examples", "examples"]] if "example_clean" in ds else [["accuracy", "ssim"]]
    names = list(dict.fromkeys(name for row in layout for name in row))
    if ax is not None:
        axes = dict(zip(names, style.axes_for(ax, len(names), "adversarial_corruptions.overview")))
    else:
        figure = plt.figure(figsize=(style.TWO_COLUMN, 2.4 * len(layout)), layout="constrained")
        axes = figure.subplot_mosaic(cast("list[HashableList[str]]", layout))
    robust_accuracy(ds, ax=axes["accuracy"])
    ssim_distributions(ds, ax=axes["ssim"])
    if "examples" in axes:
        examples(ds, ax=axes["examples"])
    return axes["accuracy"]
