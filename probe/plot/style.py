"""One style for every figure: fonts, a colour-blind-safe palette, one- and two-column sizes.

The style never touches matplotlib's global settings or its backend.  Every public plotting
function of `probe.plot` runs inside `context()` (the `styled` decorator) and `probe.plot.save`
writes inside it, so a notebook's or a script's own rcParams stay as they were.  Use
`with style.context(): ...` to draw figures of your own in the same style.

Vector output is ready for submission: PDF (and PS) embed TrueType fonts as Type 42, never
Type 3 (which many venues reject); SVG draws glyphs as paths (`svg.fonttype='path'`), so a
figure looks the same on a machine without our font (DejaVu Sans) and in every converter —
text in an SVG is then not editable, which matters less than a figure whose labels change width
when another font is substituted.  PNG is written at `DPI` dots per inch.
"""
from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

import matplotlib as mpl
import seaborn as sns
from matplotlib.rcsetup import cycler

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.axes import Axes
    from matplotlib.axis import XAxis, YAxis
    from matplotlib.figure import Figure

ONE_COLUMN = 3.4   # inches: one column of a two-column paper
TWO_COLUMN = 7.0   # inches: full text width
DPI = 300          # dots per inch of PNG files
PALETTE = sns.color_palette("colorblind")   # ten colours told apart under the common colour-vision deficiencies
SEQUENTIAL = "viridis"                      # colour maps of values (perceptually uniform, colour-blind safe)
DIVERGING = "RdBu_r"                        # signed values around zero

RC: dict[str, Any] = {
    "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7, "legend.title_fontsize": 7,
    "xtick.labelsize": 7, "ytick.labelsize": 7, "figure.titlesize": 9,
    "axes.spines.top": False, "axes.spines.right": False, "axes.linewidth": 0.6,
    "xtick.major.width": 0.6, "ytick.major.width": 0.6, "xtick.major.size": 2.5, "ytick.major.size": 2.5,
    "xtick.minor.size": 1.5, "ytick.minor.size": 1.5,
    "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.5, "lines.linewidth": 1.2, "lines.markersize": 3,
    "legend.frameon": True, "legend.framealpha": 0.85, "legend.edgecolor": "0.85", "legend.borderaxespad": 0.3,
    "axes.prop_cycle": cycler(color=PALETTE), "image.cmap": SEQUENTIAL,
    "figure.dpi": 150, "savefig.dpi": DPI, "savefig.bbox": "tight", "savefig.pad_inches": 0.02,
    "pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "path",
}

Plot = TypeVar("Plot", bound=Callable[..., Any])


@contextlib.contextmanager
def context() -> Iterator[None]:
    """The shared style for the figures created and saved inside the `with` block only.

    Only the settings of `RC` are put back afterwards (not a snapshot of every setting, as
    `matplotlib.rc_context` does): a notebook's inline backend switches interactive mode on when
    the first figure is made, and restoring the snapshot would switch it off again.
    """
    params = cast("MutableMapping[str, Any]", mpl.rcParams)   # the stubs key rcParams by literal names only
    saved = {key: params[key] for key in RC}
    params.update(RC)
    try:
        yield
    finally:
        params.update(saved)


def _fix_ticks(figure: Figure) -> None:
    """Create the first tick of every axis now, inside the style: matplotlib creates ticks lazily
    (at draw time, outside our context) and every later tick copies the first one's look."""
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            axis.get_major_ticks()
            axis.get_minor_ticks()


def styled(plot: Plot) -> Plot:
    """Decorator of a function drawing figures — returning axes, a figure or a dict of figures — so
    that it draws inside `context()`."""
    @functools.wraps(plot)
    def draw(*args: Any, **kwargs: Any) -> Any:
        with context():
            drawn = plot(*args, **kwargs)
            for item in drawn.values() if isinstance(drawn, dict) else [drawn]:
                figure = getattr(item, "figure", None)
                if figure is not None:
                    _fix_ticks(figure)
        return drawn
    return draw  # type: ignore[return-value]


def color(i: int) -> tuple[float, float, float]:
    """The i-th colour of the shared palette (cycling)."""
    return PALETTE[i % len(PALETTE)]


def new_axes(width: float = ONE_COLUMN, aspect: float = 0.75, ncols: int = 1, nrows: int = 1,
             **kwargs: Any) -> tuple[Figure, Any]:
    """A new figure in the shared style and its axes (`plt.subplots`): `width` in inches (`ONE_COLUMN`
    or `TWO_COLUMN`), each panel `aspect` times as high as wide; constrained layout (every label
    inside the figure) unless `layout=` says otherwise."""
    import matplotlib.pyplot as plt
    kwargs.setdefault("layout", "constrained")
    with context():
        figure, axes = plt.subplots(nrows, ncols, figsize=(width, width * aspect * nrows / ncols), **kwargs)
    return figure, axes


