"""mCE arithmetic against published tables and hand-computed cases."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from probe import results
from probe.corruptions import CORRUPTIONS, mce, summarize, summary


def _table(per_severity: list[float], seed: int = 0) -> np.ndarray:
    """15 × 5 accuracies whose column means are `per_severity` (zero-mean offsets per corruption)."""
    offsets = np.random.default_rng(seed).normal(0, 3, size=(15, 1))
    return np.asarray(per_severity)[None, :] + (offsets - offsets.mean())


def test_alexnet_table_is_the_published_one():
    assert tuple(mce.ALEXNET_ERRORS) == CORRUPTIONS
    assert mce.ALEXNET_ERRORS["gaussian_noise"] == 0.886428 and mce.ALEXNET_ERRORS["jpeg_compression"] == 0.6065
    assert mce.ALEXNET_CLEAN_ERROR == pytest.approx(0.4345)


def test_alexnet_normalises_itself_to_100_and_half_errors_to_50():
    reference, clean = mce.alexnet_reference()
    own = {c: np.full(5, e) for c, e in reference.items()}
    assert mce.mean_ce(mce.corruption_errors(own, reference)) == pytest.approx(100.0)
    assert mce.mean_ce(mce.relative_corruption_errors(own, clean, reference, clean)) == pytest.approx(100.0)
    half = {c: v / 2 for c, v in own.items()}
    assert mce.mean_ce(mce.corruption_errors(half, reference)) == pytest.approx(50.0)


def test_ce_sums_over_severities_before_dividing():
    errors = {"fog": np.array([10.0, 20.0, 30.0, 40.0, 50.0])}          # Σ = 150
    reference = {"fog": np.array([50.0, 60.0, 70.0, 80.0, 90.0])}      # Σ = 350
    assert mce.corruption_errors(errors, reference)["fog"] == pytest.approx(100 * 150 / 350)
    relative = mce.relative_corruption_errors(errors, 5.0, reference, 40.0)
    assert relative["fog"] == pytest.approx(100 * (150 - 25) / (350 - 200))


def test_cifar_mce_reproduces_published_prime_and_leaderboard_numbers():
    # PRIME CIFAR-10 ResNet-18: per severity 92.8 91.6 90.4 88.6 85.6 → corruption accuracy 89.8
    assert 100 - mce.cifar_mce(_table([92.8, 91.6, 90.4, 88.6, 85.6])) == pytest.approx(89.8, abs=0.05)
    # RobustBench standard model: per severity 86.9 81.3 74.9 67.6 56.5 → 73.46 % (mCE 26.54 %)
    assert mce.cifar_mce(_table([86.9, 81.3, 74.9, 67.6, 56.5], seed=1)) == pytest.approx(26.54, abs=0.05)


def _per_sample(accuracy: np.ndarray, clean: float, n: int = 20) -> xr.Dataset:
    """A per-sample result whose cells have exactly the given accuracies (multiples of 100/n)."""
    k = np.rint(accuracy / 100 * n).astype(int)
    correct = np.arange(n)[None, None, :] < k[..., None]
    return xr.Dataset({"correct": (("corruption", "severity", "sample"), correct),
                       "finite": (("corruption", "severity", "sample"), np.ones_like(correct)),
                       "clean_correct": ("sample", np.arange(n) < round(clean / 100 * n)),
                       "clean_finite": ("sample", np.ones(n, dtype=bool)),
                       "label": ("sample", np.zeros(n, dtype=np.int64))},
                      coords={"corruption": list(CORRUPTIONS), "severity": [1, 2, 3, 4, 5], "sample": np.arange(n)},
                      attrs={"probe": "corruptions"})


def test_summarize_gives_cifar_imagenet_and_relative_mce(tmp_path):
    rng = np.random.default_rng(0)
    accuracy = rng.integers(0, 21, size=(15, 5)) * 5.0
    ds = summarize(_per_sample(accuracy, clean=90.0), reference="alexnet")
    np.testing.assert_allclose(ds["accuracy"].values, accuracy)
    assert float(ds["mce"]) == pytest.approx(100 - accuracy.mean())
    assert float(ds["clean_accuracy"]) == pytest.approx(90.0)
    errors = 100 - accuracy
    alexnet = np.array([mce.ALEXNET_ERRORS[c] for c in CORRUPTIONS]) * 100
    expected = np.mean(errors.sum(1) / (5 * alexnet)) * 100
    assert float(ds["imagenet_mce"]) == pytest.approx(expected)
    expected_relative = np.mean((errors - 10.0).sum(1) / (5 * (alexnet - 43.45))) * 100
    assert float(ds["relative_mce"]) == pytest.approx(expected_relative)
    # a result of the probe as the reference: a model normalised by itself scores 100
    results.save(ds, tmp_path / "ref.nc")
    again = summarize(_per_sample(accuracy, clean=90.0), reference=tmp_path / "ref.nc")
    assert float(again["imagenet_mce"]) == pytest.approx(100.0)
    assert "imagenet_mce" not in summarize(_per_sample(accuracy, clean=90.0), reference="none")


def test_summarize_counts_only_samples_with_finite_logits():
    ds = _per_sample(np.full((15, 5), 50.0), clean=90.0)            # samples 0..9 correct in every cell
    finite = np.ones((15, 5, 20), dtype=bool)
    finite[0, 0, 10:] = False                                       # cell (0, 0): only the correct ones left
    finite[1, 1, :] = False                                         # no finite sample at all
    correct = ds["correct"].values & finite
    clean_finite = np.arange(20) >= 2                                # two clean samples (both correct) excluded
    clean_correct = ds["clean_correct"].values & clean_finite
    ds = ds.assign(correct=(ds["correct"].dims, correct), finite=(ds["correct"].dims, finite),
                   clean_finite=("sample", clean_finite), clean_correct=("sample", clean_correct))
    ds = summarize(ds, reference="none")
    assert float(ds["accuracy"][0, 0]) == 100.0 and float(ds["accuracy"][1, 1]) == 0.0
    assert float(ds["accuracy"][2, 2]) == 50.0
    assert float(ds["clean_accuracy"]) == pytest.approx(100 * 16 / 18)
    numbers = summary(ds)
    assert numbers["non_finite_cells"] == 30 and numbers["non_finite"] == 2 and numbers["samples"] == 20
    assert all(np.isfinite(v) for v in numbers.values())
