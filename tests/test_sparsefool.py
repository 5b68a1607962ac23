"""SparseFool: known answers on a linear model, flags, non-finite logits, invariances, the trained
LeNet, and the probe (Python, command line, resume after SIGKILL)."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import xarray as xr
from scipy.optimize import linprog
from torch import nn

from conftest import NonFiniteWhere
from probe import data, models, results
from probe.attacks.deepfool import deepfool
from probe.attacks.sparsefool import SOLVER_BETA, SparseFoolResult, sparsefool
from probe.commands import probe_main
from probe.errors import ParameterError, ShapeError
from probe.sparsefool import run, summary


class Binary(nn.Module):
    """Linear binary model: logits (0, v·x + b); class 0 where v·x + b < 0."""

    def __init__(self, v: torch.Tensor, b: float):
        super().__init__()
        self.v = nn.Parameter(v.flatten().clone())
        self.b = b

    def forward(self, x):
        score = x.flatten(1) @ self.v + self.b
        return torch.stack([torch.zeros_like(score), score], dim=1)


def _linear_case(seed: int, delta: float = 0.35):
    g = torch.Generator().manual_seed(seed)
    x = 0.1 + 0.8 * torch.rand(1, 1, 6, 6, generator=g, dtype=torch.float64)
    v = torch.randn(1, 6, 6, generator=g, dtype=torch.float64)
    b = -float((x.flatten() * v.flatten()).sum()) - 0.5 - float(torch.rand(1, generator=g))
    return x, Binary(v, b).double(), delta


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("lam", [1.0, 3.0])
def test_linear_binary_model_l1_equals_linear_program(seed, lam):
    """On a linear model one iteration crosses the plane through x + λ r (raw, unboxed DeepFool r),
    at most β past it, with the LP-optimal L1 for the side it reached."""
    x, model, delta = _linear_case(seed)
    res = sparsefool(model, x, lam=lam, overshoot=0.0, delta=delta)
    assert res.fooled.item() and res.iterations.item() == 1
    lb, ub = (x - delta).clamp(0, 1).flatten().numpy(), (x + delta).clamp(0, 1).flatten().numpy()
    r = deepfool(model, x).r.flatten().numpy()                               # no box in the DeepFool step
    v = model.v.detach().numpy()
    w = v / np.linalg.norm(v)
    d = v.size
    x0 = x.flatten().numpy()
    side = float(w @ res.perturbation.flatten().numpy()) - lam * float(w @ r)   # w·(x_adv − x_B)
    assert 0.0 <= side <= SOLVER_BETA + 1e-12
    need = side + lam * float(w @ r)                                         # w·δ ≥ w·(x_B − x) + side
    lp = linprog(np.ones(2 * d), A_ub=-np.concatenate([w, -w])[None], b_ub=[-need],
                 bounds=list(zip(np.zeros(d), ub - x0)) + list(zip(np.zeros(d), x0 - lb)), method="highs")
    perturbation = res.perturbation.flatten().numpy()
    assert np.isclose(np.abs(perturbation).sum(), lp.fun, rtol=1e-7)
    assert np.all(x0 + perturbation >= lb) and np.all(x0 + perturbation <= ub)
    assert res.perturbed_coordinates.item() < d // 2                         # sparse: a few coordinates


class Slab(Binary):
    """`Binary` with class 1 cut off where the first coordinate exceeds `top`: a thin adversarial region."""

    def __init__(self, v: torch.Tensor, b: float, top: float):
        super().__init__(v, b)
        self.top = top

    def forward(self, x):
        logits = super().forward(x)
        return torch.stack([logits[:, 0], torch.minimum(logits[:, 1], 100 * (self.top - x.flatten(1)[:, 0]))], dim=1)


def test_overshoot_that_crosses_back_returns_the_adversarial_iterate_at_the_limit():
    x = torch.full((1, 1, 1, 2), 0.5, dtype=torch.float64)
    v = torch.tensor([1.0, 0.9], dtype=torch.float64)
    b = -float(v @ x.flatten()) - 0.1 * float(v.norm())                    # the boundary 0.1 away
    plain = Binary(v, b).double()
    last = sparsefool(plain, x, lam=1.0, overshoot=0.0, delta=0.3)         # x_i itself
    overshot = sparsefool(plain, x, lam=1.0, delta=0.3)                     # x0 + 1.02 (x_i − x0)
    assert overshot.fooled.item() and not overshot.overshoot_reverted.item()
    u_last, u_over = 0.5 + last.perturbation[0, 0, 0, 0].item(), 0.5 + overshot.perturbation[0, 0, 0, 0].item()
    assert u_last < u_over
    slab = Slab(v, b, (u_last + u_over) / 2).double()                       # the overshoot leaves class 1
    res = sparsefool(slab, x, lam=1.0, delta=0.3, max_iter=1)
    assert res.fooled.item() and res.overshoot_reverted.item() and res.adv_label.item() == 1
    assert torch.equal(res.perturbation, last.perturbation) and res.iterations.item() == 1
    assert ((x + res.perturbation) >= 0.2).all() and ((x + res.perturbation) <= 0.8).all()


class Counting(nn.Module):
    """`model`, counting its forward passes on each distinct input."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.inputs = model, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.detach().clone())
        return self.model(x)


