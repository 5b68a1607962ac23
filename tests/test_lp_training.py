"""Lp-noise and ESP training augmentations."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from probe import models
from probe.augment import parse_augment
from probe.balls import norm
from probe.commands.train import main as train_main
from probe.errors import ParameterError


def test_lp_noise_single_and_mixture():
    g = torch.Generator().manual_seed(0)
    x = torch.full((64, 1, 28, 28), 0.5)
    y = torch.arange(64) % 10
    noisy, targets = parse_augment("lp:L0:0.01").apply(x, y, g)
    assert torch.equal(targets, y)
    assert ((noisy != x).flatten(1).sum(1) == round(0.01 * 784)).all()
    mixed, _ = parse_augment("lp:L0:0.01,L2:0.5").apply(x, y, g)
    changed = (mixed != x).flatten(1).sum(1)
    l0 = changed == 8
    assert 10 < int(l0.sum()) < 54  # both norms used
    l2 = norm((mixed - x).flatten(1)[~l0], 2.0)
    assert (l2 <= 0.5 + 1e-5).all() and (l2 > 0.4).all()  # mid-grey images: no clipping at ε = 0.5
    assert mixed.min() >= 0 and mixed.max() <= 1


def test_esp_labels_and_images():
    esp = parse_augment("esp:0.6:0.4:0.45", {"num_classes": 10})
    assert float(esp.confidence(torch.tensor(0.6))) == pytest.approx(1.0)
    assert float(esp.confidence(torch.tensor(0.3))) == pytest.approx(1.0)
    assert float(esp.confidence(torch.tensor(1.0))) == pytest.approx(0.1 + 0.45)
    g = torch.Generator().manual_seed(1)
    sizes = esp.sizes(20000, g)
    assert sizes.min() >= 0.2 - 1e-6 and sizes.max() <= 1.0 + 1e-6
    assert float(sizes.mean()) == pytest.approx(0.6, abs=0.01)
    assert float(sizes.std()) == pytest.approx(0.2 * 0.8796, rel=0.05)  # sd of N(0,1) truncated to ±2
    x = torch.rand(200, 1, 28, 28, generator=g) * 0.4 + 0.3  # ≥ 0.3 from the box: noise of L2 ≤ 1 never leaves it
    y = torch.randint(10, (200,), generator=g)
    images, targets = esp.apply(x, y, g)
    assert images.min() >= 0 and images.max() <= 1
    assert torch.allclose(targets.sum(1), torch.ones(200))
    true = targets[torch.arange(200), y]
    others = (targets.sum(1) - true) / 9
    assert torch.allclose(targets.min(1).values, torch.minimum(others, true))
    assert (true >= 0.55 - 1e-6).all() and (true <= 1).all()
    # interior images are not rescaled: the realised change is the drawn L2 size
    size = norm((images - x).flatten(1), 2.0)
    assert torch.allclose(esp.confidence(size), true, atol=1e-4)


def test_bad_specs():
    for spec, info in (("lp", {}), ("lp:L2", {}), ("lp:Lq:0.1", {}), ("esp:0.5", {}),
                       ("esp:0.5:0.8", {"num_classes": 10}), ("esp:0.5:0.5:0.95", {"num_classes": 10})):
        with pytest.raises(ParameterError):
            parse_augment(spec, info)


@pytest.mark.parametrize("spec", ["lp:L0:0.01", "esp:0.5"])
def test_training_runs(spec, tmp_path):
    out = tmp_path / "m.pt"
    assert train_main(["--arch", "lenet", "--data", "fashion-mnist-sample", "--n", "600", "--epochs", "1",
                       "--augment", spec, "--quiet", "--device", "cpu", "--out", str(out)]) == 0
    model = models.load(out)
    assert model.probe_info["meta"]["augment"] == spec
    assert np.isfinite([p.detach().sum().item() for p in model.parameters()]).all()
