"""Write a report: every figure (PNG), `report.html` (one self-contained page) and `summary.json`.

The page needs no network and no other file: styles are inline and figures are embedded as
base64 PNG.  It opens with a table of contents, the identity and versions of the model(s), the
command line that reproduces it and the verdict table (every check: measured value, threshold,
samples, verdict; with a baseline both models side by side, and a row highlighted when the verdicts
differ or the paired comparison of the stage's per-sample results (`probe.compare`: exact McNemar,
Wilcoxon signed-rank, Holm) finds a difference), then
why each threshold is what it is (with its reference), then one section per stage with its
figure and a caption saying what to look for, a one-sentence reading and its key numbers.  It
prints on A4 (sections and tables are not split).
"""
from __future__ import annotations

import base64
import html
import json
import math
import platform
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

from probe import __version__, results, stats
from probe.compare import compare
from probe.errors import ParameterError
from probe.plot import save
from probe.report.checks import PERCENT_KEYS, RANK, SECTIONS, Check, named_number, number, reasons, specs, worst
from probe.report.figures import caption, draw, png_size

if TYPE_CHECKING:
    import xarray as xr

    from probe.report import Assessment, Report

DISPLAY_PIXELS_PER_INCH = 120   # on-screen size of the figures (they are saved at `SAVE_DPI`)
SAVE_DPI = 200                  # of the PNG files (enough for a screen; keeps the page light)
DIFFERS = ' class="differs"'
SYMBOLS = {"nu": "ν", "lam": "λ", "eps": "ε", "epsilon": "ε", "gamma": "γ"}
FRACTIONS = {"not_converged", "guard_rate"}   # key numbers stored as fractions, shown in %
POINTS = {"scaling_gain"}                     # differences of accuracies, in percentage points
ACRONYMS = {"mce lp": "mCE_Lp", "ece": "ECE", "mce": "mCE", "ice": "iCE", "l2": "L2", "ssim": "SSIM", "se": "s.e.",
            "unit": "on [0, 1]", "x255": "on [0, 255]", "standardised": "on standardised images"}

STYLE = """
:root { --pass: #1a7f37; --warn: #9a6700; --fail: #cf222e; --skip: #6e7781; --inconclusive: #0969da;
        --line: #d0d7de; }
* { box-sizing: border-box; }
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; font-size: 15px; line-height: 1.45;
       color: #1f2328; background: #fff; margin: 0; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 20px; margin: 0 0 8px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
p.meta, .note, figcaption { color: #57606a; font-size: 13px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; font-size: 13.5px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
table.numbers, table.identity { width: auto; min-width: 55%; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.badge { display: inline-block; min-width: 44px; text-align: center; border-radius: 10px; padding: 1px 8px;
         font-size: 12px; font-weight: 700; color: #fff; text-transform: uppercase; }
.badge.pass { background: var(--pass); } .badge.warn { background: var(--warn); }
.badge.fail { background: var(--fail); } .badge.skip { background: var(--skip); }
.badge.inconclusive { background: var(--inconclusive); }
tr.differs td, tr.differs th { background: #fff8c5; }
.overall { font-size: 18px; margin: 10px 0 18px; }
section.stage { border-top: 2px solid var(--line); padding-top: 18px; margin-top: 26px; }
figure { margin: 10px 0; } figure img { max-width: 100%; height: auto; display: block; }
a { color: #0969da; text-decoration: none; }
nav ol { columns: 2; margin: 4px 0 20px; padding-left: 22px; }
pre.command { background: #f6f8fa; border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px;
              white-space: pre-wrap; overflow-wrap: anywhere; font-size: 13px; }
td.hash, td.reference { overflow-wrap: anywhere; }
td.hash { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px; }
p.headline { font-size: 16px; margin: 4px 0 8px; }
@page { size: A4; margin: 14mm; }
@media print {
  body { font-size: 11px; } main { max-width: none; padding: 0; }
  section.stage, figure, table, tr { break-inside: avoid; }
  a { color: inherit; }
}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _badge(verdict: str) -> str:
    return f'<span class="badge {_e(verdict)}">{_e(verdict)}</span>'


def _measured(check: Check | None) -> str:
    if check is None:
        return "–"
    if check.measured is None:
        return _e(check.note) if check.verdict in ("pass", "fail") and check.stage == "identity" else "–"
    interval = (f" [{_amount(check.low, check.units)}, {_amount(check.high, check.units)}]"
                if check.low is not None else "")
    return _e(f"{_amount(check.measured, check.units)}{interval} {check.units}".strip())


def _amount(value: float | int | None, units: str) -> str:
    """A measured number: percentages and points with one decimal."""
    if units.split(" ")[0] in ("%", "points") and isinstance(value, (int, float)) and math.isfinite(value):
        return f"{value:.1f}"
    return number(value)


def quantity(key: str) -> str:
    """A key number's name for people: 'robust_accuracy_nu_0_015' → 'robust accuracy at ν = 0.015'."""
    def parameter(match: re.Match[str]) -> str:
        return f" at {SYMBOLS[match[1]]} = {match[2]}{'.' + match[3] if match[3] else ''}"
    text = re.sub(r"_(nu|lam|eps|epsilon|gamma)_(\d+)(?:_(\d+))?$", parameter, key)
    text = re.sub(r"_(class|severity)_(\d+)$", lambda m: f" of {m[1]} {m[2]}" if m[1] == "class"
                  else f" at {m[1]} {m[2]}", text)
    text = text.replace("_", " ")
    for word, acronym in ACRONYMS.items():
        text = re.sub(rf"\b{word}\b", acronym, text)
    return text


