"""The checks of the sanity report: each judges one measured number against a stated threshold.

A `Check` has a verdict — 'pass', 'warn', 'fail', or 'skip' when it could not be measured (no
baseline given, a stage not run) — the number it judged with its units and, where the number
is estimated from samples, its 95 % interval; the threshold in words, the samples it used and
the result file it was read from.  A verdict is 'pass', 'warn' or 'fail' only when the whole
interval lies on one side of the thresholds; otherwise it is 'inconclusive', with the number
of samples that would decide it (the width of an interval shrinks as 1/√n).  `CHECKS` lists them in
report order; each `Spec` names the stage whose result it reads and measures it with a small
function of that result.  Thresholds are calibrated so that a well-trained LeNet on the
embedded Fashion-MNIST sample passes every check while the known-bad models fail theirs
(quantised input, [0, 255] input, BatchNorm on batch statistics, constant output, NaN
logits); the reasons are in the comments beside them.
"""
from __future__ import annotations

import dataclasses
import math
import re
from typing import Callable

import numpy as np
import xarray as xr

from probe import stats
from probe.evaluate import calibration
from probe.results import class_label
from probe.evaluate import summary as evaluate_summary
from probe.flatness import flatness_estimate
from probe.lp import summary as lp_summary
from probe.masking import summary as masking_summary
from probe.sparsefool import summary as sparsefool_summary

VERDICTS = ("pass", "inconclusive", "warn", "fail", "skip")
RANK = {"skip": 0, "pass": 1, "inconclusive": 2, "warn": 3, "fail": 4}
SECTIONS = ("identity", "accuracy", "input pipeline", "gradient masking", "geometry and robustness")
MIN_CLASS_SAMPLES = 10     # classes with fewer samples are left out of the worst-class accuracy
MIN_CALIBRATION_SAMPLES = 100   # fewer samples: the calibration error is not judged


@dataclasses.dataclass(frozen=True)
class Threshold:
    """Bounds on a measured value.  `higher`: pass if value ≥ pass_at, warn if ≥ warn_at, else
    fail; `lower`: pass if value ≤ pass_at, warn if ≤ warn_at, else fail (±inf disables a bound)."""

    better: str
    pass_at: float
    warn_at: float

    def judge(self, value: float, low: float | None = None, high: float | None = None) -> str:
        """The verdict on `value` whose interval is [low, high] (none: the value is exact):
        pass, warn or fail when the whole interval lies in that band, else 'inconclusive'."""
        if math.isnan(value):
            return "fail"
        sign = 1.0 if self.better == "higher" else -1.0
        worst, best = sorted((sign * (value if low is None else low), sign * (value if high is None else high)))
        if worst >= sign * self.pass_at:
            return "pass"
        if best < sign * self.warn_at:
            return "fail"
        if worst >= sign * self.warn_at and best < sign * self.pass_at:
            return "warn"
        return "inconclusive"

    def deciding_samples(self, value: float, low: float, high: float, samples: int) -> int:
        """The samples that would pull the ends of [low, high] (at `samples`) past the thresholds
        it spans, each side shrinking as 1/√n about `value`; 0 when unknown (an infinite end, a
        value on a threshold)."""
        needed = 0
        for t in (self.pass_at, self.warn_at):
            if math.isfinite(t) and low <= t <= high:
                side = value - low if t <= value else high - value       # the half of the interval reaching t
                if t == value:
                    return 0
                needed = max(needed, stats.samples_needed(samples, side, abs(value - t)))
        return needed

    def text(self, units: str) -> str:
        op = "≥" if self.better == "higher" else "≤"
        unit = f" {units}" if units else ""
        words = [f"pass {op} {number(self.pass_at)}{unit}"]
        if math.isfinite(self.warn_at) and self.warn_at != self.pass_at:
            words.append(f"warn {op} {number(self.warn_at)}{unit}")
        words.append("fail otherwise" if math.isfinite(self.warn_at) else "warn otherwise")
        return ", ".join(words)


def number(value: float | int | None) -> str:
    """A number as the report prints it (4 significant digits; inf as ∞)."""
    if value is None:
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:.4g}"


PERCENT_KEYS = re.compile(r"accuracy|^ece$|^mce|^ice$|fooling_rate$|success$|perturbed_pixels$|gradients$")


