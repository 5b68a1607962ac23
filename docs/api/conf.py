"""Sphinx configuration of the API reference: ``sphinx-build -W -b html docs/api <out>``.

The pages are written by hand (one per probe, plus the shared modules); their text comes from the
docstrings through autodoc, read in Google or reST style by napoleon.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))   # document this checkout's `probe`, installed or not

import probe  # noqa: E402  (after the path is set)

project = "probe"
author = "the probe authors"
release = version = probe.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
napoleon_google_docstring = True
napoleon_numpy_docstring = False
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True   # show `CONFIDENCE`, not its value, as a default
# `backticks` in the docstrings name code, as in the README; show them as literals
default_role = "literal"

exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path: list[str] = []
