"""Figures of the corruption probe (`probe='corruptions'` results) and of PRIME / AugMix samples.

- `heatmap`: accuracy over corruption × severity (the default plot);
- `severity_curves`: mean accuracy against severity (clean at 0) for several models;
- `corruption_grid`: every corruption at every severity of one image (the result's examples);
- `augmentation_grid`: augmented samples, rows = augmentations, columns = draws.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import xarray as xr

from probe.plot import style


def heatmap(ds: xr.Dataset, ax=None, cmap: str = "viridis", annotate: bool = True):
    """Accuracy (%) for every corruption (rows) and severity (columns)."""
    accuracy = ds["accuracy"].transpose("corruption", "severity")
    corruptions = [str(c) for c in accuracy["corruption"].values]
    if ax is None:
        _, ax = style.new_axes(style.ONE_COLUMN, aspect=0.25 + 0.06 * len(corruptions))
    image = ax.imshow(accuracy.values, cmap=cmap, vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(accuracy.sizes["severity"]), [str(s) for s in accuracy["severity"].values])
    ax.set_yticks(range(len(corruptions)), [c.replace("_", " ") for c in corruptions])
    ax.set_xlabel("severity")
    ax.grid(False)
    if annotate:
        for (i, j), value in np.ndenumerate(accuracy.values):
            ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=5,
                    color="white" if value < 60 else "black")
    title = f"clean {float(ds['clean_accuracy']):.1f}%, mCE {float(ds['mce']):.1f}%"
    if "imagenet_mce" in ds:
        title += f", mCE/{ds.attrs.get('mce_reference', 'ref')} {float(ds['imagenet_mce']):.1f}%"
    ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, label="accuracy (%)", fraction=0.05)
    return ax


def severity_curves(results: Mapping[str, xr.Dataset] | xr.Dataset, ax=None):
    """Mean accuracy over corruptions against severity, clean accuracy at severity 0, one line per model."""
    if isinstance(results, xr.Dataset):
        results = {str(results.attrs.get("model", "model")): results}
    if ax is None:
        _, ax = style.new_axes()
    for i, (label, ds) in enumerate(results.items()):
        severities = [0] + [int(s) for s in ds["severity"].values]
        values = [float(ds["clean_accuracy"])] + ds["accuracy"].mean("corruption").values.tolist()
        ax.plot(severities, values, marker="o", ms=3, color=style.color(i), label=f"{label} (mCE {float(ds['mce']):.1f}%)")
    ax.set_xlabel("severity (0 = clean)")
    ax.set_ylabel("accuracy (%)")
    ax.legend()
    return ax


def _grid(images: np.ndarray, row_labels, column_labels, ax, cell: float = 0.45):
    """Draw images of shape (rows, columns, C, H, W) (uint8, or floats in [0, 1]) as one mosaic on `ax`."""
    images = images / 255.0 if images.dtype == np.uint8 else np.asarray(images, dtype=np.float64)
    rows, columns, channels, height, width = images.shape
    if ax is None:
        _, ax = style.new_axes(min(style.TWO_COLUMN, cell * (columns + 2)), aspect=rows / (columns + 2))
    pad = 2
    mosaic = np.ones((channels, rows * (height + pad), columns * (width + pad)))
    for r in range(rows):
        for c in range(columns):
            top, left = r * (height + pad), c * (width + pad)
            mosaic[:, top:top + height, left:left + width] = images[r, c]
    if channels == 1:
        ax.imshow(mosaic[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(np.moveaxis(mosaic, 0, -1).clip(0, 1), interpolation="nearest")
    ax.set_xticks([(c + 0.5) * (width + pad) for c in range(columns)], list(column_labels))
    ax.set_yticks([(r + 0.5) * (height + pad) for r in range(rows)], list(row_labels))
    ax.tick_params(length=0)
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return ax


def corruption_grid(ds: xr.Dataset, ax=None):
    """The result's example image: clean, then every corruption (rows) at every severity (columns)."""
    example = ds["example"].transpose("corruption", "severity", "channel", "row", "col").values
    clean = np.broadcast_to(ds["example_clean"].values, example[:, :1].shape)
    images = np.concatenate([clean, example], axis=1)
    rows = [str(c).replace("_", " ") for c in ds["corruption"].values]
    columns = ["clean"] + [f"s{s}" for s in ds["severity"].values]
    ax = _grid(images, rows, columns, ax)
    ax.set_title(f"sample {ds.attrs.get('example_sample', '')}")
    return ax


def augmentation_grid(images: xr.DataArray, ax=None):
    """Augmented samples: `images` with dims (augmentation, draw, channel, row, col), values in [0, 1]."""
    images = images.transpose("augmentation", "draw", "channel", "row", "col")
    columns = [str(d) for d in images["draw"].values]
    return _grid(images.values, [str(a) for a in images["augmentation"].values], columns, ax)
