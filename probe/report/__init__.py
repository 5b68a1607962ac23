"""The sanity report of a model: every probe, checks with verdicts, one self-contained page.

    report = probe.report.run(model, data, budget="quick", out="report/")   # or baseline=other
    report.verdict                 # 'pass', 'warn' or 'fail': the worst check
    report.check("collapse")       # one Check: verdict, measured value, threshold, samples, file

It checks that the runner accepts the model, then runs the stages through their Python
`run` functions — `evaluate`, the input-pipeline checks (`probe.report.pipeline`), and every
other probe of `probe.registry` that takes a model (`masking`, `sparsefool`, `margins`, `lp`,
`corruptions`, `flatness`, and `adversarial_corruptions` when that probe exists and a
`corruption_net` is given) — with the samples and options of the `budget`
(`probe.report.budgets`), and judges the results (`probe.report.checks`).  What is specific to
a stage (title, budgets, checks, reading, figure) lives beside it: in the probe's `report.py`
(`probe.report.stages`); this package holds the machinery they share.  With `out` (a
folder) it writes every result (`NAME.nc`, the baseline's in `baseline/`), every figure
(`NAME.png`), `report.html` and `summary.json`; `resume=True` reuses the finished results in
`out` (each through the runner's resume identity).

A model the runner refuses (non-finite logits, a single output) gets a failing
`model_contract` check and no other stage, not an exception; a stage the runner refuses later
fails its checks, and a stage whose options cannot apply (a `ParameterError`, e.g. too few
samples) is listed as not run.  Other errors (data, resume identity) are raised as usual.
`progress(stage, total, unit)`, when given, returns a bar (`update(k)`, `close()`) per stage.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import shlex
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np
import torch
import xarray as xr
from torch import nn
from torch.utils.data import Dataset

from probe import __version__, registry, runner
from probe import data as datasets
from probe.data import dataset_size
from probe.errors import ModelError, ParameterError
from probe.models import model_identity, weights_sha256
from probe.params import eval_mode, model_device
from probe.report import budgets, pipeline
from probe.report import stages as stage_pieces
from probe.report.checks import Check, judge, worst
from probe.report.readings import clean_agreement, numbers, reading

ORDER = ("evaluate", "pipeline", "masking", "sparsefool", "margins", "lp", "corruptions", "flatness",
         "adversarial_corruptions")   # the report's order of stages; others follow in registry order
CONTRACT = "logits (N, K) with K ≥ 2, finite on the first images"


class Bar(Protocol):
    """A progress bar of one stage."""

    def update(self, count: int) -> object: ...

    def close(self) -> None: ...


Progress = Callable[[str, int, str], Bar]


@dataclasses.dataclass
class Stage:
    """One stage of an assessment: what ran, on how many samples, how long, and what it said."""

    name: str
    title: str
    status: str                    # 'done', 'failed' or 'not run'
    samples: int | None = None
    seconds: float | None = None
    file: str | None = None
    message: str = ""
    numbers: dict = dataclasses.field(default_factory=dict)
    reading: str = ""
    options: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Assessment:
    """Everything the report found about one model."""

    label: str
    identity: dict
    checks: list[Check]
    stages: dict[str, Stage]
    results: dict[str, xr.Dataset]

    @property
    def verdict(self) -> str:
        return worst(self.checks)

    def check(self, name: str) -> Check:
        for item in self.checks:
            if item.name == name:
                return item
        raise KeyError(f"no check '{name}' in this report (checks: {', '.join(c.name for c in self.checks)})")

    def as_dict(self) -> dict:
        return {"label": self.label, "verdict": self.verdict, "identity": self.identity,
                "checks": [c.as_dict() for c in self.checks],
                "stages": {name: dataclasses.asdict(stage) for name, stage in self.stages.items()}}


@dataclasses.dataclass
class Report:
    """The report: the model's assessment, the baseline's (or None), the budget and where it was written."""

    model: Assessment
    baseline: Assessment | None
    budget: str
    out: Path | None
    created: str
    elapsed_seconds: float
    command: str = ""              # the command line that reproduces the report

    @property
    def verdict(self) -> str:
        return self.model.verdict

    def check(self, name: str) -> Check:
        return self.model.check(name)

    def summary(self) -> dict:
        """What `summary.json` holds: every verdict and the number it judged, per model."""
        return {"probe_version": __version__, "created": self.created, "elapsed_seconds": self.elapsed_seconds,
                "command": self.command,
                "budget": self.budget, "verdict": self.verdict, "model": self.model.as_dict(),
                "baseline": self.baseline.as_dict() if self.baseline is not None else None}


# ----------------------------------------------------------------------------- stages

def stage_names(selected: Sequence[str] | None = None) -> list[str]:
    """The stages in report order: evaluate, pipeline and every registry probe that takes a model
    (or the `selected` ones, checked)."""
    known = [name for name, entry in registry.PROBES.items() if entry.uses_model] + [stage_pieces.PIPELINE]
    names = sorted(known, key=lambda name: (ORDER.index(name) if name in ORDER else len(ORDER), known.index(name)))
    if selected is None:
        return names
    unknown = [name for name in selected if name not in names]
    if unknown:
        raise ParameterError(f"unknown report stage(s) {', '.join(unknown)} (stages: {', '.join(names)})")
    return [name for name in names if name in selected]


def _module(stage: str) -> ModuleType:
    return pipeline if stage == stage_pieces.PIPELINE else registry.entry(stage).load()


def _total(stage: str, samples: int, options: dict) -> tuple[int, str]:
    """What a stage's progress counts: what its pieces say (loss evaluations for flatness), else samples."""
    total = stage_pieces.piece(stage, "progress_total")
    return total(samples, options) if total is not None else (samples, "sample")


