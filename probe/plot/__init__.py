"""Figures from probe results: `probe.plot.<probe>.<plot>(ds, ax=None, **style) -> Axes`.

`plot_result(ds)` draws the default plot of a result, chosen by its `probe` attribute from
the probe registry, and `save(fig, path)` writes PNG, PDF or SVG.  Importing this package
does not change matplotlib's backend (a notebook keeps its own).
"""
from __future__ import annotations

import importlib
from pathlib import Path

from probe.errors import ParameterError
from probe.plot import style
from probe.registry import PROBES

DEFAULT_PLOTS: dict[str, str] = {"train": "probe.plot.training:curves",
                                 **{name: entry.plot for name, entry in PROBES.items()}}
FORMATS = (".png", ".pdf", ".svg")


def plot_result(ds, ax=None):
    """Draw the default plot of a result on `ax` (or new axes) and return the axes."""
    name = ds.attrs.get("probe")
    if name not in DEFAULT_PLOTS:
        raise ParameterError(f"no plot for results of probe '{name}' (known: {', '.join(sorted(DEFAULT_PLOTS))})")
    module, _, function = DEFAULT_PLOTS[name].partition(":")
    return getattr(importlib.import_module(module), function)(ds, ax=ax)


def save(fig_or_ax, path) -> Path:
    """Save a figure (or the figure of an axes) as PNG, PDF or SVG, chosen by the suffix."""
    import matplotlib.pyplot as plt
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ParameterError(f"figure file must end in {', '.join(FORMATS)}, got '{path.name}'")
    fig = getattr(fig_or_ax, "figure", fig_or_ax)
    fig = fig if hasattr(fig, "savefig") else fig_or_ax.get_figure()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


__all__ = ["DEFAULT_PLOTS", "plot_result", "save", "style"]
