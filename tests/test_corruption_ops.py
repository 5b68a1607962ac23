"""The corruption operations: reproducibility, noise statistics, severity order, identities, known answers."""
from __future__ import annotations

import colorsys
import json

import kornia
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage

from probe.corruptions import (
    ALL_CORRUPTIONS,
    CORRUPTIONS,
    EXTRA_CORRUPTIONS,
    FUNCTIONS,
    blur,
    common,
    corrupt,
    digital,
    frost_photos,
    parameter_set,
    run,
    severity_params,
    weather,
)
from probe.corruptions import command as corruption_command
from probe.corruptions.common import box_resize_matrix
from probe.errors import ParameterError, ShapeError

# Corruptions that use no random numbers.
DETERMINISTIC = {"defocus_blur", "zoom_blur", "gaussian_blur", "brightness", "contrast", "pixelate",
                 "jpeg_compression", "saturate"}
# Published tables whose severities do not order SSIM (see the report / module docs):
# elastic (the affine part shrinks with severity), glass (more blur at severities 3 and 5 hides
# the pixel scrambling), spatter (water at 1-3, mud at 4-5), saturate (desaturate, then saturate).
SSIM_UNORDERED = {"elastic_transform", "glass_blur", "spatter", "saturate"}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small tensor ops run far faster on one thread when the shared CPU is busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _smooth_rgb(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(n, 3, 10, 10, generator=g), size=32, mode="bicubic",
                         align_corners=False).clamp(0, 1)


@pytest.fixture(scope="module")
def fashion(sample_test) -> torch.Tensor:
    return torch.stack([sample_test[i][0] for i in range(48)])


@pytest.fixture(scope="module")
def rgb() -> torch.Tensor:
    return _smooth_rgb(24, 0)


def test_names_follow_the_benchmark_order():
    assert CORRUPTIONS == ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
                           "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
                           "elastic_transform", "pixelate", "jpeg_compression")
    assert EXTRA_CORRUPTIONS == ("speckle_noise", "gaussian_blur", "spatter", "saturate")
    assert set(FUNCTIONS) == set(ALL_CORRUPTIONS)


@pytest.mark.parametrize("name", ALL_CORRUPTIONS)
def test_reproducible_same_shape_in_range(name, fashion, rgb):
    for images in (fashion[:4], rgb[:4].double()):
        for severity in (1, 5):
            a = corrupt(images, name, severity, generator=torch.Generator().manual_seed(7))
            b = corrupt(images, name, severity, generator=torch.Generator().manual_seed(7))
            c = corrupt(images, name, severity, generator=torch.Generator().manual_seed(8))
            assert a.shape == images.shape and a.dtype == images.dtype
            assert torch.equal(a, b)
            assert a.min() >= 0 and a.max() <= 1
            grey_unsaturated = name == "saturate" and images.shape[1] == 1 and severity == 1
            assert torch.equal(a, images) == grey_unsaturated
            assert torch.equal(a, c) == (name in DETERMINISTIC)


def test_noise_statistics_on_flat_grey():
    flat = torch.full((4, 3, 64, 64), 0.5)
    g = torch.Generator().manual_seed(0)
    for severity, sigma in enumerate((.04, .06, .08, .09, .10), 1):
        y = corrupt(flat, "gaussian_noise", severity, generator=g)
        assert y.std().item() == pytest.approx(sigma, rel=0.03)
        assert y.mean().item() == pytest.approx(0.5, abs=3e-3)
    for severity, rate in enumerate((500, 250, 100, 75, 50), 1):
        y = corrupt(flat, "shot_noise", severity, generator=g)
        assert y.var().item() == pytest.approx(0.5 / rate, rel=0.05)  # Poisson: var(k/c) = x/c
        assert torch.allclose((y * rate).round(), y * rate, atol=1e-3)  # values on the grid k/c
    for severity, amount in enumerate((.01, .02, .03, .05, .07), 1):
        y = corrupt(flat, "impulse_noise", severity, generator=g)
        hit = y != 0.5
        assert hit.float().mean().item() == pytest.approx(amount, rel=0.1)
        assert set(y[hit].unique().tolist()) == {0.0, 1.0}
        assert (y[hit] == 1).float().mean().item() == pytest.approx(0.5, abs=0.05)
    for severity, sigma in enumerate((.06, .10, .12, .16, .20), 1):
        y = corrupt(flat, "speckle_noise", severity, generator=g)
        assert y.std().item() == pytest.approx(0.5 * sigma, rel=0.03)  # x + x·N(0, σ²)


