"""Flatness probe: quadratic known answer, filter-normalisation invariance, weights untouched,
landscapes, non-finite losses, and the command line."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from probe import data, models, results
from probe import flatness as fl
from probe import params as P
from probe.commands import probe_main
from probe.flatness.measures import hessian_probes


def quadratic_problem(n_samples: int = 80, features: int = 6, seed: int = 0):
    """Linear regression with loss ½(w·x + b − y)²: exactly quadratic, H = X̃ᵀX̃ / N."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_samples, features, generator=g, dtype=torch.float64) * torch.linspace(0.5, 2, features,
                                                                                            dtype=torch.float64)
    y = torch.randn(n_samples, 1, generator=g, dtype=torch.float64)
    model = nn.Linear(features, 1).double()
    xt = torch.cat([x, torch.ones(n_samples, 1, dtype=torch.float64)], 1)
    return model, x, y, xt.T @ xt / n_samples


def half_squared_error(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((out - target) ** 2).sum(1)


def test_quadratic_loss_flatness_is_gamma_squared_trace_over_2n():
    model, x, y, h = quadratic_problem()
    n = h.shape[0]
    radii = [0.25, 0.5, 1.0, 2.0]
    ds = fl.sphere_flatness(model, x, y, radii, directions=400, seed=1, batch_size=32, loss_fn=half_squared_error)
    expected = np.asarray(radii) ** 2 * float(h.trace()) / (2 * n)
    z = (ds["flatness"].values - expected) / ds["flatness_se"].values
    assert np.all(np.abs(z) < 4)
    rel_se = ds["flatness_se"].values / ds["flatness"].values
    assert np.all(rel_se < 0.1)
    # exactly quadratic: per-direction change / γ² is the same at every radius (± pairs cancel the gradient)
    per_direction = ds["loss_change"].values / np.asarray(radii)[:, None] ** 2
    np.testing.assert_allclose(per_direction, per_direction[:1].repeat(len(radii), 0), rtol=1e-8)
    # and it is uᵀHu / 2 for unit u: bounded by the extreme eigenvalues / 2
    eig = torch.linalg.eigvalsh(h).numpy()
    assert per_direction.min() >= eig[0] / 2 - 1e-12 and per_direction.max() <= eig[-1] / 2 + 1e-12


def test_directions_are_reproducible_and_independent_of_the_count():
    model, x, y, _ = quadratic_problem()
    few = fl.sphere_flatness(model, x, y, [1.0], directions=3, seed=2, loss_fn=half_squared_error)
    many = fl.sphere_flatness(model, x, y, [1.0], directions=6, seed=2, loss_fn=half_squared_error)
    np.testing.assert_array_equal(few["loss"].values, many["loss"].values[:, :3])
    other = fl.sphere_flatness(model, x, y, [1.0], directions=3, seed=3, loss_fn=half_squared_error)
    assert not np.allclose(few["loss"].values, other["loss"].values)


def test_filter_normalized_direction_matches_filter_norms():
    torch.manual_seed(0)
    net = models.build("lenet", in_channels=1, num_classes=10, image_size=(28, 28))
    params = [p for _, p in P.trainable(net)]
    d = fl.filter_normalized_direction(params, torch.Generator().manual_seed(0))
    for p, part in zip(params, P.unflatten(d, params)):
        if p.ndim >= 2:
            torch.testing.assert_close(part.reshape(len(p), -1).norm(dim=1), p.detach().reshape(len(p), -1).norm(dim=1))
        else:
            assert torch.count_nonzero(part) == 0
    d = fl.filter_normalized_direction(params, torch.Generator().manual_seed(0), include_bias_bn=True)
    for p, part in zip(params, P.unflatten(d, params)):
        if p.ndim == 1:
            assert float(part.norm()) == pytest.approx(float(p.detach().norm()), rel=1e-5)


def random_bn_lenet(seed: int = 0) -> nn.Module:
    """An (untrained) LeNet with non-trivial BN statistics, in eval mode."""
    torch.manual_seed(seed)
    net = models.build("lenet", in_channels=1, num_classes=10, image_size=(28, 28), mean=[0.29], std=[0.35])
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.1, 0.1)
    return net.eval()


@pytest.fixture(scope="module")
def batch():
    dataset = data.load("fashion-mnist-sample", split="test")
    return data.get_batch(dataset, data.subset_indices(len(dataset), 96, 0))


