"""Figure of a paired comparison (`probe.compare.compare`): every cell's difference a − b with its interval."""
from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.axes import Axes

from probe.compare import rows
from probe.plot import style


@style.styled
def differences(delta: xr.Dataset, ax: Axes | None = None) -> Axes:
    """The difference a − b of every compared cell (a dot) with its confidence interval (a bar),
    one row per cell, zero marked; cells whose Holm-adjusted p-value is below 1 − confidence are
    filled, the others hollow.  Infinite interval ends are drawn to the edge of the axes."""
    cells = rows(delta)
    if ax is None:
        _, ax = style.new_axes(style.ONE_COLUMN, aspect=max(0.5, 0.12 * len(cells)))
    alpha = 1.0 - float(delta.attrs["confidence"])
    names = list(dict.fromkeys(name for name, _, _ in cells))
    values = {key: np.array([float(delta[f"{name}_{key}"].values.reshape(-1)[k]) for name, _, k in cells])
              for key in ("difference", "difference_low", "difference_high", "p_holm")}
    finite = np.concatenate([values[k][np.isfinite(values[k])] for k in ("difference", "difference_low",
                                                                         "difference_high")] + [np.zeros(1)])
    span = max(float(np.abs(finite).max()), 1e-12) * 1.1
    position = np.arange(len(cells))[::-1]
    for i, (name, _, _) in enumerate(cells):
        colour = style.color(names.index(name))
        low, high = (np.clip(values[k][i], -span, span) for k in ("difference_low", "difference_high"))
        ax.plot([low, high], [position[i]] * 2, color=colour, lw=1.0)
        significant = values["p_holm"][i] < alpha
        ax.plot(np.clip(values["difference"][i], -span, span), position[i], "o", color=colour,
                markerfacecolor=colour if significant else "white")
    ax.axvline(0.0, color="0.3", lw=0.6)
    ax.set_yticks(position, [f"{name}: {cell}" if cell else name for name, cell, _ in cells])
    ax.set_xlim(-span, span)
    ax.set_xlabel(f"a − b ({100 * (1 - alpha):g}% CI; filled: Holm p < {alpha:g})")
    ax.set_title(f"{delta.attrs['model_a']} − {delta.attrs['model_b']} ({delta.attrs['probe']}, "
                 f"n = {delta.attrs['samples']})")
    return ax


__all__ = ["differences"]