def panels(count: int, width: float = TWO_COLUMN, aspect: float = 0.8,
           columns: int | None = None) -> tuple[Figure, list[Axes]]:
    """A new figure with exactly `count` panels, at most `columns` per row (default: 2 for two or four
    panels, else 3) and the last row centred (no empty panel); each panel `aspect` times as high as
    wide.  Returns (figure, list of axes)."""
    import matplotlib.pyplot as plt
    columns = max(1, min(columns or (2 if count in (2, 4) else 3), count))
    rows = -(-count // columns)
    with context():
        figure = plt.figure(figsize=(width, width / columns * aspect * rows), layout="constrained")
        grid = figure.add_gridspec(rows, 2 * columns)
        axes: list[Axes] = []
        for k in range(count):
            row, column = divmod(k, columns)
            start = columns - min(columns, count - row * columns) + 2 * column   # half-cells: centre the last row
            axes.append(figure.add_subplot(grid[row, start:start + 2]))
    return figure, axes


def axes_for(ax: Any, count: int, plot: str) -> list[Any]:
    """The `count` axes a plot of several panels draws into: `ax` a sequence of at least `count`
    axes (one axes when `count` is 1); a single axes for a plot of several panels is refused
    (a `ParameterError` naming what to pass), never answered with another kind of figure."""
    import numpy as np

    from probe.errors import ParameterError
    axes = list(np.ravel(ax)) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
    if len(axes) < count:
        raise ParameterError(f"{plot} draws {count} panels: pass ax= a sequence of {count} axes, or ax=None "
                             f"for a new figure (got {len(axes)})")
    return axes[:count]


def montage(tiles: np.ndarray, gap: int, fill: float) -> np.ndarray:
    """(rows, columns, H, W, ...) images → one image with `gap` pixels of `fill` between the tiles;
    tile (i, j) is centred at x = j (W + gap) + W / 2, y = i (H + gap) + H / 2."""
    import numpy as np
    rows, columns, h, w = tiles.shape[:4]
    out = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap) + tiles.shape[4:], fill, dtype=float)
    for i in range(rows):
        for j in range(columns):
            out[i * (h + gap):i * (h + gap) + h, j * (w + gap):j * (w + gap) + w] = tiles[i, j]
    return out


def bare(ax: Axes) -> None:
    """An axes showing images: no tick marks, grid or frame (tick labels name rows and columns)."""
    ax.tick_params(length=0)
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _two_and_five(value: float, _position: Any) -> str:
    """Label the 2× and 5× minor ticks of a log axis."""
    mantissa = value / 10 ** math.floor(math.log10(value))
    return f"{value:g}" if round(mantissa, 6) in (2.0, 5.0) else ""


def plain_log_ticks(axis: XAxis | YAxis) -> None:
    """Label a log axis (`ax.xaxis` / `ax.yaxis`, limits set) with plain numbers (0.2, 5, 100), and
    its 2× and 5× minor ticks too when it spans less than two decades."""
    from matplotlib.ticker import FuncFormatter, NullFormatter
    low, high = sorted(axis.axes.get_ylim() if axis.axis_name == "y" else axis.axes.get_xlim())
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(FuncFormatter(_two_and_five) if high / low < 100 else NullFormatter())


def image_grid(images: np.ndarray, row_labels: Sequence[str], column_labels: Sequence[str], ax: Axes | None,
               cell: float = 0.45) -> Axes:
    """Draw images of shape (rows, columns, C, H, W) (uint8, or floats in [0, 1]) as one mosaic on `ax`
    (grey images as RGB: a photograph, not a value map)."""
    import numpy as np
    images = images / 255.0 if images.dtype == np.uint8 else np.asarray(images, dtype=np.float64)
    if images.shape[2] == 1:
        images = np.repeat(images, 3, axis=2)
    rows, columns, _, height, width = images.shape
    if ax is None:
        _, ax = new_axes(min(TWO_COLUMN, cell * (columns + 2)), aspect=rows / (columns + 2))
    gap = 2
    ax.imshow(montage(np.moveaxis(images[:, :, :3], 2, -1), gap, 1.0).clip(0, 1), interpolation="nearest")
    ax.set_xticks([c * (width + gap) + width / 2 for c in range(columns)], list(column_labels))
    ax.set_yticks([r * (height + gap) + height / 2 for r in range(rows)], list(row_labels))
    bare(ax)
    return ax
