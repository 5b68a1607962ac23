"""DeepFool against known answers: linear models (exact margins in one step), the two step conventions
(linearisation point, step floor / slack), boxes, batching, and a per-sample loop on a small CNN."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from probe.attacks.deepfool import STEP_FLOOR, STEP_SLACK, DeepFoolResult, deepfool
from probe.data import get_batch
from probe.errors import ParameterError, ShapeError
from probe.spectral import dct_diagonal_blocks, random_subspaces

SHAPE = (1, 8, 8)


def linear_model(num_classes: int = 5, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, num_classes))
    return model.eval()


def analytic_margin(model: nn.Module, x: torch.Tensor, project=lambda g: g):
    """min_k |f_c − f_k| / ‖P(w_k − w_c)‖ and the minimising k, per sample."""
    weight, bias = model[1].weight.detach(), model[1].bias.detach()
    logits = x.flatten(1) @ weight.T + bias
    c = logits.argmax(1)
    diff_w = weight[None] - weight[c][:, None]                      # (N, K, D)
    projected = project(diff_w.reshape(-1, *SHAPE)).reshape(diff_w.shape)
    gap = (logits - logits.gather(1, c[:, None])).abs()
    norms = projected.norm(dim=2)
    distance = torch.where(norms > 1e-6, gap / norms, torch.full_like(gap, float("inf")))
    distance[torch.arange(len(x)), c] = float("inf")
    best = distance.argmin(1)
    return distance.gather(1, best[:, None])[:, 0], norms.gather(1, best[:, None])[:, 0]


@pytest.mark.parametrize("gradients", ["vjp", "jacrev"])
def test_linear_model_exact_margin_in_one_step(gradients):
    model = linear_model()
    x = torch.rand(16, *SHAPE)
    result = deepfool(model, x, gradients=gradients)
    assert isinstance(result, DeepFoolResult)
    expected, _ = analytic_margin(model, x)
    assert result.converged.all() and (result.iterations == 1).all()
    # "original": ‖r‖ = |g_l| / ‖w_l‖, the analytic margin (all of them are above the 1e-4 floor)
    assert (expected > 10 * STEP_FLOOR).all()
    torch.testing.assert_close(result.r.flatten(1).norm(dim=1), expected, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(result.perturbation, 1.02 * result.r)
    assert (result.adv_label != result.label).all()
    assert (model(x + result.perturbation).argmax(1) == result.adv_label).all()
    # "foolbox": ‖r‖ = |g_l| / ‖w_l‖ + slack
    foolbox = deepfool(model, x, gradients=gradients, variant="foolbox")
    assert foolbox.converged.all() and (foolbox.iterations == 1).all()
    torch.testing.assert_close(foolbox.r.flatten(1).norm(dim=1), expected + STEP_SLACK, rtol=1e-4, atol=1e-6)


def test_linear_model_margins_exact_in_float64():
    model = linear_model().double()
    x = torch.rand(32, *SHAPE, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    expected, _ = analytic_margin(model, x)
    result = deepfool(model, x)
    assert (result.iterations == 1).all()
    torch.testing.assert_close(result.norm, 1.02 * expected, rtol=1e-7, atol=0)   # the guard: ‖w‖ + 1e-8


def test_linear_model_subspace_margins_and_r_in_subspace():
    model = linear_model()
    x = torch.rand(8, *SHAPE)
    for family in (dct_diagonal_blocks(SHAPE, block=4, stride=2), random_subspaces(SHAPE, 6, count=2, seed=3)):
        for member in range(len(family)):
            projector = family.select(member)
            result = deepfool(model, x, subspace=projector, max_iter=5)
            project = lambda g: family.project(g, torch.full((len(g),), member))  # noqa: E731, B023 (used at once)
            expected, _ = analytic_margin(model, x, project)
            assert result.converged.all() and (result.iterations == 1).all()
            torch.testing.assert_close(result.r.flatten(1).norm(dim=1), expected, rtol=1e-4, atol=1e-6)
            torch.testing.assert_close(project(result.r), result.r, atol=1e-6, rtol=1e-4)


def test_subspace_orthogonal_to_every_class_difference_is_infinite():
    torch.manual_seed(0)
    model = linear_model()
    family = dct_diagonal_blocks(SHAPE, block=4, stride=4)  # blocks at 0 and 4
    with torch.no_grad():  # weights with DCT content only in the low block [0,4)²
        weight = model[1].weight.view(-1, *SHAPE)
        model[1].weight.copy_(family.project(weight, torch.zeros(len(weight), dtype=torch.long)).flatten(1))
    x = torch.rand(6, *SHAPE)
    result = deepfool(model, x, subspace=family.select(1), max_iter=10)
    assert not result.converged.any() and result.stuck.all()
    assert torch.isinf(result.norm).all()
    assert torch.isfinite(result.perturbation).all() and torch.isfinite(result.r).all()
    low = deepfool(model, x, subspace=family.select(0), max_iter=10)
    assert low.converged.all()


def test_box_keeps_r_unclipped_and_output_in_bounds(lenet, sample_test):
    x, _ = get_batch(sample_test, range(32))
    result = deepfool(lenet, x, bounds=(0.0, 1.0))
    adversarial = x + result.perturbation
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0
    torch.testing.assert_close(adversarial, torch.clamp(x + 1.02 * result.r, 0.0, 1.0))
    assert result.converged.float().mean() >= 0.95
    with torch.no_grad():
        assert (lenet(adversarial).argmax(1) == result.adv_label).all()
    assert (result.adv_label[result.converged] != result.label[result.converged]).all()


def test_batch_size_and_order_do_not_change_results(lenet, sample_test):
    x, _ = get_batch(sample_test, range(12))
    whole = deepfool(lenet, x)
    order = torch.randperm(12, generator=torch.Generator().manual_seed(1))
    shuffled = deepfool(lenet, x[order])
    single = [deepfool(lenet, x[i:i + 1]) for i in range(3)]
    torch.testing.assert_close(shuffled.r, whole.r[order], rtol=1e-3, atol=1e-5)
    assert torch.equal(shuffled.iterations, whole.iterations[order])
    for i, one in enumerate(single):
        torch.testing.assert_close(one.r[0], whole.r[i], rtol=1e-3, atol=1e-5)
        assert int(one.iterations[0]) == int(whole.iterations[i])
    assert whole.converged.all()


def test_groups_share_the_first_step_without_changing_results(lenet, sample_test):
    x, _ = get_batch(sample_test, range(3))
    family = dct_diagonal_blocks((1, 28, 28), 8, 10)
    images, which = x.repeat(3, 1, 1, 1), torch.arange(3).repeat_interleave(3)
    plain = deepfool(lenet, images, subspace=family.select(which), max_iter=20)
    grouped = deepfool(lenet, images, subspace=family.select(which), max_iter=20, groups=torch.arange(3).repeat(3))
    torch.testing.assert_close(grouped.r, plain.r, rtol=1e-4, atol=1e-6)
    assert torch.equal(grouped.iterations, plain.iterations) and torch.equal(grouped.converged, plain.converged)


def test_training_mode_restored_and_eval_used(lenet, sample_test):
    x, _ = get_batch(sample_test, range(4))
    reference = deepfool(lenet, x)
    lenet.train()
    again = deepfool(lenet, x)
    assert lenet.training
    torch.testing.assert_close(again.r, reference.r)


def test_not_converged_is_flagged_without_nan(lenet, sample_test):
    x, _ = get_batch(sample_test, range(4))
    result = deepfool(lenet, x, max_iter=0)
    assert not result.converged.any() and (result.iterations == 0).all()
    assert torch.isinf(result.norm).all() and torch.equal(result.adv_label, result.label)


def test_bad_input_raises_clear_errors(lenet):
    with pytest.raises(ShapeError):
        deepfool(lenet, torch.rand(28, 28))
    with pytest.raises(ParameterError):
        deepfool(lenet, torch.rand(1, 1, 28, 28), candidates=1)
    with pytest.raises(ParameterError):
        deepfool(lenet, torch.rand(1, 1, 28, 28), bounds=(1.0, 0.0))
    with pytest.raises(ShapeError):
        deepfool(lenet, torch.rand(1, 1, 28, 28), subspace=dct_diagonal_blocks(SHAPE).select(0))


class Curved(nn.Module):
    """One input coordinate u; logits (0, log(1 + u) − log 2): the boundary at u = 1, concave on the way."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.log1p(x.flatten(1)[:, 0]) - torch.log(torch.tensor(2.0, dtype=x.dtype))
        return torch.stack([torch.zeros_like(h), h], dim=1)


