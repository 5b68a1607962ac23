"""The example probe of `docs/ADDING_A_PROBE.md` (`tests/example_probe/`), added the way a tenth
probe is added: its folder and its registry entry, registered here at run time.  It runs from
Python and from the command line, draws its figure and takes its place in the report."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import example_probe
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from example_probe.entry import ENTRY
from torch import nn

from probe import data, plot, registry, results
from probe.commands import probe_main

TESTS = Path(__file__).resolve().parent


@pytest.fixture()
def registered():
    """The example probe in the registry for one test."""
    registry.register(ENTRY)
    yield ENTRY
    registry.unregister(ENTRY.name)


@pytest.mark.filterwarnings("ignore:clean accuracy")   # an untrained linear model: the runner warns, rightly
def test_a_linear_model_has_the_closed_form_gradient(sample_test):
    # logits Wx + b: ∇ₓ CE = Wᵀ (softmax(Wx + b) − e_y), known without autograd
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).eval()
    ds = example_probe.run(model, sample_test, n=40, seed=1)
    x, y = data.get_batch(sample_test, ds["sample"].values)
    weight, bias = model[1].weight.detach().double(), model[1].bias.detach().double()
    p = torch.softmax(x.flatten(1).double() @ weight.T + bias, dim=1)
    expected = ((p - nn.functional.one_hot(y, 10).double()) @ weight).norm(dim=1).numpy()
    np.testing.assert_allclose(ds["gradient_norm"].values, expected, rtol=1e-5)
    numbers = example_probe.summary(ds)
    assert numbers["median_gradient_norm_low"] <= numbers["median_gradient_norm"] <= \
        numbers["median_gradient_norm_high"]
    assert numbers["median_gradient_norm"] == pytest.approx(np.median(expected), rel=1e-5)


def test_the_command_writes_the_result_its_summary_and_figure(registered, lenet_checkpoint, tmp_path, capsys):
    out, figure = tmp_path / "gradient_norm.nc", tmp_path / "gradient_norm.png"
    assert probe_main("gradient_norm", [str(lenet_checkpoint), "--data", "fashion-mnist-sample", "--n", "48",
                                        "--norm", "inf", "--out", str(out), "--plot", str(figure)]) == 0
    printed = capsys.readouterr().out
    ds = results.load(out)
    assert ds.attrs["probe"] == "gradient_norm" and ds.attrs["param_norm"] == "inf" and ds.sizes["sample"] == 48
    assert f"median gradient norm {ds['gradient_norm'].median().item():.4g}" in printed
    assert figure.stat().st_size > 10_000
    ax = plot.plot_result({"a": ds, "b": ds})        # the default plot, several results together
    assert ax.get_xscale() == "log" and "L" in ax.get_xlabel() and len(ax.get_legend().get_texts()) == 2
    plt.close(ax.figure)


def test_python_m_runs_the_probe(lenet_checkpoint, tmp_path):
    out = tmp_path / "g.nc"
    path = os.pathsep.join(filter(None, [str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-m", "example_probe", str(lenet_checkpoint), "--data",
                           "fashion-mnist-sample", "--n", "16", "--out", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=path, PYTHONWARNINGS="ignore"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert results.load(out).sizes["sample"] == 16


def test_the_report_runs_checks_reads_and_draws_it(registered, lenet, tmp_path):
    import probe.report
    report = probe.report.run(lenet, "fashion-mnist-sample", budget="quick", stages=["gradient_norm"],
                              out=tmp_path)
    check = report.check("zero_loss_gradients")            # the quick budget of its report.py: 64 samples
    assert check.verdict == "pass" and check.samples == 64 and check.source == "gradient_norm.nc"
    stage = report.model.stages["gradient_norm"]
    assert stage.title == "Input-gradient norm" and stage.reading.startswith("The median input-gradient norm")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Look for no mass at zero" in page and "obfuscated gradients" in page.lower()
    assert (tmp_path / "gradient_norm.png").exists()


def test_a_registered_name_cannot_be_taken_twice(registered):
    from probe.errors import ParameterError
    with pytest.raises(ParameterError, match="already registered"):
        registry.register(ENTRY)
    assert "gradient_norm" in registry.PROBES and sys.modules["example_probe"] is example_probe
