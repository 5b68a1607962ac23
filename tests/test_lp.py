"""The Lp-noise probe: accuracy over norms × strengths, mCE_Lp, iCE, non-finite logits, resume, CLI."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from probe import lp, results
from probe.commands import probe_main
from probe.errors import ParameterError

ROOT = Path(__file__).resolve().parent.parent
TIME_ATTRS = ("created", "elapsed_seconds")


def _values(ds: xr.Dataset) -> xr.Dataset:
    return ds.drop_attrs()


def test_probe_grid_metrics_and_batch_size(lenet, sample_test):
    options = dict(norms=["L0", 2.0, "Linf"], strengths=[0.1, 0.4], seed=5, imperceptible={2.0: 0.25, "Linf": 0.01})
    idx = np.arange(0, 60, 2)
    full = lp.run(lenet, sample_test, indices=idx, **options)
    assert dict(full["accuracy"].sizes) == {"p": 3, "strength": 2} and full["finite"].all()
    assert full["correct"].dims == ("sample", "p", "strength")
    assert float(full["mce_lp"]) == pytest.approx(100 - float(full["accuracy"].mean()))
    clean_err = 100 - float(full["clean_accuracy"])
    hidden_err = 100 - float(full["imperceptible_accuracy"].mean())
    assert float(full["ice"]) == pytest.approx(100 * (hidden_err - clean_err) / clean_err)
    assert (full["realised_norm"] <= full["radius"] * (1 + 1e-5)).all()
    assert full.attrs["param_norms"] == ["L0", "L2", "Linf"] and full.attrs["param_strengths"] == [0.1, 0.4]
    assert full.attrs["param_imperceptible"] == ["L2:0.25", "Linf:0.01"]
    # the noise depends on (seed, sample index) only: another batch size gives the same cells
    other = lp.run(lenet, sample_test, indices=idx, batch_size=7, **options)
    np.testing.assert_array_equal(full["correct"].values, other["correct"].values)
    np.testing.assert_array_equal(full["realised_norm"].values, other["realised_norm"].values)
    # L0 replacing 12 % of the pixels by {0, 1} costs accuracy
    assert float(full["accuracy"].sel(p=0.0).isel(strength=-1)) < float(full["clean_accuracy"])
    numbers = lp.summary(full)
    assert numbers["samples"] == 30 and numbers["non_finite"] == 0 and numbers["non_finite_cells"] == 0
    assert numbers["mce_lp"] == float(full["mce_lp"])


def test_zero_clean_error_gives_infinite_or_zero_ice():
    assert lp.ice(100.0, 95.0) == math.inf and lp.ice(100.0, 100.0) == 0.0
    assert lp.ice(90.0, 85.0) == pytest.approx(50.0)


def test_bright_samples_are_flagged_and_excluded(bright_nan, lenet, sample_test):
    """NaN logits on bright images: their cells are flagged, left out of every accuracy, and no NaN
    reaches the result; the other cells are exactly those of the healthy model."""
    model, idx = bright_nan
    options = dict(norms=["L0", "L2"], strengths=[0.02, 0.05], imperceptible=["L2:0.1"], seed=1)
    ds = lp.run(model, sample_test, indices=idx, **options)
    healthy = lp.run(lenet, sample_test, indices=idx, **options)
    bright = np.isin(ds["sample"].values, idx[24:])
    np.testing.assert_array_equal(ds["clean_finite"].values, ~bright)
    finite = ds["finite"].values
    assert not finite[bright].any() and finite[~bright].mean() > 0.9   # weak noise keeps brightness
    assert not ds["correct"].values[~finite].any()
    np.testing.assert_array_equal(ds["correct"].values[finite], healthy["correct"].values[finite])
    dark_clean = healthy["clean_correct"].values[~bright]
    assert float(ds["clean_accuracy"]) == pytest.approx(100 * dark_clean.mean())
    expected = 100 * (ds["correct"] & ds["finite"]).sum("sample") / ds["finite"].sum("sample")
    np.testing.assert_allclose(ds["accuracy"].values, expected.values)
    for name in ds.variables:
        if np.issubdtype(ds[name].dtype, np.floating):
            assert not np.isnan(ds[name].values).any(), name
    numbers = lp.summary(ds)
    assert numbers["non_finite"] == 8 and numbers["non_finite_cells"] >= 8 * 5
    assert not any(isinstance(v, float) and math.isnan(v) for v in numbers.values())


def test_python_and_command_line_give_the_same_result(lenet, lenet_checkpoint, tmp_path, capsys):
    out, plot = tmp_path / "lp.nc", tmp_path / "lp.png"
    assert probe_main("lp", [str(lenet_checkpoint), "--n", "24", "--norms", "L0", "L2", "--levels", "2",
                             "--device", "cpu", "--out", str(out), "--plot", str(plot)]) == 0
    printed = capsys.readouterr().out
    assert "mCE_Lp" in printed and "iCE" in printed and plot.exists()
    command = results.load(out)
    python = lp.run(lenet, "fashion-mnist-sample", n=24, norms=["L0", "L2"], levels=2)
    xr.testing.assert_identical(_values(command), _values(python))
    strip = lambda attrs: {k: v for k, v in attrs.items() if k not in TIME_ATTRS}  # noqa: E731
    assert strip(command.attrs) == strip(python.attrs)
    assert command.attrs["probe"] == "lp" and command.attrs["complete"]
    assert command["accuracy"].attrs["units"] == "%"


def _exit_status(argv: list[str]) -> int:
    """The exit status of `python -m probe.lp ARGV`, run in this process."""
    try:
        return probe_main("lp", argv)
    except SystemExit as exc:  # argparse rejects an option before the command runs
        return int(exc.code)


@pytest.mark.parametrize("bad", [["--norms", "Lx"], ["--imperceptible", "L2"], ["--imperceptible", "L0:2"],
                                 ["--l0-values", "grey"], ["--levels", "0"], ["--strengths", "0.1", "0.1"]])
def test_bad_options_exit_2_with_one_line(lenet_checkpoint, tmp_path, capsys, bad):
    assert _exit_status([str(lenet_checkpoint), "--n", "4", "--out", str(tmp_path / "x.nc"), *bad]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert not (tmp_path / "x.nc").exists()


def test_bad_python_options(lenet, sample_test):
    for options in (dict(norms=["L2", "l2"]), dict(levels=0), dict(strengths=[0.1, -0.1]), dict(l0_values="grey"),
                    dict(imperceptible=[]), dict(imperceptible=["L2:0.1", "L2:0.2"])):
        with pytest.raises(ParameterError):
            lp.run(lenet, sample_test, n=2, **options)