class Concave(nn.Module):
    """Logits (0, log(1 + (u − 0.1)) − log 1.8) of the first pixel u: the boundary at u = 0.9, concave,
    so that DeepFool from u = 0.1 ends its last iterate 0.013 short of it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.log1p(x.flatten(1)[:, 0] - 0.1) - math.log(1.8)
        return torch.stack([torch.zeros_like(h), h], dim=1)


def test_outer_loop_stops_on_the_overshot_image_not_on_the_iterate():
    """The authors' stop rule: stop as soon as x_f = clip(x0 + 1.02 (x_i − x0)) is adversarial, even
    where x_i is not; continue while x_f keeps the class, even where x_i is adversarial."""
    x = torch.tensor([[[[0.1, 0.5]]]], dtype=torch.float64)
    counted = Counting(Concave())
    res = sparsefool(counted, x, lam=1.0)
    assert res.iterations.item() == 1 and res.fooled.item() and not res.overshoot_reverted.item()
    assert any(torch.equal(seen, x + res.perturbation) for seen in counted.inputs)   # x_f was classified
    x_i = x + res.perturbation / 1.02
    assert Concave()(x_i).argmax(1).item() == 0                              # the iterate itself is not adversarial
    assert not sparsefool(Concave(), x, lam=1.0, overshoot=0.0, max_iter=1).fooled.item()
    # x_i adversarial, x_f back in class 0: the loop goes on
    v = torch.tensor([1.0, 0.9], dtype=torch.float64)
    x = torch.full((1, 1, 1, 2), 0.5, dtype=torch.float64)
    b = -float(v @ x.flatten()) - 0.1 * float(v.norm())
    last = sparsefool(Binary(v, b).double(), x, lam=1.0, overshoot=0.0, delta=0.3)
    slab = Slab(v, b, 0.5 + last.perturbation[0, 0, 0, 0].item() + 1e-3).double()
    assert sparsefool(slab, x, lam=1.0, delta=0.3, max_iter=3).iterations.item() > 1


def test_inner_deepfool_has_no_box_and_the_normal_is_at_the_raw_iterate(monkeypatch):
    """SparseFool's DeepFool step runs without any box ("original" rule) and the normal is taken at
    x_i + r with the raw r: here x_i + r leaves the box [x − δ, x + δ]."""
    import probe.attacks.sparsefool as module
    x, model, _ = _linear_case(1)
    calls, normals = [], []

    def spy_deepfool(*args, **kwargs):
        calls.append(kwargs)
        result = deepfool(*args, **kwargs)
        calls[-1]["r"] = result.r.clone()
        return result

    def spy_normal(model, point, orig, adv):
        normals.append(point.clone())
        return module_normal(model, point, orig, adv)

    module_normal = module.boundary_normal
    monkeypatch.setattr(module, "deepfool", spy_deepfool)
    monkeypatch.setattr(module, "boundary_normal", spy_normal)
    res = sparsefool(model, x, delta=0.02)                     # a box far smaller than the distance to the plane
    assert calls and all(call.get("bounds") is None and call["variant"] == "original" for call in calls)
    assert torch.equal(normals[0], x + calls[0]["r"])
    assert (x + calls[0]["r"] - x).abs().max() > 0.02          # the raw iterate lies outside the box
    assert res.unreachable.item() and not res.deepfool_failed.item()


def test_failed_deepfool_is_flagged_without_nan():
    """A box that cannot reach the boundary (tiny δ): DeepFool, unboxed, still finds it, the solver
    saturates (flagged); a constant model: DeepFool fails, flagged; finite, unchanged."""
    x, model, _ = _linear_case(0)
    res = sparsefool(model, x, delta=1e-3)
    assert res.unreachable.item() and not res.deepfool_failed.item() and not res.fooled.item()
    assert res.iterations.item() == 20
    assert torch.isfinite(res.perturbation).all() and res.perturbation.abs().max() <= 1e-3 + 1e-12
    constant = nn.Sequential(nn.Flatten(), nn.Linear(36, 3)).double()
    nn.init.zeros_(constant[1].weight)
    res = sparsefool(constant, x)
    assert res.deepfool_failed.item() and torch.equal(res.perturbation, torch.zeros_like(x))
    assert res.iterations.item() == 0


def test_bad_input_raises_clear_errors():
    x, model, _ = _linear_case(0)
    with pytest.raises(ParameterError):
        sparsefool(model, x, lam=0.5)
    with pytest.raises(ParameterError):
        sparsefool(model, x, lb=0.5)                                          # images outside the bounds
    with pytest.raises(ShapeError):
        sparsefool(model, x[0])
    with pytest.raises(ShapeError):
        sparsefool(model, x, lb=torch.zeros(3, 3))


class NanGradient(nn.Module):
    """`model`'s logits plus an exact zero whose gradient is NaN: finite logits, NaN input gradients."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        zero = (x - x).abs().sqrt().flatten(1).sum(1, keepdim=True) * 0.0      # d/dx: 0 · ∞ = NaN
        return self.model(x) + zero


