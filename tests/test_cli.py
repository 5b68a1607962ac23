"""User errors on the command line give one clean `error: ...` line and exit status 2."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from probe import results


def _run(*args, cwd=None):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def _assert_clean_error(proc, fragment):
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_checkpoint(tmp_path):
    _assert_clean_error(_run("probe.evaluate", str(tmp_path / "nope.pt")), "no such checkpoint")


def test_unknown_dataset(lenet_checkpoint):
    _assert_clean_error(_run("probe", "evaluate", str(lenet_checkpoint), "--data", "imagenet-42"), "unknown dataset")


def test_wrong_channel_count(lenet_checkpoint, tmp_path):
    np.savez(tmp_path / "rgb.npz", x=np.zeros((4, 3, 28, 28), np.float32), y=np.zeros(4, np.int64))
    _assert_clean_error(_run("probe.evaluate", str(lenet_checkpoint), "--data", str(tmp_path / "rgb.npz")),
                        "1-channel images but the data has 3 channels")


def test_parameter_out_of_range(lenet_checkpoint):
    _assert_clean_error(_run("probe.evaluate", str(lenet_checkpoint), "--n", "999999"), "larger than the dataset")


def test_evaluate_writes_result_and_figure(lenet_checkpoint, tmp_path):
    proc = _run("probe.evaluate", str(lenet_checkpoint), "--n", "300", "--out", str(tmp_path / "e.nc"),
                "--plot", str(tmp_path / "e.png"))
    assert proc.returncode == 0, proc.stderr
    ds = results.load(tmp_path / "e.nc")
    assert ds.sizes["sample"] == 300 and ds.attrs["probe"] == "evaluate" and ds.attrs["complete"] is True
    assert float(ds["correct"].mean()) > 0.75
    assert "accuracy:" in proc.stdout and (tmp_path / "e.png").stat().st_size > 1000
    proc = _run("figures", str(tmp_path / "e.nc"), "-o", str(tmp_path / "again.pdf"))
    assert proc.returncode == 0 and (tmp_path / "again.pdf").read_bytes()[:4] == b"%PDF"


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_device_resolution(device):
    from probe.cli import resolve_device
    assert resolve_device(device).type in ("cpu", "cuda", "mps")
