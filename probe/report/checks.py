"""The checks of the sanity report: each judges one measured number against a stated threshold.

A `Check` has a verdict — 'pass', 'warn', 'fail', or 'skip' when it could not be measured (no
baseline given, a stage not run) — the number it judged with its units and, where the number
is estimated from samples, its 95 % interval; the threshold in words, the samples it used and
the result file it was read from.  A verdict is 'pass', 'warn' or 'fail' only when the whole
interval lies on one side of the thresholds; otherwise it is 'inconclusive', with the number
of samples that would decide it (the width of an interval shrinks as 1/√n).  Each stage declares
its checks beside its code (`CHECKS` and `REASONS` of a probe's `report.py`, of
`probe.report.pipeline` for the input-pipeline checks); `specs()` lists them in report order.  Each
`Spec` names the stage whose result it reads and measures it with a small function of that
result.  Thresholds are calibrated so that a well-trained LeNet on the embedded Fashion-MNIST
sample passes every check while the known-bad models fail theirs (quantised input, [0, 255]
input, BatchNorm on batch statistics, constant output, NaN logits); the reasons are in the
comments beside them.  This module holds the machinery they share.
"""
from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import xarray as xr

from probe import stats

VERDICTS = ("pass", "inconclusive", "warn", "fail", "skip")
RANK = {"skip": 0, "pass": 1, "inconclusive": 2, "warn": 3, "fail": 4}
SECTIONS = ("identity", "accuracy", "input pipeline", "gradient masking", "geometry and robustness")


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


# ----------------------------------------------------------------------------- helpers of the stages' checks

def share(flags: np.ndarray, threshold: Threshold, note: str = "") -> Measure:
    """A share of samples (%) with its Wilson interval."""
    estimate = stats.percent(flags)
    return Measure(estimate.value, threshold, note, estimate.low, estimate.high)


def estimated(summary: Callable[[xr.Dataset], dict], key: str, threshold: Threshold,
              note: str = "") -> Callable[[xr.Dataset, dict], Measure]:
    """A check on the number `key` of a probe's summary, with the interval the summary gives it."""
    def measure(ds: xr.Dataset, context: dict) -> Measure:
        numbers = summary(ds)
        return Measure(numbers[key], threshold, note, numbers[f"{key}_low"], numbers[f"{key}_high"])
    return measure


# An unbounded gradient attack reaches ~100 % on any model whose gradients are usable
# (published SparseFool: 99.9–100 %); the LeNet: 100 %, quantised input: 0 %.
SUCCESS = Threshold("higher", 95.0, 80.0)


def paired(ds: xr.Dataset, points: float) -> float:
    """`points`, or two samples' worth of points on this many samples, whichever is larger."""
    return max(points, 2 * 100.0 / max(ds.sizes["sample"], 1))


CARLINI = 'Carlini et al. 2019, "On evaluating adversarial robustness" (arXiv:1902.06705)'
ATHALYE = ('Athalye, Carlini & Wagner 2018, "Obfuscated gradients give a false sense of security" (ICML)')
# Why each check's threshold is what it is, for a reader of the report, and the paper it comes from
# ("" where it follows from the definition or from the calibration on the embedded-sample LeNet);
# shared references of the stages' reasons first.
REASONS: dict[str, tuple[str, str]] = {   # the report's own check; each stage's are beside its checks
    "model_contract": ("The model must return finite logits (N, K), K ≥ 2, on the first images.",
                       'docs/ARCHITECTURE.md, "The probe contract"'),
}


def specs() -> list[Spec]:
    """Every stage's checks in report order: by section, then by stage (`probe.report.stage_names`)."""
    from probe.report import stage_names, stages  # the stages list the registry's probes
    found = [spec for stage in stage_names() for spec in getattr(stages.pieces(stage), "CHECKS", ())]
    return sorted(found, key=lambda spec: SECTIONS.index(spec.section))


def reasons() -> dict[str, tuple[str, str]]:
    """(why, reference) of every check, the report's own and every stage's."""
    from probe.report import stage_names, stages
    found = dict(REASONS)
    for stage in stage_names():
        found.update(getattr(stages.pieces(stage), "REASONS", {}))
    return found


def judge(results: dict[str, xr.Dataset], context: dict, files: dict[str, str],
          failures: dict[str, tuple[str, str]]) -> list[Check]:
    """Every check whose stage ran (or failed: `failures[stage] = (verdict, message)`)."""
    checks = []
    for spec in specs():
        common: dict[str, Any] = dict(name=spec.name, title=spec.title, section=spec.section, stage=spec.stage,
                                      units=spec.units)
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
        # inconclusive only with an interval (an exact value always falls in one band)
        deciding = (outcome.threshold.deciding_samples(outcome.value, cast(float, outcome.low),
                                                       cast(float, outcome.high), samples or 0)
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
