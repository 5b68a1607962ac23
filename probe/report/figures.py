"""The report's figures: one per stage, the baseline overlaid where the plot takes several
results (margins, masking, calibration, corruption severities, flatness, input scalings) and
side by side elsewhere (confusion matrices, SparseFool histograms, Lp-noise curves).

Each stage draws its own (`figure(results)` and `CAPTION` beside its checks, see
`probe.report.stages`) with the panel helpers here; a stage without one gets its default plot
per model, side by side."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import xarray as xr

from probe.plot import plot_result, style
from probe.report import stages

if TYPE_CHECKING:
    from matplotlib.axes import Axes

Results = dict[str, xr.Dataset]   # {"model": ds} or {"model": ds, "baseline": ds}
PANEL_ASPECT = 0.8


def panels(count: int) -> list[Axes]:
    """A row of `count` panels (two-column width for more than one)."""
    width = style.TWO_COLUMN if count > 1 else 0.65 * style.TWO_COLUMN
    _, axes = style.new_axes(width, aspect=PANEL_ASPECT if count > 1 else 0.62, ncols=count, squeeze=False,
                             layout="constrained")
    return list(axes.ravel())


def one(results: Results) -> xr.Dataset | Results:
    """The model's result alone when there is no baseline, else the mapping (labels in legends)."""
    return results["model"] if len(results) == 1 else results


def side_by_side(draw: Callable[[xr.Dataset, Axes], object], results: Results, extra: int = 0) -> list[Axes]:
    """`draw(ds, ax)` for every model in its own panel (titled by the model's label when
    there are several); returns all panels, `extra` more at the end."""
    axes = panels(len(results) + extra)
    for ax, (label, ds) in zip(axes, results.items()):
        draw(ds, ax)
        if len(results) > 1:
            ax.set_title(f"{label}\n{ax.get_title()}")
    return axes


def draw(stage: str, results: Results) -> Axes:
    """The figure of `stage` (the registry's default plot, side by side, for a stage without its own),
    drawn in the shared style."""
    own = stages.piece(stage, "figure")
    with style.context():
        if own is not None:
            return own(results)
        return side_by_side(lambda ds, ax: plot_result(ds, ax=ax), results)[0]


def caption(stage: str) -> str:
    """What the reader should look for in the stage's figure (the caption under it; "" when none)."""
    return stages.piece(stage, "CAPTION", "")


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) in pixels of a PNG file's bytes (from its IHDR chunk)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


__all__ = ["caption", "draw", "one", "panels", "png_size", "side_by_side"]
