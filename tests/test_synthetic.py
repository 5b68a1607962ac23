"""Synthetic sets T1/T2: their construction, and the exact ε/2 margin of the ideal classifier along u1."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from probe.data import get_batch
from probe.data.synthetic import t1, t2
from probe.errors import ParameterError
from probe.margins import run, summary
from probe.spectral import Bases


def test_t1_structure_and_seed():
    data = t1(n=400, epsilon=5.0, sigma=1.0, dim=20, seed=1)
    x, y = get_batch(data, np.arange(400))
    assert x.shape == (400, 1, 1, 20) and set(y.tolist()) == {0, 1}
    rotation = data.rotation.double()
    torch.testing.assert_close(rotation.T @ rotation, torch.eye(20, dtype=torch.float64), atol=1e-6, rtol=0)
    z = x.flatten(1).double() @ rotation
    torch.testing.assert_close(z[:, 0], 2.5 * (2.0 * y.double() - 1.0), atol=1e-5, rtol=0)
    assert abs(float(z[:, 1:].std()) - 1.0) < 0.05
    assert torch.equal(t1(n=400, dim=20, seed=1).x, data.x) and not torch.equal(t1(n=400, dim=20, seed=2).x, data.x)


def test_t2_second_feature_is_on_integer_or_half_integer_grid():
    data = t2(n=600, rho=0.5, epsilon=5.0, sigma=1.0, k=3, dim=10, seed=0)
    z = data.x.flatten(1).double() @ data.rotation.double()
    steps = z[:, 1] / 0.5
    positive = data.labels == 1
    torch.testing.assert_close(steps[positive], steps[positive].round(), atol=1e-4, rtol=0)
    torch.testing.assert_close(steps[~positive] - 0.5, (steps[~positive] - 0.5).round(), atol=1e-4, rtol=0)
    assert steps.min() >= -3 - 1e-4 and steps.max() <= 2.5 + 1e-4
    with pytest.raises(ParameterError):
        t2(n=10, k=0)


def test_ideal_classifier_margin_along_u1_is_half_epsilon():
    data = t1(n=200, epsilon=5.0, sigma=1.0, dim=20, seed=0)
    u1 = data.direction
    model = nn.Sequential(nn.Flatten(), nn.Linear(20, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.stack([-u1, u1]))
        model[1].bias.zero_()
    complement = torch.linalg.qr(torch.eye(20) - torch.outer(u1, u1)).Q[:, :19]
    along = Bases((1, 1, 20), u1[:, None], tolerance=1e-4)
    ds = run(model.eval(), data, subspaces=along, n=50, max_iter=5, refine=True)
    np.testing.assert_allclose(ds["margin"].values, 1.02 * 2.5, rtol=1e-4)  # one step of |g| / ‖P w‖ = ε/2
    np.testing.assert_allclose(ds["margin_refined"].values, 2.5, rtol=1e-5)   # exactly ε/2: no overshoot
    rest = run(model.eval(), data, subspaces=Bases((1, 1, 20), complement, orthonormalize=True), n=10, max_iter=5)
    assert np.isinf(rest["margin"].values).all() and summary(rest)["not_converged"] == 1.0


def test_split_shares_the_mixing_matrix():
    data = t1(n=50, dim=10, seed=4)
    train, test = data.split(40)
    assert len(train) == 40 and len(test) == 10 and train.rotation is test.rotation is data.rotation
    assert torch.equal(torch.cat([train.x, test.x]), data.x) and torch.equal(test.labels, data.labels[40:])
    with pytest.raises(ParameterError):
        data.split(50)