@pytest.mark.parametrize("name", ALL_CORRUPTIONS)
def test_severity_orders_ssim(name, fashion, rgb):
    for images in (fashion, rgb):
        ssim = []
        for severity in range(1, 6):
            values = [kornia.metrics.ssim(images, corrupt(images, name, severity,
                                                          generator=torch.Generator().manual_seed(s)), 7).mean()
                      for s in (0, 1)]
            ssim.append(float(sum(values) / 2))
        assert ssim[0] < 1.0
        ordered = all(b <= a + 0.005 for a, b in zip(ssim, ssim[1:])) and ssim[-1] < ssim[0] - 0.01
        if name in SSIM_UNORDERED and name != "saturate" or (name == "saturate" and images.shape[1] == 3):
            assert not ordered, f"{name} is now ordered: remove it from SSIM_UNORDERED"
        else:
            assert ordered, f"{name} C={images.shape[1]}: SSIM {ssim}"


def test_identities_at_zero_strength(rgb):
    x = rgb[:4]
    g = torch.Generator().manual_seed(0)
    same = {
        "contrast": {"factor": 1.0}, "brightness": {"delta": 0.0}, "saturate": {"scale": 1.0, "shift": 0.0},
        "pixelate": {"factor": 1.0}, "zoom_blur": {"zooms": [1.0]}, "gaussian_blur": {"sigma": 0.0},
        "elastic_transform": {"alpha": 0.0, "sigma": 2.0, "affine": 0.0},
        "fog": {"strength": 0.0, "decay": 2.0, "map_size": 32},
        "gaussian_noise": {"sigma": 0.0}, "speckle_noise": {"sigma": 0.0}, "impulse_noise": {"amount": 0.0},
        "frost": {"image_weight": 1.0, "frost_weight": 0.0, "photo_scale": 0.2},
    }
    for name, p in same.items():
        assert torch.allclose(FUNCTIONS[name](x, p, g), x, atol=1e-5), name


def test_blurs_keep_a_flat_image_flat():
    flat = torch.full((3, 3, 32, 32), 0.3)
    for name in ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "gaussian_blur", "pixelate",
                 "elastic_transform", "contrast"):
        for severity in (1, 5):
            y = corrupt(flat, name, severity, generator=torch.Generator().manual_seed(0))
            assert torch.allclose(y, flat, atol=1e-5), (name, severity)


def test_motion_blur_is_a_line_at_a_bounded_angle():
    x = torch.zeros(64, 1, 41, 41)
    x[:, :, 20, 20] = 1.0
    p = {"radius": 6, "sigma": 4.0}
    y = blur.motion_blur(x, p, torch.Generator().manual_seed(0))
    assert torch.allclose(y.sum(dim=(1, 2, 3)), torch.ones(64), atol=1e-5)  # weights sum to one
    coords = torch.arange(41.0) - 20
    dy = (y[:, 0].sum(2) * coords).sum(1)
    dx = (y[:, 0].sum(1) * coords).sum(1)
    assert (dx.abs() + 1e-6 >= dy.abs()).all()  # angles within ±45° of the horizontal
    assert dx.abs().min() > 1.0 and (dy.abs().max() > 1.0)  # a streak, at varying angles
    assert ((y > 0).sum(dim=(1, 2, 3)) <= 13).all()  # at most 2R + 1 taps


def test_defocus_kernel_is_a_normalised_disk():
    kernel = blur.disk_kernel(3.0, 0.1, torch.zeros(1))[0]
    assert kernel.sum().item() == pytest.approx(1.0, abs=1e-6)
    grid = torch.arange(kernel.shape[0]) - kernel.shape[0] // 2
    radius2 = grid[:, None] ** 2 + grid[None, :] ** 2
    assert (kernel[radius2 <= 9] > 0.9 * kernel.max()).all() and (kernel[radius2 > 16] < 1e-3).all()


