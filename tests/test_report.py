"""The sanity report: known-bad models caught by their check, no false alarm on a well-trained
LeNet, summary.json agreeing with its result files, a valid self-contained page."""
from __future__ import annotations

import base64
import copy
import html
import json
import math
import re
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import probe
import probe.report
from conftest import Quantised, messages, run_command
from probe import models, results
from probe.errors import ParameterError, ResumeError
from probe.report import checks as report_checks
from probe.report import figures as report_figures
from probe.report import render

CHROMIUM = Path("/usr/bin/chromium")
VOID = {"meta", "img", "br", "hr", "link", "input", "col", "area", "base", "embed", "source", "track", "wbr"}


class Bytes(nn.Module):
    """A model that expects pixels in [0, 255]: it divides its input by 255 itself."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x / 255)


class Constant(nn.Module):
    """The same logits for every image (class 3 wins)."""

    def __init__(self) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.linspace(0, 1, 10).roll(4))

    def forward(self, x):
        return self.logits.expand(len(x), -1) + 0 * x.flatten(1)[:, :1]


def batch_statistics(model: nn.Module) -> nn.Module:
    """The model with every BatchNorm using the statistics of its batch, whatever the mode."""
    model = copy.deepcopy(model)
    for layer in model.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.track_running_stats, layer.running_mean, layer.running_var = False, None, None
    return model


# ----------------------------------------------------------------------------- known-bad models

def test_quantised_input_fails_gradient_masking(lenet, sample_test):
    report = probe.report.run(Quantised(lenet).eval(), sample_test, n=12, stages=["masking"])
    assert report.verdict == "fail"
    for name in ("deepfool_success", "zero_gradients", "loss_vs_radius"):
        assert report.check(name).verdict == "fail", report.check(name)
    assert report.check("zero_gradients").measured == 100.0


def test_a_model_expecting_0_255_fails_the_input_pipeline(lenet, sample_test):
    report = probe.report.run(Bytes(lenet).eval(), sample_test, n=128, stages=["pipeline"])
    check = report.check("input_scaling")
    assert check.verdict == "fail" and check.measured > 50, check
    assert report.check("batch_dependence").verdict == "pass"


def test_batchnorm_on_batch_statistics_in_eval_mode_is_flagged(lenet, sample_test):
    report = probe.report.run(batch_statistics(lenet).eval(), sample_test, n=128, stages=["pipeline"])
    check = report.check("batch_dependence")
    assert check.verdict == "fail" and check.measured > 1e-2, check
    assert report.check("determinism").verdict == "pass"


def test_a_constant_output_model_fails_collapse(sample_test):
    report = probe.report.run(Constant(), sample_test, n=300, stages=["evaluate"])
    collapse = report.check("collapse")
    assert collapse.verdict == "fail" and collapse.measured == 100.0 and "class Dress" in collapse.note   # class 3
    assert report.check("accuracy").verdict == "fail"


def test_a_nan_model_gets_a_failing_verdict_not_a_crash(sample_test, tmp_path):
    class NaN(nn.Module):
        def forward(self, x):
            return torch.full((len(x), 10), math.nan)
    report = probe.report.run(NaN(), sample_test, out=tmp_path)
    contract = report.check("model_contract")
    assert report.verdict == "fail" and contract.verdict == "fail" and "non-finite" in contract.note
    assert all(c.verdict == "skip" for c in report.model.checks if c is not contract)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["verdict"] == "fail"
    page = (tmp_path / "report.html").read_text()
    assert "non-finite logits" in page and not list(tmp_path.glob("*.nc"))


def test_bad_report_options_are_refused_before_any_work(lenet, sample_test, tmp_path):
    for keywords, words in (({"budget": "huge"}, "budget"), ({"stages": ["nope"]}, "stage"),
                            ({"n": 0}, "positive")):
        with pytest.raises(ParameterError, match=words):
            probe.report.run(lenet, sample_test, **keywords)
    (tmp_path / "file").write_text("")
    with pytest.raises(ParameterError, match="folder"):
        probe.report.run(lenet, sample_test, out=tmp_path / "file")


# ----------------------------------------------------------------------------- the full quick report

@pytest.fixture(scope="module")
def quick_report(lenet_checkpoint, tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    report = probe.report.run(models.load(lenet_checkpoint), "fashion-mnist-sample", budget="quick", out=folder)
    return report, folder


def test_a_well_trained_lenet_passes_every_check(quick_report):
    report, _ = quick_report
    judged = {c.name: c.verdict for c in report.model.checks}
    stages = set(report.model.stages)
    assert set(judged) == {"model_contract"} | {spec.name for spec in report_checks.specs() if spec.stage in stages}
    unjudged = {"transfer_vs_white_box", "adversarial_corruptions"}      # no baseline, no corruption network
    # on the quick budget's few samples an interval may still span a threshold: never a warning or a failure
    assert {name for name, verdict in judged.items() if verdict not in ("pass", "inconclusive")} <= unjudged, judged
    assert all("would decide it" in c.note for c in report.model.checks if c.verdict == "inconclusive")
    assert all(judged[name] == "skip" for name in unjudged if name in judged)
    assert all(stage.status == "done" for stage in report.model.stages.values()
               if stage.name != "adversarial_corruptions")


def test_summary_json_agrees_with_the_result_files(quick_report):
    _, folder = quick_report
    summary = json.loads((folder / "summary.json").read_text())
    model = summary["model"]
    loaded = {}
    for name, stage in model["stages"].items():
        if stage["status"] != "done":
            continue
        ds = results.load(folder / stage["file"])
        loaded[name] = ds
        assert ds.attrs["model_sha256"] == model["identity"]["model_sha256"]
        assert ds.sizes["sample"] == stage["samples"]
        module = probe.report.pipeline if name == "pipeline" else probe.registry.entry(name).load()
        for key, value in module.summary(ds).items():
            assert _same(stage["numbers"][key], value), (name, key)
    evaluate = loaded["evaluate"]
    by_name = {c["name"]: c for c in model["checks"]}
    assert by_name["accuracy"]["measured"] == pytest.approx(100 * evaluate["correct"].values.mean())
    confidence, correct = evaluate["confidence"].values, evaluate["correct"].values
    bins = np.minimum((np.ceil(confidence * 15) - 1).clip(0), 14).astype(int)
    ece = sum(abs(correct[bins == b].mean() - confidence[bins == b].mean()) * (bins == b).sum()
              for b in range(15) if (bins == b).any()) / len(bins)
    assert by_name["calibration"]["measured"] == pytest.approx(100 * ece)
    masking = loaded["masking"]
    assert by_name["deepfool_success"]["measured"] == pytest.approx(100 * masking["deepfool_converged"].values.mean())
    assert by_name["zero_gradients"]["measured"] == pytest.approx(100 * masking["gradient_zero"].values.mean())
    rejudged = report_checks.judge(loaded, {"classes": model["identity"]["classes"]},
                                   {name: f"{name}.nc" for name in loaded}, {})
    for check in rejudged:
        assert by_name[check.name]["verdict"] == check.verdict
        assert by_name[check.name]["measured"] == (pytest.approx(check.measured) if check.measured is not None
                                                   else None)
        assert by_name[check.name]["source"] == f"{check.stage}.nc"


def _same(stored, value) -> bool:
    """A number as summary.json stores it (non-finite ones as 'inf', '-inf') equals `value`."""
    if isinstance(value, float) and not math.isfinite(value):
        return stored == ("inf" if value > 0 else "-inf")
    return stored == pytest.approx(value)


class _Page(HTMLParser):
    """Collects images, verdict rows and links, and checks that every element is closed."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.images: list[dict] = []
        self.rows: list[dict] = []
        self.links: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        if tag == "tr" and "data-check" in attrs:
            self.rows.append(attrs)
        for key in ("href", "src"):
            if key in attrs:
                self.links.append(attrs[key])
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()