def test_filter_normalized_curves_unchanged_by_bn_compensated_scaling(batch):
    x, y = batch
    net = random_bn_lenet()
    scaled = random_bn_lenet()
    alpha = 3.0
    with torch.no_grad():
        convs = [m for m in scaled.modules() if isinstance(m, nn.Conv2d)]
        bns = [m for m in scaled.modules() if isinstance(m, nn.BatchNorm2d)]
        for conv, bn in zip(convs, bns):   # conv → BN: scaling the conv by α and BN statistics to match
            conv.weight.mul_(alpha)
            conv.bias.mul_(alpha)
            bn.running_mean.mul_(alpha)
            bn.running_var.mul_(alpha ** 2)
    kw = dict(radii=[0.2], directions=2, seed=0, batch_size=96)
    a = fl.sphere_flatness(net, x, y, filter_norm=True, **kw)
    b = fl.sphere_flatness(scaled, x, y, filter_norm=True, **kw)
    assert float(a["base_loss"]) == pytest.approx(float(b["base_loss"]), rel=1e-5)
    np.testing.assert_allclose(a["loss"].values, b["loss"].values, rtol=1e-4)
    # plain sphere directions are not scale invariant: the same check must fail there
    plain_a = fl.sphere_flatness(net, x, y, **kw)
    plain_b = fl.sphere_flatness(scaled, x, y, **kw)
    assert not np.allclose(plain_a["flatness"].values, plain_b["flatness"].values, rtol=1e-2)


def test_every_probe_leaves_parameters_and_buffers_identical(batch):
    x, y = batch
    dataset = data.load("fashion-mnist-sample", split="test")
    indices = data.subset_indices(len(dataset), 64, 0)
    net = random_bn_lenet(1)
    other = random_bn_lenet(2)
    net.train()   # the probe must switch to eval itself and switch back
    before = {k: v.clone() for k, v in net.state_dict().items()}
    ds = fl.run(net, dataset, indices=indices, radii=(0.5,), directions=2, hessian="top:1,trace:2,density:3",
                max_iter=3, landscape="2d", points=2, batch_size=32, towards=other)
    assert net.training
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    net.eval()
    x, y = data.get_batch(dataset, indices)
    with torch.no_grad():
        eval_loss = float(nn.functional.cross_entropy(net(x), y))
    assert float(ds["base_loss"]) == pytest.approx(eval_loss, rel=1e-5)
    assert float(ds["landscape_2d"].sel(alpha=0.0, beta=-1.0, method="nearest")) != pytest.approx(eval_loss)
    assert ds.attrs["param_towards"] == models.weights_sha256(other)


def test_landscape_towards_a_second_model_interpolates_between_their_losses():
    model, x, y, _ = quadratic_problem()
    other, _, _, _ = quadratic_problem(seed=1)   # same shapes, other initial weights
    d = fl.direction_towards(model, other)
    values = fl.landscape(model, x, y, [d], [np.array([0.0, 0.5, 1.0])], loss_fn=half_squared_error)
    with torch.no_grad():
        own = float(half_squared_error(model(x), y).mean())
        theirs = float(half_squared_error(other(x), y).mean())
    assert values[0] == pytest.approx(own, rel=1e-12) and values[2] == pytest.approx(theirs, rel=1e-12)
    assert values[1] <= (own + theirs) / 2   # convex loss


