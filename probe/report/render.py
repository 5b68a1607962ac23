"""Write a report: every figure (PNG), `report.html` (one self-contained page) and `summary.json`.

The page needs no network and no other file: styles are inline and figures are embedded as
base64 PNG.  It opens with the identity of the model(s) and the verdict table (every check:
measured value, threshold, samples, verdict; with a baseline both models side by side, and a
row highlighted when the verdicts differ or the paired comparison of the stage's per-sample
results (`probe.compare`: exact McNemar, Wilcoxon signed-rank, Holm) finds a difference), then
one section per stage with its figure, a one-sentence reading and its key numbers.  It prints on A4 (sections and tables are not split).
"""
from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

import numpy as np

from probe import stats
from probe.compare import compare
from probe.errors import ParameterError
from probe.plot import save
from probe.report.checks import RANK, SECTIONS, Check, number, worst
from probe.report.figures import draw, png_size

DISPLAY_PIXELS_PER_INCH = 120   # on-screen size of the figures (they are saved at `SAVE_DPI`)
SAVE_DPI = 200                  # of the PNG files (enough for a screen; keeps the page light)
DIFFERS = ' class="differs"'

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
@page { size: A4; margin: 14mm; }
@media print {
  body { font-size: 11px; } main { max-width: none; padding: 0; }
  section.stage, figure, table, tr { break-inside: avoid; }
  a { color: inherit; }
}
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _badge(verdict: str) -> str:
    return f'<span class="badge {_e(verdict)}">{_e(verdict)}</span>'


def _measured(check: Check | None) -> str:
    if check is None:
        return "–"
    if check.measured is None:
        return _e(check.note) if check.verdict in ("pass", "fail") and check.stage == "identity" else "–"
    interval = f" [{number(check.low)}, {number(check.high)}]" if check.low is not None else ""
    return _e(f"{number(check.measured)}{interval} {check.units}".strip())


def paired(report) -> dict[str, tuple[int, int]]:
    """Per stage that both models ran on the same samples: (cells whose Holm-adjusted paired
    p-value is below 1 − 95 %, cells compared), from `probe.compare`."""
    if report.baseline is None:
        return {}
    found = {}
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


def _difference(a, b) -> str:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isfinite(a) and math.isfinite(b):
        return _e(f"{a - b:+.4g}")
    return "–"


# ----------------------------------------------------------------------------- page parts

def _identity(report) -> str:
    models = [report.model] + ([report.baseline] if report.baseline else [])
    rows = [("architecture", "model"), ("parameters", "model_parameters"), ("weights SHA-256", "model_sha256"),
            ("data", "data"), ("split", "split"), ("dataset size", "data_size"), ("classes", "classes"),
            ("device", "device"), ("seed", "seed")]
    head = "".join(f"<th>{_e(m.label)}</th>" for m in models)
    body = "".join(f"<tr><th>{_e(name)}</th>" + "".join(f"<td>{_e(m.identity.get(key, '–'))}</td>" for m in models)
                   + "</tr>" for name, key in rows)
    body += (f"<tr><th>budget</th><td colspan={len(models)}>{_e(report.budget)}</td></tr>"
             f"<tr><th>created</th><td colspan={len(models)}>{_e(report.created)} "
             f"({report.elapsed_seconds:.1f} s)</td></tr>")
    return f'<table class="identity"><tr><th></th>{head}</tr>{body}</table>'


def _verdict_cell(check: Check | None) -> str:
    """The verdict badge, with the reason when nothing was measured (a stage not run)."""
    if check is None:
        return "<td>–</td>"
    why = check.note if (check.measured is None and check.stage != "identity") or check.verdict == "inconclusive" \
        else ""
    return f"<td>{_badge(check.verdict)}" + (f'<div class="note">{_e(why)}</div>' if why else "") + "</td>"


def _verdicts(report, tests: dict[str, tuple[int, int]]) -> str:
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
                     f"<td>{_e(check.threshold or '–')}</td><td class=\"num\">{_e(check.samples or '–')}</td>"
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


def _find(assessment, name: str) -> Check | None:
    return next((c for c in assessment.checks if c.name == name), None) if assessment else None


