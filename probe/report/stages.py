"""Where the report finds a stage's own pieces: a probe's `report.py` (named by its registry
entry's `report`), or `probe.report.pipeline` for the input-pipeline checks.

A stage's pieces module may define `TITLE`, `BUDGETS` ({budget: {"n": samples, **options}}),
`CHECKS` (a tuple of `probe.report.checks.Spec`) with `REASONS` ({check: (why, reference)}),
`numbers(ds) -> dict` (numbers the report shows beside the probe's summary), `READING` (a
template over those numbers) or `reading(values, ds) -> str`, `CAPTION` and `figure(results) ->
axes`, `NEEDS` (a keyword without which the stage does not run) and `progress_total(samples,
options) -> (total, unit)`.  A probe without pieces runs with its defaults on
`probe.report.budgets.DEFAULT_SAMPLES` samples, with a generic reading and its default plot.
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from probe import registry

PIPELINE = "pipeline"   # the report's own stage (not a registry probe)


def pieces(stage: str) -> ModuleType | None:
    """The module holding the report pieces of `stage` (None: it has none)."""
    if stage == PIPELINE:
        return importlib.import_module("probe.report.pipeline")
    module = registry.entry(stage).report
    return importlib.import_module(module) if module is not None else None


def piece(stage: str, name: str, default: Any = None) -> Any:
    """One piece (`TITLE`, `CAPTION`, `figure`, ...) of a stage, or `default` when it has none."""
    return getattr(pieces(stage), name, default)


def title(stage: str) -> str:
    """The stage's section title in the report."""
    return piece(stage, "TITLE", stage.replace("_", " "))
