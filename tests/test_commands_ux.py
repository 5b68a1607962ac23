"""What a person sees on the command line: the command list, examples, the version, default result
paths, the question before a whole-dataset run, progress lines in logs, and comparison figures."""
from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
import time

import pytest

import probe
from conftest import run_command
from probe import progress, registry, results
from probe.commands import OTHER_COMMANDS, build_parser
from probe.commands import main as probe_command


def test_probe_alone_and_help_list_every_command(capsys):
    for argv in ([], ["--help"]):
        assert probe_command(argv) == 0
        text = capsys.readouterr().out
        for name, entry in registry.PROBES.items():
            assert f"  {name} " in text and entry.description in text
        for name, (_, purpose) in OTHER_COMMANDS.items():
            assert f"  {name} " in text and purpose in text


def test_version_and_unknown_command(capsys):
    assert probe_command(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"probe {probe.__version__}"
    assert probe_command(["nonsense"]) == 2
    assert "unknown command 'nonsense'" in capsys.readouterr().err


@pytest.mark.parametrize("name", list(registry.PROBES) + list(OTHER_COMMANDS))
def test_every_command_help_ends_with_an_example(name, capsys):
    import importlib
    if name in registry.PROBES:
        text = build_parser(name).format_help()
    else:
        with pytest.raises(SystemExit) as exit_:
            importlib.import_module(OTHER_COMMANDS[name][0]).main(["--help"])
        assert exit_.value.code == 0
        text = capsys.readouterr().out
    example = text.split("example:\n", 1)[1].strip()
    assert example.startswith(f"python -m probe.{name} "), example


def test_without_out_the_result_goes_to_a_printed_default_path(lenet_checkpoint, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "probe.evaluate", str(lenet_checkpoint), "--n", "16"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env=dict(os.environ, PYTHONWARNINGS="ignore"))
    assert proc.returncode == 0, proc.stderr
    written = sorted((tmp_path / "runs").glob("evaluate-lenet-*.nc"))
    assert len(written) == 1
    assert f"result: runs/{written[0].name} (the default" in proc.stdout
    assert results.load(written[0]).sizes["sample"] == 16


def test_quiet_run_without_out_still_says_where_the_result_went(lenet_checkpoint, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "probe.evaluate", str(lenet_checkpoint), "--n", "8", "--quiet"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env=dict(os.environ, PYTHONWARNINGS="ignore"))
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr
    assert proc.stderr.startswith("result: runs/evaluate-lenet-")


def test_resume_without_out_is_refused(lenet_checkpoint):
    proc = run_command("probe.margins", str(lenet_checkpoint), "--n", "4", "--resume")
    assert proc.returncode == 2 and proc.stderr.strip() == "error: --resume needs --out: the result file of the run " \
                                                          "to continue"


def test_a_large_run_without_n_goes_ahead_with_a_note_when_not_interactive(lenet_checkpoint, tmp_path):
    proc = run_command("probe.evaluate", str(lenet_checkpoint), "--split", "train", "--out", str(tmp_path / "e.nc"),
                       "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "no --n given, so all 5,000 samples will be measured" in proc.stderr
    assert results.load(tmp_path / "e.nc").sizes["sample"] == 5000


def test_a_large_run_without_n_asks_first_on_a_terminal(lenet_checkpoint, tmp_path):
    """Under a pseudo-terminal the command asks; answering no stops it before any work."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "probe.evaluate", str(lenet_checkpoint), "--split", "train",
                             "--out", str(tmp_path / "e.nc")], stdin=follower, stdout=follower, stderr=follower,
                            env=dict(os.environ, PYTHONWARNINGS="ignore"))
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 240
    while b"go on? [y/N]" not in seen and time.monotonic() < deadline:
        seen += os.read(leader, 1024)
    os.write(leader, b"n\n")
    assert proc.wait(timeout=120) == 2
    try:
        while True:
            seen += os.read(leader, 1024)
    except OSError:
        pass
    os.close(leader)
    assert b"all 5,000 samples will be measured" in seen and b"stopped before any work" in seen
    assert not (tmp_path / "e.nc").exists()


def test_progress_in_a_log_is_plain_lines_naming_probe_and_phase(monkeypatch):
    clock = iter(range(1000))
    monkeypatch.setattr(time, "perf_counter", lambda: float(next(clock)))
    stream = io.StringIO()
    bar = progress.Progress("margins", 100, stream=stream, terminal=False)
    bar.phase("bands")
    for _ in range(100):
        bar.update(1)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0] == "margins [bands]: started"
    assert any(line.startswith("margins: ≈ ") and "for 100 samples" in line for line in lines)   # the estimate
    steps = [line for line in lines if line.startswith("margins [bands]: ") and "%" in line]
    assert [int(line.split(": ")[1].split("%")[0]) for line in steps] == list(range(10, 101, 10))
    assert all("ETA" in line and "samples/s" in line for line in steps)


def test_the_estimate_leaves_out_the_first_batchs_warm_up(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])
    stream = io.StringIO()
    bar = progress.Progress("training", 1000, unit="image", stream=stream, terminal=False)
    now[0] = 600.0           # the first batch: 10 minutes of warm-up for 1 image
    bar.update(1)
    now[0] = 610.0           # then 10 images in 10 s: the remaining 989 take 989 s more
    bar.update(10)
    estimate = [line for line in stream.getvalue().splitlines() if "≈" in line]
    assert estimate == ["training: ≈ 27 min for 1,000 images"]     # 610 s + 989 s, not 1000 × 600 s


def test_a_short_run_gets_no_estimate():
    stream = io.StringIO()
    bar = progress.Progress("lp", 10, stream=stream, terminal=False)
    bar.update(10)
    assert "≈" not in stream.getvalue()


def test_progress_accepts_true_false_and_callables():
    seen = []
    progress.resolve(seen.append, "x", 3).update(2)
    assert seen == [2]
    assert isinstance(progress.resolve(True, "x", 3), progress.Progress)
    progress.resolve(False, "x", 3).update(1)
    with pytest.raises(probe.ParameterError):
        progress.resolve("yes", "x", 3)


def test_a_command_log_holds_progress_lines(lenet_checkpoint, tmp_path):
    proc = run_command("probe.margins", str(lenet_checkpoint), "--n", "4", "--max-iter", "5",
                       "--out", str(tmp_path / "m.nc"))
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr
    assert any(line.startswith("margins") and "100%" in line for line in proc.stderr.splitlines()), proc.stderr


@pytest.fixture(scope="module")
def two_margin_results(lenet_checkpoint, tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    for seed in (0, 1):
        proc = run_command("probe.margins", str(lenet_checkpoint), "--n", "4", "--max-iter", "10", "--refine",
                           "--seed", str(seed), "--out", str(folder / f"m{seed}.nc"), "--quiet")
        assert proc.returncode == 0, proc.stderr
    proc = run_command("probe.evaluate", str(lenet_checkpoint), "--n", "4", "--out", str(folder / "e.nc"), "--quiet")
    assert proc.returncode == 0, proc.stderr
    return folder


def test_plot_draws_several_results_in_one_figure(two_margin_results, tmp_path):
    folder = two_margin_results
    proc = run_command("probe.plot", str(folder / "m0.nc"), str(folder / "m1.nc"), "--label", "seed 0", "--label",
                       "seed 1", "--variable", "margin_refined", "-o", str(tmp_path / "both.png"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "both.png").stat().st_size > 0


@pytest.mark.parametrize("extra, message", [
    (["e.nc"], "results of different probes cannot share a figure (evaluate, margins)"),
    (["--label", "only one"], "--label given 1 times for 2 results"),
    (["--variable", "nonsense"], "variable 'nonsense' is not in"),
])
def test_plot_refuses_what_cannot_be_compared(two_margin_results, tmp_path, extra, message):
    folder = two_margin_results
    files = [str(folder / name) for name in ("m0.nc", "m1.nc")]
    extra = [str(folder / e) if e.endswith(".nc") else e for e in extra]
    proc = run_command("probe.plot", *files, *extra, "-o", str(tmp_path / "x.png"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
