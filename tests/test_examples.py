"""The examples run end to end and print what they promise."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(script: str, *args: str, cwd: Path) -> str:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_lp_balls(tmp_path):
    out = _run("lp_balls.py", cwd=tmp_path)
    means = [float(line.split("= ")[1].split()[0]) for line in out.splitlines() if "(expected 0.5)" in line]
    assert len(means) == 4 and all(abs(m - 0.5) < 0.03 for m in means)
    assert "radius 0.1: 100.0" in out and "radius 0.15: 0.0" in out


def test_boundary_in_a_notebook(tmp_path):
    out = _run("boundary_in_a_notebook.py", "--out", str(tmp_path / "out"), "--epochs", "2", cwd=tmp_path)
    assert "SparseFool fooled" in out and (tmp_path / "out" / "margins.png").stat().st_size > 1000
    assert (tmp_path / "out" / "margins.nc").exists()