def _contract(model: nn.Module, dataset: Dataset, device: torch.device) -> tuple[Check, int | None]:
    """The runner's model checks on the first images: a pass, or a fail naming the refusal."""
    chosen = np.arange(min(dataset_size(dataset), runner.CHECK_IMAGES))
    x, _ = datasets.get_batch(dataset, chosen)
    model.to(device)
    classes: int | None = None
    verdict, note = "pass", "accepted"
    with eval_mode(model):
        try:
            classes = runner.check_model(model, x.to(device), datasets.labels_of(dataset, chosen), chosen)
        except ModelError as exc:
            verdict, note = "fail", f"refused: {exc}"
    check = Check(name="model_contract", title="the runner accepts the model", section="identity",
                  stage="identity", verdict=verdict, measured=None, units="", threshold=CONTRACT,
                  samples=len(chosen), source=None, note=note)
    return check, classes


def _check_same_classes(model: nn.Module, baseline: nn.Module, dataset: Dataset, device: torch.device) -> None:
    """A baseline must classify the same classes as the model: compared on the first images,
    before any work (a model that fails on them is left to the contract check)."""
    chosen = np.arange(min(dataset_size(dataset), runner.CHECK_IMAGES))
    x, _ = datasets.get_batch(dataset, chosen)
    counts = []
    for net in (model, baseline):
        net.to(device)
        with torch.no_grad(), eval_mode(net):
            try:
                logits = net(x.to(device))
            except RuntimeError:
                return
        if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
            return
        counts.append(int(logits.shape[1]))
    if counts[0] != counts[1]:
        raise ParameterError(f"the baseline has {counts[1]} classes but the model has {counts[0]}: a baseline must "
                             "classify the same classes")


def _run_stage(name: str, model: nn.Module, dataset: Dataset, *, samples: int, options: dict, out: Path | None,
               file: str | None, label: str, progress: Progress | None,
               **keywords: Any) -> tuple[Stage, xr.Dataset | None]:
    """One stage: its result and record, or (the runner refused the model, or the stage's
    options do not apply) a record saying why and no result."""
    title = stage_pieces.title(name)
    total, unit = _total(name, samples, options)
    bar = progress(f"{label}: {title}", total, unit) if progress is not None else None
    start = time.perf_counter()
    try:
        ds = _module(name).run(model, dataset, n=samples, out=out, progress=bar.update if bar is not None else None,
                               **keywords, **options)
    except ModelError as exc:
        return Stage(name, title, "failed", message=f"the runner refused the model: {exc}"), None
    except ParameterError as exc:   # e.g. too few samples for the stage, or an option it needs
        return Stage(name, title, "not run", message=f"not run: {exc}"), None
    finally:
        if bar is not None:
            bar.close()
    values = numbers(name, ds, _module(name).summary(ds))
    shown = {k: (v if not isinstance(v, nn.Module) else "(a model)") for k, v in options.items()}
    return Stage(name, title, "done", samples=int(ds.attrs.get("samples", samples)),
                 seconds=time.perf_counter() - start, file=file, numbers=values, reading=reading(name, values, ds),
                 options=shown), ds


