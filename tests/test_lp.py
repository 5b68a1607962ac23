"""Lp-ball sampling, Lp corruptions and the Lp-corruption probe (REFERENCE.md §4)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from probe import lp, results
from probe.errors import ParameterError

NORMS = [0.5, 1.0, 2.0, 50.0, math.inf]


@pytest.mark.parametrize("p", NORMS)
@pytest.mark.parametrize("dim", [2, 9, 200])
def test_radius_law(p, dim):
    """(‖x‖_p / ε)^d is uniform on (0, 1) for a uniform sample of the ball."""
    x = lp.sample_ball(4000, dim, p, 1.7, torch.Generator().manual_seed(int(dim * 10 + min(p, 99))))
    ratio = ((lp.norm(x.double(), p) / 1.7) ** dim).numpy()
    assert ratio.max() <= 1 + 1e-4
    assert stats.kstest(ratio, "uniform").pvalue > 1e-3


@pytest.mark.parametrize("p", [0.5, 1.0, 2.0, 10.0, 50.0])
@pytest.mark.parametrize("dim", [3, 100])
def test_moment_identity(p, dim):
    """E|x_i|^p = ε^p / (d + p); checked on (|x_i|/ε)^p within 5 standard errors."""
    x = lp.sample_ball(20000, dim, p, 0.8, torch.Generator().manual_seed(dim + int(p)))
    values = ((x.double().abs() / 0.8) ** p).mean(1).numpy()  # per-sample mean over coordinates
    expected = 1.0 / (dim + p)
    assert abs(values.mean() - expected) < 5 * values.std() / math.sqrt(len(values))


def test_large_p_does_not_collapse():
    """float32 Gamma(1/p) underflows at p = 50; the stable form gives no zero coordinates."""
    x = lp.sample_ball(2000, 100, 50.0, 1.0, torch.Generator().manual_seed(0))
    assert torch.isfinite(x).all() and (x == 0).float().mean() < 1e-4
    assert x.abs().amax(1).min() > 0.5


@pytest.mark.parametrize("p", [0.5, 3.0, math.inf])
def test_sphere(p):
    x = lp.sample_ball(500, 40, p, 2.5, torch.Generator().manual_seed(1), sphere=True)
    assert torch.allclose(lp.norm(x, p), torch.full((500,), 2.5), rtol=1e-4)


def test_l0_changes_exactly_round_eps_d():
    g = torch.Generator().manual_seed(0)
    mask = lp.sample_l0(300, 784, 0.0137, g)
    assert (mask.sum(1) == round(0.0137 * 784)).all()
    x = torch.full((50, 1, 28, 28), 0.5)  # no pixel can equal a {0,1} or uniform replacement by chance
    for values in lp.L0_VALUES:
        noisy, realised = lp.corrupt(x, 0.0, 0.02, g, l0_values=values)
        changed = (noisy != x).flatten(1).sum(1)
        assert (changed == round(0.02 * 784)).all()
        assert torch.allclose(realised, changed / 784)


@pytest.mark.parametrize("p", [0.0, 1.0, 2.0, math.inf])
def test_corrupt_clips_and_reports_norms(p, sample_test):
    from probe.data import get_batch
    x, _ = get_batch(sample_test, np.arange(16))
    eps = {0.0: 0.05, 1.0: 60.0, 2.0: 3.0, math.inf: 0.3}[p]
    noisy, realised = lp.corrupt(x, p, eps, torch.Generator().manual_seed(3))
    assert noisy.shape == x.shape and noisy.min() >= 0 and noisy.max() <= 1
    assert torch.allclose(realised, lp.norm((noisy - x).flatten(1), p), rtol=1e-4, atol=1e-6)
    assert (realised <= eps * (1 + 1e-5)).all()
    change = (noisy - x).flatten(1)
    assert not torch.allclose(change[0], change[1])  # independent noise per image
    again, _ = lp.corrupt(x, p, eps, torch.Generator().manual_seed(3))
    assert torch.equal(noisy, again)


def test_bad_parameters():
    with pytest.raises(ParameterError):
        lp.parse_norm("Lfoo")
    with pytest.raises(ParameterError):
        lp.sample_ball(3, 4, 2.0, -1.0)
    with pytest.raises(ParameterError):
        lp.sample_l0(3, 4, 1.5)
    assert lp.parse_norm("Linf") == math.inf and lp.parse_norm("L0.5") == 0.5 and lp.parse_norm("l0") == 0


def test_equivalent_radii_match_published_overlap_points():
    """At the RMS of the CIFAR L2 ball of radius 4, the rule gives the published 50 % radii."""
    s = 4 / math.sqrt(3072)
    for p, published in ((math.inf, 0.127), (1.0, 161), (0.5, 2.7e5), (10.0, 0.2315), (50.0, 0.139), (0.0, 0.017)):
        assert abs(lp.equivalent_radius(p, s, 3072) / published - 1) < 0.1


def test_probe_resume_and_batch_size(lenet, sample_test, tmp_path):
    kwargs = dict(norms=[0.0, 2.0, math.inf], strengths=[0.1, 0.4], seed=5,
                  imperceptible={2.0: 0.25, math.inf: 0.01})
    attrs = results.provenance("lp", {"test": "resume"}, model=lenet, seed=5)
    idx = np.arange(0, 60, 2)
    full = lp.evaluate(lenet, sample_test, idx, batch_size=16, out=tmp_path / "a.nc", attrs=attrs, **kwargs)
    assert dict(full["accuracy"].sizes) == {"p": 3, "epsilon": 2}
    assert float(full["mce_lp"]) == pytest.approx(100 - float(full["accuracy"].mean()))
    clean_err = 100 - float(full["clean_accuracy"])
    hidden_err = 100 - float(full["imperceptible_accuracy"].mean())
    assert float(full["ice"]) == pytest.approx(100 * (hidden_err - clean_err) / clean_err)
    assert (full["realised_norm"] <= full["radius"] * (1 + 1e-5)).all()
    # the noise depends on (seed, sample index) only: another batch size gives the same cells
    other = lp.evaluate(lenet, sample_test, idx, batch_size=7, **kwargs)
    np.testing.assert_array_equal(full["correct"].values, other["correct"].values)
    # an interrupted run (first chunk saved by the runner), then resumed
    partial = full.isel(sample=slice(0, 16)).drop_vars(["accuracy", "clean_accuracy", "mce_lp",
                                                        "imperceptible_accuracy", "ice"])
    partial.attrs = dict(attrs, complete=False)
    results.save(partial, tmp_path / "b.nc")
    resumed = lp.evaluate(lenet, sample_test, idx, batch_size=16, out=tmp_path / "b.nc", resume=True,
                          attrs=attrs, **kwargs)
    np.testing.assert_array_equal(full["correct"].values, resumed["correct"].values)
    assert float(resumed["mce_lp"]) == float(full["mce_lp"])
    # L0 replacing 12 % of the pixels by {0, 1} costs accuracy
    assert float(full["accuracy"].sel(p=0.0).isel(epsilon=-1)) < float(full["clean_accuracy"])


def test_cli(lenet_checkpoint, tmp_path, capsys):
    out, plot = tmp_path / "lp.nc", tmp_path / "lp.png"
    code = lp.main([str(lenet_checkpoint), "--data", "fashion-mnist-sample", "--n", "24", "--norms", "L0", "L2",
                    "--levels", "2", "--device", "cpu", "--out", str(out), "--plot", str(plot)])
    assert code == 0 and out.exists() and plot.exists()
    ds = results.load(out)
    assert ds.attrs["probe"] == "lp" and ds.attrs["complete"]
    assert "mCE_Lp" in capsys.readouterr().out
    assert ds["accuracy"].attrs["units"] == "%"
    assert lp.main([str(lenet_checkpoint), "--norms", "Lx", "--out", str(out)]) == 2
