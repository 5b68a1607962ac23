"""The example probe's default figure: the distribution of the per-sample gradient norms."""
from __future__ import annotations

import numpy as np

from probe import stats
from probe.plot import labelled, style


@style.styled
def distribution(results, ax=None):
    """Histogram (log-spaced bins) of the finite gradient norms of every result, its median and
    the median's interval marked; several results (a list or a dict label → result) overlaid."""
    models = labelled(results)
    if ax is None:
        _, ax = style.new_axes()
    finite = [ds["gradient_norm"].values[np.isfinite(ds["gradient_norm"].values)] for _, ds in models]
    every = np.concatenate(finite)
    bins = np.geomspace(max(every.min(), 1e-12), max(every.max(), 2e-12), 30)
    for m, ((label, ds), values) in enumerate(zip(models, finite)):
        colour = style.color(m)
        middle = stats.median(ds["gradient_norm"].values)
        text = f"median {middle.value:.3g} [{middle.low:.3g}, {middle.high:.3g}], n = {ds.sizes['sample']}"
        ax.hist(values, bins=bins, color=colour, alpha=0.5, label=f"{label}: {text}" if label else text)
        ax.axvline(middle.value, color=colour, lw=1)
        ax.axvspan(middle.low, middle.high, color=colour, alpha=0.15, lw=0)
    ax.set_xscale("log")
    ax.set_xlabel(f"‖∇ₓ loss‖ (L{models[0][1].attrs.get('param_norm', '2')})")
    ax.set_ylabel("samples")
    ax.legend()
    return ax
