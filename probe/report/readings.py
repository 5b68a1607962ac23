"""What the report says about each stage: its key numbers and a one-sentence reading."""
from __future__ import annotations

import math

import numpy as np
import xarray as xr

from probe.evaluate import calibration
from probe.report.checks import named_number, number


def numbers(stage: str, ds: xr.Dataset, summary: dict) -> dict[str, float | int]:
    """The stage's own summary, plus per-class accuracy and ECE (evaluate) or accuracy per
    severity (corruptions)."""
    values = dict(summary)
    if stage == "evaluate":
        values["ece"] = float(calibration(ds)["ece"])
        finite = ds["finite"].values
        labels, correct = ds["label"].values[finite], ds["correct"].values[finite]
        for c in np.unique(labels):
            values[f"accuracy_class_{int(c)}"] = float(100.0 * correct[labels == c].mean())
    if stage == "corruptions":
        for severity, value in zip(ds["severity"].values, ds["accuracy"].mean("corruption").values):
            values[f"accuracy_severity_{int(severity)}"] = float(value)
    return values


def _pipeline(v: dict, ds: xr.Dataset) -> str:
    batch = "depend" if v["batch_change"] > 1e-4 else "do not depend"
    repeat = "differ" if v["repeat_change"] > 1e-4 else "agree"
    return (f"Accuracy is {number(v['accuracy_unit'])} % on [0, 1] pixels, {number(v['accuracy_x255'])} % on "
            f"[0, 255] and {number(v['accuracy_standardised'])} % on standardised images; eval-mode logits {batch} "
            f"on the rest of the batch and two identical passes {repeat}.")


def _masking(v: dict, ds: xr.Dataset) -> str:
    steps = int(ds["steps"].values[-1])
    transfer = (f", transferred from the baseline {number(v['transfer_accuracy'])} %"
                if "transfer_accuracy" in v else "")
    return (f"Unbounded DeepFool fools {number(v['deepfool_success'])} % of the images; at radius "
            f"{number(v['radius'])} accuracy is {number(v['one_step_accuracy'])} % after one step, "
            f"{number(v['iterative_accuracy'])} % after PGD-{steps} and {number(v['noise_accuracy'])} % under random "
            f"noise of the same norm{transfer}.")


def _flatness(v: dict, ds: xr.Dataset) -> str:
    parts = []
    if "flatness" in v:
        parts.append(f"random weight perturbations of radius {number(v['radius'])} raise the loss by "
                     f"{number(v['flatness'])} [{number(v['flatness_low'])}, {number(v['flatness_high'])}] nats")
    if "top_eigenvalue" in v:
        parts.append(f"the dominant Hessian eigenvalue is {number(v['top_eigenvalue'])}")
    if "trace" in v:
        parts.append(f"the trace {number(v['trace'])}")
    text = ", ".join(parts) if parts else f"the loss at the weights is {number(v['loss'])} nats"
    return text[0].upper() + text[1:] + "."


def _adversarial_corruptions(v: dict, ds: xr.Dataset) -> str:
    largest = int(np.argmax(ds["nu"].values))
    return (f"Worst-case corruptions through the corruption network leave "
            f"{number(float(ds['robust_accuracy'].values[largest]))} % accuracy at ν = "
            f"{number(float(ds['nu'].values[largest]))} (clean {number(v['clean_accuracy'])} %, unperturbed "
            f"reconstructions {number(v['reconstruction_accuracy'])} %).")


# readings that are one template over the stage's numbers (formatted by `number`)
TEMPLATES = {
    "evaluate": "{accuracy} % [{accuracy_low}, {accuracy_high}] of {samples} images are classified correctly "
                "(the clean accuracy of this report), with a mean confidence of "
                "{mean_confidence} and an expected calibration error of {ece} %.",
    "sparsefool": "SparseFool fools {fooling_rate} % of the images by changing a median {median_perturbed_pixels} % "
                  "of their pixels.",
    "margins": "The median DeepFool margin is {median_margin_lowest_band} in the lowest DCT band and "
               "{median_margin_highest_band} in the highest; a fraction {not_converged} of the band margins did not "
               "converge (normal at high frequencies, not a masking symptom).",
    "lp": "Random Lp noise costs an mCE_Lp of {mce_lp} % [{mce_lp_low}, {mce_lp_high}], and imperceptible "
          "noise changes the error by {ice} % [{ice_low}, {ice_high}] (iCE).",
    "corruptions": "Under common corruptions accuracy falls to {corruption_accuracy} % [{corruption_accuracy_low}, "
                   "{corruption_accuracy_high}] on average (mCE {mce} % [{mce_low}, {mce_high}]).",
}
READINGS = {"pipeline": _pipeline, "masking": _masking, "flatness": _flatness,
            "adversarial_corruptions": _adversarial_corruptions}


def clean_agreement(values: dict, reference: dict) -> str:
    """A stage's clean accuracy (on its own, nested, subset) against the evaluate stage's
    interval: stated with its n and interval, flagged only when it falls outside."""
    own = (f"clean accuracy on its {values['samples']} images {number(values['clean_accuracy'])} % "
           f"[{number(values['clean_accuracy_low'])}, {number(values['clean_accuracy_high'])}]")
    inside = reference["accuracy_low"] <= values["clean_accuracy"] <= reference["accuracy_high"]
    if inside:
        return f"Its {own} agrees with the evaluate stage."
    return (f"Its {own} lies OUTSIDE the evaluate stage's interval [{number(reference['accuracy_low'])}, "
            f"{number(reference['accuracy_high'])}]: the model or the data differ between stages.")


def reading(stage: str, values: dict, ds: xr.Dataset) -> str:
    """One sentence on the stage's result."""
    if stage in TEMPLATES:
        return TEMPLATES[stage].format(**{key: named_number(key, value) for key, value in values.items()})
    if stage in READINGS:
        return READINGS[stage](values, ds)
    shown = ", ".join(f"{k.replace('_', ' ')} {number(v)}" for k, v in list(values.items())[:4]
                      if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v)))
    return f"The {stage.replace('_', ' ')} probe reports {shown}."