def named_number(key: str, value: float | int | None) -> str:
    """A named number as the report prints it: percentages (keys matching `PERCENT_KEYS`) with
    one decimal, everything else as `number` does."""
    if isinstance(value, float) and math.isfinite(value) and PERCENT_KEYS.search(key):
        return f"{value:.1f}"
    return number(value)


@dataclasses.dataclass
class Check:
    """One verdict of the report."""

    name: str
    title: str
    section: str
    stage: str
    verdict: str
    measured: float | None
    units: str
    threshold: str
    samples: int | None
    source: str | None
    note: str = ""
    low: float | None = None      # the interval of `measured` (None: exact)
    high: float | None = None
    deciding_samples: int | None = None   # inconclusive: the samples that would decide it (0: unknown)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Measure:
    """What a check function returns: the value, its threshold, a note, the value's interval."""

    value: float
    threshold: Threshold
    note: str = ""
    low: float | None = None
    high: float | None = None


@dataclasses.dataclass(frozen=True)
class Spec:
    """A check: its name and title, its section, the stage whose result it reads, its units and
    the function measuring it from that result (and the context: classes, baseline)."""

    name: str
    title: str
    section: str
    stage: str
    units: str
    measure: Callable[[xr.Dataset, dict], Measure | str]   # a str: why it was not measured (skip)


# ----------------------------------------------------------------------------- accuracy

def _accuracy(ds: xr.Dataset, context: dict) -> Measure:
    # A sane classifier is far above chance: fail below twice chance, warn below 5× chance
    # (at most 50 %).  The sample LeNet reaches ~85 %; a constant model sits at chance.
    chance = 100.0 / context["classes"]
    numbers = evaluate_summary(ds)
    return Measure(numbers["accuracy"], Threshold("higher", min(50.0, 5 * chance), 2 * chance),
                   f"chance is {number(chance)} %", numbers["accuracy_low"], numbers["accuracy_high"])


