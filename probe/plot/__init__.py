"""Figures from probe results: `probe.<probe>.plot.<plot>(results, ax=None, ...) -> Axes`.

A plot takes one result, a list of results (labelled by their provenance: `model_label`, else the
`model` architecture, with the weights' SHA-256 prefix where two share a name) or a dict
label → result, and draws them together.  `plot_result(ds)` draws the default plot of a result,
chosen by its `probe` attribute from the probe registry; `save(fig, path)` writes PNG (at
`style.DPI`), PDF or SVG (TrueType fonts, never Type 3).  Importing this package changes neither
matplotlib's backend nor its global settings (see `probe.plot.style`).

Each probe's figures live in its own package (`probe/<name>/plot.py`); `probe.plot.<name>` is
the same module (`probe.plot.margins.bands`, and `probe.plot.evaluation` for the evaluate
probe, as before).  The figures of no single probe stay here: training curves (`training`),
the report's input-pipeline check (`pipeline`), paired comparisons (`compare`), the shared
style (`style`) and per-norm panels (`norms`).
"""
from __future__ import annotations

import importlib
import inspect
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

import xarray as xr

from probe.errors import ParameterError
from probe.plot import style
from probe.registry import PROBES

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import FigureBase

OTHER_PLOTS: dict[str, str] = {"train": "probe.plot.training:curves"}   # default plots of results no probe writes
ALIASES = {"evaluation": "evaluate"}   # probe.plot.evaluation: the evaluate probe's figures
FORMATS = (".png", ".pdf", ".svg")
Results = xr.Dataset | Sequence[xr.Dataset] | Mapping[str, xr.Dataset]


def _provenance_label(ds: xr.Dataset) -> str:
    return str(ds.attrs.get("model_label", ds.attrs.get("model", "model")))


def labelled(results: Results) -> list[tuple[str | None, xr.Dataset]]:
    """(label, result) pairs: one result → [(None, ds)]; a dict → its items; a list → labels from
    each result's provenance, made unique with the weights' SHA-256 prefix (then the position)."""
    if isinstance(results, xr.Dataset):
        return [(None, results)]
    if isinstance(results, Mapping):
        return [(str(label), ds) for label, ds in cast("Mapping[str, xr.Dataset]", results).items()]
    results = list(results)
    names = [_provenance_label(ds) for ds in results]
    repeated = Counter(names)
    names = [f"{name} {str(ds.attrs.get('model_sha256', ''))[:6]}".strip() if repeated[name] > 1 else name
             for name, ds in zip(names, results)]
    repeated = Counter(names)
    return [(f"{name} ({i + 1})" if repeated[name] > 1 else name, ds)
            for i, (name, ds) in enumerate(zip(names, results))]


def plot_result(results: Results, ax: Axes | Sequence[Axes] | None = None, **options: Any) -> Axes:
    """Draw the default plot of a result — or of several results of one probe together (a list, or
    a dict label → result) — on `ax` (or a new figure), chosen by the `probe` attribute; returns
    the axes.  `options` go to that plot (e.g. `variable="margin_refined"` for margins)."""
    names = {str(ds.attrs.get("probe")) for _, ds in labelled(results)}
    name = names.pop()
    if names:
        raise ParameterError(f"results of different probes cannot share a plot ({', '.join(sorted(names | {name}))})")
    if name not in OTHER_PLOTS and name not in PROBES:
        known = sorted([*OTHER_PLOTS, *PROBES])
        raise ParameterError(f"no plot for results of probe '{name}' (known: {', '.join(known)})")
    module, _, function = (OTHER_PLOTS[name] if name in OTHER_PLOTS else PROBES[name].plot).partition(":")
    plot = getattr(importlib.import_module(module), function)
    unknown = sorted(set(options) - set(inspect.signature(plot).parameters))
    if unknown:
        raise ParameterError(f"the plot of {name} results takes no option {', '.join(unknown)}")
    variable = options.get("variable")
    missing = [label or "result" for label, ds in labelled(results) if variable is not None and variable not in ds]
    if missing:
        raise ParameterError(f"variable '{variable}' is not in {', '.join(map(str, missing))}")
    return plot(results, ax=ax, **options)


def save(fig_or_ax: FigureBase | Axes, path: str | os.PathLike, dpi: int = style.DPI, close: bool = True) -> Path:
    """Write a figure (or the figure of an axes) as PNG at `dpi`, or as PDF or SVG with TrueType
    fonts, chosen by the suffix; the figure is closed afterwards unless `close=False`."""
    import matplotlib.pyplot as plt
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ParameterError(f"figure file must end in {', '.join(FORMATS)}, got '{path.name}'")
    fig: Any = getattr(fig_or_ax, "figure", fig_or_ax)   # a Figure or SubFigure (then its parent figure below)
    fig = fig if hasattr(fig, "savefig") else fig.figure   # the figure holding a sub-figure
    path.parent.mkdir(parents=True, exist_ok=True)
    with style.context():
        fig.savefig(path, dpi=dpi)
    if close:
        plt.close(fig)
    return path


def __getattr__(name: str) -> ModuleType:
    """`probe.plot.<probe>`: the figures module of a probe (`probe.<probe>.plot`), imported on first use."""
    probe = ALIASES.get(name, name)
    if probe not in PROBES:
        raise AttributeError(f"module 'probe.plot' has no attribute '{name}'")
    module = importlib.import_module(PROBES[probe].plot.partition(":")[0])
    globals()[name] = module
    return module


__all__ = ["FORMATS", "OTHER_PLOTS", "labelled", "plot_result", "save", "style"]
