"""Figures of the corruption probe (`probe='corruptions'` results) and of PRIME / AugMix samples.

- `overview` (the default plot): the heat map beside the accuracy per severity;
- `heatmap`: accuracy over corruption × severity;
- `severity_curves`: mean accuracy against severity (clean at 0) for several models (PRIME's
  per-severity figure);
- `corruption_grid`: every corruption at every severity of one image (the result's examples);
- `augmentation_grid`: augmented samples, rows = augmentations, columns = draws.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from probe import stats
from probe.corruptions.summaries import summary
from probe.plot import Results, intervals, labelled, style

if TYPE_CHECKING:
    from matplotlib.axes import Axes

ROW = 0.16          # inches per corruption (a row of the heat map with its 7 pt label)
FRAME = 1.0         # inches for the heat map's title, ticks and axis label
LEGEND_ROW = 0.13   # inches per line of the severity curves' legend (above that panel)


@style.styled
def overview(results: Results, ax: Axes | Sequence[Axes] | None = None) -> Axes:
    """The heat map of every result beside the accuracy per severity of all of them (`ax`: None for a
    new figure, or a sequence of one axes per result plus one)."""
    models = labelled(results)
    if ax is not None:
        axes = style.axes_for(ax, len(models) + 1, "corruptions.overview")
    else:
        height = ROW * models[0][1].sizes["corruption"] + FRAME + LEGEND_ROW * (2 * len(models) + 1)
        _, axes = style.new_axes(style.TWO_COLUMN, aspect=height * (len(models) + 1) / style.TWO_COLUMN,
                                 ncols=len(models) + 1, layout="constrained",
                                 gridspec_kw={"width_ratios": [1.0] * len(models) + [1.8]})   # room for the legend
    for panel, (label, ds) in zip(axes, models):
        heatmap(ds, ax=panel, annotate=len(models) == 1, label=label)
    severity_curves(results, ax=axes[-1])
    return axes[0]


@style.styled
def heatmap(ds: xr.Dataset, ax: Axes | None = None, cmap: str = style.SEQUENTIAL, annotate: bool = True,
            label: str | None = None) -> Axes:
    """Accuracy (%) for every corruption (rows) and severity (columns); clean accuracy and mCE in
    the title (prefixed by `label`)."""
    accuracy = ds["accuracy"].transpose("corruption", "severity")
    corruptions = [str(c) for c in accuracy["corruption"].values]
    if ax is None:
        _, ax = style.new_axes(style.ONE_COLUMN, aspect=0.25 + 0.06 * len(corruptions))
    image = ax.imshow(accuracy.values, cmap=cmap, vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(accuracy.sizes["severity"]), [str(s) for s in accuracy["severity"].values])
    ax.set_yticks(range(len(corruptions)), [c.replace("_", " ") for c in corruptions])
    ax.set_xlabel("severity")
    ax.set_ylabel("corruption")
    ax.grid(False)
    if annotate:
        for (i, j), value in np.ndenumerate(accuracy.values):
            ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=6,
                    color="white" if value < 60 else "black")
    title = f"clean {float(ds['clean_accuracy']):.1f} %, mCE {float(ds['mce']):.1f} %"
    if "imagenet_mce" in ds:
        title += f", mCE/{ds.attrs.get('mce_reference', 'ref')} {float(ds['imagenet_mce']):.1f} %"
    ax.set_title(f"{label}\n{title}" if label else title)
    ax.figure.colorbar(image, ax=ax, label="accuracy (%)", fraction=0.05)
    return ax


def severity_band(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """The interval (%) of every point of `severity_curves`: Wilson for the clean accuracy, and for
    the mean accuracy over corruptions at each severity a percentile bootstrap over samples (each
    sample counts once in every corruption, so the cells are not independent draws)."""
    clean_low, clean_high = intervals.wilson_percent(ds["clean_correct"].values, ds["clean_finite"].values, confidence)
    cells = ("sample", "corruption", "severity")
    correct, finite = (ds[name].transpose(*cells).values for name in ("correct", "finite"))
    low, high = stats.bootstrap(lambda counts: 100.0 * stats.weighted_share(counts, correct, finite).mean(axis=1),
                                ds.sizes["sample"], confidence)
    return np.concatenate([[clean_low], low]), np.concatenate([[clean_high], high])


@style.styled
def severity_curves(results: Results, ax: Axes | None = None, colors: Sequence[str] | None = None) -> Axes:
    """Mean accuracy over corruptions against severity, clean accuracy at severity 0, one line per
    model (one result, a list, or a dict label → result) with its 95 % confidence band
    (`severity_band`); n and the mCE with its interval in the legend.  `colors`: one per model
    (default: the style's cycle)."""
    if ax is None:
        _, ax = style.new_axes()
    models = labelled(results)
    for i, (label, ds) in enumerate(models):
        color = colors[i] if colors is not None else style.color(i)
        severities = [0] + [int(s) for s in ds["severity"].values]
        values = [float(ds["clean_accuracy"])] + ds["accuracy"].mean("corruption").values.tolist()
        name = label or str(ds.attrs.get("model", "model"))
        mce = intervals.estimate(summary(ds), "mce")
        ax.plot(severities, values, marker="o", ms=3, color=color,
                label=f"{name}, n = {mce.n}\nmCE {intervals.text(mce, '.1f', ' %')}")
        intervals.band(ax, severities, *severity_band(ds), color)
    ax.set_xticks(range(0, max(int(ds["severity"].max()) for _, ds in models) + 1))
    ax.set_xlabel("severity (0 = clean)")
    ax.set_ylabel("mean accuracy (%)")
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=[*handles, intervals.band_handle("bootstrap;\nclean: Wilson")], loc="lower right",
              bbox_to_anchor=(1, 1.01), frameon=False)   # above: the bands fill the panel
    return ax


@style.styled
def corruption_grid(ds: xr.Dataset, ax: Axes | None = None) -> Axes:
    """The result's example image: clean, then every corruption (rows) at every severity (columns)."""
    example = ds["example"].transpose("corruption", "severity", "channel", "row", "col").values
    clean = np.broadcast_to(ds["example_clean"].values, example[:, :1].shape)
    images = np.concatenate([clean, example], axis=1)
    rows = [str(c).replace("_", " ") for c in ds["corruption"].values]
    columns = ["clean"] + [f"s{s}" for s in ds["severity"].values]
    ax = style.image_grid(images, rows, columns, ax)
    ax.set_title(f"sample {ds.attrs.get('example_sample', '')}")
    return ax


@style.styled
def augmentation_grid(images: xr.DataArray, ax: Axes | None = None) -> Axes:
    """Augmented samples: `images` with dims (augmentation, draw, channel, row, col), values in [0, 1]."""
    images = images.transpose("augmentation", "draw", "channel", "row", "col")
    columns = [str(d) for d in images["draw"].values]
    return style.image_grid(images.values, [str(a) for a in images["augmentation"].values], columns, ax)
