"""PGD against the exact answer for linear models, and adversarial training through probe.train."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from probe import models
from probe.attacks.pgd import pgd, pgd_attack
from probe.augment import parse_augment
from probe.augment.adversarial import AdversarialTraining, parse_adversarial
from probe.commands.train import main
from probe.errors import ParameterError
from probe.train import fit


def two_class_linear(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 2)).eval()


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_pgd_finds_the_exact_worst_case_of_a_linear_model(norm):
    model = two_class_linear()
    x, y = torch.rand(5, 1, 4, 4), torch.tensor([0, 1, 0, 1, 1])
    delta = pgd(model, x, y, norm=norm, epsilon=0.3, steps=20, bounds=None, random_start=False)
    started = pgd(model, x, y, norm=norm, epsilon=0.3, steps=30, step_size=0.1, bounds=None,
                  generator=torch.Generator().manual_seed(0))
    w = model[1].weight.detach()
    direction = (w[1 - y] - w[y]).view(-1, 1, 4, 4)  # raises the wrong logit fastest
    if norm == "l2":
        expected = 0.3 * direction / direction.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    else:
        expected = 0.3 * direction.sign()
    torch.testing.assert_close(delta, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(started, expected, atol=1e-3, rtol=1e-3)  # a random start converges to it too


def test_pgd_respects_ball_and_box_and_raises_loss(lenet, sample_test):
    from probe.data import get_batch
    x, y = get_batch(sample_test, range(16))
    generator = torch.Generator().manual_seed(0)
    for norm, eps in (("l2", 1.0), ("linf", 0.05)):
        delta = pgd(lenet, x, y, norm=norm, epsilon=eps, steps=5, generator=generator)
        size = delta.flatten(1).norm(dim=1) if norm == "l2" else delta.flatten(1).abs().max(1).values
        assert (size <= eps + 1e-5).all() and (x + delta).min() >= 0 and (x + delta).max() <= 1
        loss = nn.functional.cross_entropy
        with torch.no_grad():
            assert loss(lenet(x + delta), y) > loss(lenet(x), y) + 0.1
    with pytest.raises(ParameterError):
        pgd(lenet, x, y, norm="l3")


class NanGradientRows(nn.Module):
    """A linear model whose input gradient is NaN (logits finite) at the images whose first pixel
    equals `poisoned` (one entry per row; -1 never matches a pixel in [0, 1])."""

    def __init__(self, model: nn.Module, poisoned: torch.Tensor) -> None:
        super().__init__()
        self.model, self.poisoned = model, poisoned

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bump = 1e-3 * (x.flatten(1)[:, 0] - self.poisoned).abs().sqrt()    # gradient 0·∞ = NaN where equal
        return self.model(x) + torch.stack([bump, torch.zeros_like(bump)], dim=1)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_pgd_skips_non_finite_gradients_without_nan(norm):
    model = two_class_linear()
    x, y = torch.rand(5, 1, 4, 4), torch.tensor([0, 1, 0, 1, 1])
    bad = torch.tensor([False, True, False, False, True])
    poisoned = torch.where(bad, x.flatten(1)[:, 0], torch.full((5,), -1.0))
    result = pgd_attack(NanGradientRows(model, poisoned), x, y, norm=norm, epsilon=0.3, steps=4, random_start=False)
    delta = result.perturbation
    assert torch.isfinite(delta).all()
    assert torch.equal(delta[bad], torch.zeros_like(delta[bad]))                     # no step was taken
    assert (delta[~bad].flatten(1).abs().amax(1) > 0).all()                          # the others moved
    assert result.failed_steps.tolist() == [0, 4, 0, 0, 4]
    torch.testing.assert_close(pgd(NanGradientRows(model, poisoned), x, y, norm=norm, epsilon=0.3, steps=4,
                                   random_start=False), delta)


def test_adversarial_training_wraps_the_augmentation_and_reports_perturbations(sample_train):
    seen = []
    augment = AdversarialTraining("l2", 0.5, steps=2, monitor=seen.append)
    torch.manual_seed(0)
    model = models.build("lenet", in_channels=1, num_classes=10, image_size=(28, 28), mean=[0.286], std=[0.353])
    subset = torch.utils.data.Subset(sample_train, range(256))
    history = fit(model, subset, epochs=1, batch_size=64, augment=augment, seed=0)
    assert len(seen) == 4 and all((d.flatten(1).norm(dim=1) <= 0.5 + 1e-5).all() for d in seen)
    assert torch.isfinite(torch.tensor(history["train_loss"].values)).all()
    assert isinstance(parse_augment("adversarial:linf:0.1:3"), AdversarialTraining)
    wrapped = parse_adversarial("linf:0.1", inner=parse_augment("none"))
    assert (wrapped.norm, wrapped.epsilon, wrapped.steps) == ("linf", 0.1, 7)
    for bad in ("l2", "l2:x", "l5:1", "l2:1:2:3", "l2:-1"):
        with pytest.raises(ParameterError):
            parse_adversarial(bad)


def test_train_command_line_adversarial(tmp_path):
    out = tmp_path / "adv.pt"
    assert main(["--arch", "linear", "--n", "128", "--epochs", "1", "--adversarial", "l2:1:2",
                 "--out", str(out), "--quiet", "--device", "cpu"]) == 0
    assert models.load(out).probe_info["meta"]["adversarial"] == "l2:1:2"
    assert main(["--arch", "linear", "--n", "16", "--epochs", "1", "--adversarial", "l2",
                 "--out", str(out), "--quiet"]) == 2
