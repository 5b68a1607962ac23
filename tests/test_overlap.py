"""Overlap Monte Carlo: exact volume ratios, rescaling vs direct sampling, bisection thresholds."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import xarray as xr
from scipy.special import gammaln

from probe import overlap as ov
from probe import results
from probe.balls import draw, norm, perturb
from probe.commands import probe_main
from probe.errors import ParameterError


def log_volume(dim: int, p: float) -> float:
    """log Vol(B_p^d(1)) = d log(2 Γ(1 + 1/p)) − log Γ(1 + d/p)."""
    if math.isinf(p):
        return dim * math.log(2.0)
    return dim * (math.log(2.0) + gammaln(1 + 1 / p)) - gammaln(1 + dim / p)


@pytest.mark.parametrize("dim, p_a, p_b, exact", [
    (2, math.inf, 2.0, math.pi / 4),      # disk in square: samples of the square inside the disk
    (2, 2.0, 1.0, 2 / math.pi),           # L1 ball in disk
    (2, 1.0, 0.5, 1 / 3),                 # L0.5 ball in L1 ball
    (10, math.inf, 2.0, 0.00249),         # 10-D ball in its cube
])
def test_volume_ratios(dim, p_a, p_b, exact):
    assert math.exp(log_volume(dim, p_b) - log_volume(dim, p_a)) == pytest.approx(exact, rel=2e-3)
    n = 400_000
    fraction, stderr = ov.overlap(dim, p_a, 1.0, p_b, 1.0, n, generator=torch.Generator().manual_seed(dim))
    assert stderr == pytest.approx(math.sqrt(exact * (1 - exact) / n), rel=0.05)
    assert abs(fraction - exact) < 4 * stderr


@pytest.mark.parametrize("p", [math.inf, 1.0, 0.5, 10.0, 0.0])
def test_thresholds_match_direct_evaluation(p, sample_test):
    """Per-sample thresholds (rescaling unclipped, bisection / cumulative sums clipped) decide
    inside/outside exactly as evaluating the same draws at the radius directly."""
    from probe.data import get_batch
    image = get_batch(sample_test, [3])[0].reshape(1, -1).expand(400, -1)
    d = draw(400, 784, [p], torch.Generator().manual_seed(7)).row(0)
    for x in (None, image):
        t = ov.thresholds_into(x, d, p, 2.0, 2.0).numpy()
        for q in (0.2, 0.5, 0.8):
            radius = float(np.quantile(t, q)) * (1.0 + 1e-4)
            radius = min(radius, 1.0) if p == 0 else radius
            direct = (norm(perturb(x, d, p, radius), 2.0) <= 2.0).numpy()
            via = (radius < t) if p == 0 else (radius <= t)
            assert (direct != via).sum() <= 1


def test_rescaled_curve_equals_direct_sampling():
    """The unclipped sweep (one set of unit samples, rescaled) agrees with fresh direct sampling."""
    g = torch.Generator().manual_seed(0)
    ds = ov.overlap_curves(500, [1.0, 0.0], (2.0, 4.0), n=3000, generator=g, radii=9)
    for p in (1.0, 0.0):
        for k in (2, 4, 6):
            radius = float(ds["radius"].sel(p=p)[k])
            into = ds.sel(direction="lp_in_reference", p=p).isel(point=k)
            f, s = ov.overlap(500, p, radius, 2.0, 4.0, 3000, generator=g)
            assert abs(f - float(into["fraction"])) < 4 * math.hypot(s, float(into["stderr"])) + 1e-9
            back = ds.sel(direction="reference_in_lp", p=p).isel(point=k)
            f, s = ov.overlap(500, 2.0, 4.0, p, radius, 3000, generator=g)
            assert abs(f - float(back["fraction"])) < 4 * math.hypot(s, float(back["stderr"])) + 1e-9


def test_chunking_does_not_change_the_estimate():
    a = ov.overlap(300, 1.0, 40.0, 2.0, 4.0, 2000, generator=torch.Generator().manual_seed(1), chunk=2000)
    b = ov.overlap(300, 1.0, 40.0, 2.0, 4.0, 2000, generator=torch.Generator().manual_seed(1), chunk=2000)
    assert a == b
    assert ov.chunk_size(3072) * 3072 * 4 * 12 <= ov.MEMORY_BUDGET


def test_curves_fall_and_rise():
    ds = ov.overlap_curves(1000, [math.inf, 10.0], n=500, generator=torch.Generator().manual_seed(2), radii=11)
    into = ds["fraction"].sel(direction="lp_in_reference").values
    back = ds["fraction"].sel(direction="reference_in_lp").values
    assert (np.diff(into, axis=-1) <= 0).all() and (np.diff(back, axis=-1) >= 0).all()
    assert (into[:, 0] > 0.99).all() and (into[:, -1] < 0.01).all()
    # L∞ unclipped: r50 = 4 / ‖u‖_2 with ‖u‖_2 ≈ √(d/3)
    assert float(ds["radius_50"].sel(direction="lp_in_reference", p=math.inf)) == pytest.approx(
        4 / math.sqrt(1000 / 3), rel=0.02)


def test_run_and_summary(sample_test):
    ds = ov.run(dim=300, reference="L2:4", norms=["Linf", "L1"], samples=400, radii=9, seed=3)
    assert ds.attrs["probe"] == "overlap" and ds.attrs["reference"] == "L2:4" and ds.attrs["clipped"] is False
    assert ds.attrs["param_norms"] == ["Linf", "L1"] and ds.attrs["param_samples"] == 400
    numbers = ov.summary(ds)
    assert numbers["samples"] == 400 and numbers["dim"] == 300
    assert numbers["radius_50_linf_in_reference"] == pytest.approx(4 / math.sqrt(300 / 3), rel=0.03)
    radii = {"radius_50_linf_in_reference", "radius_50_reference_in_linf", "radius_50_l1_in_reference",
             "radius_50_reference_in_l1"}
    assert set(numbers) == {"samples", "dim"} | {f"{r}{end}" for r in radii for end in ("", "_low", "_high")}
    assert all(numbers[f"{r}_low"] < numbers[r] < numbers[f"{r}_high"] for r in radii)
    # the same seed gives the same curves; the image of a dataset sets the dimension and clips
    again = ov.run(dim=300, reference="l2:4", norms=["Linf", "L1"], samples=400, radii=9, seed=3)
    xr.testing.assert_identical(ds.drop_attrs(), again.drop_attrs())
    clipped = ov.run(None, sample_test, image=2, norms=["L2"], samples=50, radii=5)
    assert clipped.attrs["dim"] == 784 and clipped.attrs["clipped"] and clipped.attrs["data"] == "fashion-mnist-sample"
    for bad in (dict(image=2), dict(data=sample_test), dict(reference="L2"), dict(norms=["Lq"]),
                dict(samples=0), dict(model=torch.nn.Linear(2, 2))):
        with pytest.raises(ParameterError):
            ov.run(**bad)


def test_command_line(tmp_path, capsys):
    out, plot = tmp_path / "o.nc", tmp_path / "o.png"
    assert probe_main("overlap", ["--dim", "200", "--samples", "200", "--norms", "Linf", "L1", "L0", "--radii", "7",
                                  "--out", str(out), "--plot", str(plot)]) == 0
    ds = results.load(out)
    assert ds.attrs["probe"] == "overlap" and dict(ds["fraction"].sizes) == {"direction": 2, "p": 3, "point": 7}
    assert ds["radius"].dims == ("p", "point") and not np.isnan(ds["fraction"].values).any()
    assert plot.exists() and "r50" in capsys.readouterr().out
    python = ov.run(dim=200, samples=200, norms=["Linf", "L1", "L0"], radii=7, device="cpu")
    xr.testing.assert_identical(ds.drop_attrs(), python.drop_attrs())
    assert probe_main("overlap", ["--image", "2", "--data", "fashion-mnist-sample", "--samples", "50",
                                  "--norms", "L2", "--radii", "5", "--out", str(out)]) == 0
    assert results.load(out).attrs["dim"] == 784
    assert probe_main("overlap", ["--reference", "l2", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip().startswith("error: ")