def test_report_html_is_valid_and_self_contained(quick_report):
    report, folder = quick_report
    page = _Page()
    page.feed((folder / "report.html").read_text())
    page.close()
    assert not page.errors and not page.stack, (page.errors, page.stack)
    done = [name for name, stage in report.model.stages.items() if stage.status == "done"]
    assert len(page.images) == len(done)
    for image, name in zip(page.images, done):
        assert image["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(image["src"].split(",", 1)[1]) == (folder / f"{name}.png").read_bytes()
    assert [row["data-check"] for row in page.rows] == [c.name for c in report.model.checks]
    assert all(row["class"].split()[1] == check.verdict for row, check in zip(page.rows, report.model.checks))
    assert all(link.startswith(("#", "data:")) for link in page.links), page.links


def test_report_page_says_where_it_comes_from_and_why(quick_report):
    report, folder = quick_report
    page = (folder / "report.html").read_text()
    contents = re.search(r'<nav id="contents">(.*?)</nav>', page, re.S).group(1)
    targets = re.findall(r'href="#([^"]+)"', contents)
    assert targets[:4] == ["identity", "reproduce", "checks", "thresholds"]
    assert targets[4:] == [f"stage-{name}" for name in report.model.stages]
    assert all(f'id="{target}"' in page for target in re.findall(r'href="#([^"]+)"', page))
    command = "python -m probe.report CHECKPOINT --data fashion-mnist-sample --budget quick --seed 0"
    assert command in html.unescape(page)
    identity = report.model.identity
    for text in (probe.__version__, torch.__version__, identity["model_sha256"], identity["data_sha256"],
                 "Python version", "fashion-mnist-sample"):
        assert html.escape(str(text)) in page, text
    for spec in report_checks.specs():                   # every check: its reason and reference beside it
        why, reference = report_checks.reasons()[spec.name]
        assert f'href="#why-{spec.name}"' in page or spec.stage not in report.model.stages
        assert html.escape(why) in page and html.escape(reference) in page
    accuracy = report.model.stages["evaluate"].numbers["accuracy"]
    worst_class, worst = render.worst_class(report.model.stages["evaluate"].numbers)
    assert f"Accuracy <b>{accuracy:.1f} %</b> · worst class <b>{worst_class}: {worst:.1f} %</b>" in page
    assert f"<th>worst class ({worst_class}) accuracy</th><td class=\"num\">{worst:.1f} %</td>" in page
    for name, record in report.model.stages.items():
        if record.status == "done":
            assert f"<figcaption>{html.escape(report_figures.caption(name))} ({name}.png)</figcaption>" in page


def test_key_numbers_are_written_for_people():
    assert render.quantity("robust_accuracy_nu_0_015") == "robust accuracy at ν = 0.015"
    assert render.quantity("median_ssim_nu_0") == "median SSIM at ν = 0"
    assert render.quantity("accuracy_class_3") == "accuracy of class 3"
    assert render.quantity("accuracy_severity_5") == "accuracy at severity 5"
    assert render.quantity("mce_lp") == "mCE_Lp" and render.quantity("ece") == "ECE"
    assert render.quantity("accuracy_x255") == "accuracy on [0, 255]"
    assert render.value_text("accuracy", 84.53333) == "84.5 %"
    assert render.value_text("robust_accuracy_nu_0_015", 78.125) == "78.1 %"
    assert render.value_text("not_converged", 0.125) == "12.5 %"
    assert render.value_text("scaling_gain", -4.296875) == "-4.3 points"
    assert render.value_text("median_l2", 3.274052) == "3.274"
    assert report_checks.named_number("fooling_rate", 100.0) == "100.0"
    assert set(report_checks.reasons()) == {"model_contract"} | {spec.name for spec in report_checks.specs()}


CHECK_SCRIPT = """<script>
window.addEventListener("load", () => {
  const right = document.querySelector("main").getBoundingClientRect().right;
  const wide = [...document.querySelectorAll("table, pre, figure, img, nav")]
    .filter(e => e.getBoundingClientRect().right > right + 1 || e.scrollWidth > e.clientWidth + 1)
    .map(e => e.tagName + "#" + (e.id || e.className || ""));
  const images = [...document.images];
  const broken = images.filter(i => !(i.complete && i.naturalWidth > 0)).length;
  const dangling = [...document.querySelectorAll('a[href^="#"]')]
    .map(a => a.getAttribute("href").slice(1)).filter(id => !document.getElementById(id));
  document.title = JSON.stringify({wide, images: images.length, broken, dangling,
                                   links: document.querySelectorAll('a[href^="#"]').length});
});
</script>"""
BROWSER = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
           "--window-size=1280,4000"]


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install chromium)")
def test_report_renders_in_a_headless_browser(quick_report, tmp_path):
    from PIL import Image
    report, folder = quick_report
    checked = tmp_path / "report.html"                # a copy measuring itself once loaded
    checked.write_text((folder / "report.html").read_text().replace("</body>", CHECK_SCRIPT + "</body>"))
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run([*BROWSER, f"--user-data-dir={profile}", "--run-all-compositor-stages-before-draw",
                              "--virtual-time-budget=5000", "--dump-dom", checked.as_uri()],
                             capture_output=True, text=True, timeout=180, check=True).stdout
    measured = json.loads(html.unescape(re.search(r"<title>(.*?)</title>", dom, re.S).group(1)))
    done = [name for name, stage in report.model.stages.items() if stage.status == "done"]
    assert measured["wide"] == [] and measured["dangling"] == [], measured
    assert measured["images"] == len(done) and measured["broken"] == 0, measured
    assert measured["links"] >= len(report.model.checks) + 4
    shot = tmp_path / "report.png"                    # the screenshot stays in the test's folder
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([*BROWSER, f"--user-data-dir={profile}", f"--screenshot={shot}",
                        (folder / "report.html").as_uri()], capture_output=True, timeout=180, check=True)
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.shape == (4000, 1280)
    assert (pixels < 200).mean() > 0.02 and pixels.std() > 20     # text, tables and figures, not a blank page