def test_brightness_and_saturate_match_colorsys(rgb):
    x = rgb[:1, :, :4, :4].double()
    pixels = x[0].permute(1, 2, 0).reshape(-1, 3).tolist()
    y = weather.brightness(x, {"delta": 0.2}, None)[0].permute(1, 2, 0).reshape(-1, 3)
    z = digital.saturate(x, {"scale": 1.5, "shift": 0.1}, None)[0].permute(1, 2, 0).reshape(-1, 3)
    for pixel, bright, sat in zip(pixels, y.tolist(), z.tolist()):
        h, s, v = colorsys.rgb_to_hsv(*pixel)
        assert bright == pytest.approx(colorsys.hsv_to_rgb(h, s, min(v + 0.2, 1.0)), abs=1e-9)
        assert sat == pytest.approx(colorsys.hsv_to_rgb(h, min(s * 1.5 + 0.1, 1.0), v), abs=1e-9)


def test_greyscale_rules(fashion):
    x = fashion[:4]
    assert torch.allclose(corrupt(x, "brightness", 3), (x + 0.15).clamp(0, 1))  # V of grey is the grey level
    assert torch.equal(corrupt(x, "saturate", 2), x)  # no colour, no shift: unchanged
    assert torch.allclose(corrupt(x, "saturate", 5), x * (1 - 0.701 * 0.2))  # luma of the hue-0 shift


def test_pixelate_box_filter_matches_pillow():
    image = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    for size in (30, 24, 20):
        ours = box_resize_matrix(32, size, torch.float64, "cpu") @ torch.from_numpy(image).double() \
            @ box_resize_matrix(32, size, torch.float64, "cpu").T
        pil = np.asarray(Image.fromarray(image, mode="F").resize((size, size), Image.BOX))
        assert np.abs(ours.numpy() - pil).max() < 1e-5
        back = np.asarray(Image.fromarray(pil, mode="F").resize((32, 32), Image.BOX))
        upsample = box_resize_matrix(size, 32, torch.float64, "cpu")
        ours_back = upsample @ ours @ upsample.T
        assert np.abs(ours_back.numpy() - back).max() < 1e-5


def test_jpeg_high_quality_is_close(fashion):
    y = digital.jpeg_compression(fashion, {"quality": 95}, None)
    assert (y - fashion).abs().mean() < 0.005  # greyscale: no chroma subsampling


def test_parameter_tables_and_size_rule():
    cifar = parameter_set("gaussian_noise", (32, 32))
    assert cifar["params"] == "cifar" and [s["sigma"] for s in cifar["severity"]] == [.04, .06, .08, .09, .10]
    assert [s["sigma"] for s in parameter_set("gaussian_noise", (224, 224))["severity"]] == [.08, .12, .18, .26, .38]
    assert [s["quality"] for s in parameter_set("jpeg_compression", (224, 224))["severity"]] == [25, 18, 15, 10, 7]
    assert parameter_set("motion_blur", (28, 28)) == {**parameter_set("motion_blur", (32, 32)), "image_size": [28, 28]}
    assert severity_params("motion_blur", 5, (64, 64)) == {"radius": 18, "sigma": 5.0}  # pixel sizes × 2
    assert severity_params("contrast", 5, (64, 64)) == {"factor": .15}
    assert severity_params("zoom_blur", 1, (32, 32))["zooms"] == pytest.approx([1 + k / 100 for k in range(7)])
    assert severity_params("fog", 1, (28, 28))["map_size"] == 32
    assert severity_params("fog", 1, (224, 224))["map_size"] == 256
    assert severity_params("elastic_transform", 2, (32, 32)) == pytest.approx(
        {"alpha": 1.6, "sigma": 6.4, "affine": 2.24})
    json.dumps(parameter_set("snow", (28, 28)))


def test_bad_input_raises():
    x = torch.rand(2, 3, 32, 32)
    with pytest.raises(ParameterError, match="unknown corruption"):
        corrupt(x, "rain", 1)
    for severity in (0, 6, 2.5):
        with pytest.raises(ParameterError, match="severity"):
            corrupt(x, "fog", severity)
    with pytest.raises(ParameterError, match="ImageNet"):
        corrupt(x, "fog", 1, params="imagenet")
    with pytest.raises(ParameterError, match="parameter set"):
        corrupt(x, "fog", 1, params="mnist")
    with pytest.raises(ShapeError):
        corrupt(torch.rand(2, 2, 32, 32), "fog", 1)
    with pytest.raises(ShapeError):
        corrupt(torch.rand(3, 32, 32), "fog", 1)


