"""The embedded Fashion-MNIST sample is real data: balanced labels, known pixel statistics,
and identical to the Debian package's images at the recorded indices when that is installed."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from probe import data
from probe.data.formats import read_idx
from probe.data.named import EMBEDDED_ROOT

FULL = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.parametrize("split,per_class", [("train", 500), ("test", 150)])
def test_sample_is_balanced_real_fashion_mnist(split, per_class):
    ds = data.load("fashion-mnist-sample", split=split)
    x, y = data.get_batch(ds, np.arange(len(ds)))
    assert x.shape == (10 * per_class, 1, 28, 28)
    np.testing.assert_array_equal(np.bincount(y.numpy(), minlength=10), [per_class] * 10)
    # Fashion-MNIST pixel statistics: mean ≈ 0.286, std ≈ 0.353, ~50 % exact zeros.
    assert abs(float(x.mean()) - 0.286) < 0.01 and abs(float(x.std()) - 0.353) < 0.01
    assert 0.4 < float((x == 0).float().mean()) < 0.6


@pytest.mark.skipif(not FULL.exists(), reason="dataset-fashion-mnist is not installed")
@pytest.mark.parametrize("prefix", ["train", "t10k"])
def test_sample_matches_the_full_dataset(prefix):
    indices = np.loadtxt(EMBEDDED_ROOT / "fashion-mnist-sample" / f"{prefix}-source-indices.txt", dtype=np.int64)
    full = read_idx(FULL / f"{prefix}-images-idx3-ubyte.gz")
    sample = read_idx(EMBEDDED_ROOT / "fashion-mnist-sample" / f"{prefix}-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(sample, full[indices])