def _curved_steps(linearise_at_overshot: bool, overshoot: float = 0.02) -> tuple[float, int]:
    """DeepFool on `Curved` from u = 0, by hand: the accumulated r and the steps taken."""
    r, steps = 0.0, 0
    while (1 + overshoot) * r < 1.0:
        u = (1 + overshoot) * r if linearise_at_overshot else r
        g, w = abs(math.log1p(u) - math.log(2.0)), 1.0 / (1.0 + u)
        r += (max(g / (w + 1e-8), STEP_FLOOR) if not linearise_at_overshot
              else (g / (w + 1e-8) + STEP_SLACK) * w / (w + 1e-8))
        steps += 1
    return r, steps


def test_original_linearises_at_the_iterate_and_foolbox_at_the_overshot_point():
    x = torch.zeros(1, 1, 1, 1, dtype=torch.float64)
    for variant, at_overshot in (("original", False), ("foolbox", True)):
        result = deepfool(Curved(), x, variant=variant)
        r, steps = _curved_steps(at_overshot)
        assert steps >= 3 and result.converged.item() and result.iterations.item() == steps
        assert result.r.item() == pytest.approx(r, rel=1e-12)
    assert abs(_curved_steps(False)[0] - _curved_steps(True)[0]) > 1e-3          # the two rules differ here