def test_cli_end_to_end_with_plot(tmp_path, capsys):
    checkpoint = tmp_path / "lenet.pt"
    models.save(random_bn_lenet(), checkpoint)
    out, plot = tmp_path / "flat.nc", tmp_path / "flat.png"
    code = probe_main("flatness", [str(checkpoint), "--data", "fashion-mnist-sample", "--n", "64", "--device", "cpu",
                                   "--radii", "0.5", "1", "--directions", "3", "--hessian", "top:2,trace:3,density:5",
                                   "--max-iter", "5", "--landscape", "1d", "--points", "5", "--out", str(out),
                                   "--plot", str(plot)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "flatness" in printed and "radius" in printed
    ds = results.load(out)
    assert ds.attrs["probe"] == "flatness" and ds.attrs["complete"] is True
    assert ds.attrs["param_radii"] == [0.5, 1.0] and ds.attrs["param_directions"] == 3
    dataset = data.load("fashion-mnist-sample", split="test")
    np.testing.assert_array_equal(ds["sample"].values, data.subset_indices(len(dataset), 64, 0))
    assert ds["flatness"].dims == ("radius",) and ds["loss"].dims == ("radius", "direction", "sign")
    for name in ("flatness", "flatness_se", "loss_change", "eigenvalue", "trace", "density", "landscape_1d",
                 "sample_loss"):
        assert "long_name" in ds[name].attrs
    assert not np.isnan(ds["eigenvalue"].values).any()
    assert plot.stat().st_size > 0


def test_cli_reports_bad_input(tmp_path, capsys):
    checkpoint = tmp_path / "lenet.pt"
    models.save(random_bn_lenet(), checkpoint)
    for argv, message in ((["--hessian", "eig:3"], "unknown Hessian probe"),
                          (["--directions", "1"], "directions must be 0 or at least 2"),
                          (["--radii", "-1"], "radii must be a finite number > 0"),
                          (["--directions", "0"], "nothing to compute"),
                          (["--points", "1", "--landscape", "1d"], "points must be an integer ≥ 2"),
                          (["--towards", str(checkpoint)], "towards needs landscape")):
        code = probe_main("flatness", [str(checkpoint), "--n", "8", "--quiet", "--out", str(tmp_path / "x.nc")] + argv)
        assert code == 2
        assert message in capsys.readouterr().err


def test_curves_figure_compares_several_models():
    from probe.flatness import plot as flat_figures
    model, x, y, _ = quadratic_problem()
    sharp = fl.sphere_flatness(model, x, y, [0.5, 1.0], directions=4, loss_fn=half_squared_error)
    flat = fl.sphere_flatness(model, x * 0.5, y, [0.5, 1.0], directions=4, loss_fn=half_squared_error)
    ax = flat_figures.curves({"sharp": sharp, "flat": flat})
    assert [line.get_label() for line in ax.get_lines()] == ["sharp", "flat"]
    assert len(ax.collections) == 2   # one error band per model
    assert ax.get_lines()[0].get_ydata()[-1] > ax.get_lines()[1].get_ydata()[-1]


def test_non_finite_samples_are_flagged_and_left_out_of_every_loss(bright_nan, lenet):
    model, indices = bright_nan
    options = dict(radii=[0.05, 0.1], directions=2, hessian="top:1,trace:2", max_iter=5, landscape="1d", points=3)
    ds = fl.run(model, "fashion-mnist-sample", indices=indices, **options)
    finite = ds["finite"].values
    np.testing.assert_array_equal(finite, np.isin(ds["sample"].values, indices[:24]))
    assert np.isinf(ds["sample_loss"].values[~finite]).all() and np.isfinite(ds["sample_loss"].values[finite]).all()
    for name, values in ds.data_vars.items():
        assert not np.isnan(np.asarray(values, dtype=float)).any(), name
    numbers = fl.summary(ds)
    assert numbers["samples"] == 32 and numbers["non_finite"] == 8
    assert numbers["loss"] == pytest.approx(float(ds["sample_loss"].values[finite].mean()))
    # the excluded samples change nothing: the same as a run of the plain model on the finite samples only
    dark = fl.run(lenet, "fashion-mnist-sample", indices=indices[:24], **options)
    for name in ("loss", "flatness", "flatness_se", "eigenvalue", "trace", "landscape_1d", "base_loss"):
        np.testing.assert_array_equal(ds[name].values, dark[name].values, err_msg=name)


class NaNBeyond(nn.Module):
    """`model`, but NaN logits once its trainable parameters are further than `limit` (L2) from
    where they were when wrapped."""

    def __init__(self, model: nn.Module, limit: float) -> None:
        super().__init__()
        self.model, self.limit = model, limit
        self.register_buffer("origin", P.flatten([p for _, p in P.trainable(model)]).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)
        distance = (P.flatten([p for _, p in P.trainable(self.model)]) - self.origin).norm()
        return logits + (float("nan") if float(distance) > self.limit else 0.0)


def test_non_finite_loss_at_a_perturbed_point_is_inf_with_a_flag_never_nan(lenet):
    model = NaNBeyond(lenet, limit=2.0).eval()
    options = dict(radii=[0.5, 1.0, 3.0], directions=3, landscape="1d", points=5)
    ds = fl.run(model, "fashion-mnist-sample", n=48, **options)
    for name, values in ds.data_vars.items():
        assert not np.isnan(np.asarray(values, dtype=float)).any(), name
    assert ds["direction_finite"].values[:2].all() and not ds["direction_finite"].values[2].any()
    assert np.isinf(ds["loss"].values[2]).all() and np.isinf(ds["loss_change"].values[2]).all()
    assert np.isinf(ds["flatness"].values[2]) and np.isinf(ds["flatness_se"].values[2])
    np.testing.assert_array_equal(ds["non_finite_directions"].values, [0, 0, 3])
    # within the limit the wrapper is the plain model: the same finite numbers
    plain = fl.run(lenet, "fashion-mnist-sample", n=48, **options)
    np.testing.assert_array_equal(ds["flatness"].values[:2], plain["flatness"].values[:2])
    assert np.isfinite(plain["flatness"].values).all()
    # a filter-normalised direction is as long as the weights: point α is |α|·‖W‖ away from θ
    weight_norm = float(torch.cat([p.detach().reshape(-1) for _, p in P.trainable(lenet) if p.ndim >= 2]).norm())
    within = np.abs(ds["alpha"].values) * weight_norm <= 2.0
    assert within.any() and not within.all()
    np.testing.assert_array_equal(ds["landscape_1d_finite"].values, within)
    assert np.isinf(ds["landscape_1d"].values[~within]).all() and np.isfinite(ds["landscape_1d"].values[within]).all()
    numbers = fl.summary(ds)
    assert numbers["flatness"] == np.inf and numbers["non_finite_directions"] == 3
    assert numbers["non_finite_points"] == int((~within).sum()) and numbers["non_finite"] == 0


class SqrtAtZero(nn.Module):
    """A linear classifier plus 0·Σ√|w| with w = 0: finite logits, non-finite second derivatives."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.w = nn.Parameter(torch.zeros(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + 0 * self.w.abs().sqrt().sum()


def test_non_finite_hessian_products_give_inf_and_a_flag():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(10, 4, generator=g), torch.randint(0, 3, (10,), generator=g)
    ds = hessian_probes(SqrtAtZero(), x, y, {"top": 2, "trace": 3, "density": 4})
    assert not bool(ds["hessian_finite"]) and "density" not in ds
    assert np.isinf(ds["eigenvalue"].values).all() and not ds["eigenvalue_converged"].values.any()
    assert np.isinf(float(ds["trace"])) and np.isinf(float(ds["trace_se"]))


def test_python_run_and_command_line_give_the_same_result(tmp_path, capsys):
    checkpoint, other = tmp_path / "lenet.pt", tmp_path / "other.pt"
    models.save(random_bn_lenet(), checkpoint)
    models.save(random_bn_lenet(3), other)
    out = tmp_path / "cli.nc"
    code = probe_main("flatness", [str(checkpoint), "--data", "fashion-mnist-sample", "--n", "32", "--seed", "1",
                                   "--radii", "0.5", "1", "--directions", "2", "--filter-norm", "--hessian",
                                   "top:1,trace:2", "--max-iter", "4", "--landscape", "2d", "--points", "3",
                                   "--towards", str(other), "--quiet", "--out", str(out)])
    assert code == 0
    from_cli = results.load(out)
    ds = fl.run(models.load(checkpoint), "fashion-mnist-sample", n=32, seed=1, radii=[0.5, 1.0], directions=2,
                filter_norm=True, hessian="top:1,trace:2", max_iter=4, landscape="2d", points=3,
                towards=models.load(other))
    timing = {"seconds_per_hvp"}
    assert set(ds.data_vars) == set(from_cli.data_vars)
    for name in set(ds.data_vars) - timing:
        np.testing.assert_array_equal(ds[name].values, from_cli[name].values, err_msg=name)
    for name in ds.coords:
        np.testing.assert_array_equal(ds[name].values, from_cli[name].values, err_msg=name)
    same = ("probe", "model_sha256", "data", "split", "data_fingerprint", "seed", "samples", "device")
    for key in same + tuple(k for k in from_cli.attrs if k.startswith("param_")):
        assert ds.attrs[key] == from_cli.attrs[key], key
    assert results.parameters(ds) == results.parameters(from_cli)
    numbers = fl.summary(ds)
    assert numbers == fl.summary(from_cli) and all(isinstance(v, (int, float)) for v in numbers.values())
    assert ds.attrs["param_towards"] == models.weights_sha256(models.load(other))
    assert ds.attrs["param_alpha_range"] == [-0.5, 1.5] and ds.attrs["param_hessian"] == "top:1,trace:2"
