"""What the report says about each stage: its key numbers and a one-sentence reading.

A stage's own numbers and reading are declared beside its checks (`numbers`, `READING` or
`reading`, see `probe.report.stages`); a stage without them gets its summary and a generic
sentence naming its first numbers.
"""
from __future__ import annotations

import math

import xarray as xr

from probe.report import stages
from probe.report.checks import named_number, number


def numbers(stage: str, ds: xr.Dataset, summary: dict) -> dict[str, float | int]:
    """The stage's own summary, plus the numbers its pieces add (per-class accuracy and ECE for
    evaluate, accuracy per severity for corruptions)."""
    values = dict(summary)
    extra = stages.piece(stage, "numbers")
    if extra is not None:
        values.update(extra(ds))
    return values


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
    template, sentence = stages.piece(stage, "READING"), stages.piece(stage, "reading")
    if template is not None:
        return template.format(**{key: named_number(key, value) for key, value in values.items()})
    if sentence is not None:
        return sentence(values, ds)
    shown = ", ".join(f"{k.replace('_', ' ')} {number(v)}" for k, v in list(values.items())[:4]
                      if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v)))
    return f"The {stage.replace('_', ' ')} probe reports {shown}."
