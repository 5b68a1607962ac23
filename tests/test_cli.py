"""User errors on the real command line give one `error: ...` line, exit status 2, and no traceback.

The commands run in this process (`conftest.run_command`: the real argument parsing, exit status
and messages); the first test runs one in a fresh interpreter, the way a user does."""
from __future__ import annotations

import os
import subprocess
import sys
import types

import numpy as np
import pytest
import torch

from conftest import messages, run_command
from probe import registry, results

COMMANDS = [f"probe.{name}" for name in registry.PROBES] + ["probe.train"]


def _run(*args):
    return run_command(*args)


def _assert_clean_error(proc, fragment):
    assert proc.returncode == 2, proc.stderr
    lines = messages(proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_checkpoint(tmp_path):
    _assert_clean_error(run_command("probe.evaluate", str(tmp_path / "nope.pt"), process=True), "no such checkpoint")


def test_unknown_dataset(lenet_checkpoint):
    _assert_clean_error(_run("probe", "evaluate", str(lenet_checkpoint), "--data", "imagenet-42"), "unknown dataset")


def test_wrong_channel_count(lenet_checkpoint, tmp_path):
    np.savez(tmp_path / "rgb.npz", x_test=np.zeros((4, 3, 28, 28), np.float32), y_test=np.zeros(4, np.int64))
    _assert_clean_error(_run("probe.evaluate", str(lenet_checkpoint), "--data", str(tmp_path / "rgb.npz")),
                        "1-channel images but the data has 3 channels")


def test_parameter_out_of_range(lenet_checkpoint):
    _assert_clean_error(_run("probe.evaluate", str(lenet_checkpoint), "--n", "999999"), "larger than the dataset")


@pytest.mark.parametrize("content, fragment", [(b"a text file, not weights\n", "not a checkpoint"),
                                               (b"", "empty file")])
def test_files_that_are_not_checkpoints(tmp_path, content, fragment):
    (tmp_path / "model.pt").write_bytes(content)
    _assert_clean_error(_run("probe.margins", str(tmp_path / "model.pt"), "--trust-checkpoint"), fragment)


def test_truncated_checkpoints(lenet_checkpoint, tmp_path):
    raw = lenet_checkpoint.read_bytes()
    for length in (2, len(raw) // 3, len(raw) - 1):
        (tmp_path / "cut.pt").write_bytes(raw[:length])
        _assert_clean_error(_run("probe.evaluate", str(tmp_path / "cut.pt"), "--trust-checkpoint"), "cut.pt")


def test_pickled_module_of_a_class_that_cannot_be_imported(tmp_path):
    module = types.ModuleType("vanished_module")
    exec("import torch\nclass Net(torch.nn.Linear):\n    pass\n", module.__dict__)
    sys.modules["vanished_module"] = module
    try:
        torch.save(module.Net(784, 10), tmp_path / "whole.pt")
    finally:
        del sys.modules["vanished_module"]
    _assert_clean_error(_run("probe.evaluate", str(tmp_path / "whole.pt")), "--trust-checkpoint")
    _assert_clean_error(_run("probe.evaluate", str(tmp_path / "whole.pt"), "--trust-checkpoint"),
                        "cannot be imported")


def test_unwritable_out_and_plot_fail_before_computing(lenet_checkpoint, tmp_path):
    (tmp_path / "a_file").write_text("")
    _assert_clean_error(_run("probe.sparsefool", str(lenet_checkpoint), "--out", str(tmp_path / "a_file" / "r.nc")),
                        "not a writable folder")
    _assert_clean_error(_run("probe.margins", str(lenet_checkpoint), "--plot", str(tmp_path / "fig.jpg")),
                        ".png or .pdf or .svg")
    _assert_clean_error(_run("probe.overlap", "--out", str(tmp_path / "a_file" / "o.nc")), "not a writable folder")


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("size", ["0", "-3"])
def test_batch_size_must_be_positive_for_every_command(command, size, lenet_checkpoint):
    checkpoint = [] if command in ("probe.overlap", "probe.train") else [str(lenet_checkpoint)]
    _assert_clean_error(_run(command, *checkpoint, "--batch-size", size), "positive integer")


def test_corrupted_folder_needs_the_data_corruption_options(lenet_checkpoint, tmp_path):
    folder = tmp_path / "FMNIST-C"
    folder.mkdir()
    np.save(folder / "fog.npy", np.zeros((10, 28, 28), np.uint8))
    np.save(folder / "labels.npy", np.zeros(10, np.uint8))
    _assert_clean_error(_run("probe.evaluate", str(lenet_checkpoint), "--data", str(folder)), "--data-corruption")
    proc = _run("probe.evaluate", str(lenet_checkpoint), "--data", str(folder), "--data-corruption", "fog",
                "--data-severity", "2", "--out", str(tmp_path / "e.nc"), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert results.load(tmp_path / "e.nc").attrs["data"].endswith("[fog:2]")


def test_image_folder_of_mixed_sizes_needs_an_image_size(lenet_checkpoint, tmp_path):
    from PIL import Image
    for cls, size in (("a", (28, 28)), ("b", (30, 31))):
        (tmp_path / "set" / cls).mkdir(parents=True)
        Image.fromarray(np.zeros(size, np.uint8)).save(tmp_path / "set" / cls / "0.png")
    argv = ["probe.evaluate", str(lenet_checkpoint), "--data", str(tmp_path / "set"), "--split", "all"]
    _assert_clean_error(_run(*argv), "--image-size")
    proc = _run(*argv, "--image-size", "28", "--quiet")
    assert proc.returncode == 0, proc.stderr


def test_missing_split_and_missing_data_root(lenet_checkpoint, tmp_path):
    np.savez(tmp_path / "one.npz", x=np.zeros((4, 1, 28, 28), np.float32), y=np.zeros(4, np.int64))
    _assert_clean_error(_run("probe.evaluate", str(lenet_checkpoint), "--data", str(tmp_path / "one.npz")),
                        "--split all")
    _assert_clean_error(_run("probe.evaluate", str(lenet_checkpoint), "--data", "fashion-mnist",
                             "--data-root", str(tmp_path / "typo")), "does not exist")
    _assert_clean_error(_run("probe.train", "--data", str(tmp_path / "one.npz"), "--out", str(tmp_path / "m.pt")),
                        "no 'train' split")


def test_evaluate_writes_result_and_figure(lenet_checkpoint, tmp_path):
    proc = _run("probe.evaluate", str(lenet_checkpoint), "--n", "300", "--out", str(tmp_path / "e.nc"),
                "--plot", str(tmp_path / "e.png"))
    assert proc.returncode == 0, proc.stderr
    ds = results.load(tmp_path / "e.nc")
    assert ds.sizes["sample"] == 300 and ds.attrs["probe"] == "evaluate" and ds.attrs["complete"] is True
    assert float(ds["correct"].mean()) > 0.75
    assert "accuracy:" in proc.stdout and (tmp_path / "e.png").stat().st_size > 1000
    proc = _run("probe.plot", str(tmp_path / "e.nc"), "-o", str(tmp_path / "again.pdf"))
    assert proc.returncode == 0 and (tmp_path / "again.pdf").read_bytes()[:4] == b"%PDF"


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_device_resolution(device):
    from probe.commands.common import resolve_device
    assert resolve_device(device).type in ("cpu", "cuda", "mps")


def test_progress_bar_shows_when_the_terminal_reports_zero_width(monkeypatch):
    import io
    import shutil

    from probe.commands import common
    monkeypatch.setattr(shutil, "get_terminal_size", lambda fallback=(0, 0): os.terminal_size((0, 0)))
    stream = io.StringIO()
    stream.isatty = lambda: True
    monkeypatch.setattr(sys, "stderr", stream)
    bar = common.progress_bar(10, "work")
    bar.update(5)
    bar.bar.refresh()
    bar.close()
    assert "5/10" in stream.getvalue()


def test_importing_the_plots_keeps_the_matplotlib_backend():
    code = ("import matplotlib; matplotlib.use('svg'); import probe.plot, probe.margins.plot, probe.flatness.plot; "
            "print(matplotlib.get_backend())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "svg", proc.stderr


def test_the_installed_package_has_no_generic_top_level_names():
    from pathlib import Path

    import tomllib
    from setuptools import find_packages
    root = Path(__file__).resolve().parents[1]
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    installed = find_packages(where=str(root), include=config["include"])
    assert {name.split(".")[0] for name in installed} == {"probe"}


def test_python_attribute_access_finds_every_probe():
    import probe
    for name in registry.PROBES:
        module = getattr(probe, name)
        assert callable(module.run) and callable(module.summary)
    import probe.attacks.deepfool
    assert isinstance(probe.attacks.deepfool, types.ModuleType)