# ----------------------------------------------------------------------------- baseline, resume, command line

def test_command_line_with_a_baseline_puts_both_models_side_by_side(lenet_checkpoint, tmp_path):
    other = tmp_path / "untrained.pt"
    torch.manual_seed(3)
    models.save(models.build("lenet", in_channels=1, num_classes=10, image_size=(28, 28)), other)
    out = tmp_path / "report"
    proc = run_command("probe", "report", str(lenet_checkpoint), "--n", "8", "--stages", "evaluate",
                       "masking", "--baseline", str(other), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "overall verdict" in proc.stdout and str(out / "report.html") in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    mine, theirs = summary["model"], summary["baseline"]
    assert [c["name"] for c in mine["checks"]] == [c["name"] for c in theirs["checks"]]
    assert mine["identity"]["model_sha256"] != theirs["identity"]["model_sha256"]
    transfer = next(c for c in mine["checks"] if c["name"] == "transfer_vs_white_box")
    assert transfer["verdict"] != "skip" and (out / "baseline" / "masking.nc").exists()
    assert results.load(out / "baseline" / "masking.nc").attrs["param_baseline"] == mine["identity"]["model_sha256"]
    page = (out / "report.html").read_text()
    assert "baseline verdict" in page and 'differs"' in page       # rows whose verdicts differ are highlighted
    command = f"python -m probe.report {lenet_checkpoint} --n 8 --stages evaluate masking --baseline {other}"
    assert html.escape(command) in page and summary["command"].startswith(command)
    assert "Paired comparison with the baseline on the same samples" in page     # evaluate and masking: paired tests


def test_resume_reuses_finished_results_and_refuses_other_runs(lenet, sample_test, tmp_path):
    first = probe.report.run(lenet, sample_test, n=16, stages=["evaluate", "pipeline"], out=tmp_path)
    stamps = {name: results.load(tmp_path / f"{name}.nc").attrs["created"] for name in ("evaluate", "pipeline")}
    counted = []

    def progress(stage, total, unit):
        class Bar:
            def update(self, count):
                counted.append(count)

            def close(self):
                pass
        return Bar()
    again = probe.report.run(lenet, sample_test, n=16, stages=["evaluate", "pipeline"], out=tmp_path, resume=True,
                             progress=progress)
    assert not counted
    assert {name: results.load(tmp_path / f"{name}.nc").attrs["created"] for name in stamps} == stamps
    assert [c.measured for c in again.model.checks] == [c.measured for c in first.model.checks]
    with pytest.raises(ResumeError):
        probe.report.run(lenet, sample_test, n=17, stages=["evaluate"], out=tmp_path, resume=True)


def test_report_command_errors_are_one_line(lenet_checkpoint, tmp_path):
    cases = ((["--n", "4"], "--out"), (["--out", str(tmp_path), "--plot", str(tmp_path / "x.png")], "--plot"))
    for args, words in cases:
        proc = run_command("probe.report", str(lenet_checkpoint), *args)
        lines = messages(proc.stderr)
        assert proc.returncode == 2 and len(lines) == 1 and words in lines[0], proc.stderr


def test_the_report_folder_keeps_only_what_it_wrote(quick_report):
    _, folder = quick_report
    names = {p.name for p in folder.iterdir()}
    assert {"report.html", "summary.json"} <= names and not (folder / "baseline").exists()
    assert not [p for p in names if p.endswith(".parts") or p.startswith(".")]


@pytest.mark.skipif("adversarial_corruptions" not in probe.registry.PROBES, reason="no AdA probe in the registry")
def test_adversarial_corruptions_are_judged_only_with_a_corruption_network(lenet, sample_test):
    without = probe.report.run(lenet, sample_test, n=8, stages=["adversarial_corruptions"])
    assert without.check("adversarial_corruptions").verdict == "skip"
    assert "corruption net" in without.check("adversarial_corruptions").note
    network = models.build("edsr", features=4, blocks=1)
    report = probe.report.run(lenet, sample_test, n=8, stages=["adversarial_corruptions"], corruption_net=network)
    check = report.check("adversarial_corruptions")
    assert check.measured is not None and check.verdict in ("pass", "warn", "fail") and check.samples == 8
    assert "reconstructed" in check.note and report.model.stages["adversarial_corruptions"].reading


def test_a_verdict_is_decided_only_when_the_interval_lies_in_one_band():
    threshold = report_checks.Threshold("higher", 90.0, 50.0)
    assert threshold.judge(95.0, 92.0, 97.0) == "pass"
    assert threshold.judge(70.0, 60.0, 80.0) == "warn"
    assert threshold.judge(30.0, 20.0, 40.0) == "fail"
    assert threshold.judge(91.0, 85.0, 96.0) == "inconclusive"
    assert threshold.judge(91.0) == "pass"                       # an exact number: the old rule
    # the lower half of the interval (6 wide at n = 100) must shrink under |91 − 90|: 100 · 6² samples
    assert threshold.deciding_samples(91.0, 85.0, 96.0, 100) == 3600
    assert report_checks.Threshold("higher", 95.0, 80.0).deciding_samples(100.0, 94.34, 100.0, 64) == 83
    assert threshold.deciding_samples(91.0, -math.inf, 96.0, 100) == 0              # an open end: unknown