def value_text(key: str, value: float | int | None) -> str:
    """A key number for people: percentages with one decimal and a % sign, fractions as %, points."""
    if isinstance(value, float) and math.isfinite(value):
        if key in FRACTIONS:
            return f"{100 * value:.1f} %"
        if key in POINTS:
            return f"{value:+.1f} points"
        if PERCENT_KEYS.search(key):
            return f"{named_number(key, value)} %"
    return number(value)


def paired(report: Report) -> dict[str, tuple[int, int]]:
    """Per stage that both models ran on the same samples: (cells whose Holm-adjusted paired
    p-value is below 1 − 95 %, cells compared), from `probe.compare`."""
    if report.baseline is None:
        return {}
    found: dict[str, tuple[int, int]] = {}
    for stage, ds in report.model.results.items():
        other = report.baseline.results.get(stage)
        if other is None:
            continue
        try:
            delta = compare(ds, other)
        except ParameterError:      # no per-sample quantities, or not the same samples
            continue
        p = np.concatenate([delta[f"{name}_p_holm"].values.reshape(-1)
                            for name in np.atleast_1d(delta.attrs["compared"]).tolist()])
        found[stage] = (int((p < 1 - stats.CONFIDENCE).sum()), len(p))
    return found


def _difference(a: object, b: object) -> str:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isfinite(a) and math.isfinite(b):
        return _e(f"{a - b:+.4g}")
    return "–"


# ----------------------------------------------------------------------------- page parts

def _identity(report: Report) -> str:
    models = [report.model] + ([report.baseline] if report.baseline else [])
    rows = [("architecture", "model"), ("parameters", "model_parameters"), ("model SHA-256 (weights)", "model_sha256"),
            ("data", "data"), ("split", "split"), ("dataset size", "data_size"),
            ("data SHA-256 (every image and label)", "data_sha256"), ("classes", "classes"),
            ("device", "device"), ("seed", "seed")]
    head = "".join(f"<th>{_e(m.label)}</th>" for m in models)
    hashed = ' class="hash"'
    body = "".join(f"<tr><th>{_e(name)}</th>" + "".join(
        f"<td{hashed if key.endswith('sha256') else ''}>{_e(m.identity.get(key, '–'))}</td>"
        for m in models) + "</tr>" for name, key in rows)
    versions = [("probe version", __version__), ("torch version", torch.__version__),
                ("Python version", platform.python_version()), ("platform", platform.platform(terse=True))]
    body += "".join(f"<tr><th>{_e(name)}</th><td colspan={len(models)}>{_e(value)}</td></tr>"
                    for name, value in versions)
    body += (f"<tr><th>budget</th><td colspan={len(models)}>{_e(report.budget)}</td></tr>"
             f"<tr><th>created</th><td colspan={len(models)}>{_e(report.created)} "
             f"({report.elapsed_seconds:.1f} s)</td></tr>")
    return f'<table class="identity"><tr><th></th>{head}</tr>{body}</table>'