def test_nan_when_perturbed_is_flagged_never_fooled():
    """A model that is NaN once a pixel moves by more than 0.2: the sparse step (a few pixels moved
    far) meets NaN; the sample is flagged, not fooled, and its perturbation stays finite."""
    x, model, delta = _linear_case(0)
    broken = NonFiniteWhere(model, lambda z: (z - x).abs().flatten(1).amax(1) > 0.2)
    res = sparsefool(broken, x, delta=delta)
    assert res.non_finite.item() and not res.fooled.item() and not res.deepfool_failed.item()
    assert torch.isfinite(res.perturbation).all() and res.perturbation.abs().max() <= 0.2
    assert torch.isfinite(broken(x + res.perturbation)).all()              # it stopped at its last finite iterate
    assert sparsefool(model, x, delta=delta).fooled.item()                  # the model itself is fooled


def test_nan_when_perturbed_in_a_batch(lenet_run):
    """LeNet made NaN on images more than 0.3 (L∞) from every clean image: whatever meets NaN is
    flagged and never fooled; every fooled sample has finite logits at its final image."""
    model, x, _ = lenet_run
    x = x[:8]
    far = lambda z: (z[:, None] - x[None]).abs().flatten(2).amax(2).amin(1) > 0.3      # noqa: E731
    broken = NonFiniteWhere(model, far)
    res = sparsefool(broken, x)
    assert res.non_finite.any() and not (res.fooled & res.non_finite).any()
    assert torch.isfinite(res.perturbation).all()
    with torch.no_grad():
        logits = broken(x + res.perturbation)
    assert torch.isfinite(logits[res.fooled]).all()
    assert (logits[res.fooled].argmax(1) != res.label[res.fooled]).all()
    assert (res.adv_label[~torch.isfinite(logits).all(1)] == -1).all()


def test_non_finite_gradient_is_a_failed_deepfool_step():
    """Finite logits but NaN gradients: no step can be taken; flagged deepfool_failed, nothing moves."""
    x, model, _ = _linear_case(0)
    res = sparsefool(NanGradient(model), x)
    assert res.deepfool_failed.item() and not res.non_finite.item() and not res.fooled.item()
    assert torch.equal(res.perturbation, torch.zeros_like(x)) and res.iterations.item() == 0


