"""Test-time BN adaptation: N = 0 is train-mode BatchNorm, N → ∞ is eval mode, the model is unchanged."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from probe.corruptions.bn_adapt import adapted_logits, batchnorm_layers, bn_adaptation, parse_bn_adapt
from probe.data import get_batch
from probe.errors import ParameterError


def _state(model: nn.Module) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_full_adaptation_equals_train_mode_batchnorm_and_leaves_model_unchanged(lenet, sample_test):
    x, _ = get_batch(sample_test, range(48))
    x, lenet = x.double(), lenet.double()  # double precision: the two must agree to rounding
    before = _state(lenet)
    reference = copy.deepcopy(lenet).train()
    with torch.no_grad():
        expected = reference(x)
    adapted = adapted_logits(lenet, x, prior=0.0, batch=48)
    torch.testing.assert_close(adapted, expected, atol=1e-9, rtol=1e-9)
    assert not lenet.training
    assert all(torch.equal(before[k], v) for k, v in lenet.state_dict().items())
    assert all(not layer._forward_hooks for layer in batchnorm_layers(lenet))
    with torch.no_grad():
        assert not torch.allclose(lenet(x), adapted, atol=1e-3)  # eval mode is different again


def test_groups_of_n_are_adapted_separately(lenet, sample_test):
    x, _ = get_batch(sample_test, range(40))
    x, lenet = x.double(), lenet.double()
    reference = copy.deepcopy(lenet).train()
    with torch.no_grad():
        expected = torch.cat([reference(part) for part in x.split(16)])
    torch.testing.assert_close(adapted_logits(lenet, x, prior=0.0, batch=16), expected, atol=1e-9, rtol=1e-9)


def test_huge_prior_is_the_unadapted_model(lenet, sample_test):
    x, _ = get_batch(sample_test, range(32))
    with torch.no_grad():
        expected = lenet(x)
    torch.testing.assert_close(adapted_logits(lenet, x, prior=1e12, batch=32), expected, atol=1e-4, rtol=1e-4)


def test_statistics_mix_as_n_over_n_plus_N():
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(3).eval()
    bn.running_mean.copy_(torch.tensor([0.5, -1.0, 2.0]))
    bn.running_var.copy_(torch.tensor([2.0, 0.5, 1.5]))
    x = torch.randn(8, 3, 4, 4) * 3 + 1
    prior, n = 16.0, 8
    mean = prior / (prior + n) * bn.running_mean + n / (prior + n) * x.mean((0, 2, 3))
    var = prior / (prior + n) * bn.running_var + n / (prior + n) * x.var((0, 2, 3), unbiased=False)
    expected = (x - mean.view(1, -1, 1, 1)) / torch.sqrt(var.view(1, -1, 1, 1) + bn.eps)
    with bn_adaptation(bn, prior), torch.no_grad():
        torch.testing.assert_close(bn(x), expected, atol=1e-5, rtol=1e-5)


def test_bad_specs_and_models_without_batchnorm_are_refused():
    assert parse_bn_adapt("16:8") == (16.0, 8) and parse_bn_adapt((16, 8)) == (16.0, 8)
    for spec in ("16", "a:b", "-1:8", "0:0", "inf:8", (1, 2.5), (1, 2, 3), 8):
        with pytest.raises(ParameterError):
            parse_bn_adapt(spec)
    with pytest.raises(ParameterError):
        with bn_adaptation(nn.Linear(2, 2), 0.0):
            pass