def assess(model: nn.Module, dataset: Dataset, *, label: str, budget: str, n: int | None, seed: int,
           device: torch.device | str | None,
           batch_size: int | None, folder: Path | None, resume: bool, progress: Progress | None,
           stages: Sequence[str], extra: dict[str, dict[str, Any]], prefix: str = "") -> Assessment:
    """Run the stages on one model and judge them.  Results go to `folder/NAME.nc` (named
    `prefix + NAME.nc` relative to the report); `extra` holds per-stage keywords (the other
    model as masking's `baseline`, the corruption network)."""
    device = torch.device(device) if device is not None else model_device(model)
    size = dataset_size(dataset)
    identity: dict[str, Any] = dict(model_identity(model), **datasets.identity(dataset),
                                    data_sha256=datasets.selection_fingerprint(dataset, np.arange(size)),
                                    device=str(device), seed=int(seed))
    contract, classes = _contract(model, dataset, device)
    identity["classes"] = classes
    records: dict[str, Stage] = {}
    results: dict[str, xr.Dataset] = {}
    failures: dict[str, tuple[str, str]] = {}
    for name in stages:
        samples, options = budgets.stage_options(budget, name)
        options.update(extra.get(name, {}))
        samples = min(x for x in (samples, n, size) if x is not None)
        needed = stage_pieces.piece(name, "NEEDS")
        if contract.verdict == "fail" or (needed is not None and options.get(needed) is None):
            why = "the model was refused" if contract.verdict == "fail" else f"no {needed.replace('_', ' ')} given"
            records[name] = Stage(name, stage_pieces.title(name), "not run", message=f"not run: {why}")
        else:
            records[name], ds = _run_stage(
                name, model, dataset, samples=samples, options=options,
                out=folder / f"{name}.nc" if folder is not None else None,
                file=f"{prefix}{name}.nc" if folder is not None else None, label=label, progress=progress,
                seed=seed, device=device, batch_size=batch_size, resume=resume)
            if ds is not None:
                results[name] = ds
        if records[name].status != "done":
            failures[name] = ("fail" if records[name].status == "failed" else "skip", records[name].message)
    if "evaluate" in results:
        for record in records.values():
            if record.name != "evaluate" and "clean_accuracy_low" in record.numbers:
                record.reading += " " + clean_agreement(record.numbers, records["evaluate"].numbers)
    files = {name: record.file for name, record in records.items() if record.file is not None}
    checks = [contract] + judge(results, {"classes": classes}, files, failures)
    return Assessment(label, identity, checks, records, results)


# ----------------------------------------------------------------------------- the report

