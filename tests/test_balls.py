"""Lp-ball geometry: uniform sampling, L0 masks, corruptions, radii, and the
one `NORM:RADIUS` parser that the Lp probe, the overlap probe and the Lp-noise augmentation share."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

import probe.augment.lp_noise
import probe.lp
import probe.overlap
from probe import balls
from probe.augment import parse_augment
from probe.errors import ParameterError

NORMS = [0.5, 1.0, 2.0, 50.0, math.inf]


@pytest.mark.parametrize("p", NORMS)
@pytest.mark.parametrize("dim", [2, 9, 200])
def test_radius_law(p, dim):
    """(‖x‖_p / r)^d is uniform on (0, 1) for a uniform sample of the ball of radius r."""
    x = balls.sample_ball(4000, dim, p, 1.7, torch.Generator().manual_seed(int(dim * 10 + min(p, 99))))
    ratio = ((balls.norm(x.double(), p) / 1.7) ** dim).numpy()
    assert ratio.max() <= 1 + 1e-4
    assert stats.kstest(ratio, "uniform").pvalue > 1e-3


@pytest.mark.parametrize("p", [0.5, 1.0, 2.0, 10.0, 50.0])
@pytest.mark.parametrize("dim", [3, 100])
def test_moment_identity(p, dim):
    """E|x_i|^p = r^p / (d + p); checked on (|x_i|/r)^p within 5 standard errors."""
    x = balls.sample_ball(20000, dim, p, 0.8, torch.Generator().manual_seed(dim + int(p)))
    values = ((x.double().abs() / 0.8) ** p).mean(1).numpy()  # per-sample mean over coordinates
    expected = 1.0 / (dim + p)
    assert abs(values.mean() - expected) < 5 * values.std() / math.sqrt(len(values))


def test_large_p_does_not_collapse():
    """float32 Gamma(1/p) underflows at p = 50; the stable form gives no zero coordinates."""
    x = balls.sample_ball(2000, 100, 50.0, 1.0, torch.Generator().manual_seed(0))
    assert torch.isfinite(x).all() and (x == 0).float().mean() < 1e-4
    assert x.abs().amax(1).min() > 0.5


@pytest.mark.parametrize("p", [0.5, 3.0, math.inf])
def test_sphere(p):
    x = balls.sample_ball(500, 40, p, 2.5, torch.Generator().manual_seed(1), sphere=True)
    assert torch.allclose(balls.norm(x, p), torch.full((500,), 2.5), rtol=1e-4)


def test_l0_changes_exactly_round_radius_d():
    g = torch.Generator().manual_seed(0)
    mask = balls.sample_l0(300, 784, 0.0137, g)
    assert (mask.sum(1) == round(0.0137 * 784)).all()
    x = torch.full((50, 1, 28, 28), 0.5)  # no pixel can equal a {0,1} or uniform replacement by chance
    for values in balls.L0_VALUES:
        noisy, realised = balls.corrupt(x, 0.0, 0.02, g, l0_values=values)
        changed = (noisy != x).flatten(1).sum(1)
        assert (changed == round(0.02 * 784)).all()
        assert torch.allclose(realised, changed / 784)


@pytest.mark.parametrize("p", [0.0, 1.0, 2.0, math.inf])
def test_corrupt_clips_and_reports_norms(p, sample_test):
    from probe.data import get_batch
    x, _ = get_batch(sample_test, np.arange(16))
    radius = {0.0: 0.05, 1.0: 60.0, 2.0: 3.0, math.inf: 0.3}[p]
    noisy, realised = balls.corrupt(x, p, radius, torch.Generator().manual_seed(3))
    assert noisy.shape == x.shape and noisy.min() >= 0 and noisy.max() <= 1
    assert torch.allclose(realised, balls.norm((noisy - x).flatten(1), p), rtol=1e-4, atol=1e-6)
    assert (realised <= radius * (1 + 1e-5)).all()
    change = (noisy - x).flatten(1)
    assert not torch.allclose(change[0], change[1])  # independent noise per image
    again, _ = balls.corrupt(x, p, radius, torch.Generator().manual_seed(3))
    assert torch.equal(noisy, again)


def test_bad_parameters():
    with pytest.raises(ParameterError):
        balls.parse_norm("Lfoo")
    with pytest.raises(ParameterError):
        balls.sample_ball(3, 4, 2.0, -1.0)
    with pytest.raises(ParameterError):
        balls.sample_l0(3, 4, 1.5)
    assert balls.parse_norm("Linf") == math.inf and balls.parse_norm("L0.5") == 0.5 and balls.parse_norm("l0") == 0


def test_equivalent_radii_match_published_overlap_points():
    """At the RMS of the CIFAR L2 ball of radius 4, the rule gives the published 50 % radii."""
    s = 4 / math.sqrt(3072)
    for p, published in ((math.inf, 0.127), (1.0, 161), (0.5, 2.7e5), (10.0, 0.2315), (50.0, 0.139), (0.0, 0.017)):
        assert abs(balls.equivalent_radius(p, s, 3072) / published - 1) < 0.1


# ----------------------------------------------------------------------------- one NORM:RADIUS parser

GOOD = ["L2:0.25", "l2:4", "Linf:0.01", "L∞:0.5", "inf:1", "L0.5:25000", "L0:0.01", "L1:1e-3"]
BAD = ["L2", "L2:", "L2:abc", "Lq:0.1", "L2:-1", "L0:1.5", "L2:inf", ":0.3", "L-1:2"]


def _lp(text: str) -> tuple[float, float]:
    [(p, radius)] = probe.lp.imperceptible_radii([text], 784).items()
    return p, radius


def _overlap(text: str) -> tuple[float, float]:
    ds = probe.overlap.run(dim=16, reference=text, norms=["L1"], samples=8, radii=3)
    return balls.parse_ball(ds.attrs["reference"])


def _augmentation(text: str) -> tuple[float, float]:
    [ball] = parse_augment(f"lp:{text}").balls
    return ball


def _error(read, text: str) -> str:
    with pytest.raises(ParameterError) as caught:
        read(text)
    return str(caught.value)


def test_one_parser_for_lp_overlap_and_augmentation():
    """The same text means the same ball, and is refused with the same message, everywhere."""
    for module in (probe.lp, probe.overlap, probe.augment.lp_noise):
        assert module.parse_ball is balls.parse_ball
    for text in GOOD:
        expected = balls.parse_ball(text)
        assert _lp(text) == _overlap(text) == _augmentation(text) == expected, text
        assert balls.parse_ball(balls.ball_name(*expected)) == expected  # the written name reads back exactly
    for text in BAD:
        messages = {_error(read, text) for read in (balls.parse_ball, _lp, _overlap, _augmentation)}
        assert len(messages) == 1, (text, messages)
