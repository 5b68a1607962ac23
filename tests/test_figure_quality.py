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
from matplotlib.text import Text

from probe import models, plot, registry
from probe.errors import ProbeError
from probe.plot import style
from probe.report import figures as report_figures
from probe.report import stage_names as report_stage_names
from probe.report import stages
from test_figures import probe_results  # noqa: F401  (the module's fixture: real results of every probe)

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
            + accuracy_scales(figure))


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
