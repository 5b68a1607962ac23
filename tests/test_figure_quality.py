"""What a reader of the printed figures sees, measured on every default figure (the registry
probes' default plots, and the training curves) drawn from real results of the embedded-sample
LeNet, and on the report's figures: every text at least `MIN_POINTS` at the printed size, no text
outside the figure or over another text, no panel over another, `ax=` drawing the same plot (or refusing), and one
scale for accuracies (percent, as the results store them)."""
from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.path import Path
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from probe import models, plot, registry
from probe.errors import ProbeError
from probe.plot import style
from probe.report import figures as report_figures
from probe.report import stage_names as report_stage_names
from probe.report import stages

MIN_POINTS = 6.0      # the smallest text a printed figure may hold
TOLERANCE = 1.0       # pixels of rounding allowed in the bounding-box checks
NAMES = ["train", *registry.PROBES]


def texts(figure) -> list[Text]:
    """Every text a figure draws: titles, labels, tick labels (of ticks inside the view),
    legends, colour bars, annotations."""
    hidden = {id(label) for ax in figure.axes for axis in (ax.xaxis, ax.yaxis)
              for tick in axis.get_major_ticks() + axis.get_minor_ticks()
              if not _inside(tick.get_loc(), axis.get_view_interval()) for label in (tick.label1, tick.label2)}
    return [t for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip() and id(t) not in hidden
            and (t.axes is None or t.axes.get_visible())]


def _inside(location: float, interval) -> bool:
    low, high = sorted(interval)
    slack = 1e-9 * max(abs(low), abs(high), 1e-300)
    return low - slack <= location <= high + slack


def small_texts(figure, scale: float = 1.0) -> list[str]:
    """Texts under `MIN_POINTS` at the printed size (font size × `scale`, the resizing on save)."""
    return [f"{t.get_text()!r} at {t.get_fontsize() * scale:.1f} pt" for t in texts(figure)
            if t.get_fontsize() * scale < MIN_POINTS - 1e-9]


def outside_texts(figure) -> list[str]:
    """Texts whose bounding box leaves the figure's canvas (cut off when the figure is saved as it is)."""
    renderer = figure.canvas.get_renderer()
    figure.draw_without_rendering()
    width, height = figure.bbox.width, figure.bbox.height
    found = []
    for t in texts(figure):
        box = t.get_window_extent(renderer)
        if box.x0 < -TOLERANCE or box.y0 < -TOLERANCE or box.x1 > width + TOLERANCE or box.y1 > height + TOLERANCE:
            found.append(f"{t.get_text()!r} at {tuple(round(v) for v in box.extents)} in {width:.0f}×{height:.0f}")
    return found


def overlapping_texts(figure) -> list[str]:
    """Pairs of texts drawn over each other (cell numbers, tick labels, legends, titles)."""
    renderer = figure.canvas.get_renderer()
    figure.draw_without_rendering()
    boxes = [(t, t.get_window_extent(renderer)) for t in texts(figure)]
    found = []
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        width = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
        height = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
        if width > TOLERANCE and height > TOLERANCE:
            found.append(f"{a.get_text()!r} over {b.get_text()!r}")
    return found


def _panels(figure) -> list:
    """The visible axes of a figure, twins (an axes at the position of an earlier one) left out."""
    panels = []
    for ax in figure.axes:
        if not ax.get_visible() or any(np.allclose(ax.get_position().extents, p.get_position().extents)
                                       for p in panels):
            continue
        panels.append(ax)
    return panels


def _boxes(figure, ax, renderer) -> list:
    """Where a panel draws: its frame and every text that belongs to it (ticks, labels, title, legend)."""
    return [ax.bbox] + [t.get_window_extent(renderer) for t in texts(figure) if t.axes is ax]


def overlapping_panels(figure) -> list[str]:
    """Pairs of panels where the frame or a text of one covers the frame or a text of the other."""
    renderer = figure.canvas.get_renderer()
    figure.draw_without_rendering()
    panels = [(ax, _boxes(figure, ax, renderer)) for ax in _panels(figure)]
    found = []
    for (a, boxes_a), (b, boxes_b) in itertools.combinations(panels, 2):
        for box_a, box_b in itertools.product(boxes_a, boxes_b):
            width = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
            height = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
            if width > TOLERANCE and height > TOLERANCE:
                found.append(f"'{a.get_title() or a.get_label()}' and '{b.get_title() or b.get_label()}' overlap "
                             f"at {tuple(round(v) for v in box_a.extents)}")
                break
    return found


def _display_points(path, transform, joined: bool) -> np.ndarray:
    """Points of a path in display coordinates; `joined`: also 20 along each segment (so that a
    segment crossing a box is seen)."""
    vertices = transform.transform(path.vertices)
    vertices = vertices[np.isfinite(vertices).all(axis=1)]
    if not joined or len(vertices) < 2:
        return vertices
    steps = np.linspace(0.0, 1.0, 20)[:, None, None]
    return (vertices[:-1] + steps * (vertices[1:] - vertices[:-1])).reshape(-1, 2)


def _drawn_paths(ax) -> list:
    """(path, transform, joined, filled) of the data an axes draws: lines in data coordinates
    (markers alone are not joined), patches (boxes, bars, shaded spans), collections (bands, error bars, violins; not
    colour maps)."""
    found = []
    for line in ax.lines:   # lines across the whole axes (axhline, axvline) are references, not data
        if line.get_visible() and len(line.get_xydata()) and line.get_transform() is ax.transData:
            joined = line.get_linestyle() not in ("None", "none", "")
            found.append((Path(line.get_xydata()), line.get_transform(), joined, False))
    found += [(patch.get_path(), patch.get_transform(), True, patch.get_fill()) for patch in ax.patches
              if patch.get_visible()]
    for collection in ax.collections:
        if collection.get_visible() and collection.get_array() is None:
            faces = collection.get_facecolor()
            filled = len(faces) > 0 and faces[:, 3].max() > 0
            found += [(path, collection.get_transform(), True, filled) for path in collection.get_paths()]
    return found


