"""Hessian probes against known answers: explicit matrices, linear regression, and the exact
Hessian of a softmax-linear model through the real command line."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

from probe import data, hessian, models, results
from probe import params as P
from probe.commands import probe_main
from probe.errors import ParameterError
from probe.train import fit


def symmetric(eigenvalues, seed: int = 0) -> torch.Tensor:
    """A random symmetric matrix with the given spectrum (float64)."""
    values = torch.as_tensor(eigenvalues, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(len(values), len(values), dtype=torch.float64,
                                       generator=torch.Generator().manual_seed(seed)))
    return q @ torch.diag(values) @ q.T


F64 = dict(device="cpu", dtype=torch.float64)


def test_power_iteration_finds_top_eigenvalues_with_deflation():
    a = symmetric(np.r_[5.0, 2.0, np.linspace(-1, 1, 38)])
    eig = hessian.power_iteration(lambda v: a @ v, 40, 2, max_iter=2000, tol=1e-10, **F64)
    assert eig.converged.all()
    np.testing.assert_allclose(eig.values, [5.0, 2.0], rtol=1e-6)


def test_power_iteration_reports_a_dominant_negative_eigenvalue():
    a = symmetric(np.r_[-7.0, np.linspace(-2, 3, 29)])
    eig = hessian.power_iteration(lambda v: a @ v, 30, 1, max_iter=500, tol=1e-10, **F64)
    assert eig.converged[0] and eig.values[0] == pytest.approx(-7.0, rel=1e-6)


def test_power_iteration_flags_non_convergence_as_inf():
    a = symmetric(np.r_[4.0, -4.0, np.linspace(0, 1, 18)])   # ±λ: the iterate oscillates
    eig = hessian.power_iteration(lambda v: a @ v, 20, 1, max_iter=50, tol=1e-8, **F64)
    assert not eig.converged[0] and np.isposinf(eig.values[0])


def test_lanczos_eigenvalues_match_eigvalsh_by_magnitude():
    spectrum = np.r_[-9.0, 6.0, 5.5, np.linspace(-2, 2, 77)]
    a = symmetric(spectrum, seed=1)
    eig = hessian.lanczos_eigenvalues(lambda v: a @ v, 80, 3, max_iter=80, tol=1e-8, **F64)
    assert eig.converged.all()
    np.testing.assert_allclose(eig.values, [-9.0, 6.0, 5.5], rtol=1e-7)


@pytest.mark.parametrize("k", [1, 3, 6])
def test_lanczos_reproduces_moments_up_to_2k_minus_1(k):
    a = symmetric(np.linspace(-3, 5, 50), seed=2)
    v = torch.randn(50, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    v = v / v.norm()
    alpha, beta, basis = hessian.lanczos(lambda u: a @ u, v, k)
    t = hessian.tridiagonal(alpha, beta)
    assert np.allclose(basis @ basis.T, np.eye(k), atol=1e-12)
    for m in range(1, 2 * k):
        exact = float(v @ torch.linalg.matrix_power(a, m) @ v)
        assert np.linalg.matrix_power(t, m)[0, 0] == pytest.approx(exact, rel=1e-9, abs=1e-9)
    exact = float(v @ torch.linalg.matrix_power(a, 2 * k) @ v)
    assert abs(np.linalg.matrix_power(t, 2 * k)[0, 0] - exact) > 1e-6   # the bound is tight


def test_hutchinson_is_exact_for_a_diagonal_hessian():
    d = torch.linspace(-2.0, 7.0, 300, dtype=torch.float64)
    est = hessian.hutchinson_trace(lambda v: d * v, 300, 5, seed=4, **F64)
    assert est.trace == pytest.approx(float(d.sum()), rel=1e-12)
    assert est.standard_error == pytest.approx(0.0, abs=1e-9)


def test_hutchinson_is_unbiased_within_its_standard_error():
    a = symmetric(np.linspace(0, 4, 60), seed=5)
    est = hessian.hutchinson_trace(lambda v: a @ v, 60, 400, seed=6, **F64)
    assert abs(est.trace - float(a.trace())) < 4 * est.standard_error
    assert est.standard_error > 0


def test_slq_quadrature_weights_and_first_moment():
    a = symmetric(np.linspace(-1, 3, 40), seed=7)
    dens = hessian.slq_density(lambda v: a @ v, 40, steps=10, probes=4, seed=8, **F64)
    np.testing.assert_allclose(dens.weights.sum(axis=1), 1.0, rtol=1e-10)
    # each probe's quadrature is exact for degree ≤ 2·steps − 1, so Σ τ θ = zᵀ A z / n
    generator = torch.Generator().manual_seed(8)
    for i in range(4):
        z = torch.randint(0, 2, (40,), generator=generator, dtype=torch.float64) * 2 - 1
        assert (dens.weights[i] * dens.nodes[i]).sum() == pytest.approx(float(z @ a @ z) / 40, rel=1e-9)
    grid = np.linspace(-3, 5, 2001)
    rho = hessian.smooth_density(dens, grid, sigma=0.05)
    assert np.trapezoid(rho, grid) == pytest.approx(1.0, rel=1e-3)


def test_hessian_operator_on_linear_regression_is_xtx_over_n():
    """Loss ½(w·x + b − y)² has H = X̃ᵀX̃ / N with X̃ = [X, 1]: the real PyTorch HVP path."""
    g = torch.Generator().manual_seed(9)
    x, y = torch.randn(64, 5, generator=g, dtype=torch.float64), torch.randn(64, 1, generator=g, dtype=torch.float64)
    model = nn.Linear(5, 1).double()
    xt = torch.cat([x, torch.ones(64, 1, dtype=torch.float64)], 1)
    exact = xt.T @ xt / 64
    # parameter order: weight (1×5) then bias (1)
    op = hessian.HessianOperator(model, x, y, batch_size=20, loss_fn=lambda out, t: 0.5 * ((out - t) ** 2).sum(1))
    v = torch.randn(6, generator=g, dtype=torch.float64)
    torch.testing.assert_close(op(v), exact @ v)
    eig = hessian.lanczos_eigenvalues(op, 6, 2, tol=1e-10, **F64)
    np.testing.assert_allclose(eig.values, torch.linalg.eigvalsh(exact).flip(0)[:2].numpy(), rtol=1e-8)


def test_parse_hessian_spec():
    assert hessian.parse_hessian_spec("top:3,trace,density:20") == {"top": 3, "trace": 100, "density": 20}
    assert hessian.parse_hessian_spec("") == {}
    for bad in ("top:x", "eig:3", "trace:1"):
        with pytest.raises(ParameterError):
            hessian.parse_hessian_spec(bad)


@pytest.fixture(scope="module")
def digits_linear(tmp_path_factory):
    """A softmax-linear model trained briefly on 8×8 digits (650 parameters)."""
    path = tmp_path_factory.mktemp("linear") / "linear.pt"
    train, test = data.load("digits", split="train"), data.load("digits", split="test")
    torch.manual_seed(0)
    model = models.build("linear", in_channels=1, num_classes=10, image_size=(8, 8), mean=[0.3], std=[0.4])
    fit(model, train, test, epochs=2, lr=0.05, seed=0, checkpoint=path)
    return path


def test_cli_matches_the_exact_hessian_of_a_softmax_linear_model(digits_linear, tmp_path, capsys):
    out = tmp_path / "flat.nc"
    code = probe_main("flatness", [str(digits_linear), "--data", "digits", "--split", "test", "--n", "200",
                                   "--device", "cpu", "--directions", "0", "--hessian", "top:3,trace:300,density:30",
                                   "--tol", "1e-4", "--max-iter", "300", "--out", str(out)])
    assert code == 0
    assert "Hessian trace" in capsys.readouterr().out
    ds = results.load(out)

    model = models.load(digits_linear).double()
    dataset = data.load("digits", split="test")
    indices = data.subset_indices(len(dataset), 200, 0)
    np.testing.assert_array_equal(ds["sample"].values, indices)
    x, y = data.get_batch(dataset, indices)
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(flat):
        chunks = torch.split(flat, [int(np.prod(s)) for s in shapes])
        params = {n: c.view(s) for n, c, s in zip(names, chunks, shapes)}
        return nn.functional.cross_entropy(functional_call(model, params, (x.double(),)), y)

    exact = torch.autograd.functional.hessian(loss, theta, vectorize=True)
    spectrum = torch.linalg.eigvalsh(exact).numpy()
    top = spectrum[np.argsort(-np.abs(spectrum))[:3]]
    assert ds["eigenvalue_converged"].values.all()
    np.testing.assert_allclose(ds["eigenvalue"].values, top, rtol=2e-3)
    trace, se = float(ds["trace"]), float(ds["trace_se"])
    assert 0 < se < 0.1 * trace
    assert abs(trace - float(exact.trace())) < 4 * se
    assert int(ds["parameter_count"]) == theta.numel() == 650
    assert np.trapezoid(ds["density"].values, ds["spectrum"].values) == pytest.approx(1.0, rel=1e-2)
    assert ds.attrs["probe"] == "flatness"
    assert ds.attrs["model_sha256"] == models.weights_sha256(models.load(digits_linear))


def test_hessian_operator_tolerates_parameters_outside_the_loss():
    model = nn.Sequential(nn.Linear(3, 2))
    model.unused = nn.Parameter(torch.ones(4))
    g = torch.Generator().manual_seed(10)
    op = hessian.HessianOperator(model, torch.randn(5, 3, generator=g), torch.tensor([0, 1, 0, 1, 1]))
    parts = dict(zip([name for name, _ in model.named_parameters()],
                     P.unflatten(op(torch.ones(op.dim)), [p for _, p in model.named_parameters()])))
    assert torch.count_nonzero(parts["unused"]) == 0 and torch.count_nonzero(parts["0.weight"]) > 0
