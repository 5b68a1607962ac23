"""Figures of a `probe='evaluate'` result: the confusion matrix."""
from __future__ import annotations

import numpy as np
import seaborn as sns

from probe.plot import style


def confusion(ds, ax=None, normalize: bool = True):
    """Confusion matrix (rows: true class, columns: prediction), row-normalised to % by default."""
    if ax is None:
        _, ax = style.new_axes(aspect=0.9)
    classes = int(max(ds["label"].max(), ds["prediction"].max())) + 1
    matrix = np.zeros((classes, classes))
    np.add.at(matrix, (ds["label"].values, ds["prediction"].values), 1)
    if normalize:
        matrix = 100 * matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    sns.heatmap(matrix, ax=ax, cmap="viridis", square=True, cbar_kws={"label": "% of class" if normalize else "count"},
                annot=classes <= 10, fmt=".0f", annot_kws={"fontsize": 5})
    ax.grid(False)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"accuracy {100 * float(ds['correct'].mean()):.1f}% ({ds.sizes['sample']} samples)")
    return ax
