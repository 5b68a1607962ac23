"""The API reference (docs/api, Sphinx autodoc + napoleon) builds without a single warning."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBE_PAGES = ["evaluate", "margins", "sparsefool", "lp", "corruptions", "flatness", "overlap",
               "adversarial_corruptions", "masking"]


def test_api_reference_builds_without_warnings(tmp_path):
    pytest.importorskip("sphinx", reason="sphinx is not installed (it comes with the dev extra)")
    out = tmp_path / "html"
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           "-d", str(tmp_path / "doctrees"), str(ROOT / "docs" / "api"), str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    for page in PROBE_PAGES:
        html = (out / f"{page}.html").read_text()
        # the probe's own options (from the docstring of run), its result variables and its paper
        assert f"probe.{page}.run" in html and "Result variables" in html and "Paper" in html, page