def _share(flags: np.ndarray, threshold: Threshold, note: str = "") -> Measure:
    """A share of samples (%) with its Wilson interval."""
    estimate = stats.percent(flags)
    return Measure(estimate.value, threshold, note, estimate.low, estimate.high)


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
    return _share(correct[labels == worst], Threshold("higher", 100.0 / context["classes"], -math.inf),
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
    return _share(predictions == shares.argmax(), Threshold("lower", truth + 0.25 * (100 - truth),
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


# ----------------------------------------------------------------------------- input pipeline

def _scaling(ds: xr.Dataset, context: dict) -> Measure:
    # Accuracy gain of the best other scaling ([0, 255] or standardised) over [0, 1]: paired
    # on the same images, so a couple of points is already a preference.  The LeNet loses
    # ~7 points on either; a model expecting [0, 255] gains ~77.
    acc = dict(zip(ds["scaling"].values, ds["accuracy"].values))
    best = "x255" if acc["x255"] >= acc["standardised"] else "standardised"
    return Measure(float(acc[best] - acc["unit"]), Threshold("lower", 2.0, 5.0),
                   f"[0, 1] {number(float(acc['unit']))} %, [0, 255] {number(float(acc['x255']))} %, "
                   f"standardised {number(float(acc['standardised']))} %")


def _relative_change(variable: str, changed: str) -> Callable[[xr.Dataset, dict], Measure]:
    # Relative logit change (max |Δ| / max |logit|).  Float reordering gives ~1e-7 on a CPU and
    # up to ~1e-3 with TF32 convolutions on a GPU; BatchNorm on batch statistics changes the
    # logits by ~10 % (LeNet: 0.13) and flips predictions.
    def measure(ds: xr.Dataset, context: dict) -> Measure:
        return Measure(float(ds[variable].values.max()), Threshold("lower", 1e-4, 1e-2),
                       f"{int(ds[changed].values.sum())} predictions changed")
    return measure


# ----------------------------------------------------------------------------- gradient masking

def _estimated(summary: Callable[[xr.Dataset], dict], key: str, threshold: Threshold,
               note: str = "") -> Callable[[xr.Dataset, dict], Measure]:
    """A check on the number `key` of a probe's summary, with the interval the summary gives it."""
    def measure(ds: xr.Dataset, context: dict) -> Measure:
        numbers = summary(ds)
        return Measure(numbers[key], threshold, note, numbers[f"{key}_low"], numbers[f"{key}_high"])
    return measure


# An unbounded gradient attack reaches ~100 % on any model whose gradients are usable
# (published SparseFool: 99.9–100 %); the LeNet: 100 %, quantised input: 0 %.
SUCCESS = Threshold("higher", 95.0, 80.0)


def _gradients(ds: xr.Dataset, context: dict) -> Measure:
    # The top-two logit margin has a non-zero, finite input gradient almost everywhere for a
    # piecewise-smooth network; a locally constant model (quantised input) has none.
    zero, bad = ds["gradient_zero"].values.astype(bool), ~ds["gradient_finite"].values.astype(bool)
    return _share(zero | bad, Threshold("lower", 1.0, 10.0), f"{int(zero.sum())} zero, {int(bad.sum())} non-finite")


def _loss_steps(ds: xr.Dataset, context: dict) -> Measure:
    # Smallest rise over the radii of the mean PGD loss from 1 step to the most steps.  A fall
    # beyond float noise means the iterative attack is broken (fail); no rise at all means
    # either a linear model or gradients that do not lead anywhere (warn).  LeNet: ≥ 0.07 nats.
    return _estimated(masking_summary, "loss_rise_steps", Threshold("higher", 1e-3, -1e-2),
                      f"{int(ds['steps'].values[0])} → {int(ds['steps'].values[-1])} steps")(ds, context)


def _loss_radius(ds: xr.Dataset, context: dict) -> Measure | str:
    # Smallest rise of the mean loss (most steps) from one radius to the next: a larger ball
    # contains the smaller one, so it must rise; flat means the attack is not moving (a
    # quantised input gives exactly 0).  LeNet: ≥ 0.5 nats.
    if ds.sizes["radius"] < 2:
        return "one radius only"
    return _estimated(masking_summary, "loss_rise_radius", Threshold("higher", 1e-2, 1e-3))(ds, context)


def _paired(ds: xr.Dataset, points: float) -> float:
    """`points`, or two samples' worth of points on this many samples, whichever is larger."""
    return max(points, 2 * 100.0 / max(ds.sizes["sample"], 1))


def _gap(stronger: Callable[[xr.Dataset], np.ndarray], name: str) -> Callable[[xr.Dataset, dict], Measure | str]:
    # Largest excess (over the radii) of the iterative attack's accuracy over the accuracy under
    # `stronger` (one-step, noise, transfer), in points: the iterative white-box attack must be
    # the strongest.  Pass within 3 points or 2 samples, warn within 10 points or 4 samples.
    # LeNet: the iterative attack is 0–25 points stronger than one step and ~80 than noise.
    def measure(ds: xr.Dataset, context: dict) -> Measure | str:
        other = stronger(ds)
        if other is None:
            return f"no {name}: give a baseline model"
        gap = ds["accuracy"].values[:, -1] - other
        worst = int(gap.argmax())
        return Measure(float(gap.max()), Threshold("lower", _paired(ds, 3.0), 2 * _paired(ds, 5.0)),
                       f"at radius {number(float(ds['radius'].values[worst]))}")
    return measure


# ----------------------------------------------------------------------------- geometry and robustness

def _low_band(ds: xr.Dataset, context: dict) -> Measure:
    # Share of samples whose margin in the lowest DCT band converged.  Standard models have
    # their smallest margins there; non-convergence at high frequencies is normal and is not
    # judged.  LeNet: 100 %.
    return _share(ds["converged"].values[0].astype(bool), Threshold("higher", 90.0, 50.0))


# Median share of pixels SparseFool changes.  Published: 0.1–2.5 % (MNIST LeNet 1.66 %,
# adversarially trained CIFAR 2.44 %); LeNet on the sample ~2.4 %.
SPARSITY = Threshold("lower", 10.0, 25.0)


def _ice(ds: xr.Dataset, context: dict) -> Measure:
    # iCE: relative rise of the error under imperceptible random noise.  Published standard
    # CIFAR model 9.7 %; small samples make it noisy (±15 % at 200 samples), hence 25 / 100 %.
    return _estimated(lp_summary, "ice", Threshold("lower", 25.0, 100.0),
                      f"mCE_Lp {number(float(ds['mce_lp']))} %")(ds, context)


def _mild_corruptions(ds: xr.Dataset, context: dict) -> Measure:
    # Accuracy lost at the mildest severity (mean over corruptions), in points.  Published
    # CIFAR standard models lose ~8 points at severity 1; LeNet on the sample ~6.
    mild = float(ds["accuracy"].mean("corruption").values[0])
    return Measure(float(ds["clean_accuracy"]) - mild, Threshold("lower", 10.0, 25.0),
                   f"severity {int(ds['severity'].values[0])}; mCE {number(float(ds['mce']))} %")


def _flatness(ds: xr.Dataset, context: dict) -> Measure | str:
    # F(γ) at the largest radius: at a minimum, random weight perturbations raise the loss.  A
    # loss that falls (the interval over directions below 0) warns: the weights are not at a minimum.
    if "flatness" not in ds:
        return "no flatness sweep"
    estimate = flatness_estimate(ds)
    return Measure(estimate.value, Threshold("higher", 0.0, -math.inf),
                   f"γ = {number(float(ds['radius'].values[-1]))}, {estimate.n} directions", estimate.low,
                   estimate.high)


def _eigenvalue(ds: xr.Dataset, context: dict) -> Measure | str:
    # The dominant (largest |λ|) Hessian eigenvalue is positive at a minimum; negative warns.
    if "eigenvalue" not in ds:
        return "no Hessian eigenvalues"
    return Measure(float(ds["eigenvalue"].values[0]), Threshold("higher", 0.0, -math.inf))


def _adversarial_corruptions(ds: xr.Dataset, context: dict) -> Measure:
    # Accuracy lost from the unperturbed reconstructions c_φ(x) to the worst-case corruptions at
    # the largest ν (points).  The attack must not raise the accuracy (beyond two samples, from
    # its random starts; warn beyond four): if it does, the gradients through the corruption
    # network do not reach the classifier's loss.
    largest = int(np.argmax(ds["nu"].values))
    drop = float(ds["reconstruction_accuracy"]) - float(ds["robust_accuracy"].values[largest])
    return Measure(drop, Threshold("higher", -_paired(ds, 0.0), -2 * _paired(ds, 0.0)),
                   f"ν = {number(float(ds['nu'].values[largest]))}; clean {number(float(ds['clean_accuracy']))} %, "
                   f"reconstructed {number(float(ds['reconstruction_accuracy']))} %")


CHECKS: tuple[Spec, ...] = (
    Spec("accuracy", "accuracy above chance", "accuracy", "evaluate", "%", _accuracy),
    Spec("worst_class", "worst-class accuracy", "accuracy", "evaluate", "%", _worst_class),
    Spec("collapse", "prediction collapse (largest predicted class)", "accuracy", "evaluate", "%", _collapse),
    Spec("calibration", "expected calibration error (15 bins)", "accuracy", "evaluate", "%", _ece),
    Spec("non_finite_logits", "non-finite logits", "input pipeline", "evaluate", "%", _non_finite),
    Spec("input_scaling", "accuracy gain of another input scaling", "input pipeline", "pipeline", "points",
         _scaling),
    Spec("batch_dependence", "eval-mode logits depend on the batch", "input pipeline", "pipeline", "",
         _relative_change("batch_change", "batch_prediction_changed")),
    Spec("determinism", "two identical forward passes differ", "input pipeline", "pipeline", "",
         _relative_change("repeat_change", "repeat_prediction_changed")),
    Spec("deepfool_success", "unbounded DeepFool success", "gradient masking", "masking", "%",
         _estimated(masking_summary, "deepfool_success", SUCCESS)),
    Spec("sparsefool_success", "SparseFool success ([0, 1] box only)", "gradient masking", "sparsefool", "%",
         _estimated(sparsefool_summary, "fooling_rate", SUCCESS)),
    Spec("zero_gradients", "zero or non-finite input gradients", "gradient masking", "masking", "% of samples",
         _gradients),
    Spec("loss_vs_steps", "PGD loss rises with steps", "gradient masking", "masking", "nats", _loss_steps),
    Spec("loss_vs_radius", "PGD loss rises with radius", "gradient masking", "masking", "nats", _loss_radius),
    Spec("one_step_vs_iterative", "iterative PGD weaker than one step", "gradient masking", "masking", "points",
         _gap(lambda ds: ds["accuracy"].values[:, 0], "one-step attack")),
    Spec("noise_vs_attack", "PGD weaker than random noise of its norm", "gradient masking", "masking", "points",
         _gap(lambda ds: ds["noise_accuracy"].values, "noise")),
    Spec("transfer_vs_white_box", "white-box PGD weaker than transfer from the baseline", "gradient masking",
         "masking", "points",
         _gap(lambda ds: ds["transfer_accuracy"].values if "transfer_accuracy" in ds else None, "transfer")),
    Spec("low_frequency_margins", "DeepFool converges in the lowest DCT band", "geometry and robustness",
         "margins", "%", _low_band),
    Spec("sparsity", "SparseFool median perturbed pixels", "geometry and robustness", "sparsefool", "%",
         _estimated(sparsefool_summary, "median_perturbed_pixels", SPARSITY)),
    Spec("imperceptible_noise", "iCE (error rise under imperceptible noise)", "geometry and robustness", "lp",
         "%", _ice),
    Spec("mild_corruptions", "accuracy lost to the mildest corruptions", "geometry and robustness", "corruptions",
         "points", _mild_corruptions),
    Spec("flatness", "loss rises around the weights (F(γ))", "geometry and robustness", "flatness", "nats",
         _flatness),
    Spec("hessian", "dominant Hessian eigenvalue", "geometry and robustness", "flatness", "", _eigenvalue),
    Spec("adversarial_corruptions", "accuracy lost to adversarial corruptions (AdA)", "geometry and robustness",
         "adversarial_corruptions", "points", _adversarial_corruptions),
)

CARLINI = 'Carlini et al. 2019, "On evaluating adversarial robustness" (arXiv:1902.06705)'
ATHALYE = ('Athalye, Carlini & Wagner 2018, "Obfuscated gradients give a false sense of security" (ICML)')
# Why each check's threshold is what it is, for a reader of the report, and the paper it comes from
# ("" where it follows from the definition or from the calibration on the embedded-sample LeNet).
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
    "input_scaling": ("The model contract is images in [0, 1]; a model doing better on [0, 255] or standardised "
                      "images expects another scaling. Paired on the same images, so a few points already count.",
                      'docs/ARCHITECTURE.md, "The probe contract"'),
    "batch_dependence": ("In eval mode a sample's logits must not depend on the rest of the batch: float "
                         "reordering gives about 1e-7 on a CPU and up to 1e-3 with TF32 on a GPU, BatchNorm on "
                         "batch statistics about 0.1.",
                         'Ioffe & Szegedy 2015, "Batch normalization" (ICML)'),
    "determinism": ("Two identical forward passes must agree up to float reordering (below 1e-4).", ""),
    "deepfool_success": ("An unbounded gradient attack must fool every image; less than about 100 % means the "
                         "gradients do not lead to the boundary (masked gradients).", f"{CARLINI}; {ATHALYE}"),
    "sparsefool_success": ("SparseFool, bounded only by the [0, 1] box, fools 99.9–100 % of the images of "
                           "standard models.", 'Modas et al. 2019, "SparseFool: a few pixels make a big '
                           'difference" (CVPR); ' + CARLINI),
    "zero_gradients": ("A piecewise-smooth network has a non-zero, finite input gradient almost everywhere; zero "
                       "gradients (e.g. quantised input) shatter gradient attacks.", ATHALYE),
    "loss_vs_steps": ("More attack iterations must not lower the loss reached; a fall beyond float noise means the "
                      "iterative attack is broken.", CARLINI),
    "loss_vs_radius": ("A larger ball contains the smaller one, so the loss reached must rise with the radius.",
                       CARLINI),
    "one_step_vs_iterative": ("Iterative attacks must be at least as strong as one step (within 3 points or two "
                              "samples).", f"{CARLINI}; {ATHALYE}"),
    "noise_vs_attack": ("Random noise of the same norm must not beat a gradient attack.", CARLINI),
    "transfer_vs_white_box": ("A transfer attack from another model must not beat the white-box attack.",
                              f"{CARLINI}; {ATHALYE}"),
    "low_frequency_margins": ("Standard models have their smallest margins in the lowest DCT band, where DeepFool "
                              "must converge; non-convergence at high frequencies is normal.",
                              'Ortiz-Jiménez et al. 2020, "Hold me tight! Influence of discriminative features '
                              'on deep network boundaries" (NeurIPS)'),
    "sparsity": ("Published median sparsity is 0.1–2.5 % of the pixels; many more means an unusually robust or a "
                 "masked model.", 'Modas et al. 2019, "SparseFool: a few pixels make a big difference" (CVPR)'),
    "imperceptible_noise": ("Imperceptible random noise should barely change the error (published standard CIFAR "
                            "model: iCE 9.7 %); noisy on small samples (±15 % at 200), hence 25 / 100 %.",
                            'Siedel et al. 2024, "Investigating the corruption robustness of image classifiers '
                            'with random Lp-norm corruptions" (VISAPP)'),
    "mild_corruptions": ("Standard CIFAR models lose about 8 points at severity 1; much more means a brittle "
                         "model or input pipeline.", 'Hendrycks & Dietterich 2019, "Benchmarking neural network '
                         'robustness to common corruptions and perturbations" (ICLR)'),
    "flatness": ("At a minimum random weight perturbations raise the loss; a fall by more than two standard "
                 "errors means the weights are not at a minimum.", 'Li et al. 2018, "Visualizing the loss '
                 'landscape of neural nets" (NeurIPS)'),
    "hessian": ("The dominant Hessian eigenvalue is positive at a minimum.", 'Yao et al. 2020, "PyHessian: neural '
                'networks through the lens of the Hessian" (IEEE BigData)'),
    "adversarial_corruptions": ("The worst-case corruptions must not raise the accuracy above the unperturbed "
                                "reconstructions (beyond two samples); if they do, the gradients through the "
                                "corruption network do not reach the classifier's loss.",
                                'Calian et al. 2022, "Defending against image corruptions through adversarial '
                                'augmentations" (ICLR)'),
    "model_contract": ("The model must return finite logits (N, K), K ≥ 2, on the first images.",
                       'docs/ARCHITECTURE.md, "The probe contract"'),
}


def judge(results: dict[str, xr.Dataset], context: dict, files: dict[str, str],
          failures: dict[str, tuple[str, str]]) -> list[Check]:
    """Every check whose stage ran (or failed: `failures[stage] = (verdict, message)`)."""
    checks = []
    for spec in CHECKS:
        common = dict(name=spec.name, title=spec.title, section=spec.section, stage=spec.stage, units=spec.units)
        if spec.stage in failures:
            verdict, message = failures[spec.stage]
            checks.append(Check(**common, verdict=verdict, measured=None, threshold="", samples=None, source=None,
                                note=message))
            continue
        if spec.stage not in results:
            continue
        ds = results[spec.stage]
        outcome = spec.measure(ds, context)
        samples = int(ds.sizes["sample"]) if "sample" in ds.sizes else None
        if isinstance(outcome, str):
            checks.append(Check(**common, verdict="skip", measured=None, threshold="", samples=samples,
                                source=files.get(spec.stage), note=outcome))
            continue
        verdict = outcome.threshold.judge(outcome.value, outcome.low, outcome.high)
        deciding = (outcome.threshold.deciding_samples(outcome.value, outcome.low, outcome.high, samples or 0)
                    if verdict == "inconclusive" else None)
        note = outcome.note
        if verdict == "inconclusive":
            decide = f"about {deciding} samples would decide it" if deciding else "more samples would decide it"
            note = "; ".join(filter(None, [note, f"the interval spans a threshold: {decide}"]))
        checks.append(Check(**common, verdict=verdict, measured=outcome.value,
                            threshold=outcome.threshold.text(spec.units), samples=samples,
                            source=files.get(spec.stage), note=note, low=outcome.low, high=outcome.high,
                            deciding_samples=deciding))
    return checks


def worst(checks: list[Check]) -> str:
    """The overall verdict: the worst of the checks ('skip' only when nothing was judged)."""
    return max((c.verdict for c in checks), key=RANK.__getitem__, default="skip")