def _numbers(stage: str, report, tests: dict[str, tuple[int, int]]) -> str:
    own = report.model.stages[stage].numbers
    other = report.baseline.stages[stage].numbers if report.baseline and stage in report.baseline.stages else None
    head = "<th>quantity</th><th>model</th>" + ("<th>baseline</th><th>difference</th>" if other is not None else "")
    rows = []
    for key, value in own.items():
        cells = f"<th>{_e(key.replace('_', ' '))}</th><td class=\"num\">{_e(number(value))}</td>"
        differs = False
        if other is not None:
            theirs = other.get(key)
            differs = tests.get(stage, (0, 0))[0] > 0 and value != theirs
            cells += f"<td class=\"num\">{_e(number(theirs))}</td><td class=\"num\">{_difference(value, theirs)}</td>"
        rows.append(f"<tr{DIFFERS if differs else ''}>{cells}</tr>")
    table = f'<table class="numbers"><tr>{head}</tr>{"".join(rows)}</table>'
    if stage in tests:
        significant, cells = tests[stage]
        table += (f'<p class="meta">Paired comparison with the baseline on the same samples: {significant} of '
                  f'{cells} cells differ (Holm-adjusted p &lt; {1 - stats.CONFIDENCE:.2g}; exact McNemar for '
                  f'outcomes, Wilcoxon signed-rank for per-sample values).</p>')
    return table


def _stage(stage: str, report, figure: tuple[str, int] | None, tests: dict[str, tuple[int, int]]) -> str:
    record = report.model.stages[stage]
    checks = [c for c in report.model.checks if c.stage == stage]
    verdict = worst(checks) if checks else None
    badge = f" {_badge(verdict)}" if verdict else ""
    parts = [f'<section class="stage" id="stage-{_e(stage)}"><h2>{_e(record.title)}{badge}</h2>']
    if record.status != "done":
        parts.append(f'<p class="reading">{_e(record.message)}</p></section>')
        return "".join(parts)
    parts.append(f'<p class="reading">{_e(record.reading)}</p>')
    base = report.baseline.stages.get(stage) if report.baseline else None
    if base is not None and base.status == "done":
        parts.append(f'<p class="reading">Baseline: {_e(base.reading)}</p>')
    options = ", ".join(f"{k} {v}" for k, v in record.options.items())
    parts.append(f'<p class="meta">{record.samples} samples · {record.seconds:.1f} s · {_e(record.file or "")}'
                 f'{" · " + _e(options) if options else ""}</p>')
    if figure is not None:
        data, width = figure
        parts.append(f'<figure><img alt="{_e(record.title)} figure" style="width:{width}px" '
                     f'src="data:image/png;base64,{data}"><figcaption>{_e(stage)}.png</figcaption></figure>')
    parts.append("<h3>Key numbers</h3>" + _numbers(stage, report, tests) + "</section>")
    return "".join(parts)


def page(report, figures: dict[str, tuple[str, int]]) -> str:
    """The whole HTML page; `figures[stage] = (base64 PNG, display width in px)`."""
    verdict = report.verdict
    counts = {v: sum(c.verdict == v for c in report.model.checks) for v in sorted(RANK, key=RANK.get, reverse=True)}
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
            f"<section id=\"identity\"><h2>Identity</h2>{_identity(report)}</section>"
            f"<section id=\"checks\"><h2>Verdicts</h2>{_verdicts(report, tests)}</section>"
            f"{stages}"
            "<p class=\"meta\">Made by probe.report; this page is self-contained (no network needed).</p>"
            "</main></body></html>\n")


# ----------------------------------------------------------------------------- files

def json_safe(value):
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


def figures(report) -> dict[str, tuple[str, int]]:
    """Draw and save every stage's figure (`NAME.png` in the report folder); return them encoded."""
    folder: Path = report.out
    encoded = {}
    for stage, record in report.model.stages.items():
        if record.status != "done":
            continue
        results = {"model": report.model.results[stage]}
        if report.baseline is not None and stage in report.baseline.results:
            results["baseline"] = report.baseline.results[stage]
        path = folder / f"{stage}.png"
        save(draw(stage, results), path, dpi=SAVE_DPI)
        data = path.read_bytes()
        width = round(png_size(data)[0] / SAVE_DPI * DISPLAY_PIXELS_PER_INCH)
        encoded[stage] = (base64.b64encode(data).decode("ascii"), width)
    return encoded


def write(report) -> None:
    """The figures, `report.html` and `summary.json` in `report.out`."""
    folder: Path = report.out
    encoded = figures(report)
    (folder / "report.html").write_text(page(report, encoded), encoding="utf-8")
    text = json.dumps(json_safe(report.summary()), indent=1, allow_nan=False, ensure_ascii=False)
    (folder / "summary.json").write_text(text + "\n", encoding="utf-8")
