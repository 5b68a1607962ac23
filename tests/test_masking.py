"""The gradient-masking probe: known answers on linear and quantised models, seeding, transfer."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import probe
from conftest import Quantised, run_command
from probe import results
from probe.data import ArrayDataset, get_batch
from probe.errors import ModelError, ParameterError


class Linear(nn.Module):
    """f(x) = W x + b on flattened images."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.weight, self.bias = nn.Parameter(weight), nn.Parameter(bias)

    def forward(self, x):
        return x.flatten(1) @ self.weight.T + self.bias


def _mid_grey(count: int = 6, seed: int = 0) -> ArrayDataset:
    """Images near 0.5 (far from the box at the radii used) with labels 0/1."""
    rng = np.random.default_rng(seed)
    images = (0.5 + 0.05 * rng.standard_normal((count, 1, 4, 4))).astype(np.float32)
    return ArrayDataset(images, np.arange(count) % 2)


def test_linear_model_known_answers():
    """Binary linear model inside the box: the margin gradient is w_top − w_second, one L2 step
    of radius ε is the optimal attack (PGD ends at the same point, loss = CE at margin − ε‖Δw‖),
    unbounded DeepFool succeeds with the analytic distance, and noise is as long as the attack."""
    torch.manual_seed(1)
    weight, bias = torch.randn(2, 16), torch.tensor([0.3, -0.2])
    model = Linear(weight, bias).eval()
    data = _mid_grey()
    radius = 0.2
    ds = probe.masking.run(model, data, radii=[radius], steps=[1, 10])
    x, y = get_batch(data, np.arange(len(data)))
    logits = model(x).detach()
    difference = (weight[1] - weight[0]).norm()
    own = logits.gather(1, y[:, None])[:, 0] - logits.gather(1, (1 - y)[:, None])[:, 0]
    expected = F.softplus(-(own - radius * difference)).double().numpy()     # CE of two classes at margin m
    np.testing.assert_allclose(ds["loss"].values[0, 0], expected, rtol=1e-4)
    np.testing.assert_allclose(ds["loss"].values[0, 1], expected, rtol=1e-4)
    np.testing.assert_allclose(ds["gradient_norm"].values, float(difference), rtol=1e-5)
    margin = (own.abs() / difference).numpy() * 1.02
    assert ds["deepfool_converged"].values.all()
    np.testing.assert_allclose(ds["deepfool_l2"].values, margin, rtol=1e-3)
    np.testing.assert_allclose(ds["attack_l2"].values[0], radius, rtol=1e-5)
    np.testing.assert_allclose(ds["noise_l2"].values[0], radius, rtol=1e-5)
    numbers = probe.masking.summary(ds)
    assert abs(numbers["loss_rise_steps"]) < 1e-4 and numbers["zero_gradients"] == 0


def test_quantised_input_masks_every_gradient(lenet, sample_test):
    ds = probe.masking.run(Quantised(lenet).eval(), sample_test, n=8, radii=[0.5, 1.0], steps=[1, 3], max_iter=5)
    numbers = probe.masking.summary(ds)
    assert numbers["zero_gradients"] == 100.0 and numbers["deepfool_success"] == 0.0
    assert ds["deepfool_stuck"].values.all()
    assert numbers["loss_rise_steps"] == 0.0 and numbers["loss_rise_radius"] == 0.0
    assert (ds["accuracy"].values == numbers["clean_accuracy"]).all()


def test_the_trained_lenet_shows_no_symptom(lenet, sample_test):
    ds = probe.masking.run(lenet, sample_test, n=16, radii=[0.5, 2.0], steps=[1, 5])
    numbers = probe.masking.summary(ds)
    assert numbers["deepfool_success"] == 100.0 and numbers["zero_gradients"] == 0.0
    assert numbers["loss_rise_steps"] > 0.01 and numbers["loss_rise_radius"] > 0.1
    assert numbers["iterative_accuracy"] <= numbers["one_step_accuracy"] < numbers["noise_accuracy"]


def test_noise_is_seeded_per_sample_and_the_result_independent_of_batching(lenet, sample_test):
    options = dict(radii=[0.5], steps=[1, 3], max_iter=3)
    a = probe.masking.run(lenet, sample_test, indices=[3, 40, 77, 120], **options)
    b = probe.masking.run(lenet, sample_test, indices=[77, 500], batch_size=1, **options)
    c = probe.masking.run(lenet, sample_test, indices=[77, 500], seed=1, **options)
    for name in ("noise_l2", "noise_loss", "loss", "attack_l2", "gradient_norm", "deepfool_l2"):
        np.testing.assert_allclose(a[name].sel(sample=77).values, b[name].sel(sample=77).values, rtol=1e-4)
    assert np.array_equal(a["noise_correct"].sel(sample=77).values, b["noise_correct"].sel(sample=77).values)
    assert not np.allclose(b["noise_loss"].sel(sample=77).values, c["noise_loss"].sel(sample=77).values)


def test_transfer_from_the_model_itself_equals_the_white_box_attack(lenet, sample_test, lenet_checkpoint, tmp_path):
    ds = probe.masking.run(lenet, sample_test, n=6, radii=[1.0], steps=[1, 4], max_iter=3,
                           baseline=probe.models.load(lenet_checkpoint))
    np.testing.assert_array_equal(ds["transfer_correct"].values[0], ds["correct"].values[0, -1])
    np.testing.assert_allclose(ds["transfer_loss"].values[0], ds["loss"].values[0, -1], rtol=1e-6)
    assert len(ds.attrs["param_baseline"]) == 64        # recorded by its SHA-256
    out = tmp_path / "m.nc"
    proc = run_command("probe.masking", str(lenet_checkpoint), "--n", "6", "--radii", "1", "--steps", "4",
                       "--max-iter", "3", "--baseline", str(lenet_checkpoint), "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    cli = results.load(out)
    np.testing.assert_allclose(cli["transfer_accuracy"].values, ds["transfer_accuracy"].values)


def test_non_finite_values_are_flagged_never_nan(bright_nan, sample_test):
    model, indices = bright_nan
    ds = probe.masking.run(model, sample_test, indices=indices, radii=[0.5], steps=[1, 2], max_iter=3)
    bright = np.isin(ds["sample"].values, indices[24:])
    assert not ds["clean_finite"].values[bright].any() and not ds["deepfool_converged"].values[bright].any()
    assert np.isinf(ds["clean_loss"].values[bright]).all()
    assert not ds["gradient_finite"].values[bright].any()
    for name in ds.data_vars:
        if ds[name].dtype.kind == "f":
            assert not np.isnan(ds[name].values).any(), name
    assert probe.masking.summary(ds)["non_finite"] == 8


@pytest.mark.parametrize("options, words", [({"norm": "l1"}, "unknown norm"), ({"steps": [0]}, "steps"),
                                            ({"steps": [2.5]}, "steps"), ({"radii": [-1.0]}, "radii"),
                                            ({"max_iter": 0}, "max_iter")])
def test_bad_options_are_refused(lenet, sample_test, options, words):
    with pytest.raises(ParameterError, match=words):
        probe.masking.run(lenet, sample_test, n=2, **options)


def test_a_broken_baseline_is_refused_before_any_work(lenet, sample_test):
    class Broken(nn.Module):
        def forward(self, x):
            return torch.full((len(x), 10), math.nan)
    with pytest.raises(ModelError, match="baseline"):
        probe.masking.run(lenet, sample_test, n=2, baseline=Broken())