def _folder(out: str | os.PathLike | None, baseline: bool) -> Path | None:
    """The output folder (with `baseline/` for a baseline's results), created; an unwritable
    one fails now, before any work."""
    if out is None:
        return None
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ParameterError(f"{folder} is a file; the report writes into a folder")
    try:
        (folder / "baseline" if baseline else folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError(f"cannot create the report folder {folder}: {exc.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ParameterError(f"cannot write into {folder}")
    return folder


def _command(data: object, *, n: int | None, seed: int, budget: str, stages: Sequence[str] | None,
             out: str | os.PathLike | None, baseline: nn.Module | None,
             corruption_net: nn.Module | str | os.PathLike | None, batch_size: int | None,
             max_memory: str | int | None) -> str:
    """The `python -m probe.report` line equivalent to a call of `run` (files named by placeholders)."""
    parts = ["python", "-m", "probe.report", "CHECKPOINT", "--data", data if isinstance(data, str) else "DATA",
             "--budget", budget, "--seed", str(seed)]
    parts += ["--n", str(n)] if n is not None else []
    parts += ["--batch-size", str(batch_size)] if batch_size is not None else []
    parts += ["--max-memory", str(max_memory)] if max_memory is not None else []
    parts += ["--stages", *stages] if stages else []
    parts += ["--baseline", "BASELINE_CHECKPOINT"] if baseline is not None else []
    parts += ["--corruption-net", "CORRUPTION_NET_CHECKPOINT"] if corruption_net is not None else []
    parts += ["--out", str(out)] if out is not None else []
    return shlex.join(parts)


def _check_same_model(folder: Path | None, model: nn.Module, force: bool) -> None:
    """Refuse (unless `force`) a folder whose `summary.json` is the report of another model, so that
    two models' results never mix in one folder."""
    summary = folder / "summary.json" if folder is not None else None
    if force or summary is None or not summary.exists():
        return
    try:
        recorded = json.loads(summary.read_text(encoding="utf-8"))["model"]["identity"]["model_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        recorded = None
    if recorded != weights_sha256(model):
        whose = (f"the report of another model (weights SHA-256 {recorded[:12]}…)" if isinstance(recorded, str)
                 else "a summary.json that is not a probe report of this model")
        raise ParameterError(f"{folder} holds {whose}; choose another folder, or pass --force (force=True) to "
                             "write this model's report into it")


def run(model: nn.Module, data: Any, *, n: int | None = None, seed: int = 0, device: torch.device | str | None = None,
        budget: str = "quick", baseline: nn.Module | None = None, out: str | os.PathLike | None = None,
        resume: bool = False, progress: Progress | None = None, batch_size: int | None = None,
        stages: Sequence[str] | None = None,
        corruption_net: nn.Module | str | os.PathLike | None = None, max_memory: str | int | None = None,
        command: str | None = None, force: bool = False) -> Report:
    """The sanity report of `model` on `data` (a dataset or a spec: test split).

    `budget` 'quick', 'standard' or 'thorough' sets the samples and options of every stage;
    `n` caps the samples of every stage; `baseline` a second model assessed the same way, put
    side by side, and transferred from in the masking probe; `out` the report folder (None:
    compute and judge only); `stages` a subset of the stages (default all); `corruption_net`
    the corruption network of the `adversarial_corruptions` stage, when that probe exists;
    `batch_size` and `max_memory` are handed to every stage; `command` the command line shown as
    the way to reproduce the report (default: the equivalent `python -m probe.report` line, with
    CHECKPOINT standing for the model's file).  A folder holding the report of
    another model (by the weights SHA-256 in its `summary.json`) is refused unless `force`.
    """
    if budget not in budgets.NAMES:
        raise ParameterError(f"unknown budget '{budget}' (expected one of {', '.join(budgets.NAMES)})")
    if n is not None and n < 1:
        raise ParameterError(f"n must be positive, got {n}")
    runner.check_batch_size(batch_size)
    if baseline is not None and not isinstance(baseline, nn.Module):
        raise ParameterError(f"baseline must be a model (nn.Module), got {type(baseline).__name__}")
    model, baseline = runner.classifier(model), runner.classifier(baseline)
    names = stage_names(stages)
    _check_same_model(Path(out) if out is not None else None, model, force)
    folder = _folder(out, baseline is not None)
    dataset = runner.resolve_data(data)
    if baseline is not None:
        _check_same_classes(model, baseline, dataset,
                            torch.device(device) if device is not None else model_device(model))
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    start = time.perf_counter()
    common: dict[str, Any] = dict(budget=budget, n=n, seed=seed, device=device, batch_size=batch_size,
                                  resume=resume, progress=progress, stages=names)

    def extra(other: nn.Module | None) -> dict[str, dict[str, Any]]:
        memory: dict[str, Any] = {} if max_memory is None else {"max_memory": max_memory}
        keywords: dict[str, dict[str, Any]] = {name: dict(memory) for name in names}
        keywords.setdefault("adversarial_corruptions", {})["corruption_net"] = corruption_net
        if other is not None:
            keywords.setdefault("masking", {})["baseline"] = other
        return keywords

    assessed = assess(model, dataset, label="model", folder=folder, extra=extra(baseline), **common)
    other = None
    if baseline is not None:
        other = assess(baseline, dataset, label="baseline", folder=folder / "baseline" if folder else None,
                       extra=extra(model), prefix="baseline/", **common)
    if command is None:
        command = _command(data, n=n, seed=seed, budget=budget, stages=stages, out=out, baseline=baseline,
                           corruption_net=corruption_net, batch_size=batch_size, max_memory=max_memory)
    report = Report(assessed, other, budget, folder, created, time.perf_counter() - start, command)
    if folder is not None:
        from probe.report import render  # figures and HTML: matplotlib only when writing
        render.write(report)
    return report


__all__ = ["Assessment", "Check", "Report", "Stage", "assess", "run", "stage_names"]
