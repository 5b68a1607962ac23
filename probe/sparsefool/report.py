"""The sparsefool probe in the sanity report (`probe.report`): its title, budgets, checks
(with the reason for each threshold and the paper it follows), reading and figure."""
from __future__ import annotations

from typing import TYPE_CHECKING

import xarray as xr

from probe.report.checks import CARLINI, SUCCESS, Spec, Threshold, estimated
from probe.sparsefool import summary

if TYPE_CHECKING:
    from matplotlib.axes import Axes

TITLE = "SparseFool"
BUDGETS = {   # samples (n) and own options of the stage under each budget of `probe.report.budgets`
    "quick": {"n": 64},
    "standard": {"n": 128},
    "thorough": {"n": 500},
}


# ----------------------------------------------------------------------------- checks

# Median share of pixels SparseFool changes.  Published: 0.1–2.5 % (MNIST LeNet 1.66 %,
# adversarially trained CIFAR 2.44 %); LeNet on the sample ~2.4 %.
SPARSITY = Threshold("lower", 10.0, 25.0)


CHECKS = (
    Spec("sparsefool_success", "SparseFool success ([0, 1] box only)", "gradient masking", "sparsefool", "%",
         estimated(summary, "fooling_rate", SUCCESS)),
    Spec("sparsity", "SparseFool median perturbed pixels", "geometry and robustness", "sparsefool", "%",
         estimated(summary, "median_perturbed_pixels", SPARSITY)),
)
REASONS: dict[str, tuple[str, str]] = {
    "sparsefool_success": ("SparseFool, bounded only by the [0, 1] box, fools 99.9–100 % of the images of "
                           "standard models.", 'Modas et al. 2019, "SparseFool: a few pixels make a big '
                           'difference" (CVPR); ' + CARLINI),
    "sparsity": ("Published median sparsity is 0.1–2.5 % of the pixels; many more means an unusually robust or a "
                 "masked model.", 'Modas et al. 2019, "SparseFool: a few pixels make a big difference" (CVPR)'),
}


# ----------------------------------------------------------------------------- reading

READING = ("SparseFool fools {fooling_rate} % of the images by changing a median {median_perturbed_pixels} % "
           "of their pixels.")


# ----------------------------------------------------------------------------- figure

CAPTION = ("How many pixels SparseFool changes to fool each image (% of the image). Look for a few per cent "
           "and every image fooled; a long right tail or unfooled images point to masking.")


def figure(results: dict[str, xr.Dataset]) -> Axes:
    """The histogram of perturbed pixels of every model, side by side, each named in its legend
    (above the panel, where a title would go) when there are several."""
    from probe.report.figures import panels
    from probe.sparsefool.plot import histogram
    axes = panels(len(results))
    for ax, (label, ds) in zip(axes, results.items()):
        histogram(ds, ax=ax, label=label if len(results) > 1 else None)
    return axes[0]
