"""Margin sweeps: analytic margins of linear models, invariance, flip equivariance, batching, CLI."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from probe import results
from probe.attacks.deepfool import STEP_SLACK
from probe.commands import probe_main
from probe.data import ArrayDataset, TransformedDataset, get_batch
from probe.errors import ParameterError, ResumeError
from probe.margins import boundary_distance, family_sha256, precise_twin, run, summary
from probe.margins import command as margins_command
from probe.margins import plot as margins_plot
from probe.spectral import PerSampleBases, dct_diagonal_blocks, frequency_flip, low_pass, random_subspaces

SHAPE = (1, 8, 8)


class Composed(nn.Module):
    """`model(transform(x))`: a model that transforms its own input."""

    def __init__(self, model: nn.Module, transform) -> None:
        super().__init__()
        self.model, self.transform = model, transform

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.transform(x))


@pytest.fixture()
def linear_setup():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 4)).eval()
    dataset = ArrayDataset(torch.rand(30, *SHAPE).numpy(), np.arange(30) % 4)
    return model, dataset


def analytic(model, x, family):
    """Exact subspace margins (S, N): min_k |f_c − f_k| / ‖P_s (w_k − w_c)‖, and that ‖P_s (w_k − w_c)‖."""
    weight, bias = model[1].weight.detach(), model[1].bias.detach()
    logits = x.flatten(1) @ weight.T + bias
    c = logits.argmax(1)
    out, step_norm = np.zeros((len(family), len(x))), np.zeros((len(family), len(x)))
    for s in range(len(family)):
        diff = (weight[None] - weight[c][:, None]).reshape(-1, *SHAPE)
        norms = family.project(diff, torch.full((len(diff),), s)).flatten(1).norm(dim=1).view(len(x), -1)
        gap = (logits - logits.gather(1, c[:, None])).abs()
        distance = gap / norms
        distance[torch.arange(len(x)), c] = float("inf")
        best = distance.min(1)
        out[s], step_norm[s] = best.values.numpy(), norms.gather(1, best.indices[:, None])[:, 0].numpy()
    return out, step_norm


@pytest.mark.parametrize("kind", ["dct", "random"])
def test_linear_margins_are_analytic_in_every_subspace(linear_setup, kind):
    model, dataset = linear_setup
    family = dct_diagonal_blocks(SHAPE, 4, 1) if kind == "dct" else random_subspaces(SHAPE, 5, count=4, seed=1)
    ds = run(model, dataset, subspaces=family, n=10, seed=3, batch_size=16)
    x, _ = get_batch(dataset, ds["sample"].values)
    expected, _ = analytic(model, x, family)
    assert ds["margin"].dims == ("subspace", "sample") and ds["converged"].all()
    assert (ds["iterations"] == 1).all() and ds.attrs["param_variant"] == "original"
    # "original": DeepFool's single step is |g| / ‖P w‖ long (above the 1e-4 floor), overshot by 2 %
    np.testing.assert_allclose(ds["margin"].values, 1.02 * expected, rtol=1e-4)
    foolbox = run(model, dataset, subspaces=family, n=10, seed=3, batch_size=16, variant="foolbox")
    # "foolbox": |g| / ‖P w‖ + STEP_SLACK, overshot by 2 %
    np.testing.assert_allclose(foolbox["margin"].values, 1.02 * (expected + STEP_SLACK), rtol=1e-4)
    assert ds["margin"].attrs["units"] and summary(ds)["not_converged"] == 0.0
    full, _ = analytic(model, x, random_subspaces(SHAPE, 64, seed=0))  # the whole space
    assert (expected >= full[0] - 1e-6).all()  # a subspace margin is never below the full-space margin


def test_refined_margins_are_the_analytic_ones_in_every_band(linear_setup, tmp_path):
    model, dataset = linear_setup
    family = dct_diagonal_blocks(SHAPE, 4, 1)
    out = tmp_path / "refined.nc"
    ds = run(model, dataset, subspaces=family, n=30, seed=3, batch_size=7, refine=True, out=out)
    x, _ = get_batch(dataset, ds["sample"].values)
    expected, _ = analytic(model.double(), x.double(), family)
    model.float()
    assert expected.min() < 2e-3                # a near tie, where float32 bisection was 2e-4 off
    assert ds["margin_refined"].dims == ("subspace", "sample") and ds.attrs["param_refine"]
    # no overshoot, no floor; 1e-5 relative, and 1e-7 absolute where the bisection's resolution of t
    # (a fraction of ‖r‖) exceeds that on a margin near 1e-3
    np.testing.assert_allclose(ds["margin_refined"].values, expected, rtol=1e-5, atol=1e-7)
    assert (ds["margin"].values >= ds["margin_refined"].values).all()
    assert "median margin refined" in margins_command.report(ds)
    assert margins_plot.bands(ds, variable="margin_refined").get_ylabel().startswith("refined margin ‖δ‖₂")
    with pytest.raises(ResumeError, match="refine"):  # a recorded option: part of the run's identity
        run(model, dataset, subspaces=family, n=30, seed=3, out=out, resume=True)
    with pytest.raises(ResumeError, match="variant"):
        run(model, dataset, subspaces=family, n=30, seed=3, refine=True, variant="foolbox", out=out, resume=True)
    with pytest.raises(ParameterError, match="variant"):
        run(model, dataset, subspaces=family, n=2, variant="cleverhans")


def test_refine_in_float64_is_exact_where_float32_is_not(linear_setup):
    """The bisection is exact only in float64: in float32 the rounding of x + t r moves a 1e-3 crossing."""
    from probe.attacks.deepfool import deepfool
    model, dataset = linear_setup
    family = dct_diagonal_blocks(SHAPE, 4, 1)
    x, _ = get_batch(dataset, range(30))
    expected, _ = analytic(model.double(), x.double(), family)
    model.float()
    found = deepfool(model, x, subspace=family.select(torch.full((30,), 1)), max_iter=5)
    twin = precise_twin(model)
    assert next(twin.parameters()).dtype == torch.float64 and next(model.parameters()).dtype == torch.float32
    assert precise_twin(twin) is twin
    coarse = boundary_distance(model, x, found, 0.02).numpy()
    exact = boundary_distance(twin, x, found, 0.02).numpy()
    np.testing.assert_allclose(exact, expected[1], rtol=1e-5)
    assert np.abs(coarse / expected[1] - 1).max() > 1e-5
    assert "margin_refined" not in run(model, dataset, subspaces=family, n=2)


def test_per_sample_directions_give_the_analytic_margin_along_each(linear_setup, tmp_path):
    model, dataset = linear_setup
    indices = np.array([21, 3, 8, 14, 27])
    directions = torch.nn.functional.normalize(
        torch.randn(len(indices), 64, generator=torch.Generator().manual_seed(2)), dim=1)
    family = PerSampleBases(SHAPE, directions[:, :, None], indices)
    ds = run(model, dataset, subspaces=family, batch_size=2, refine=True, out=tmp_path / "own.nc")
    assert ds.sizes == {"subspace": 1, "sample": 5} and ds["dimension"].values.tolist() == [1]
    assert ds.attrs["param_basis"] == "per-sample" and len(ds.attrs["param_subspaces_sha256"]) == 64
    x, _ = get_batch(dataset, ds["sample"].values)
    weight, bias = model[1].weight.detach().double(), model[1].bias.detach().double()
    logits = x.flatten(1).double() @ weight.T + bias
    own = directions[family.members(ds["sample"].values)].double()       # each sample's own direction
    c = logits.argmax(1)
    slope = ((weight[None] - weight[c][:, None]) @ own[:, :, None])[..., 0].abs()   # |v·(w_k − w_c)|
    distance = (logits - logits.gather(1, c[:, None])).abs() / slope
    distance[torch.arange(len(x)), c] = float("inf")
    np.testing.assert_allclose(ds["margin_refined"].values[0], distance.min(1).values.numpy(), rtol=1e-5)
    # another sample's direction gives another (here larger or smaller, never equal) answer
    shuffled = PerSampleBases(SHAPE, directions[:, :, None], np.roll(indices, 1))
    assert shuffled.members([21]).item() == 1 and family_sha256(shuffled) != ds.attrs["param_subspaces_sha256"]
    assert not np.allclose(run(model, dataset, subspaces=shuffled, refine=True)["margin_refined"].sel(
        sample=ds["sample"].values).values, ds["margin_refined"].values)
    with pytest.raises(ParameterError, match="no basis"):
        run(model, dataset, subspaces=family, indices=[3, 4])
    with pytest.raises(ParameterError, match="one distinct sample index"):
        PerSampleBases(SHAPE, directions[:, :, None], [1, 1, 2, 3, 4])


def test_orthogonal_subspace_gives_inf_and_is_counted(linear_setup):
    model, dataset = linear_setup
    family = dct_diagonal_blocks(SHAPE, 4, 4)
    with torch.no_grad():
        w = model[1].weight.view(-1, *SHAPE)
        model[1].weight.copy_(family.project(w, torch.zeros(len(w), dtype=torch.long)).flatten(1))
    ds = run(model, dataset, subspaces=family, n=6, max_iter=10, refine=True)
    assert np.isinf(ds["margin"].values[1]).all() and not ds["converged"].values[1].any()
    assert np.isinf(ds["margin_refined"].values[1]).all() and np.isfinite(ds["margin_refined"].values[0]).all()
    assert np.isfinite(ds["margin"].values[0]).all()
    np.testing.assert_allclose(ds["not_converged"].values, [0.0, 1.0])
    assert summary(ds)["not_converged"] == 0.5
    assert not np.isnan(ds["margin"].values).any()


def test_low_passing_model_is_invariant_outside_its_band(lenet, sample_test):
    model = Composed(lenet, lambda x: low_pass(x, 8)).eval()
    family = dct_diagonal_blocks((1, 28, 28), 8, 6)  # blocks at 0, 6, 12, 18
    ds = run(model, sample_test, subspaces=family, n=4, max_iter=20)
    assert ds["converged"].values[0].all()
    assert np.isinf(ds["margin"].values[2:]).all()  # blocks starting at 12 and 18 lie outside [0, 8)²


def test_flip_equivariance_on_a_trained_model(lenet, sample_test):
    family = dct_diagonal_blocks((1, 28, 28), 8, 4)  # blocks 0, 4, ..., 20; the flip maps a to 20 − a
    indices = [3, 50, 700]
    flipped = TransformedDataset(sample_test, frequency_flip, "dct-flip")   # leaves [0, 1], unclipped on purpose
    direct = run(lenet, flipped, subspaces=family, indices=indices, max_iter=30)
    mirrored = run(Composed(lenet, frequency_flip).eval(), sample_test, subspaces=family, indices=indices, max_iter=30)
    a, b = direct["margin"].values, mirrored["margin"].values[::-1]
    assert np.array_equal(np.isfinite(a), np.isfinite(b)) and np.isfinite(a).mean() > 0.5
    np.testing.assert_allclose(a[np.isfinite(a)], b[np.isfinite(b)], rtol=1e-3)


def test_batch_size_and_sample_order_do_not_change_margins(lenet, sample_test):
    family = dct_diagonal_blocks((1, 28, 28), 8, 10)
    one = run(lenet, sample_test, subspaces=family, indices=[5, 9, 11, 40], batch_size=3, max_iter=30)
    other = run(lenet, sample_test, subspaces=family, indices=[40, 11, 9, 5], batch_size=100, max_iter=30)
    other = other.sel(sample=one["sample"].values)
    np.testing.assert_allclose(one["margin"].values, other["margin"].values, rtol=1e-4)
    assert np.array_equal(one["iterations"].values, other["iterations"].values)


def test_command_line_writes_result_plot_and_resumes(lenet_checkpoint, tmp_path, capsys):
    out, plot = tmp_path / "m.nc", tmp_path / "m.png"
    argv = [str(lenet_checkpoint), "--n", "3", "--block", "8", "--stride", "10", "--max-iter", "20",
            "--device", "cpu", "--batch-size", "3", "--out", str(out), "--plot", str(plot)]
    assert probe_main("margins", argv) == 0
    printed = capsys.readouterr().out
    assert "median margin" in printed and "not converged" in printed
    ds = results.load(out)
    assert ds.attrs["probe"] == "margins" and ds.attrs["complete"] and plot.stat().st_size > 0
    assert ds.sizes == {"subspace": 3, "sample": 3} and "band_start" in ds.coords
    assert probe_main("margins", argv + ["--resume", "--quiet"]) == 0
    np.testing.assert_array_equal(results.load(out)["margin"].values, ds["margin"].values)
    assert ds.attrs["param_variant"] == "original"
    assert probe_main("margins", argv + ["--resume", "--quiet", "--variant", "foolbox"]) == 2   # another run
    assert "variant" in capsys.readouterr().err
    assert probe_main("margins", [str(lenet_checkpoint), "--n", "2", "--block", "40"]) == 2
    assert "block" in capsys.readouterr().err
    assert probe_main("margins", [str(lenet_checkpoint), "--n", "2", "--basis", "random", "--block", "8",
                                  "--stride", "10", "--max-iter", "5", "--quiet"]) == 0


def test_non_finite_logits_are_flagged_never_converged(bright_nan):
    model, indices = bright_nan
    ds = run(model, "fashion-mnist-sample", indices=indices, max_iter=20,
             subspaces=dct_diagonal_blocks((1, 28, 28), 8, 10))
    bright = np.isin(ds["sample"].values, indices[24:])
    assert ds["non_finite"].values[:, bright].all() and not ds["non_finite"].values[:, ~bright].any()
    assert not ds["converged"].values[:, bright].any() and np.isinf(ds["margin"].values[:, bright]).all()
    assert (ds["prediction"].values[bright] == -1).all() and not np.isnan(ds["margin"].values).any()
    assert summary(ds)["non_finite"] == 8


def test_mismatched_subspaces_raise(lenet, sample_test):
    with pytest.raises(ParameterError):
        run(lenet, sample_test, subspaces=dct_diagonal_blocks(SHAPE), n=2)
    with pytest.raises(ParameterError):
        run(lenet, TransformedDataset(sample_test, frequency_flip, "dct-flip"),
            subspaces=dct_diagonal_blocks((1, 28, 28)), n=2, max_iter=0)