def test_non_finite_clean_logits_are_never_attacked():
    x, model, _ = _linear_case(0)
    res = sparsefool(NonFiniteWhere(model, lambda z: torch.ones(len(z), dtype=torch.bool)), x)
    assert res.non_finite.item() and not res.fooled.item() and res.label.item() == -1
    assert torch.equal(res.perturbation, torch.zeros_like(x)) and res.iterations.item() == 0


@pytest.fixture(scope="module")
def lenet_run(lenet_checkpoint, sample_test):
    model = models.load(lenet_checkpoint)
    indices = data.subset_indices(len(sample_test), 64, seed=0)
    x, _ = data.get_batch(sample_test, indices)
    return model, x, sparsefool(model, x)


def test_lenet_fooling_rate_and_sparsity(lenet_run):
    """Published behaviour: ~100 % fooling rate with a few % of the pixels."""
    _, x, res = lenet_run
    assert isinstance(res, SparseFoolResult)
    assert res.fooled.float().mean() >= 0.99
    share = 100.0 * res.perturbed_pixels[res.fooled].double() / (28 * 28)
    assert 0.2 <= share.median() <= 6.0
    adv = x + res.perturbation
    assert torch.isfinite(adv).all() and adv.min() >= 0 and adv.max() <= 1
    assert share.max() < 50                                                   # never a saturated image
    assert not (res.wrong_side | res.deepfool_failed).any()


def test_lenet_delta_bounds_respected(lenet_run):
    model, x, _ = lenet_run
    res = sparsefool(model, x[:8], delta=25 / 255)
    assert res.perturbation.abs().max() <= 25 / 255 + 1e-6
    assert ((x[:8] + res.perturbation) >= 0).all() and ((x[:8] + res.perturbation) <= 1).all()
    assert torch.isfinite(res.perturbation).all()


def test_batch_size_and_order_invariance(lenet_run):
    """Batch size 1, 8 and shuffled give the same result (float64, so that float32 reduction order
    inside the convolutions cannot move a near-tie of the solver's sort)."""
    model, x, _ = lenet_run
    model, x = copy.deepcopy(model).double(), x[:8].double()
    k = len(x)
    whole = sparsefool(model, x)
    single = [sparsefool(model, x[i:i + 1]) for i in range(k)]
    order = torch.randperm(k, generator=torch.Generator().manual_seed(1))
    shuffled = sparsefool(model, x[order])
    back = torch.empty_like(order)
    back[order] = torch.arange(k)
    for name in ("fooled", "adv_label", "iterations", "perturbation"):
        expected = getattr(whole, name)
        assert torch.allclose(torch.cat([getattr(s, name) for s in single]).double(), expected.double(), atol=1e-10)
        assert torch.allclose(getattr(shuffled, name)[back].double(), expected.double(), atol=1e-10)


def test_probe_result_and_cli(lenet, lenet_checkpoint, sample_test, tmp_path):
    out = tmp_path / "sf.nc"
    ds = run(lenet, sample_test, n=12, batch_size=5, save_perturbations=True, out=out)
    assert list(ds["sample"].values) == list(data.subset_indices(len(sample_test), 12, 0))
    assert ds["perturbed_pixel_fraction"].attrs["units"] == "%"
    fooled = ds["fooled"].values
    assert np.all(np.isinf(ds["l2"].values[~fooled])) and np.all(np.isfinite(ds["l2"].values[fooled]))
    assert np.allclose(ds["perturbed_pixel_fraction"].values[fooled],
                       100 * (np.abs(ds["perturbation"].values) > 0).any(1).sum((1, 2))[fooled] / 784)
    loaded = results.load(out)
    assert loaded.attrs["probe"] == "sparsefool" and loaded.attrs["complete"] is True
    assert loaded.attrs["param_overshoot"] == 0.02 and loaded.attrs["param_delta"] is None
    stats = summary(ds)
    assert stats["fooling_rate"] == 100 * fooled.mean() and stats["non_finite"] == 0
    assert all(isinstance(v, (int, float)) for v in stats.values())
    argv = [str(lenet_checkpoint), "--n", "4", "--device", "cpu", "--save-perturbations", "--quiet",
            "--out", str(tmp_path / "cli.nc"), "--plot", str(tmp_path / "cli.png")]
    assert probe_main("sparsefool", argv) == 0
    assert (tmp_path / "cli.png").stat().st_size > 0
    cli = results.load(tmp_path / "cli.nc")
    python = run(lenet, "fashion-mnist-sample", n=4, save_perturbations=True)
    xr.testing.assert_identical(cli.drop_vars("time").drop_attrs(), python.drop_vars("time").drop_attrs())
    assert probe_main("sparsefool", argv[:1] + ["--delta", "300", "--quiet"]) == 2


