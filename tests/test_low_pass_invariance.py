"""The low-pass invariance analysis (issue 27): the fixed low-pass input layer (the positive control)
gives non-converged margins in exactly the removed bands, the first-layer measurements hold their
known answers, and the script runs end to end on the embedded sample."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

from analyses import low_pass_invariance as lpi
from analyses import thesis
from probe import margins, models, results
from probe.attacks.deepfool import ZERO_GRADIENT
from probe.data import get_batch
from probe.spectral import dct2, dct_diagonal_blocks
from probe.train import fit

BAND = 14
SHAPE = (1, 28, 28)


def _fresh_lenet(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return models.build("lenet", in_channels=1, num_classes=10, image_size=(28, 28), mean=[0.286], std=[0.353])


@pytest.fixture(scope="module")
def low_passed_test(sample_test):
    return thesis.variant(sample_test, f"low-pass:{BAND}")


@pytest.fixture(scope="module")
def lenet(sample_train):
    """A LeNet trained for one epoch on 512 low-passed images of the embedded sample."""
    model = _fresh_lenet()
    fit(model, thesis.subset(thesis.variant(sample_train, f"low-pass:{BAND}"), 512), None, epochs=1, lr=0.1,
        seed=0, standard_augment=False)
    return model.eval()


def test_a_fixed_low_pass_input_makes_margins_infinite_in_exactly_the_removed_bands(lenet, low_passed_test):
    family = dct_diagonal_blocks(SHAPE)
    removed = lpi.removed_bands(family, BAND)
    assert removed.sum() == 7 and not removed[:BAND].any()
    control = lpi.LowPassInput(lenet, BAND).eval()
    ds = margins.run(control, low_passed_test, subspaces=family, n=3, seed=0, max_iter=30)
    converged = ds["converged"].values.astype(bool)
    assert not converged[removed].any() and np.isinf(ds["margin"].values[removed]).all()
    assert ds["stuck"].values[removed].all()         # stopped for want of a gradient in the band
    assert converged[0].all()                        # the lowest band: ordinary finite margins
    x, _ = get_batch(low_passed_test, ds["sample"].values)
    assert (lpi.gradient_share(control, x, family)[removed] <= ZERO_GRADIENT).all()
    assert (lpi.gradient_share(lenet, x, family)[removed] > 1e-3).all()   # the same weights without the front


def test_first_layer_energy_sees_the_front_and_obeys_the_kernel_bound(lenet):
    least = lpi.least_removed_share(lpi.first_conv(lenet), SHAPE, BAND)
    assert 1e-3 < least < 0.05                      # 5×5 kernels: about 0.8 %, never zero
    plain = lpi.removed_share(lpi.first_layer_energy(lenet, SHAPE), BAND)
    assert least <= plain < 1.0
    control = lpi.removed_share(lpi.first_layer_energy(lpi.LowPassInput(lenet, BAND), SHAPE), BAND)
    assert control < 1e-20
    # a 1×1 kernel responds to every DCT basis image alike: 1 − 14²/28² = 0.75 of it is removed
    assert lpi.least_removed_share(nn.Conv2d(1, 1, 1), SHAPE, BAND) == pytest.approx(0.75, abs=1e-9)


def test_low_passed_kernels_keep_their_norm_and_lose_high_frequencies():
    model = _fresh_lenet()
    assert lpi.kernel_band(BAND, 28) == 3 and lpi.kernel_band(7, 28) == 2
    before = lpi.first_conv(model).weight.detach().clone()
    share_before = lpi.removed_share(lpi.first_layer_energy(model, SHAPE), BAND)
    lpi.low_pass_kernels(model, 3)
    after = lpi.first_conv(model).weight.detach()
    coefficients = dct2(after)
    assert coefficients[..., 3:, :].abs().max() < 1e-6 and coefficients[..., :, 3:].abs().max() < 1e-6
    torch.testing.assert_close(after.flatten(1).norm(dim=1), before.flatten(1).norm(dim=1))
    assert lpi.removed_share(lpi.first_layer_energy(model, SHAPE), BAND) < 0.8 * share_before


def test_the_script_runs_resumes_and_names_the_control(tmp_path, capsys):
    argv = ["--out", str(tmp_path), "--data", "fashion-mnist-sample", "--train-n", "128", "--epochs", "1", "--n", "3",
            "--max-iter", "20", "--variants", "baseline", "low_pass_input"]
    lpi.main(argv)
    assert "reproduces non-converged margins in every removed band: low_pass_input" in capsys.readouterr().out
    table = results.load(tmp_path / "summary.nc")
    assert list(table["variant"].values) == ["baseline", "low_pass_input"]
    removed = table["band_start"].values >= BAND
    assert np.isinf(table["median"].sel(variant="low_pass_input").values[removed]).all()
    assert np.isfinite(table["median"].sel(variant="baseline").values).all()
    assert table["removed_energy_share"].sel(variant="low_pass_input").max() < 1e-20
    assert (tmp_path / "low_pass_invariance.pdf").is_file() and (tmp_path / "low_pass_invariance.png").is_file()
    assert not (tmp_path / "low_pass_input.pt").exists()   # the control reuses the baseline's weights
    lpi.main(argv)
    assert not re.search(r"epoch +1/1", capsys.readouterr().out)   # nothing retrained
    assert results.load(tmp_path / "summary.nc")["median"].equals(table["median"])
