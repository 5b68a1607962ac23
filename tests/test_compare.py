"""probe.compare: paired differences with intervals, exact McNemar, Wilcoxon with +inf last, Holm, refusals, CLI."""
from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from scipy import stats as scipy_stats

from conftest import run_command
from probe import results
from probe.compare import compare
from probe.errors import ParameterError

ATTRS = {"probe": "evaluate", "data": "fashion-mnist-sample", "split": "test", "data_size": 1000}


def _outcomes(correct, samples=None, **attrs) -> xr.Dataset:
    samples = np.arange(len(correct)) if samples is None else samples
    return xr.Dataset({"correct": ("sample", np.asarray(correct, dtype=bool))}, coords={"sample": samples},
                      attrs={**ATTRS, **attrs})


def test_outcomes_use_the_exact_mcnemar_test_and_a_paired_interval():
    a = np.array([1] * 60 + [1] * 12 + [0] * 3 + [0] * 25, dtype=bool)
    b = np.array([1] * 60 + [0] * 12 + [1] * 3 + [0] * 25, dtype=bool)
    delta = compare(_outcomes(a), _outcomes(b, model="other"))
    assert float(delta["correct_difference"]) == pytest.approx(9.0)          # 72 % − 63 %
    assert float(delta["correct_p"]) == pytest.approx(scipy_stats.binomtest(12, 15, 0.5).pvalue)
    assert float(delta["correct_difference_low"]) < 9.0 < float(delta["correct_difference_high"])
    assert float(delta["correct_a"]) == 72.0 and float(delta["correct_b"]) == 63.0


def test_the_pairing_follows_the_sample_indices_not_the_order():
    a = _outcomes(np.arange(40) % 3 == 0)
    b = a.isel(sample=np.arange(40)[::-1])
    delta = compare(a, b)
    assert float(delta["correct_difference"]) == 0.0 and float(delta["correct_p"]) == 1.0
    assert float(delta["correct_difference_low"]) == float(delta["correct_difference_high"]) == 0.0


def test_values_use_wilcoxon_with_inf_ranked_last_and_inf_pairs_tied():
    rng = np.random.default_rng(0)
    a, b = rng.lognormal(size=(2, 3, 30))
    a[:, :4], b[:, :2] = math.inf, math.inf          # two pairs inf − inf (ties), two pairs +inf − finite
    attrs = {**ATTRS, "probe": "margins"}
    first = xr.Dataset({"margin": (("subspace", "sample"), a)}, coords={"sample": np.arange(30)}, attrs=attrs)
    second = xr.Dataset({"margin": (("subspace", "sample"), b)}, coords={"sample": np.arange(30)}, attrs=attrs)
    delta = compare(first, second)
    d = a[0] - np.where(np.isinf(a[0]) & np.isinf(b[0]), 0.0, b[0])
    d[:2] = 0.0
    finite = d[np.isfinite(d) & (d != 0)]
    stand_in = np.concatenate([finite, [10 * np.abs(finite).max()] * 2])
    assert float(delta["margin_p"][0]) == pytest.approx(scipy_stats.wilcoxon(stand_in).pvalue)
    assert delta["margin_difference"].dims == ("subspace",)
    p = delta["margin_p"].values
    expected = np.minimum(1, np.maximum.accumulate(np.sort(p) * (3 - np.arange(3))))
    np.testing.assert_allclose(np.sort(delta["margin_p_holm"].values), expected)


def test_results_on_other_samples_data_or_probe_are_refused():
    a = _outcomes(np.ones(20, bool))
    with pytest.raises(ParameterError, match="different samples .*15 shared"):
        compare(a, _outcomes(np.ones(20, bool), samples=np.arange(5, 25)))
    with pytest.raises(ParameterError, match="differ in data"):
        compare(a, _outcomes(np.ones(20, bool), data="mnist"))
    with pytest.raises(ParameterError, match="differ in probe"):
        compare(a, _outcomes(np.ones(20, bool), probe="lp"))


def test_command_prints_the_table_and_draws_the_differences(tmp_path):
    rng = np.random.default_rng(1)
    for name, p in (("a", 0.8), ("b", 0.6)):
        results.save(_outcomes(rng.random(200) < p, model=name), tmp_path / f"{name}.nc")
    proc = run_command("probe", "compare", str(tmp_path / "a.nc"), str(tmp_path / "b.nc"), "--plot",
                       str(tmp_path / "d.png"), "--out", str(tmp_path / "d.nc"))
    assert proc.returncode == 0, proc.stderr
    assert "a − b [95% CI]" in proc.stdout and "correct" in proc.stdout and (tmp_path / "d.png").stat().st_size > 1000
    assert float(results.load(tmp_path / "d.nc")["correct_p_holm"]) < 0.05
    other = tmp_path / "other.nc"
    results.save(_outcomes(np.ones(50, bool), model="c"), other)
    proc = run_command("probe.compare", str(tmp_path / "a.nc"), str(other))
    assert proc.returncode == 2 and proc.stderr.strip().startswith("error: ") and "50 shared" in proc.stderr
