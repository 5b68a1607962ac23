"""PRIME and AugMix: identities at zero strength, primitives against direct formulas and PIL, JSD loss."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from probe import models
from probe.augment import augmix, parse_augment, prime
from probe.augment.jsd import jsd_consistency
from probe.data import get_batch
from probe.errors import ParameterError


@pytest.fixture(scope="module")
def images(sample_test):
    return get_batch(sample_test, range(16))


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("spec", ["prime:strength=0",
                                  "prime:strength=0,preset=imagenet,cut_max=60,color_cut_min=40,color_cut_max=60",
                                  "augmix:severity=0", "prime:strength=0,jsd", "augmix:severity=0,width=2,depth=1"])
def test_zero_strength_is_the_identity(images, spec):
    x, _ = images
    out = parse_augment(spec).augment(x, _generator())
    torch.testing.assert_close(out, x, atol=2e-6, rtol=0)


@pytest.mark.parametrize("spec", ["prime", "augmix"])
def test_augmentations_are_seeded_in_range_and_change_images(images, spec):
    x, _ = images
    augmentation = parse_augment(spec)
    first = augmentation.augment(x, _generator(1))
    assert first.shape == x.shape and first.min() >= 0 and first.max() <= 1
    assert torch.equal(first, augmentation.augment(x, _generator(1)))
    assert not torch.equal(first, augmentation.augment(x, _generator(2)))
    assert (first - x).abs().amax(dim=(1, 2, 3)).min() > 0  # every image changed


def test_spectral_filter_delta_sits_at_the_centre():
    x = torch.rand(3, 2, 9, 9)
    torch.testing.assert_close(prime.spectral_filter(x, torch.zeros(3), 3, _generator()), x, atol=0, rtol=0)
    # with noise: equals a per-image 2-D convolution by the same filter on every channel
    sigma = torch.tensor([0.5, 1.0, 2.0])
    out = prime.spectral_filter(x, sigma, 3, _generator(3))
    noise = torch.randn((3, 9), generator=_generator(3)) * sigma[:, None]
    noise[:, 4] += 1
    expected = torch.stack([F.conv2d(x[i:i + 1].transpose(0, 1), noise[i].view(1, 1, 3, 3),
                                     padding=1).transpose(0, 1)[0]
                            for i in range(3)]).clamp(0, 1)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


def test_diffeomorphism_fixes_the_border_and_is_identity_at_zero_temperature():
    x = torch.rand(4, 1, 20, 20)
    cut = torch.tensor([2.0, 5.0, 20.0, 50.0])
    torch.testing.assert_close(prime.diffeomorphism(x, torch.zeros(4), cut, _generator()), x, atol=5e-6, rtol=0)
    t1, t2 = prime.temperature_range(20, cut)
    warped = prime.diffeomorphism(x, torch.maximum(t1, t2) * 4, cut, _generator())
    assert not torch.allclose(warped, x, atol=1e-3)
    for index in ((..., 0, slice(None)), (..., -1, slice(None)), (..., slice(None), 0), (..., slice(None), -1)):
        torch.testing.assert_close(warped[index], x[index], atol=1e-5, rtol=0)


def test_temperature_range_formulas():
    t1, t2 = prime.temperature_range(32, torch.tensor([10.0]))
    assert float(t1) == pytest.approx(1 / (math.pi * 32 ** 2 * math.log(10)))
    assert float(t2) == pytest.approx(4 / (math.pi ** 3 * 100 * math.log(10)))


def test_colour_shift_is_the_sine_series():
    x = torch.rand(4, 3, 6, 6)
    low, high = torch.tensor([1, 3, 5, 2]), torch.tensor([10, 7, 5, 20])
    variance = torch.tensor([0.01, 0.02, 0.0, 0.01])
    out = prime.color_shift(x, variance, low, high, _generator(5))
    k = torch.arange(1, 21)
    beta = torch.randn((4, 3, 20), generator=_generator(5)) * variance.sqrt().view(-1, 1, 1)
    beta = beta * ((k >= low[:, None]) & (k <= high[:, None]))[:, None]
    expected = (x + (beta[:, :, None, None, :] * torch.sin(math.pi * k * x[..., None])).sum(-1)).clamp(0, 1)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def _pil_reference(x: torch.Tensor, operation) -> torch.Tensor:
    out = [np.asarray(operation(Image.fromarray(np.rint(img[0].numpy() * 255).astype(np.uint8), "L"))) for img in x]
    return torch.from_numpy(np.stack(out)[:, None].astype(np.float32) / 255)


def test_augmix_colour_operations_match_pil(images):
    x, _ = images
    x = x * 0.7 + 0.1  # not already full range, so autocontrast has work to do
    x = torch.round(x * 255) / 255
    torch.testing.assert_close(augmix.autocontrast(x), _pil_reference(x, ImageOps.autocontrast),
                               atol=1 / 255 + 1e-6, rtol=0)
    torch.testing.assert_close(augmix.equalize(x), _pil_reference(x, ImageOps.equalize), atol=1e-6, rtol=0)
    bits = torch.full((len(x),), 3)
    torch.testing.assert_close(augmix.posterize(x, bits), _pil_reference(x, lambda im: ImageOps.posterize(im, 3)),
                               atol=1e-6, rtol=0)
    threshold = torch.full((len(x),), 128.0)
    torch.testing.assert_close(augmix.solarize(x, threshold), _pil_reference(x, lambda im: ImageOps.solarize(im, 128)),
                               atol=1e-6, rtol=0)


def test_augmix_geometry():
    x = torch.rand(2, 1, 10, 12)
    torch.testing.assert_close(augmix.rotate(x, torch.zeros(2)), x, atol=1e-5, rtol=0)
    shifted = augmix.translate(x, torch.tensor([3.0, -2.0]), "x")
    torch.testing.assert_close(shifted[0, :, :, :-3], x[0, :, :, 3:], atol=1e-5, rtol=0)
    assert torch.all(shifted[0, :, :, -3:] == 0)
    torch.testing.assert_close(shifted[1, :, :, 2:], x[1, :, :, :-2], atol=1e-5, rtol=0)
    # a rotation by 90° about the centre of a square image is a transpose-and-flip
    square = torch.rand(1, 1, 8, 8)
    quarter = augmix.rotate(square, torch.tensor([90.0]))
    assert min((quarter - torch.rot90(square, k, dims=(-2, -1))).abs().max() for k in (1, -1)) < 1e-5


def test_jsd_consistency_known_values():
    logits = torch.randn(5, 4)
    assert float(jsd_consistency([logits, logits, logits])) == pytest.approx(0.0, abs=1e-7)
    a, b = torch.tensor([[math.log(0.9), math.log(0.1)]]), torch.tensor([[math.log(0.1), math.log(0.9)]])
    expected = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)  # both KL(p_i ‖ M) equal
    assert float(jsd_consistency([a, b])) == pytest.approx(expected, rel=1e-5)


def test_jsd_training_loss_uses_three_views(images):
    x, y = images
    torch.manual_seed(0)
    model = models.build("lenet", in_channels=1, num_classes=10, image_size=(28, 28), mean=[0.3], std=[0.35]).train()
    loss, logits = parse_augment("augmix:jsd").loss(model, x, y, _generator())
    assert logits.shape == (len(x), 10)
    assert float(loss.detach()) > float(F.cross_entropy(logits.detach(), y))  # the consistency term is positive
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_single_primitives_without_mixing_are_those_primitives_alone(images):
    x, _ = images
    levels = (x * 4).round() / 4 * 0.5 + 0.25            # five grey levels in [0.25, 0.75]: no clipping below
    patches = F.unfold(levels, 3, padding=1).transpose(1, 2)          # (N, pixels, 9): the 3×3 neighbourhoods

    def outputs(spec):
        out = parse_augment(spec).augment(levels, _generator(4))
        same = (out == levels).flatten(1).all(1)
        assert 0 < int(same.sum()) < len(levels)         # the identity is one of the choices, so some images stay
        return out, ~same

    out, changed = outputs("prime:primitives=spectral,mix=false,strength=0.02")
    for i in changed.nonzero()[:, 0].tolist():   # a 3×3 convolution: least squares fits it exactly
        kernel = torch.linalg.lstsq(patches[i].double(), out[i].flatten().double()[:, None]).solution
        assert float((patches[i].double() @ kernel - out[i].flatten().double()[:, None]).abs().max()) < 1e-5
    out, changed = outputs("prime:primitives=colour,mix=false")
    for i in changed.nonzero()[:, 0].tolist():   # a function of the pixel value alone
        for value in levels[i].unique():
            assert float(out[i][levels[i] == value].std(unbiased=False)) < 1e-6
    out, changed = outputs("prime:primitives=spatial,mix=false")
    border = torch.ones(28, 28, dtype=torch.bool)
    border[1:-1, 1:-1] = False
    for i in changed.nonzero()[:, 0].tolist():   # the warp is still at the borders and moves the inside
        torch.testing.assert_close(out[i][:, border], levels[i][:, border], atol=1e-5, rtol=0)
    mixed = parse_augment("prime:primitives=spectral").augment(levels, _generator(4))
    assert not (mixed == levels).flatten(1).all(1).any()   # mixing blends every image
    default = parse_augment("prime").augment(x, _generator(1))
    torch.testing.assert_close(parse_augment("prime:primitives=colour+spectral+spatial,mix").augment(x, _generator(1)),
                               default, atol=0, rtol=0)
    for spec in ("prime:primitives=blur", "prime:primitives=spectral+spectral", "prime:primitives=+"):
        with pytest.raises(ParameterError):
            parse_augment(spec)


def test_bad_options_are_refused():
    for spec in ("prime:colour=3", "augmix:severity=11", "prime:strength=-1", "prime:width=x", "prime:preset=big",
                 "prime:kernel=4"):
        with pytest.raises(ParameterError):
            parse_augment(spec).augment(torch.rand(2, 1, 16, 16), _generator())
