"""SparseFool figures: clean / adversarial / perturbation grid, sparsity histogram, λ and δ
sweeps, transfer matrix.

Inputs are `probe='sparsefool'` results (`probe.sparsefool.run`) and the sweep / transfer
datasets written by `analyses/sparsefool_sweeps.py`.  Rates are those of `probe.sparsefool.summary`
(samples with non-finite logits left out).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from probe.errors import ParameterError
from probe.plot import Results, intervals, labelled, style
from probe.results import class_label
from probe.sparsefool import summary

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from probe import stats


@style.styled
def overview(results: Results, ax: Axes | Sequence[Axes] | None = None) -> Axes:
    """Default plot.  One result with perturbations: the example grid beside the sparsity histogram
    (`ax`: None, or a sequence of two axes); without perturbations, or several results: the
    histogram(s)."""
    models = labelled(results)
    if len(models) > 1 or "perturbation" not in models[0][1]:
        return histogram(results, ax=cast("Axes | None", ax))   # histograms: one axes
    if ax is not None:
        grid, counts = style.axes_for(ax, 2, "sparsefool.overview (examples and histogram)")
    else:
        _, (grid, counts) = style.new_axes(style.TWO_COLUMN, aspect=0.55, ncols=2, layout="constrained",
                                           gridspec_kw={"width_ratios": [2, 1]})
    examples(models[0][1], ax=grid)   # one result, possibly given in a list or a dict
    histogram(results, ax=counts)
    return grid


def _rgb(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) in [0, 1] → (N, H, W, 3) for display (grey for one channel)."""
    images = np.clip(images, 0.0, 1.0)
    if images.shape[1] == 1:
        images = np.repeat(images, 3, axis=1)
    return images[:, :3].transpose(0, 2, 3, 1)


@style.styled
def examples(ds: xr.Dataset, ax: Axes | None = None, n: int = 6) -> Axes:
    """Clean images (top row), their adversarial images and the perturbations (bottom row) of the
    first `n` fooled samples (columns), as in SparseFool's example figures.

    The perturbation (summed over channels) is drawn in a diverging map on one symmetric scale
    for all samples, with its colour bar; each column names the sample, its clean and adversarial
    predictions and the share of perturbed pixels.
    """
    if "perturbation" not in ds:
        raise ParameterError("this result has no perturbations (run with --save-perturbations)")
    chosen = ds.isel(sample=np.flatnonzero(ds["fooled"].values)[:n])
    if chosen.sizes["sample"] == 0:
        chosen = ds.isel(sample=slice(0, n))
    count = chosen.sizes["sample"]
    if ax is None:
        _, ax = style.new_axes(style.TWO_COLUMN * min(1.0, 0.13 * count + 0.15), aspect=3.6 / count,
                               layout="constrained")
    clean, delta = chosen["image"].values, chosen["perturbation"].values
    signed = delta.sum(axis=1)
    h, w = clean.shape[2:]
    gap = max(1, h // 10)
    photos = np.stack([_rgb(clean), _rgb(clean + delta), np.ones_like(_rgb(clean))])        # (3, count, H, W, 3)
    ax.imshow(style.montage(photos, gap, 1.0), interpolation="nearest")
    blank = np.full_like(signed, np.nan)
    limit = max(float(np.abs(signed).max()), 1e-12)
    image = ax.imshow(style.montage(np.stack([blank, blank, signed]), gap, np.nan), cmap=style.DIVERGING,
                      vmin=-limit, vmax=limit, interpolation="nearest")
    units = "sum over channels" if delta.shape[1] > 1 else "pixel value"
    beside = ax.inset_axes((1.02, 0.0, 0.025, (h + gap / 2) / (3 * h + 2 * gap)))   # along the perturbation row
    ax.figure.colorbar(image, cax=beside, label=f"δ ({units})")
    ax.set_yticks([(h + gap) * i + h / 2 for i in range(3)], ["clean", "adversarial", "perturbation"])
    figure = cast("Figure", ax.figure)                            # axes of a figure, not of a subfigure
    room = figure.get_figwidth() * 72 / count                     # points per example at the printed size
    named = all(len(class_label(ds, k)) * 6 * 0.6 <= 0.45 * room for k in (*chosen["prediction"].values,
                                                                          *chosen["adv_label"].values))

    def name(k: int) -> str:   # class names where they fit beside each other, else class numbers
        return class_label(ds, k) if named else str(int(k))
    ax.set_xticks([(w + gap) * j + w / 2 for j in range(count)],
                  [f"#{s}\n{name(a)}\n→ {name(b)}\n{p:.2g} %" for s, a, b, p in zip(
                      chosen["sample"].values, chosen["prediction"].values, chosen["adv_label"].values,
                      chosen["perturbed_pixel_fraction"].values)], fontsize=6)
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.set_xlabel("sample, class → adversarial class, perturbed pixels")
    ax.set_ylabel("image")
    style.bare(ax)
    return ax


@style.styled
def histogram(results: Results, ax: Axes | None = None, label: str | None = None, bins: int = 30) -> Axes:
    """Distribution of the perturbed-pixel percentage over the fooled images; the median dashed with
    its 95 % order-statistic interval shaded, and the fooling rate with its Wilson interval and n
    in the legend (`probe.sparsefool.summary`).  Several results (list or dict label → result):
    outlined histograms on shared bins, one colour each."""
    if ax is None:
        _, ax = style.new_axes()
    models = labelled(results)
    if label is not None and len(models) == 1:
        models = [(label, models[0][1])]
    numbers = [summary(ds) for _, ds in models]
    finite = [~ds["non_finite"].values.astype(bool) for _, ds in models]
    shares = [ds["perturbed_pixel_fraction"].values[ds["fooled"].values.astype(bool) & keep]
              for (_, ds), keep in zip(models, finite)]
    pooled = np.concatenate(shares)
    edges = np.histogram_bin_edges(pooled if pooled.size else [0.0, 1.0], bins=bins)
    several = len(models) > 1
    handles: list[Artist] = []
    spans: list[tuple[stats.Estimate, tuple[float, float, float] | str]] = []
    for i, ((name, _), share, found) in enumerate(zip(models, shares, numbers)):
        color = style.color(i)
        rate = intervals.estimate(found, "fooling_rate")
        text = f"fooled {intervals.text(rate, '.3g', ' %')} of n = {int(finite[i].sum())}"
        ax.hist(share, bins=cast("Sequence[float]", edges), color=color, alpha=0.35 if several else 0.8,
                histtype="stepfilled", edgecolor=color, linewidth=0.8)
        handles.append(Patch(color=color, alpha=0.6, label=f"{name}: {text}" if name else text))
        if len(share):
            median = intervals.estimate(dict(found, samples=len(share)), "median_perturbed_pixels")
            marked = color if several else "black"
            ax.axvline(median.value, color=marked, ls="--", lw=0.8)
            spans.append((median, marked))
            handles.append(Line2D([], [], color=marked, ls="--", lw=0.8,
                                  label=f"median {intervals.text(median, '.2g', ' %')} of {median.n} fooled"))
    low, high = ax.get_xlim()
    for median, marked in spans:   # an end at ±inf (too few fooled images) reaches the edge of the axes
        ax.axvspan(max(median.low, low), min(median.high, high), color=marked, alpha=intervals.BAND_ALPHA, lw=0)
    ax.set_xlim(low, high)
    if spans:
        handles.append(intervals.band_handle("order statistics", of="the median"))
    ax.set_xlabel("perturbed pixels (% of the image)")
    ax.set_ylabel("fooled images")
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.01), frameon=False)   # above: bars stay clear
    return ax