def _reproduce(report: Report) -> str:
    """The command line that made the report (or, made from Python, the equivalent one)."""
    return (f'<section id="reproduce"><h2>Reproduce</h2><pre class="command"><code>{_e(report.command)}</code></pre>'
            '<p class="note">The same command, checkpoint and data give the same numbers (seeded); with '
            '<code>--resume</code> it reuses the finished results in the folder.</p></section>')


def _reasons() -> str:
    """Why each check's threshold is what it is, and the paper it comes from."""
    rows = []
    known = reasons()
    for name, title in [("model_contract", "the runner accepts the model")] + [(s.name, s.title) for s in specs()]:
        why, reference = known[name]
        rows.append(f'<tr id="why-{_e(name)}"><th>{_e(title)}</th><td>{_e(why)}</td>'
                    f'<td class="reference">{_e(reference or "definition; calibrated on the sample LeNet")}</td></tr>')
    return ('<section id="thresholds"><h2>Why these thresholds</h2><table><tr><th>check</th><th>reason</th>'
            f'<th>reference</th></tr>{"".join(rows)}</table></section>')


def _verdict_cell(check: Check | None) -> str:
    """The verdict badge, with the reason when nothing was measured (a stage not run)."""
    if check is None:
        return "<td>–</td>"
    why = check.note if (check.measured is None and check.stage != "identity") or check.verdict == "inconclusive" \
        else ""
    return f"<td>{_badge(check.verdict)}" + (f'<div class="note">{_e(why)}</div>' if why else "") + "</td>"


def _verdicts(report: Report, tests: dict[str, tuple[int, int]]) -> str:
    base = report.baseline
    head = "<th>section</th><th>check</th><th>threshold</th><th>samples</th><th>measured</th><th>verdict</th>"
    if base:
        head += "<th>baseline</th><th>baseline verdict</th><th>difference</th>"
    rows = []
    for section in SECTIONS:
        for check in (c for c in report.model.checks if c.section == section):
            target = "identity" if check.stage == "identity" else f"stage-{check.stage}"
            note = f'<div class="note">{_e(check.note)}</div>' if check.note and check.measured is not None else ""
            cells = (f"<td>{_e(section)}</td><td><a href=\"#{target}\">{_e(check.title)}</a>{note}</td>"
                     f"<td><a href=\"#why-{_e(check.name)}\">{_e(check.threshold or 'why')}</a></td>"
                     f"<td class=\"num\">{_e(check.samples or '–')}</td>"
                     f"<td class=\"num\">{_measured(check)}</td>{_verdict_cell(check)}")
            differs = False
            if base:
                other = _find(base, check.name)
                theirs = other.measured if other else None
                differs = other is None or other.verdict != check.verdict or tests.get(check.stage, (0, 0))[0] > 0
                cells += (f"<td class=\"num\">{_measured(other)}</td>{_verdict_cell(other)}"
                          f"<td class=\"num\">{_difference(check.measured, theirs)}</td>")
            rows.append(f'<tr class="check {_e(check.verdict)}{" differs" if differs else ""}" '
                        f'id="check-{_e(check.name)}" data-check="{_e(check.name)}">{cells}</tr>')
    return f'<table id="verdicts"><tr>{head}</tr>{"".join(rows)}</table>'


def _find(assessment: Assessment | None, name: str) -> Check | None:
    return next((c for c in assessment.checks if c.name == name), None) if assessment else None


