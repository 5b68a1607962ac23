"""The evaluate probe in the sanity report (`probe.report`): its title, budgets, checks
(with the reason for each threshold and the paper it follows), reading and figure."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from probe.evaluate import calibration, summary
from probe.report.checks import Measure, Spec, Threshold, number, share
from probe.results import class_label

if TYPE_CHECKING:
    from matplotlib.axes import Axes

TITLE = "Accuracy and calibration"
BUDGETS = {   # samples (n) and own options of the stage under each budget of `probe.report.budgets`
    "quick": {"n": 2000},
    "standard": {"n": 10000},
    "thorough": {"n": None},
}

MIN_CLASS_SAMPLES = 10     # classes with fewer samples are left out of the worst-class accuracy
MIN_CALIBRATION_SAMPLES = 100   # fewer samples: the calibration error is not judged


# ----------------------------------------------------------------------------- checks

def _accuracy(ds: xr.Dataset, context: dict) -> Measure:
    # A sane classifier is far above chance: fail below twice chance, warn below 5× chance
    # (at most 50 %).  The sample LeNet reaches ~85 %; a constant model sits at chance.
    chance = 100.0 / context["classes"]
    numbers = summary(ds)
    return Measure(numbers["accuracy"], Threshold("higher", min(50.0, 5 * chance), 2 * chance),
                   f"chance is {number(chance)} %", numbers["accuracy_low"], numbers["accuracy_high"])


def _worst_class(ds: xr.Dataset, context: dict) -> Measure | str:
    # Informative only (warn, never fail; collapse below is the failing check): a class whose
    # accuracy is below chance is a class the model has not learnt.  LeNet's worst (shirt) ~55 %.
    finite = ds["finite"].values
    labels, correct = ds["label"].values[finite], ds["correct"].values[finite]
    counts = np.bincount(labels)
    classes = np.flatnonzero(counts >= MIN_CLASS_SAMPLES)
    if not len(classes):
        return f"no class has {MIN_CLASS_SAMPLES} samples"
    per_class = np.array([100.0 * correct[labels == c].mean() for c in classes])
    worst = int(classes[per_class.argmin()])
    return share(correct[labels == worst], Threshold("higher", 100.0 / context["classes"], -math.inf),
                 f"class {class_label(ds, worst)}")


def _collapse(ds: xr.Dataset, context: dict) -> Measure | str:
    # Share of the predictions in the most predicted class, against the largest true class
    # share T: fail when it is more than halfway from T to 100 %, warn a quarter of the way.
    # Balanced 10 classes: fail ≥ 55 %, warn ≥ 32.5 %; the LeNet ~13 %, a constant model 100 %.
    finite = ds["finite"].values
    if not finite.any():
        return "no sample has finite logits"
    predictions = ds["prediction"].values[finite]
    shares = 100.0 * np.bincount(predictions, minlength=context["classes"]) / len(predictions)
    truth = float(100.0 * np.bincount(ds["label"].values).max() / ds.sizes["sample"])
    return share(predictions == shares.argmax(), Threshold("lower", truth + 0.25 * (100 - truth),
                                                           truth + 0.5 * (100 - truth)),
                 f"class {class_label(ds, int(shares.argmax()))}; {int((shares > 0).sum())} of "
                 f"{context['classes']} classes predicted")


def _ece(ds: xr.Dataset, context: dict) -> Measure | str:
    # Expected calibration error, 15 equal-width bins.  Modern networks are typically 2–10 %
    # off (Guo et al. 2017); above 20 % the confidences mean little.  The LeNet: ~2 %.  With
    # few samples the binned estimate is biased upwards (LeNet: 14 % on 16 samples, 28 % on 8),
    # so it is not judged below `MIN_CALIBRATION_SAMPLES`.
    if int(ds["finite"].values.sum()) < MIN_CALIBRATION_SAMPLES:
        return f"fewer than {MIN_CALIBRATION_SAMPLES} samples: the 15-bin estimate would be biased"
    return Measure(float(calibration(ds)["ece"]), Threshold("lower", 10.0, 20.0))


def _non_finite(ds: xr.Dataset, context: dict) -> Measure:
    # Any NaN or inf logit is a broken model somewhere; up to 1 % of samples warns, more fails.
    # Judged on the count seen (no interval): one non-finite logit is already the symptom, and
    # no number of clean samples could prove a rate of exactly 0.
    return Measure(100.0 * float((~ds["finite"].values).mean()), Threshold("lower", 0.0, 1.0))


CHECKS = (
    Spec("accuracy", "accuracy above chance", "accuracy", "evaluate", "%", _accuracy),
    Spec("worst_class", "worst-class accuracy", "accuracy", "evaluate", "%", _worst_class),
    Spec("collapse", "prediction collapse (largest predicted class)", "accuracy", "evaluate", "%", _collapse),
    Spec("calibration", "expected calibration error (15 bins)", "accuracy", "evaluate", "%", _ece),
    Spec("non_finite_logits", "non-finite logits", "input pipeline", "evaluate", "%", _non_finite),
)
REASONS: dict[str, tuple[str, str]] = {
    "accuracy": ("A trained classifier is far above chance: below twice chance it has learnt next to nothing, "
                 "below five times chance (at most 50 %) it is suspect. The sample LeNet reaches about 85 %.", ""),
    "worst_class": ("A class below chance is a class the model has not learnt; informative only (warns, never "
                    "fails).", ""),
    "collapse": ("A model that predicts one class for most inputs has collapsed: warn a quarter of the way from "
                 "the largest true class share to 100 %, fail halfway.", ""),
    "calibration": ("Modern networks are typically 2–10 % off; above 20 % the confidences mean little. Not "
                    "judged on fewer than 100 samples, where the binned estimate is biased upwards.",
                    'Guo et al. 2017, "On calibration of modern neural networks" (ICML)'),
    "non_finite_logits": ("Any NaN or infinite logit is a broken model or input pipeline.", ""),
}


# ----------------------------------------------------------------------------- reading

def numbers(ds: xr.Dataset) -> dict[str, float]:
    """The expected calibration error and the accuracy (%) of every class, beside the summary."""
    values = {"ece": float(calibration(ds)["ece"])}
    finite = ds["finite"].values
    labels, correct = ds["label"].values[finite], ds["correct"].values[finite]
    for c in np.unique(labels):
        values[f"accuracy_class_{int(c)}"] = float(100.0 * correct[labels == c].mean())
    return values


READING = ("{accuracy} % [{accuracy_low}, {accuracy_high}] of {samples} images are classified correctly "
           "(the clean accuracy of this report), with a mean confidence of "
           "{mean_confidence} and an expected calibration error of {ece} %.")


# ----------------------------------------------------------------------------- figure

CAPTION = ("Confusion matrix (rows: true class, % of that class) and reliability diagram. Look for a bright "
           "diagonal, off-diagonal cells that name the classes confused, and points near the dashed diagonal "
           "(calibrated confidence).")


def figure(results: dict[str, xr.Dataset]) -> Axes:
    """Confusion matrices side by side, then one reliability diagram of every model."""
    from probe.evaluate.plot import confusion, reliability
    from probe.report.figures import one, side_by_side
    axes = side_by_side(lambda ds, ax: confusion(ds, ax=ax), results, extra=1)
    reliability(one(results), ax=axes[-1])
    return axes[0]
