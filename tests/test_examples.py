"""Every notebook in examples/ executes end to end — with small sample counts written over its
`parameters` cell — in a Jupyter kernel running this very interpreter, and is kept without outputs
(so that a change to a notebook reviews as a change to its code)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
SMALL = {   # per notebook: what replaces its parameters ({checkpoint}: the session's LeNet), and what it must print
    "01_first_probe.ipynb": ("checkpoint = {checkpoint!r}\nn = 8", "fooling_rate"),
    "02_compare_two_models.ipynb": ("checkpoint = {checkpoint!r}\nepochs = 0\nn = 8", "low-pass input: test accuracy"),
    "03_results_with_xarray.ipynb": ("path = None\ncheckpoint = {checkpoint!r}\nn = 8",
                                     "largest low-frequency margin: image"),
    "04_sanity_report.ipynb": ("checkpoint = {checkpoint!r}\nn = 16\nstages = ['evaluate', 'pipeline']",
                               "verdict:"),
}


@pytest.fixture(scope="module")
def jupyter_path(tmp_path_factory) -> Path:
    """A folder holding a `python3` kernel spec that starts this interpreter; on JUPYTER_PATH it comes
    before any user or system spec of that name."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (probe tests)", "language": "python"}))
    return root


def _parameters(nb) -> int:
    tagged = [i for i, cell in enumerate(nb.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, "a notebook has exactly one cell tagged 'parameters'"
    return tagged[0]


def test_notebooks_are_listed_and_kept_without_outputs():
    assert NOTEBOOKS and sorted(SMALL) == [path.name for path in NOTEBOOKS]
    assert not list(EXAMPLES.glob("*.py")), "examples are notebooks"
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        _parameters(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, \
                    f"{path.name}: clear the outputs (jupyter nbconvert --clear-output --inplace {path.name})"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, jupyter_path, lenet_checkpoint, monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))
    monkeypatch.setenv("PYTHONWARNINGS", "ignore")
    nb = nbformat.read(path, as_version=4)
    parameters, expected = SMALL[path.name]
    nb.cells.insert(_parameters(nb) + 1, nbformat.v4.new_code_cell(parameters.format(checkpoint=str(lenet_checkpoint))))
    NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
                      for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs)
    assert expected in printed
    shown = {i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and any("image/png" in output.get("data", {}) for output in cell.outputs)}
    assert shown, "the notebook shows its figures"
    for i, cell in enumerate(nb.cells):   # every plot shows inline: the style leaves interactive mode on
        assert "plot_result(" not in cell.source or i in shown, cell.source