def worst_class(numbers: dict[str, Any]) -> tuple[int, float] | None:
    """(class, accuracy %) of the class with the lowest accuracy among the key numbers, if any."""
    per_class = {int(key.rsplit("_", 1)[1]): value for key, value in numbers.items()
                 if key.startswith("accuracy_class_")}
    return min(per_class.items(), key=lambda item: item[1]) if per_class else None


def _with_worst_class(numbers: dict[str, Any]) -> dict[str, Any]:
    """The key numbers with the worst class's accuracy right after the mean accuracy."""
    worst_one = worst_class(numbers)
    if worst_one is None or "accuracy" not in numbers:
        return numbers
    ordered: dict[str, Any] = {}
    for key, value in numbers.items():
        ordered[key] = value
        if key == "accuracy":
            ordered["worst_class_accuracy"] = worst_one[1]
    return ordered


def _numbers(stage: str, report: Report, tests: dict[str, tuple[int, int]]) -> str:
    own = _with_worst_class(report.model.stages[stage].numbers)
    other = report.baseline.stages[stage].numbers if report.baseline and stage in report.baseline.stages else None
    other = _with_worst_class(other) if other is not None else None
    head = "<th>quantity</th><th>model</th>" + ("<th>baseline</th><th>difference</th>" if other is not None else "")
    rows = []
    worst_one = worst_class(own)
    for key, value in own.items():
        name = (quantity(key) if key != "worst_class_accuracy"     # present only when there is a worst class
                else f"worst class ({cast('tuple[int, float]', worst_one)[0]}) accuracy")
        cells = f"<th>{_e(name)}</th><td class=\"num\">{_e(value_text(key, value))}</td>"
        differs = False
        if other is not None:
            theirs = other.get(key)
            differs = tests.get(stage, (0, 0))[0] > 0 and value != theirs
            cells += (f"<td class=\"num\">{_e(value_text(key, theirs))}</td>"
                      f"<td class=\"num\">{_difference(value, theirs)}</td>")
        rows.append(f"<tr{DIFFERS if differs else ''}>{cells}</tr>")
    table = f'<table class="numbers"><tr>{head}</tr>{"".join(rows)}</table>'
    if stage in tests:
        significant, compared = tests[stage]
        table += (f'<p class="meta">Paired comparison with the baseline on the same samples: {significant} of '
                  f'{compared} cells differ (Holm-adjusted p &lt; {1 - stats.CONFIDENCE:.2g}; exact McNemar for '
                  f'outcomes, Wilcoxon signed-rank for per-sample values).</p>')
    return table


def _headline(stage: str, numbers: dict[str, Any]) -> str:
    """The accuracy with the worst class beside it (the evaluate stage), else nothing."""
    worst_one = worst_class(numbers)
    if stage != "evaluate" or worst_one is None or "accuracy" not in numbers:
        return ""
    return (f'<p class="headline">Accuracy <b>{_e(value_text("accuracy", numbers["accuracy"]))}</b> · worst class '
            f'<b>{worst_one[0]}: {_e(value_text("accuracy", worst_one[1]))}</b></p>')


def _stage(stage: str, report: Report, figure: tuple[str, int] | None, tests: dict[str, tuple[int, int]]) -> str:
    record = report.model.stages[stage]
    checks = [c for c in report.model.checks if c.stage == stage]
    verdict = worst(checks) if checks else None
    badge = f" {_badge(verdict)}" if verdict else ""
    parts = [f'<section class="stage" id="stage-{_e(stage)}"><h2>{_e(record.title)}{badge}</h2>']
    if record.status != "done":
        parts.append(f'<p class="reading">{_e(record.message)}</p></section>')
        return "".join(parts)
    parts.append(_headline(stage, record.numbers) + f'<p class="reading">{_e(record.reading)}</p>')
    base = report.baseline.stages.get(stage) if report.baseline else None
    if base is not None and base.status == "done":
        parts.append(f'<p class="reading">Baseline: {_e(base.reading)}</p>')
    options = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in record.options.items())
    parts.append(f'<p class="meta">{record.samples} samples · {record.seconds:.1f} s · {_e(record.file or "")}'
                 f'{" · " + _e(options) if options else ""}</p>')
    if figure is not None:
        data, width = figure
        parts.append(f'<figure><img alt="{_e(record.title)} figure" style="width:{width}px" '
                     f'src="data:image/png;base64,{data}"><figcaption>{_e(caption(stage))} '
                     f'({_e(stage)}.png)</figcaption></figure>')
    parts.append("<h3>Key numbers</h3>" + _numbers(stage, report, tests) + "</section>")
    return "".join(parts)


