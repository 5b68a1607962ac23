"""Benchmark: batched tensor corruptions against a per-image NumPy/SciPy/PIL loop.

All 19 corruptions × 5 severities of `--n` synthetic smooth 32×32 RGB images (bicubic
upsampling of 10×10 uniform noise).  The batched `probe.corruptions.corrupt` runs on the
whole batch; the reference is a straightforward per-image implementation of the same
parameters (SciPy filters and zooms, PIL for BOX resizing and JPEG, matplotlib's HSV
conversion), timed on the first `--n-reference` images.  Agreement: deterministic
corruptions report the largest pixel difference; random ones report the mean damage
|corrupted − clean| of both (the random streams differ).  Frost (synthetic texture) and
spatter (simplified shading) have no independent reference and are timed batched only.

Glass blur, whose reference is a sequential pass over every pixel, is also timed on 224×224
images at ImageNet parameters (`--n-glass` images, δ up to 4, up to 3 passes), batched and as the
per-image loop (the loop times two images).

    python -m analyses.bench_corruptions [--n 1000] [--n-reference 200] [--n-glass 32] [--threads 1]
"""
from __future__ import annotations

import argparse
import io
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.colors import hsv_to_rgb, rgb_to_hsv
from PIL import Image
from scipy import ndimage

from probe.corruptions import ALL_CORRUPTIONS, FAMILIES, corrupt, severity_params
from probe.tables import format_table

DETERMINISTIC = {"defocus_blur", "zoom_blur", "gaussian_blur", "brightness", "contrast", "pixelate",
                 "jpeg_compression", "saturate"}


def images(n: int, seed: int = 0) -> torch.Tensor:
    """Smooth random 32×32 RGB images in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(n, 3, 10, 10, generator=g), size=32, mode="bicubic",
                         align_corners=False).clamp(0, 1)


# ---- per-image references: x is (H, W, C) float64 in [0, 1] ----

def _blur(x, sigma, truncate=4.0, mode="nearest"):
    return ndimage.gaussian_filter(x, (sigma, sigma, 0), mode=mode, truncate=truncate) if sigma > 0 else x


def _clipped_zoom(x, factor):
    h = x.shape[0]
    crop = int(math.ceil(h / factor))
    top = (h - crop) // 2
    zoomed = ndimage.zoom(x[top:top + crop, top:top + crop], (factor, factor, 1), order=1)
    trim = (zoomed.shape[0] - h) // 2
    return zoomed[trim:trim + h, trim:trim + h]


def _motion(x, radius, sigma, angle):
    taps = 2 * radius + 1
    weights = np.exp(-np.arange(taps) ** 2 / (2 * sigma ** 2))
    weights /= weights.sum()
    padded = np.pad(x, ((taps, taps), (taps, taps), (0, 0)), mode="edge")
    out = np.zeros_like(x)
    h, w = x.shape[:2]
    for i, weight in enumerate(weights):
        dy = math.ceil(i * math.sin(angle) - 0.5)
        dx = math.ceil(i * math.cos(angle) - 0.5)
        out += weight * padded[taps + dy:taps + dy + h, taps + dx:taps + dx + w]
    return out


def _disk(radius, alias):
    support = math.ceil(radius) + 1
    grid = np.arange(-support, support + 1)
    disk = ((grid[:, None] ** 2 + grid[None, :] ** 2) <= radius ** 2).astype(float)
    taps = np.exp(-np.array([1.0, 0.0, 1.0]) / (2 * alias ** 2))
    kernel = ndimage.correlate(disk / disk.sum(), np.outer(taps, taps) / taps.sum() ** 2, mode="constant")
    return kernel / kernel.sum()


def _plasma(size, decay, rng):
    grid = np.zeros((size, size))
    step, wibble = size, 100.0
    while step >= 2:
        half = step // 2
        corners = grid[::step, ::step]
        square = corners + np.roll(corners, -1, 0)
        square = square + np.roll(square, -1, 1)
        grid[half::step, half::step] = square / 4 + wibble * rng.uniform(-wibble, wibble, square.shape)
        centres, corners = grid[half::step, half::step], grid[::step, ::step]
        left = centres + np.roll(centres, 1, 0) + corners + np.roll(corners, -1, 1)
        grid[::step, half::step] = left / 4 + wibble * rng.uniform(-wibble, wibble, left.shape)
        top = centres + np.roll(centres, 1, 1) + corners + np.roll(corners, -1, 0)
        grid[half::step, ::step] = top / 4 + wibble * rng.uniform(-wibble, wibble, top.shape)
        step //= 2
        wibble /= decay
    grid -= grid.min()
    return grid / grid.max()


def _pil(x, mode="RGB"):
    return Image.fromarray((x * 255).round().clip(0, 255).astype(np.uint8), mode=mode)


def _box(x, size):
    return np.stack([np.asarray(Image.fromarray(x[..., c].astype(np.float32), mode="F").resize(size, Image.BOX))
                     for c in range(x.shape[2])], axis=-1)


def _elastic(x, p, rng):
    h, w = x.shape[:2]
    centre = np.array([w // 2, h // 2], dtype=float)
    side = min(h, w) // 3
    source = np.array([centre + side, centre + [side, -side], centre - side])
    moved = source + rng.uniform(-p["affine"], p["affine"], source.shape)
    back = np.linalg.solve(np.c_[moved, np.ones(3)], source)  # (x, y, 1) -> source (x, y)
    matrix = np.array([[back[1, 1], back[0, 1]], [back[1, 0], back[0, 0]]])  # in (row, col) order
    offset = np.array([back[2, 1], back[2, 0]])
    warped = np.stack([ndimage.affine_transform(x[..., c], matrix, offset, order=1, mode="mirror")
                       for c in range(x.shape[2])], axis=-1)
    fields = [ndimage.gaussian_filter(rng.uniform(-1, 1, (h, w)), p["sigma"], mode="reflect", truncate=3) * p["alpha"]
              for _ in range(2)]
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    coords = [rows + fields[1], cols + fields[0]]
    return np.stack([ndimage.map_coordinates(warped[..., c], coords, order=1, mode="mirror")
                     for c in range(x.shape[2])], axis=-1)


def _glass(x, p, rng):
    """The reference's sequential pass, in place: a pixel scanned later reads already-moved pixels."""
    delta = int(p["delta"])
    h, w = x.shape[:2]
    x = _blur(x, p["sigma"])
    for _ in range(int(p["iterations"])):
        for row in range(h - delta, delta, -1):
            for col in range(w - delta, delta, -1):
                dy, dx = rng.integers(-delta, delta, size=2)
                x[row, col] = x[row + dy, col + dx]
    return _blur(x, p["sigma"])