def _sweep(ds: xr.Dataset, dim: str, xlabel: str, ax: Axes | None, iterations: bool) -> Axes:
    if ax is None:
        _, ax = style.new_axes()
    x = ds[dim].values
    sparsity = ds["median_pixel_percent"].values
    ax.plot(x, sparsity, marker="o", ms=3, color=style.color(0), label="median perturbed pixels")
    if iterations:
        for xi, yi, it in zip(x, sparsity, ds["mean_iterations"].values):
            ax.annotate(f"{it:.1f} it.", (xi, yi), textcoords="offset points", xytext=(4, -9), fontsize=6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("median perturbed pixels (%)")
    twin = ax.twinx()
    twin.grid(False)
    twin.spines["right"].set_visible(True)
    twin.plot(x, ds["fooling_rate"].values, marker="s", ms=3, ls="--", color=style.color(1), label="fooling rate")
    twin.set_ylabel("fooling rate (%)")
    twin.set_ylim(0, 105)
    handles, labels = ax.get_legend_handles_labels()
    more_h, more_l = twin.get_legend_handles_labels()
    ax.legend(handles + more_h, labels + more_l, loc="lower left", bbox_to_anchor=(0, 1.02), ncol=2, frameon=False)
    return ax


@style.styled
def lambda_sweep(ds: xr.Dataset, ax: Axes | None = None) -> Axes:
    """Median perturbed pixels (annotated with mean iterations) and fooling rate against λ."""
    return _sweep(ds, "lam", "λ (boundary point x + λ r)", ax, iterations=True)


@style.styled
def delta_sweep(ds: xr.Dataset, ax: Axes | None = None) -> Axes:
    """Median perturbed pixels and fooling rate against the perceptibility bound δ."""
    return _sweep(ds, "delta", "δ (0–255 scale)", ax, iterations=False)


@style.styled
def transfer(ds: xr.Dataset, ax: Axes | None = None) -> Axes:
    """Heat map: % of SparseFool examples crafted on the source model that fool the target model."""
    if ax is None:
        _, ax = style.new_axes(aspect=0.9)
    matrix = ds["transfer_rate"].values
    image = ax.imshow(matrix, cmap=style.SEQUENTIAL, vmin=0, vmax=100)
    names = [str(v) for v in ds["source"].values]
    ax.set_xticks(range(len(ds["target"])), [str(v) for v in ds["target"].values], rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=7,
                color="white" if value < 50 else "black")
    ax.set_xlabel("target model")
    ax.set_ylabel("source model")
    ax.grid(False)
    ax.figure.colorbar(image, ax=ax, label="fooling rate (%)")
    return ax