def _contents(report: Report) -> str:
    """The table of contents: a link to every section of the page."""
    entries = [("identity", "Identity and versions"), ("reproduce", "Reproduce"), ("checks", "Verdicts"),
               ("thresholds", "Why these thresholds")]
    entries += [(f"stage-{name}", record.title) for name, record in report.model.stages.items()]
    items = "".join(f'<li><a href="#{_e(target)}">{_e(title)}</a></li>' for target, title in entries)
    return f'<nav id="contents"><h2>Contents</h2><ol>{items}</ol></nav>'


def page(report: Report, figures: dict[str, tuple[str, int]]) -> str:
    """The whole HTML page; `figures[stage] = (base64 PNG, display width in px)`."""
    verdict = report.verdict
    counts = {v: sum(c.verdict == v for c in report.model.checks)
              for v in sorted(RANK, key=RANK.__getitem__, reverse=True)}
    tally = ", ".join(f"{count} {v}" for v, count in counts.items() if count)
    tests = paired(report)
    stages = "".join(_stage(name, report, figures.get(name), tests) for name in report.model.stages)
    name = report.model.identity.get("model", "model")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>Sanity report: {_e(name)}</title><style>{STYLE}</style></head><body><main>"
            f"<h1>Sanity report: {_e(name)}</h1>"
            f"<p class=\"overall\" id=\"overall\">Overall verdict {_badge(verdict)} <span class=\"note\">({_e(tally)}; "
            f"budget {_e(report.budget)})</span></p>"
            f"{_contents(report)}"
            f"<section id=\"identity\"><h2>Identity and versions</h2>{_identity(report)}</section>"
            f"{_reproduce(report)}"
            f"<section id=\"checks\"><h2>Verdicts</h2>{_verdicts(report, tests)}</section>"
            f"{_reasons()}{stages}"
            "<p class=\"meta\">Made by probe.report; this page is self-contained (no network needed).</p>"
            "</main></body></html>\n")


# ----------------------------------------------------------------------------- files

def json_safe(value: object) -> object:
    """`value` with non-finite floats as the strings 'inf', '-inf', 'nan' (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return json_safe(value.item())
    return value


def figures(report: Report) -> dict[str, tuple[str, int]]:
    """Draw and save every stage's figure (`NAME.png` in the report folder); return them encoded."""
    folder = cast(Path, report.out)   # `write` is called only with a folder
    encoded: dict[str, tuple[str, int]] = {}
    for stage, record in report.model.stages.items():
        if record.status != "done":
            continue
        results: dict[str, xr.Dataset] = {"model": report.model.results[stage]}
        if report.baseline is not None and stage in report.baseline.results:
            results["baseline"] = report.baseline.results[stage]
        path = folder / f"{stage}.png"
        save(draw(stage, results), path, dpi=SAVE_DPI)
        data = path.read_bytes()
        width = round(png_size(data)[0] / SAVE_DPI * DISPLAY_PIXELS_PER_INCH)
        encoded[stage] = (base64.b64encode(data).decode("ascii"), width)
    return encoded


def write(report: Report) -> None:
    """The figures, `report.html` and `summary.json` in `report.out`."""
    folder = cast(Path, report.out)
    encoded = figures(report)
    document = page(report, encoded)
    results.write_atomically(folder / "report.html", lambda tmp: tmp.write_text(document, encoding="utf-8"))
    text = json.dumps(json_safe(report.summary()), indent=1, allow_nan=False, ensure_ascii=False) + "\n"
    results.write_atomically(folder / "summary.json", lambda tmp: tmp.write_text(text, encoding="utf-8"))