def test_zoom_factors_are_the_published_arange():
    # numpy.arange(1, top, step) of the published tables, counted once: its rounding includes `top` in some rows
    counts = {"cifar": [7, 12, 16, 21, 26], "imagenet": [12, 16, 11, 13, 11]}
    steps = {"cifar": [.01] * 5, "imagenet": [.01, .01, .02, .02, .03]}
    for family, size in (("cifar", (32, 32)), ("imagenet", (224, 224))):
        zooms = [severity_params("zoom_blur", s, size, family)["zooms"] for s in range(1, 6)]
        assert [len(z) for z in zooms] == counts[family]
        for z, step in zip(zooms, steps[family]):
            assert z == pytest.approx([1 + k * step for k in range(len(z))])


def test_elastic_field_blur_reflects_like_scipy_at_any_kernel_width():
    field = np.random.default_rng(0).uniform(-1, 1, (2, 1, 40, 40))
    for sigma in (1.5, 60.0):  # radius 5 px, and 180 px: four and a half image widths
        ours = common.gaussian_blur(torch.from_numpy(field), sigma, truncate=3.0, border="reflect").numpy()
        scipy = np.stack([ndimage.gaussian_filter(f[0], sigma, mode="reflect", truncate=3.0) for f in field])
        np.testing.assert_allclose(ours[:, 0], scipy, atol=1e-12)
    # ImageNet severity 1 (σ ≈ 171 px, α = 488 on 224 px): the zero-mean field stays about a pixel
    p = severity_params("elastic_transform", 1, (224, 224))
    field = np.random.default_rng(1).uniform(-1, 1, (2, 224, 224))
    shift = common.gaussian_blur(torch.from_numpy(field)[None], p["sigma"], truncate=3.0, border="reflect")[0]
    scipy = np.stack([ndimage.gaussian_filter(f, p["sigma"], mode="reflect", truncate=3.0) for f in field])
    np.testing.assert_allclose(shift.numpy(), scipy, atol=1e-12)
    assert np.abs(scipy * p["alpha"]).mean() < 3  # replicating the edge instead: a coherent ~70 px shift


def _sequential_shuffle(x: torch.Tensor, offsets: torch.Tensor, delta: int) -> torch.Tensor:
    """The reference's loop on (H, W, C) arrays, scanning from the bottom-right: its swap statement
    is a tuple assignment of two NumPy views, which copies (the partner keeps its value), in place."""
    out = []
    for image, offset in zip(x.permute(0, 2, 3, 1).numpy().copy(), offsets.numpy()):
        h, w = image.shape[:2]
        for row in range(h - delta, delta, -1):
            for col in range(w - delta, delta, -1):
                other = (row + offset[0, row, col], col + offset[1, row, col])
                image[row, col], image[other] = image[other], image[row, col]
        out.append(image)
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2)


def test_glass_blur_is_the_sequential_in_place_loop():
    g = torch.Generator().manual_seed(0)
    for delta in (1, 2, 3, 4):
        x = torch.rand(3, 3, 30, 27, generator=g).double()
        offsets = torch.randint(-delta, delta, (3, 2, 30, 27), generator=g)
        assert torch.equal(blur.shuffle_pixels(x, offsets, delta), _sequential_shuffle(x, offsets, delta))
    # the whole corruption without its blurs (σ = 0): the same draws, pass after pass
    x = torch.rand(2, 3, 24, 24, generator=g)
    ours = blur.glass_blur(x, {"sigma": 0.0, "delta": 2, "iterations": 3}, torch.Generator().manual_seed(5))
    draws, expected = torch.Generator().manual_seed(5), x
    for _ in range(3):
        expected = _sequential_shuffle(expected, torch.randint(-2, 2, (2, 2, 24, 24), generator=draws), 2)
    assert torch.equal(ours, expected)


FAKE_PHOTO_SIZES = [(120, 100), (90, 80), (70, 110), (64, 64), (100, 90), (80, 80)]


