"""Publication figures from probe results: `figures.<probe>.<plot>(ds, ax=None) -> Axes`.

`plot_result(ds)` picks the default plot from the result's `probe` attribute (the table
`DEFAULT_PLOTS`, module:function, imported lazily) and `save(fig, path)` writes PNG, PDF
or SVG.
"""
from __future__ import annotations

import importlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from figures import style  # noqa: E402

DEFAULT_PLOTS: dict[str, str] = {
    "train": "figures.training:curves",
    "margins": "figures.margins:bands",
    "corruptions": "figures.corruptions:heatmap",
    "lp": "figures.lp:accuracy",
    "overlap": "figures.lp:overlap",
    "evaluate": "figures.evaluation:confusion",
    "sparsefool": "figures.sparsefool:overview",
    "flatness": "figures.flatness:summary",
}
FORMATS = {".png", ".pdf", ".svg"}


def plot_result(ds, ax=None):
    """Draw the default plot of a result on `ax` (or new axes) and return the axes."""
    from probe.errors import ParameterError
    name = ds.attrs.get("probe")
    if name not in DEFAULT_PLOTS:
        raise ParameterError(f"no plot for results of probe '{name}' (known: {', '.join(sorted(DEFAULT_PLOTS))})")
    module, _, function = DEFAULT_PLOTS[name].partition(":")
    return getattr(importlib.import_module(module), function)(ds, ax=ax)


def save(fig_or_ax, path) -> Path:
    """Save a figure (or the figure of an axes) as PNG, PDF or SVG, chosen by the suffix."""
    from probe.errors import ParameterError
    import matplotlib.pyplot as plt
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ParameterError(f"figure file must end in {', '.join(sorted(FORMATS))}, got '{path.name}'")
    fig = getattr(fig_or_ax, "figure", fig_or_ax)
    fig = fig if hasattr(fig, "savefig") else fig_or_ax.get_figure()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


__all__ = ["DEFAULT_PLOTS", "plot_result", "save", "style"]