def _snow(x, p, rng):
    h, w = x.shape[:2]
    flakes = _clipped_zoom(rng.normal(p["loc"], p["scale"], (h, w, 1)), p["zoom"])
    flakes = np.clip(np.where(flakes < p["threshold"], 0, flakes), 0, 1)
    flakes = _motion(flakes, int(p["blur_radius"]), p["blur_sigma"], math.radians(rng.uniform(-135, -45)))
    grey = (x @ np.array([0.299, 0.587, 0.114]))[..., None]
    x = p["blend"] * x + (1 - p["blend"]) * np.maximum(x, grey * 1.5 + 0.5)
    return x + flakes + flakes[::-1, ::-1]


def _jpeg(x, quality):
    buffer = io.BytesIO()
    _pil(x).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer)) / 255.0


def _hsv(x, fn):
    hsv = rgb_to_hsv(x)
    fn(hsv)
    return hsv_to_rgb(np.clip(hsv, 0, 1))


REFERENCE = {
    "gaussian_noise": lambda x, p, rng: x + rng.normal(0, p["sigma"], x.shape),
    "shot_noise": lambda x, p, rng: rng.poisson(x * p["rate"]) / p["rate"],
    "impulse_noise": lambda x, p, rng: np.where(rng.random(x.shape) < p["amount"],
                                                (rng.random(x.shape) < 0.5).astype(float), x),
    "speckle_noise": lambda x, p, rng: x + x * rng.normal(0, p["sigma"], x.shape),
    "gaussian_blur": lambda x, p, rng: _blur(x, p["sigma"]),
    "defocus_blur": lambda x, p, rng: ndimage.correlate(x, _disk(p["radius"], p["alias_sigma"])[..., None],
                                                        mode="mirror"),
    "glass_blur": _glass,
    "motion_blur": lambda x, p, rng: _motion(x, int(p["radius"]), p["sigma"], math.radians(rng.uniform(-45, 45))),
    "zoom_blur": lambda x, p, rng: (x + sum(_clipped_zoom(x, z) for z in p["zooms"])) / (len(p["zooms"]) + 1),
    "snow": _snow,
    "fog": lambda x, p, rng: (x + p["strength"] * _plasma(p["map_size"], p["decay"], rng)[:32, :32, None])
    * x.max() / (x.max() + p["strength"]),
    "brightness": lambda x, p, rng: _hsv(x, lambda hsv: hsv.__setitem__((..., 2), hsv[..., 2] + p["delta"])),
    "saturate": lambda x, p, rng: _hsv(x, lambda hsv: hsv.__setitem__((..., 1), hsv[..., 1] * p["scale"] + p["shift"])),
    "contrast": lambda x, p, rng: (x - x.mean(axis=(0, 1))) * p["factor"] + x.mean(axis=(0, 1)),
    "elastic_transform": _elastic,
    "pixelate": lambda x, p, rng: _box(_box(x, (int(32 * p["factor"]),) * 2), (32, 32)),
    "jpeg_compression": lambda x, p, rng: _jpeg(x, int(p["quality"])),
}