def test_original_step_floor_is_in_input_units():
    """A linear binary model 1e-6 (input units) from its boundary with ‖w‖ = 10: "original" steps the
    1e-4 floor, "foolbox" adds 1e-4 to the distance, 1e-6 + 1e-4."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 2)).double()
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[0.0, 0.0], [6.0, 8.0]]))            # w_1 − w_0 = (6, 8), norm 10
        model[1].bias.copy_(torch.tensor([0.0, -10.0 * (0.5 + 1e-6)]))
    x = torch.full((1, 1, 1, 2), 0.5, dtype=torch.float64)
    x[..., 1] = 0.5 * 6 / 8                                                       # w·x = 6·0.5 + 8·0.375 = 6
    with torch.no_grad():
        model[1].bias[1] = -6.0 - 10.0 * 1e-6                                     # f_1 − f_0 = −1e-5: 1e-6 away
    original = deepfool(model, x)
    assert original.iterations.item() == 1 and original.converged.item()
    assert original.r.norm().item() == pytest.approx(STEP_FLOOR, rel=1e-9)
    assert original.norm.item() == pytest.approx(1.02 * STEP_FLOOR, rel=1e-9)
    foolbox = deepfool(model, x, variant="foolbox")
    assert foolbox.r.norm().item() == pytest.approx(1e-6 + STEP_SLACK, rel=1e-6)


def test_original_box_linearises_at_the_clipped_iterate():
    """With a box the point linearised is clip(x0 + r) and the point checked clip(x0 + (1 + η) r)."""
    x = torch.zeros(1, 1, 1, 1, dtype=torch.float64)
    result = deepfool(Curved(), x, bounds=(0.0, 0.9))       # the boundary u = 1 lies outside the box
    assert not result.converged.any() and result.iterations.item() == 50
    assert result.perturbation.item() == pytest.approx(0.9) and result.r.item() > 0.9


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3), nn.Tanh(),
                                  nn.Flatten(), nn.Linear(6 * 3 * 3, 7))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def reference_deepfool(model: nn.Module, x: torch.Tensor, project=None, candidates: int = 10,
                       overshoot: float = 0.02, max_iter: int = 50):
    """The "original" rule for ONE image (1, C, H, W), plain loops: one backward pass per candidate."""
    with torch.no_grad():
        logits = model(x)[0]
    classes = logits.topk(min(candidates, len(logits))).indices.tolist()
    label, r, steps = classes[0], torch.zeros_like(x), 0
    while steps < max_iter:
        point = (x + r).requires_grad_(True)
        out = model(point)[0]
        grad_0, = torch.autograd.grad(out[label], point, retain_graph=True)
        best = None
        for k in classes[1:]:
            grad_k, = torch.autograd.grad(out[k], point, retain_graph=True)
            w = grad_k - grad_0 if project is None else project(grad_k - grad_0)
            distance = float((out[k] - out[label]).detach().abs()) / (float(w.norm()) + 1e-8)
            if best is None or distance < best[0]:
                best = (distance, w)
        r = r + max(best[0], STEP_FLOOR) * best[1] / best[1].norm()
        steps += 1
        with torch.no_grad():
            if int(model(x + (1 + overshoot) * r).argmax()) != label:
                return r, steps, True
    return r, steps, False


def test_small_cnn_batch_agrees_with_the_per_sample_loop_on_every_sample():
    model = SmallCNN().double().eval()
    x = torch.rand(10, 1, 12, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    family = dct_diagonal_blocks((1, 12, 12), 4, 4)
    for member in (None, 1):
        projector = None if member is None else family.select(member)
        project = None if member is None else (
            lambda g: family.project(g, torch.tensor([member])))  # noqa: B023 (used within this iteration)
        batch = deepfool(model, x, subspace=projector, candidates=5, max_iter=30)
        for i in range(len(x)):
            r, steps, converged = reference_deepfool(model, x[i:i + 1], project, candidates=5, max_iter=30)
            assert bool(batch.converged[i]) == converged and int(batch.iterations[i]) == steps
            torch.testing.assert_close(batch.r[i:i + 1], r, rtol=1e-9, atol=1e-12)
        assert batch.converged.float().mean() >= 0.8


def test_unknown_variant_raises(lenet):
    with pytest.raises(ParameterError, match="variant"):
        deepfool(lenet, torch.rand(1, 1, 28, 28), variant="cleverhans")