def legends_over_data(figure) -> list[str]:
    """Legends drawn over the data of a panel: a point along a line, a box or a band's outline inside
    the legend, or a filled area under the legend's centre (only what lies inside the panel counts)."""
    renderer = figure.canvas.get_renderer()
    figure.draw_without_rendering()
    found = []
    for ax in _panels(figure):
        legends = [ax.get_legend()] if ax.get_legend() is not None else []
        for legend in legends + list(figure.legends):
            box = legend.get_window_extent(renderer).padded(-TOLERANCE)
            area = Bbox.intersection(box, ax.bbox)
            if area is None or area.width <= 0 or area.height <= 0:
                continue
            for path, transform, joined, filled in _drawn_paths(ax):
                points = _display_points(path, transform, joined)
                inside = ((points > area.min) & (points < area.max)).all(axis=1)
                shown = Path(transform.transform(path.vertices)) if filled else None
                if inside.any() or (shown is not None and shown.contains_point(area.get_points().mean(axis=0))):
                    found.append(f"the legend '{legend.get_texts()[0].get_text()}' covers data of "
                                 f"'{ax.get_title() or ax.get_ylabel()}'")
                    break
    return found


def accuracy_scales(figure) -> list[str]:
    """Every axis or colour bar about accuracy not in percent (label without '%', or limits of a fraction)."""
    found = []
    for ax in figure.axes:
        for axis, label, limits in (("x", ax.get_xlabel(), ax.get_xlim()), ("y", ax.get_ylabel(), ax.get_ylim())):
            if "accura" not in label.lower():
                continue
            if "%" not in label:
                found.append(f"{axis} axis '{label}' does not say %")
            elif max(limits) <= 1.5:
                found.append(f"{axis} axis '{label}' spans {limits}: fractions labelled %")
    return found


def quality_problems(figure) -> list[str]:
    return (small_texts(figure) + outside_texts(figure) + overlapping_texts(figure) + overlapping_panels(figure)
            + legends_over_data(figure) + accuracy_scales(figure))


# ----------------------------------------------------------------------------- the tests

@pytest.mark.parametrize("name", NAMES)
def test_default_figure_reads_well_in_print(name, probe_results):
    ax = plot.plot_result(probe_results[name])
    problems = quality_problems(ax.figure)
    plt.close(ax.figure)
    assert problems == []


@pytest.fixture(scope="module")
def pipeline_result(lenet_checkpoint):
    """The report's input-pipeline result (not a registry probe) on the same LeNet."""
    from probe.report import pipeline
    return pipeline.run(models.load(lenet_checkpoint), "fashion-mnist-sample", n=64, seed=0)


@pytest.mark.parametrize("stage", sorted(stage for stage in report_stage_names() if stages.piece(stage, "figure")))
def test_report_figure_reads_well(stage, probe_results, pipeline_result):
    ds = pipeline_result if stage == "pipeline" else probe_results[stage]
    for results in ({"model": ds}, {"model": ds, "baseline": ds}):
        ax = report_figures.draw(stage, results)
        problems = quality_problems(ax.figure)
        plt.close(ax.figure)
        assert problems == [], len(results)


def _kind(ax) -> tuple:
    """What kind of plot an axes holds: its axis labels and whether it shows an image or a colour mesh."""
    return ax.get_xlabel(), ax.get_ylabel(), bool(ax.images)


@pytest.mark.parametrize("name", NAMES)
def test_ax_draws_the_same_plot_or_refuses(name, probe_results):
    ds = probe_results[name]
    default = plot.plot_result(ds)
    panels = [a for a in _panels(default.figure) if not hasattr(a, "_colorbar")]
    expected = [_kind(a) for a in panels]
    plt.close(default.figure)
    figure, ax = style.new_axes()
    try:
        drawn = plot.plot_result(ds, ax=ax)
    except ProbeError as error:
        assert "\n" not in str(error) and "ax=" in str(error), str(error)
        assert len(expected) > 1, f"a one-panel plot refused ax=: {error}"
    else:
        assert drawn is ax and len(expected) == 1 and _kind(ax) == expected[0], (_kind(ax), expected)
    plt.close(figure)
    if len(expected) > 1:        # as many axes as panels: the same panels
        figure, axes = style.new_axes(style.TWO_COLUMN, ncols=len(expected))
        plot.plot_result(ds, ax=axes)
        assert [_kind(a) for a in axes] == expected
        plt.close(figure)


def test_the_legend_check_sees_data_under_a_legend():
    figure, ax = style.new_axes()
    ax.plot([0, 1], [0, 1], color="C0", label="rising")
    legend = ax.legend(loc="upper left")
    assert legends_over_data(figure) == []                       # the corner the diagonal leaves free
    ax.plot([0.05, 0.05], [0.0, 1.0], color="C1")                # a whisker whose ends lie outside the legend
    assert legends_over_data(figure) != []
    ax.lines[-1].remove()
    ax.fill_between([0, 1], [0.9, 0.9], [1.0, 1.0], color="C2", alpha=0.2)   # a band along the top
    assert legends_over_data(figure) != []
    legend.remove()
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.01))        # above the panel
    assert legends_over_data(figure) == []
    plt.close(figure)
