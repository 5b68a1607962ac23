"""DeepFool against known answers: linear models (exact margins in one step), boxes, batching."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from probe.attacks.deepfool import STEP_SLACK, DeepFoolResult, deepfool
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
    expected, w_norm = analytic_margin(model, x)
    assert result.converged.all() and (result.iterations == 1).all()
    # ‖r‖ = (|g_l| + slack) / ‖w_l‖ exactly
    torch.testing.assert_close(result.r.flatten(1).norm(dim=1), expected + STEP_SLACK / w_norm, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(result.perturbation, 1.02 * result.r)
    assert (result.adv_label != result.label).all()
    assert (model(x + result.perturbation).argmax(1) == result.adv_label).all()


def test_linear_model_subspace_margins_and_r_in_subspace():
    model = linear_model()
    x = torch.rand(8, *SHAPE)
    for family in (dct_diagonal_blocks(SHAPE, block=4, stride=2), random_subspaces(SHAPE, 6, count=2, seed=3)):
        for member in range(len(family)):
            projector = family.select(member)
            result = deepfool(model, x, subspace=projector, max_iter=5)
            project = lambda g: family.project(g, torch.full((len(g),), member))  # noqa: E731
            expected, w_norm = analytic_margin(model, x, project)
            assert result.converged.all() and (result.iterations == 1).all()
            torch.testing.assert_close(result.r.flatten(1).norm(dim=1), expected + STEP_SLACK / w_norm,
                                       rtol=1e-4, atol=1e-6)
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