def test_delta_is_on_the_0_255_scale_in_python_and_on_the_command_line(lenet, lenet_checkpoint, tmp_path):
    ds = run(lenet, "fashion-mnist-sample", n=4, delta=25, save_perturbations=True)
    assert np.abs(ds["perturbation"].values).max() <= 25 / 255 + 1e-6
    assert ds.attrs["param_delta"] == 25
    argv = [str(lenet_checkpoint), "--n", "4", "--delta", "25", "--save-perturbations", "--quiet",
            "--out", str(tmp_path / "d.nc")]
    assert probe_main("sparsefool", argv) == 0
    np.testing.assert_array_equal(results.load(tmp_path / "d.nc")["perturbation"].values, ds["perturbation"].values)
    for bad in (0, -1, 256):
        with pytest.raises(ParameterError):
            run(lenet, "fashion-mnist-sample", n=2, delta=bad)
    with pytest.raises(ParameterError):
        run(lenet, "fashion-mnist-sample", n=2, overshoot=-0.1)


def test_non_finite_logits_are_flagged_never_fooled(bright_nan, sample_test):
    model, indices = bright_nan
    ds = run(model, sample_test, indices=indices)
    bright = np.isin(ds["sample"].values, indices[24:])
    non_finite = ds["non_finite"].values
    assert non_finite[bright].all() and (ds["prediction"].values[bright] == -1).all()
    assert not ds["fooled"].values[non_finite].any() and (ds["iterations"].values[bright] == 0).all()
    numbers = summary(ds)
    assert numbers["non_finite"] == non_finite.sum() >= 8
    assert numbers["fooling_rate"] == pytest.approx(100 * ds["fooled"].values[~non_finite].mean())
    assert numbers["fooling_rate"] > 90
    assert not any(np.isnan(ds[v].values).any() for v in ds.data_vars if ds[v].dtype.kind == "f")


def test_companion_analyses_and_figures(lenet, sample_test, tmp_path):
    """λ sweep, random baseline, transfer matrix, attribution overlap, and every figure, on a few images."""
    from analyses.sparsefool_sweeps import attribution_overlap, lambda_sweep, random_baseline, transfer_matrix
    from probe import plot
    from probe.sparsefool import plot as plots
    base = run(lenet, sample_test, n=8, save_perturbations=True)
    sweep = lambda_sweep(lenet, sample_test, 8, [1.0, 3.0])
    assert sweep["fooling_rate"].sel(lam=3.0) == summary(base)["fooling_rate"]
    assert sweep["mean_iterations"].sel(lam=1.0) >= sweep["mean_iterations"].sel(lam=3.0)   # closer plane, more steps
    baseline = random_baseline(lenet, base)
    assert baseline.attrs["random_fooling_rate"] < baseline.attrs["sparsefool_fooling_rate"]
    overlap = attribution_overlap(lenet, base, ig_steps=8)
    for method in ("saliency", "integrated_gradients"):
        assert float(overlap["overlap"].sel(attribution=method).mean()) > float(overlap["chance"].mean())
    other = copy.deepcopy(lenet)
    matrix = transfer_matrix({"a": lenet, "b": other}, sample_test, 4)
    assert np.all(matrix["transfer_rate"].values == 100.0)                    # identical models: everything transfers
    for name, ax in (("hist", plots.histogram(base)), ("grid", plots.examples(base)),
                     ("lambda", plots.lambda_sweep(sweep)), ("transfer", plots.transfer(matrix))):
        assert plot.save(ax, tmp_path / f"{name}.png").stat().st_size > 0
