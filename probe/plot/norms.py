"""Helpers of figures drawn per Lp norm (the lp and overlap probes): a norm's name, one panel per
norm, the legend of a panel grid."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes

from probe.balls import norm_name
from probe.errors import ParameterError
from probe.plot import style


def name(p: float) -> str:
    """A norm's name for a figure: 'L∞' rather than 'Linf'."""
    return "L∞" if math.isinf(p) else norm_name(p)


def norm_panels(norms: list[float], ax: Any, aspect: float) -> list[Axes]:
    """One axes per norm: a new figure (no empty panel), the given sequence, or the one given axes."""
    if ax is None:
        return style.panels(len(norms), style.TWO_COLUMN, aspect=aspect)[1]
    axes = list(np.ravel(ax)) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
    if len(axes) < len(norms):
        raise ParameterError(f"{len(norms)} norms draw {len(norms)} panels: pass ax= a sequence of {len(norms)} axes, "
                             f"p= one norm, or ax=None for a new figure (got {len(axes)})")
    return axes


def legend(axes: Sequence[Axes], handles: Sequence[Artist], own_figure: bool) -> None:
    """The legend of a panel grid: above the panels of a figure drawn here, else in the first panel."""
    if own_figure:
        axes[0].figure.legend(handles=handles, loc="outside upper center", ncol=min(len(handles), 3), fontsize=6)
    else:
        axes[0].legend(handles=handles, loc="lower left", fontsize=6, framealpha=0.9)
