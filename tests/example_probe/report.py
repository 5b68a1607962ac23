"""The example probe in the sanity report (`probe.report`): title, budgets, one check, reading, figure."""
from __future__ import annotations

import xarray as xr

from probe.report.checks import Spec, Threshold, share

TITLE = "Input-gradient norm"
BUDGETS = {"quick": {"n": 64}, "standard": {"n": 256}, "thorough": {"n": 1000}}


def _zero(ds: xr.Dataset, context: dict):
    # A piecewise-smooth network has a non-zero input gradient of its loss almost everywhere;
    # more than 10 % of exact zeros warns, more than 25 % fails (a locally constant model).  The
    # share's Wilson interval must lie below 10 % to pass: 0 of 64 images (quick budget) do.
    return share(ds["gradient_norm"].values == 0, Threshold("lower", 10.0, 25.0))


CHECKS = (Spec("zero_loss_gradients", "input gradients of the loss exactly zero", "gradient masking",
               "gradient_norm", "% of samples", _zero),)
REASONS = {"zero_loss_gradients": ("A zero input gradient of the loss leaves gradient attacks nothing to follow.",
                                   'Athalye, Carlini & Wagner 2018, "Obfuscated gradients give a false sense of '
                                   'security" (ICML)')}
READING = ("The median input-gradient norm of the loss is {median_gradient_norm} [{median_gradient_norm_low}, "
           "{median_gradient_norm_high}] on {samples} images.")
CAPTION = ("Distribution of the per-sample input-gradient norms of the loss; the line is the median, the band its "
           "interval. Look for no mass at zero (masked gradients).")


def figure(results: dict[str, xr.Dataset]):
    """The distributions of every model overlaid."""
    from example_probe.plot import distribution
    from probe.report.figures import one, panels
    return distribution(one(results), ax=panels(1)[0])