@pytest.fixture()
def fake_frost_photos(tmp_path, monkeypatch):
    """An installed distribution holding six frost photographs: channel 0 the row, channel 1 the
    column, channel 2 forty times the photograph's number."""
    folder = tmp_path / "probe_test_frost" / "frost"
    folder.mkdir(parents=True)
    record = []
    for k, (name, (h, w)) in enumerate(zip(frost_photos.NAMES, FAKE_PHOTO_SIZES)):
        rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        image = np.stack([rows, cols, np.full((h, w), 40 * k)], axis=-1).astype(np.uint8)
        Image.fromarray(image).save(folder / name, format="PNG")  # lossless, whatever the name says
        record.append(f"probe_test_frost/frost/{name},,")
    info = tmp_path / "probe_test_frost-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: probe-test-frost\nVersion: 1.0\n")
    (info / "RECORD").write_text("\n".join(record) + "\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(frost_photos, "DISTRIBUTION", "probe-test-frost")
    yield
    frost_photos._load.cache_clear()
    frost_photos._scaled.cache_clear()


def test_frost_uses_installed_photographs(fake_frost_photos, lenet, sample_test):
    assert frost_photos.frost_source() == "photos"
    crops = frost_photos.crops(64, 32, 32, 1.0, torch.Generator().manual_seed(0), torch.zeros(1)) * 255
    rows, cols, number = crops[:, 0, :, 0], crops[:, 1, 0, :], crops[:, 2]
    assert torch.equal(rows - rows[:, :1], torch.arange(32.0).expand(64, 32))  # contiguous windows
    assert torch.equal(cols - cols[:, :1], torch.arange(32.0).expand(64, 32))
    k = number[:, 0, 0] / 40
    assert set(k.tolist()) == {0.0, 1.0, 2.0, 3.0, 4.0}  # the first five photographs, never the sixth
    assert torch.equal(number, 40 * k[:, None, None].expand(-1, 32, 32))
    sizes = torch.tensor(FAKE_PHOTO_SIZES, dtype=torch.float)[k.long()]
    assert (rows[:, 0] <= sizes[:, 0] - 33).all() and (cols[:, 0] <= sizes[:, 1] - 33).all()
    y = corrupt(torch.zeros(16, 3, 32, 32), "frost", 3, generator=torch.Generator().manual_seed(1))  # 0.4 · photo
    assert set((y[:, 2] * 255 / 0.4 / 40).round().unique().tolist()) <= {0.0, 1.0, 2.0, 3.0, 4.0}
    ds = run(lenet, sample_test, n=4, corruptions=["frost"], severities="1")
    assert ds.attrs["param_frost_source"] == "photos" and "frost photos" in corruption_command.headline(ds)
    assert "published frost photographs" in corruption_command.report(ds)


def test_frost_falls_back_to_the_synthetic_texture(monkeypatch, lenet, sample_test, rgb):
    monkeypatch.setattr(frost_photos, "DISTRIBUTION", "probe-test-no-frost-photos")
    assert frost_photos.frost_source() == "synthetic"
    x = rgb[:4]
    y = corrupt(x, "frost", 3, generator=torch.Generator().manual_seed(2))
    layer = weather.frost_texture(4, 32, 32, torch.Generator().manual_seed(2), x) * common.colour(weather.FROST_TINT, x)
    assert torch.allclose(y, (0.9 * x + 0.4 * layer).clamp(0, 1))
    ds = run(lenet, sample_test, n=4, corruptions=["frost", "fog"], severities="1")
    assert ds.attrs["param_frost_source"] == "synthetic" and "frost synthetic" in corruption_command.headline(ds)
    assert run(lenet, sample_test, n=4, corruptions=["fog"], severities="1").attrs["param_frost_source"] is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ALL_CORRUPTIONS)
def test_cuda_matches_cpu_with_a_cpu_generator(name, rgb):
    cpu = corrupt(rgb[:4], name, 3, generator=torch.Generator().manual_seed(3))
    gpu = corrupt(rgb[:4].cuda(), name, 3, generator=torch.Generator().manual_seed(3))
    assert gpu.device.type == "cuda"
    tolerance = 2 / 255 if name == "jpeg_compression" else 1e-4
    assert (gpu.cpu() - cpu).abs().mean() < tolerance
