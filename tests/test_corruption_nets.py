"""Corruption networks and SSIM: sizes and shapes, the straight-through quantiser, checkpoints,
pretraining to the SSIM target, SSIM against scikit-image, and the SSIM guard."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import run_command
from probe import models
from probe.corruption_net import TARGET_SSIM, reconstruction_quality
from probe.data import get_batch
from probe.errors import CheckpointError, ShapeError
from probe.models.corruption_nets import quantise
from probe.params import parameter_blocks, per_image_forward
from probe.ssim import root_between, ssim, ssim_guard

SMALL = {"edsr": dict(features=4, blocks=1), "cae": dict(features=4, code_channels=2)}


@pytest.mark.parametrize("arch, kwargs, shape", [
    ("edsr", {}, (1, 28, 28)), ("edsr", {"scale": 2}, (1, 28, 28)), ("edsr", {"scale": 2}, (3, 32, 32)),
    ("cae", {}, (1, 28, 28)), ("cae", {"stages": 3}, (3, 32, 32)), ("edsr", {}, (3, 9, 13))])
def test_output_has_the_input_size(arch, kwargs, shape):
    net = models.build(arch, in_channels=shape[0], image_size=shape[1:], **dict(SMALL[arch], **kwargs))
    assert net(torch.rand(2, *shape)).shape == (2, *shape)


@pytest.mark.parametrize("arch, kwargs, size", [("edsr", {"scale": 2}, (28, 27)), ("cae", {}, (30, 28)),
                                                ("cae", {"stages": 3}, (28, 28))])
def test_image_sizes_the_network_cannot_halve_are_refused(arch, kwargs, size):
    with pytest.raises(ShapeError, match="multiples of"):
        models.build(arch, image_size=size, **dict(SMALL[arch], **kwargs))
    net = models.build(arch, image_size=(32, 32), **dict(SMALL[arch], **kwargs))
    with pytest.raises(ShapeError, match="multiples of"):
        net(torch.rand(1, 1, *size))


def test_image_to_image_networks_take_no_classes_and_no_normalisation():
    with pytest.raises(CheckpointError, match="no num_classes"):
        models.build("edsr", num_classes=10)
    with pytest.raises(CheckpointError, match="no num_classes"):
        models.build("cae", mean=[0.5], std=[0.2])


def test_the_quantiser_rounds_and_passes_the_gradient_straight_through():
    z = torch.tensor([0.04, 0.07, -0.3, 1.26], requires_grad=True)
    out = quantise(z, 8)
    torch.testing.assert_close(out, torch.tensor([0.0, 0.125, -0.25, 1.25]))
    out.sum().backward()
    torch.testing.assert_close(z.grad, torch.ones(4))


@pytest.mark.parametrize("arch, kwargs", [("edsr", {}), ("edsr", {"scale": 2}), ("cae", {})])
def test_per_image_weights_reproduce_the_network(arch, kwargs):
    """vmap over per-image copies of φ gives the plain batched forward; each image sees only its own copy."""
    net = models.build(arch, **dict(SMALL[arch], **kwargs))
    phi = parameter_blocks(net)
    x = torch.rand(3, 1, 28, 28)
    same = {name: tensor.expand(3, *tensor.shape).clone() for name, tensor in phi.items()}
    torch.testing.assert_close(per_image_forward(net, same, x), net(x), rtol=1e-5, atol=1e-6)
    same[list(phi)[-1]][1] += 1.0              # image 1's output bias raised: only its output changes
    changed = per_image_forward(net, same, x)
    torch.testing.assert_close(changed[[0, 2]], net(x)[[0, 2]], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(changed[1], net(x)[1])


@pytest.mark.parametrize("arch", sorted(SMALL))
def test_checkpoint_round_trip(arch, tmp_path):
    net = models.build(arch, in_channels=3, image_size=(32, 32), **SMALL[arch])
    models.save(net, tmp_path / "net.pt", meta={"test_ssim": 0.5})
    loaded = models.load(tmp_path / "net.pt")
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(loaded(x), net(x), rtol=0, atol=0)
    assert loaded.probe_info["arch"] == arch and loaded.probe_info["meta"] == {"test_ssim": 0.5}
    assert models.weights_sha256(loaded) == models.weights_sha256(net)


def test_pretrained_network_reconstructs_the_sample_above_the_target(corruption_net_checkpoint, sample_test):
    net = models.load(corruption_net_checkpoint)
    quality = reconstruction_quality(net, sample_test)
    assert quality["ssim"] >= TARGET_SSIM["edsr"] and quality["psnr"] > 25, quality
    untrained = reconstruction_quality(models.build("edsr", features=8, blocks=1), sample_test)
    assert untrained["ssim"] < 0.5     # the target is not met without training


def test_pretraining_command_saves_a_checkpoint_with_its_quality(tmp_path):
    out = tmp_path / "cae.pt"
    proc = run_command("probe", "corruption_net", "--arch", "cae", "--arch-arg", "features=8", "--epochs", "1",
                       "--n", "128", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    meta = models.load(out).probe_info["meta"]
    assert meta["task"] == "reconstruction" and f"SSIM {meta['test_ssim']:.4f}" in proc.stdout
    bad = run_command("probe.corruption_net", "--arch", "cae", "--arch-arg", "stages=3", "--out", str(out))
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: cae needs image sides"), bad.stderr


# ----------------------------------------------------------------------------- SSIM

def test_ssim_matches_scikit_image_on_real_photographs():
    skdata = pytest.importorskip("skimage.data")
    from skimage.metrics import structural_similarity
    rng = np.random.default_rng(0)
    for image, channel_axis in ((skdata.camera(), None), (skdata.astronaut()[::2, ::2], -1)):
        clean = image.astype(np.float64) / 255.0
        for other in (np.clip(clean + rng.normal(0, 0.08, clean.shape), 0, 1), clean ** 1.5):
            expected = structural_similarity(clean, other, gaussian_weights=True, sigma=1.5, data_range=1.0,
                                             use_sample_covariance=False, channel_axis=channel_axis)

            def tensor(a: np.ndarray) -> torch.Tensor:
                a = a[None] if a.ndim == 2 else np.moveaxis(a, -1, 0)
                return torch.tensor(a[None], dtype=torch.float32)
            assert abs(float(ssim(tensor(clean), tensor(other))) - expected) < 1e-3


def test_ssim_is_one_for_identical_images_and_per_image():
    x = torch.rand(3, 2, 16, 16)
    y = x.clone()
    y[1] = torch.rand(2, 16, 16)
    values = ssim(x, y)
    assert values[0] == pytest.approx(1.0, abs=1e-6) and values[2] == pytest.approx(1.0, abs=1e-6)
    assert values[1] < 0.2
    with pytest.raises(ShapeError, match="at least 11"):
        ssim(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))


def test_quadratic_root_between_the_bracketing_grid_points():
    # (γ − 0.4)(γ − 2) and (γ − 0.7)(γ + 1): one root in each bracket; a line 0.5 − γ; no real root
    coefficients = torch.tensor([[1.0, -2.4, 0.8], [1.0, 0.3, -0.7], [0.0, -1.0, 0.5], [1.0, 0.0, 1.0]],
                                dtype=torch.float64)
    low, high = torch.tensor([0.375, 0.625, 0.5, 0.25], dtype=torch.float64), torch.tensor([0.5, 0.75, 0.625, 0.375],
                                                                                            dtype=torch.float64)
    torch.testing.assert_close(root_between(coefficients, low, high),
                               torch.tensor([0.4, 0.7, 0.5, 0.25], dtype=torch.float64))


def test_ssim_guard_pulls_strong_corruptions_back_and_leaves_the_rest(sample_test):
    x, _ = get_batch(sample_test, range(8))
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    strong, mild = (x[:4] + 0.8 * noise[:4]).clamp(0, 1), (x[4:] + 0.05 * noise[4:]).clamp(0, 1)
    x_hat = torch.cat([strong, mild])
    known = ssim(x, x_hat)
    assert (known[:4] < 0.25).all() and (known[4:] > 0.5).all()
    guarded = ssim_guard(x, x_hat)
    assert guarded.fired.tolist() == [True] * 4 + [False] * 4
    torch.testing.assert_close(guarded.ssim_before, known)
    assert ((guarded.ssim_after[:4] >= 0.3 - 0.02) & (guarded.ssim_after[:4] <= 0.3 + 0.02)).all(), guarded.ssim_after
    torch.testing.assert_close(guarded.ssim_after[:4], ssim(x[:4], guarded.images[:4]))
    assert torch.equal(guarded.images[4:], mild) and (guarded.gamma[4:] == 1).all()
    assert ((guarded.gamma[:4] > 0) & (guarded.gamma[:4] < 1)).all()