def run_reference(name: str, severity: int, x: torch.Tensor, seed: int,
                  family: str = "cifar") -> tuple[np.ndarray, float]:
    """Per-image loop: corrupted images (N, C, H, W) and seconds."""
    p = severity_params(name, severity, tuple(x.shape[-2:]), family)
    rng = np.random.default_rng(seed)
    batch = x.permute(0, 2, 3, 1).double().numpy()
    start = time.perf_counter()
    out = np.stack([np.clip(REFERENCE[name](image.copy(), p, rng), 0, 1) for image in batch])
    return out.transpose(0, 3, 1, 2), time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="images for the batched run")
    parser.add_argument("--n-reference", type=int, default=200, help="images for the per-image reference loop")
    parser.add_argument("--n-glass", type=int, default=32, help="224×224 images for the glass-blur timing")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    x = images(args.n).to(args.device)
    family_of = {name: family for family, names in FAMILIES.items() for name in names}
    rows, family_time = [], {}
    for name in ALL_CORRUPTIONS:
        for severity in range(1, 6):
            generator = torch.Generator().manual_seed(severity)
            corrupt(x[:8], name, severity, generator=generator)  # warm-up
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            y = corrupt(x, name, severity, generator=generator)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            batched = (time.perf_counter() - start) / args.n
            row = [name, severity, f"{batched * 1e6:.1f}"]
            if name in REFERENCE:
                clean = x[:args.n_reference].cpu()
                ref, seconds = run_reference(name, severity, clean, severity)
                per_image = seconds / args.n_reference
                ours = y[:args.n_reference].cpu().double().numpy()
                if name in DETERMINISTIC:
                    agreement = f"max|Δ| {np.abs(ours - ref).max():.4f}"
                else:
                    base = clean.double().numpy()
                    agreement = f"damage {np.abs(ours - base).mean():.4f} vs {np.abs(ref - base).mean():.4f}"
                row += [f"{per_image * 1e6:.1f}", f"{per_image / batched:.1f}", agreement]
                totals = family_time.setdefault(family_of[name], [0.0, 0.0])
                totals[0] += batched
                totals[1] += per_image
            else:
                row += ["-", "-", "no reference"]
            rows.append(row)
            print(" | ".join(str(v) for v in row), flush=True)
    print(format_table(["corruption", "severity", "batched µs/img", "loop µs/img", "speed-up", "agreement"], rows))
    print(format_table(["family (cells with a reference)", "Σ batched µs/img", "Σ loop µs/img", "speed-up"],
                       [[family, f"{b * 1e6:.1f}", f"{r * 1e6:.1f}", f"{r / b:.1f}"]
                        for family, (b, r) in family_time.items()]))
    print(format_table(["glass blur 224×224 (ImageNet)", "batched ms/img", "loop ms/img", "speed-up"],
                       glass_at_224(args.n_glass, args.device)))


def glass_at_224(n: int, device: str) -> list[list]:
    """Per severity: batched and per-image-loop milliseconds per 224×224 image."""
    x = F.interpolate(images(n), size=224, mode="bicubic", align_corners=False).clamp(0, 1).to(device)
    rows = []
    for severity in range(1, 6):
        corrupt(x[:2], "glass_blur", severity, params="imagenet", generator=torch.Generator().manual_seed(0))
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        corrupt(x, "glass_blur", severity, params="imagenet", generator=torch.Generator().manual_seed(severity))
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        batched = (time.perf_counter() - start) / n
        _, seconds = run_reference("glass_blur", severity, x[:2].cpu(), severity, "imagenet")
        rows.append([severity, f"{batched * 1e3:.1f}", f"{seconds / 2 * 1e3:.0f}", f"{seconds / 2 / batched:.0f}"])
    return rows


if __name__ == "__main__":
    main()
