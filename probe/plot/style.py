"""One style for every figure: fonts, a colour-blind-safe palette, paper sizes."""
from __future__ import annotations

import matplotlib as mpl
import seaborn as sns

ONE_COLUMN = 3.4   # inches: one column of a two-column paper
TWO_COLUMN = 7.0   # inches: full text width
PALETTE = sns.color_palette("colorblind")

RC = {
    "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7,
    "xtick.labelsize": 7, "ytick.labelsize": 7, "axes.spines.top": False, "axes.spines.right": False,
    "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.5, "lines.linewidth": 1.2,
    "savefig.dpi": 200, "savefig.bbox": "tight", "figure.dpi": 100,
    "axes.prop_cycle": mpl.cycler(color=PALETTE),
}


def apply() -> None:
    """Use the shared style for every later figure."""
    mpl.rcParams.update(RC)


def color(i: int):
    """The i-th colour of the shared palette (cycling)."""
    return PALETTE[i % len(PALETTE)]


def new_axes(width: float = ONE_COLUMN, aspect: float = 0.75, ncols: int = 1, nrows: int = 1, **kwargs):
    """A new figure in the shared style and its axes; `width` in inches."""
    import matplotlib.pyplot as plt
    apply()
    return plt.subplots(nrows, ncols, figsize=(width, width * aspect * nrows / ncols), **kwargs)
