"""The distribution: one version source, the typing marker, and a wheel that runs on its own."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

import probe
from probe import models

ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTION = "probe-robustness"


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_version_has_one_source():
    project = _pyproject()
    assert project["project"]["name"] == DISTRIBUTION
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "probe.__version__"}
    try:
        installed = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return   # run from a checkout that is not installed under its distribution name
    located = Path(importlib.metadata.distribution(DISTRIBUTION).locate_file("probe")).resolve()
    if located == Path(probe.__file__).parent:
        assert installed == probe.__version__


def test_the_typing_marker_and_the_extras_are_declared():
    assert (ROOT / "probe" / "py.typed").is_file()
    project = _pyproject()
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["probe"]
    extras = set(project["project"]["optional-dependencies"])
    assert {"torchvision", "timm", "imagecorruptions", "scikit-image"} <= extras


def test_the_license_is_declared_and_shipped():
    project = _pyproject()["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


@pytest.mark.skipif(importlib.util.find_spec("build") is None, reason="the 'build' package is not installed")
def test_a_built_wheel_and_sdist_install_and_run_evaluate_on_the_embedded_sample(tmp_path):
    built = subprocess.run([sys.executable, "-m", "build", "--sdist", "--wheel", "--no-isolation", "--outdir",
                            str(tmp_path / "dist"), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel, = (tmp_path / "dist").glob("probe_robustness-*.whl")
    sdist, = (tmp_path / "dist").glob("probe_robustness-*.tar.gz")
    assert wheel.name.startswith(f"probe_robustness-{probe.__version__}-")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "probe/py.typed" in names and any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    checkpoint = tmp_path / "linear.pt"
    models.save(models.build("linear", in_channels=1, image_size=(28, 28), num_classes=10), checkpoint)
    for artifact in (wheel, sdist):
        installed = tmp_path / f"site-{artifact.suffix}"
        pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                              "--no-build-isolation", "--target", str(installed), str(artifact)],
                             capture_output=True, text=True, timeout=600)
        assert pip.returncode == 0, pip.stderr[-2000:]
        env = dict(os.environ, PYTHONPATH=str(installed), PYTHONWARNINGS="ignore")
        where = subprocess.run([sys.executable, "-c", "import probe; print(probe.__file__)"], capture_output=True,
                               text=True, timeout=600, env=env, cwd=tmp_path)
        assert where.stdout.strip() == str(installed / "probe" / "__init__.py"), where.stderr[-2000:]
        out = tmp_path / f"eval-{artifact.suffix}.nc"
        run = subprocess.run([sys.executable, "-m", "probe.evaluate", str(checkpoint), "--n", "50", "--quiet",
                              "--out", str(out)], capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
        assert run.returncode == 0 and out.is_file(), run.stderr[-2000:]
