"""The linter and the type checker pass on the tree: `ruff check` (the rule set in pyproject.toml) and
`mypy` on `probe/` (annotated public functions), so a new finding fails the suite.  That `py.typed` ships
with the package is checked in test_packaging."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> list[str]:
    """The command running tool `name` from this interpreter's environment; skip when it is not installed."""
    pytest.importorskip(name, reason=f"{name} is not installed (it comes with the dev extra: pip install -e '.[dev]')")
    return [sys.executable, "-m", name]


def test_ruff_finds_nothing():
    done = subprocess.run([*_tool("ruff"), "check", "--no-cache", "--output-format", "concise", str(ROOT)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_no_module_is_exempt_from_the_type_checker():
    # every module is checked with the full settings: an override may only declare a third-party library untyped
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    for override in config.get("overrides", []):
        assert set(override) <= {"module", "ignore_missing_imports"}, override
        assert not any(str(m).startswith("probe") for m in override["module"]), override


def test_mypy_finds_nothing(tmp_path):
    # a fresh cache under tmp_path: the check does not depend on (or write) a cache in the checkout
    done = subprocess.run([*_tool("mypy"), "--cache-dir", str(tmp_path / "mypy"), "--no-error-summary"],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]

