"""The report's figures: one per stage, the baseline overlaid where the plot takes several
results (margins, masking, calibration, corruption severities, flatness, input scalings) and
side by side elsewhere (confusion matrices, SparseFool histograms, Lp-noise curves)."""
from __future__ import annotations

from typing import Callable

import xarray as xr

from probe.plot import plot_result, style
from probe.plot.adversarial_corruptions import robust_accuracy
from probe.plot.corruptions import heatmap, severity_curves
from probe.plot.evaluation import confusion, reliability
from probe.plot.flatness import curves
from probe.plot.lp import heatmap as lp_heatmap
from probe.plot.margins import bands
from probe.plot.masking import overview
from probe.plot.pipeline import scalings
from probe.plot.sparsefool import histogram

Results = dict[str, xr.Dataset]   # {"model": ds} or {"model": ds, "baseline": ds}
PANEL_ASPECT = 0.8


def _panels(count: int):
    """A row of `count` panels (two-column width for more than one)."""
    width = style.TWO_COLUMN if count > 1 else 0.65 * style.TWO_COLUMN
    _, axes = style.new_axes(width, aspect=PANEL_ASPECT if count > 1 else 0.62, ncols=count, squeeze=False,
                             layout="constrained")
    return list(axes.ravel())


def _one(results: Results):
    """The model's result alone when there is no baseline, else the mapping (labels in legends)."""
    return results["model"] if len(results) == 1 else results


def _side_by_side(draw: Callable, results: Results, extra: int = 0):
    """`draw(ds, ax)` for every model in its own panel (titled by the model's label when
    there are several); returns all panels, `extra` more at the end."""
    axes = _panels(len(results) + extra)
    for ax, (label, ds) in zip(axes, results.items()):
        draw(ds, ax)
        if len(results) > 1:
            ax.set_title(f"{label}\n{ax.get_title()}")
    return axes


def _evaluate(results: Results):
    axes = _side_by_side(lambda ds, ax: confusion(ds, ax=ax), results, extra=1)
    reliability(_one(results), ax=axes[-1])
    return axes[0]


def _corruptions(results: Results):
    axes = _side_by_side(lambda ds, ax: heatmap(ds, ax=ax, annotate=False), results, extra=1)
    severity_curves(results, ax=axes[-1])
    return axes[0]


def _sparsefool(results: Results):
    """One histogram per model, named in its legend (above the panel, where a title would go)."""
    axes = _panels(len(results))
    for ax, (label, ds) in zip(axes, results.items()):
        histogram(ds, ax=ax, label=label if len(results) > 1 else None)
    return axes[0]


def _flatness(results: Results):
    if all("flatness" in ds for ds in results.values()):
        return curves(results, ax=_panels(1)[0])
    return _side_by_side(lambda ds, ax: plot_result(ds, ax=ax), results)[0]


DRAW: dict[str, Callable[[Results], object]] = {
    "evaluate": _evaluate,
    "pipeline": lambda results: scalings(_one(results), ax=_panels(1)[0]),
    "masking": lambda results: overview(_one(results), ax=_panels(2)),
    "sparsefool": _sparsefool,
    "margins": lambda results: bands(_one(results), ax=_panels(1)[0]),
    "lp": lambda results: _side_by_side(lambda ds, ax: lp_heatmap(ds, ax=ax), results)[0],
    "corruptions": _corruptions,
    "flatness": _flatness,
    "adversarial_corruptions": lambda results: _side_by_side(lambda ds, ax: robust_accuracy(ds, ax=ax), results)[0],
}


# what the reader should look for in each stage's figure (the report's caption under it)
CAPTIONS = {
    "evaluate": "Confusion matrix (rows: true class, % of that class) and reliability diagram. Look for a bright "
                "diagonal, off-diagonal cells that name the classes confused, and points near the dashed diagonal "
                "(calibrated confidence).",
    "pipeline": "Accuracy with the images in [0, 1] (the contract), ×255 and standardised. The [0, 1] bar should be "
                "the highest; the legend gives how much the logits change with the batch and on a repeat (0 or "
                "float noise is right).",
    "masking": "Gradient-masking symptoms: the loss should rise with steps and radius (left); accuracy under the "
               "iterative attack should be lowest, below one step and far below random noise (right).",
    "sparsefool": "How many pixels SparseFool changes to fool each image (% of the image). Look for a few per cent "
                  "and every image fooled; a long right tail or unfooled images point to masking.",
    "margins": "Distance to the decision boundary inside each DCT frequency band (box: 25–75 %, whiskers 5–95 %). "
               "Standard models have their smallest margins at low frequencies; numbers above the boxes: % not "
               "converged.",
    "lp": "Accuracy (%) under random noise of each Lp norm (rows) and strength (columns). Look for accuracy "
          "falling gradually with strength, not at the smallest strength.",
    "corruptions": "Accuracy (%) per corruption and severity (heat map) and mean accuracy against severity. "
                   "Look for a gentle fall; one dark row names the corruption the model is brittle to.",
    "flatness": "Loss rise F(γ) under random weight perturbations of radius γ (± s.e. band). At a minimum it "
                "is positive and grows with γ; a flatter curve is a flatter minimum.",
    "adversarial_corruptions": "Accuracy under worst-case corruptions through the corruption network against the "
                               "relative radius ν. It should fall with ν, starting at the reconstruction "
                               "accuracy (dotted).",
}


def draw(stage: str, results: Results):
    """The figure of `stage` (the registry's default plot, side by side, for a stage without its own),
    drawn in the shared style."""
    with style.context():
        if stage in DRAW:
            return DRAW[stage](results)
        return _side_by_side(lambda ds, ax: plot_result(ds, ax=ax), results)[0]


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) in pixels of a PNG file's bytes (from its IHDR chunk)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


__all__ = ["CAPTIONS", "DRAW", "draw", "png_size"]
