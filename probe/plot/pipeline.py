"""Figure of the report's input-pipeline result (`probe='pipeline'`, `probe.report.pipeline`)."""
from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes

from probe.plot import Results, labelled, style

LABELS = {"unit": "[0, 1]\n(contract)", "x255": "[0, 255]", "standardised": "standardised"}
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def scientific(value: float) -> str:
    """A small positive number for people: 0, 0.02, 1.2×10⁻⁷."""
    if value == 0 or 1e-2 <= abs(value) < 1e4:
        return f"{value:.2g}"
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa}×10{str(int(exponent)).translate(SUPERSCRIPT)}"


@style.styled
def scalings(results: Results, ax: Axes | None = None) -> Axes:
    """Accuracy with the images in [0, 1], ×255 and standardised (one bar group per scaling, one
    bar per model); the legend names each model with the largest relative change of its logits
    when the rest of the batch changes and when the same batch is passed again."""
    if ax is None:
        _, ax = style.new_axes()
    models = labelled(results)
    names = [str(s) for s in models[0][1]["scaling"].values]
    width = 0.8 / len(models)
    for i, (label, ds) in enumerate(models):
        x = np.arange(len(names)) + (i - (len(models) - 1) / 2) * width
        text = (f"logits change ≤ {scientific(float(ds['batch_change'].max()))} with the batch, "
                f"≤ {scientific(float(ds['repeat_change'].max()))} on repeat")
        bars = ax.bar(x, ds["accuracy"].values, width=width, color=style.color(i),
                      label=f"{label}: {text}" if label else text)
        ax.bar_label(bars, fmt="%.1f", fontsize=6)
    ax.set_xticks(np.arange(len(names)), [LABELS.get(n, n) for n in names])
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 110)
    ax.set_title("the contract's [0, 1] scaling should be best")
    ax.legend(loc="upper right", fontsize=6)
    return ax
