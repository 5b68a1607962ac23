"""How much work each stage of the report does under each budget.

`quick` is sized so that the whole report of the embedded-sample LeNet takes well under a
minute on a two-core CPU; `standard` a few minutes; `thorough` as long as it needs (the probes'
published settings).  Each stage declares its own (`BUDGETS` beside its checks, see
`probe.report.stages`): `n` is the number of samples of a stage (None: the whole split); the
other keys are the stage's own options.  A stage that declares none runs with its defaults on
`DEFAULT_SAMPLES` samples.
"""
from __future__ import annotations

from probe.report import stages

NAMES = ("quick", "standard", "thorough")
DEFAULT_SAMPLES = {"quick": 32, "standard": 128, "thorough": 500}


def stage_options(budget: str, stage: str) -> tuple[int | None, dict]:
    """(samples, own options) of `stage` under `budget`."""
    declared = stages.piece(stage, "BUDGETS", {})
    options = dict(declared.get(budget, {"n": DEFAULT_SAMPLES[budget]}))
    return options.pop("n"), options
