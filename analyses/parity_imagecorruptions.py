"""Parity of `probe.corruptions` with the reference ImageNet-C code on real photographs.

For every benchmark corruption and severity at ImageNet parameters, the mean SSIM between
the clean and the corrupted image, over real 224×224 photographs (scikit-image's astronaut,
chelsea, coffee, rocket and motorcycle: shorter side resized to 224, centre crop) and several
seeds, for `probe` and for the reference.  The reference is the `imagecorruptions` package
(1.1.2, the ImageNet-C code), except for elastic_transform: the package changed that one, so
its reference is the published ImageNet-C formula, written out below (`_published_elastic`).
A cell passes when the means differ by at most 0.02 (0.03 for frost, whose crops come from
photographs of different sizes).  The two sides draw their random numbers independently, so
the difference of the means has a sampling error: `s.e.` is its standard error, from the
differences paired by (seed, photograph); corruptions whose strength varies much from draw to
draw (frost: which photograph; elastic: the affine jitter of up to ±49 px) get 20 seeds per
photograph, the others 3 (`--seeds N` sets one count for all).  Both sides are quantised as
the reference quantises its output (8 bits, truncated) and scored with the same SSIM (`ssim`:
scikit-image's Gaussian SSIM, 11×11 window, σ 1.5).

Measured (5 photographs, 20 seeds): the package's frost is 0.011-0.016 SSIM milder than the
published ImageNet-C frost, which `probe` follows, because the package enlarges the photographs
by 1.1 (bicubic) before cropping; `probe` is within 0.025 of the package at every severity.

The package side runs in its own virtual environment, because the package's last release
breaks on NumPy 2 (`np.float_`) and on recent scikit-image (the `multichannel` argument):
Python's `venv` under `CACHE/venv` (default `~/.cache/probe/parity-imagecorruptions`),
created by this script when missing, with `pip install "numpy<2" "scipy<1.12"
"scikit-image==0.20.*" "setuptools<81" imagecorruptions==1.1.2` (its opencv-python comes
along), and one shim: `skimage.filters.gaussian` accepts `multichannel=` again (mapped to
`channel_axis=-1`) before the package is imported.  This script runs itself there with
`--package-side`; that side needs only NumPy, SciPy and the venv's packages.  `probe`'s frost
reads the package's frost photographs from that venv (its site-packages is appended to
`sys.path` for their lookup; the package is never imported on this side).

    python -m analyses.parity_imagecorruptions [--seeds N] [--corruptions NAME ...] [--cache DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
from scipy import ndimage

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "stereo_motorcycle")
CORRUPTIONS = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
               "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
               "jpeg_compression")
TOLERANCE = {"frost": 0.03}
SEEDS = 3
MORE_SEEDS = {"frost": 20, "elastic_transform": 20}   # strength varies much between draws
DEFAULT_TOLERANCE = 0.02
PACKAGES = ["numpy<2", "scipy<1.12", "scikit-image==0.20.*", "setuptools<81", "imagecorruptions==1.1.2"]
SIZE = 224


def ssim(clean: np.ndarray, other: np.ndarray) -> float:
    """Mean SSIM of two (H, W, C) images in [0, 1]: Gaussian window σ 1.5 (11×11), C1 = 0.01², C2 = 0.03²,
    population covariances, averaged over channels and pixels at least 5 from the border (scikit-image's
    `structural_similarity(gaussian_weights=True, use_sample_covariance=False, data_range=1)`)."""
    def blur(a: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(a, (1.5, 1.5, 0), truncate=3.5, mode="reflect")
    x, y = clean.astype(np.float64), other.astype(np.float64)
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s[5:-5, 5:-5].mean())


def quantised(image: np.ndarray) -> np.ndarray:
    """The reference's 8-bit output, truncated (`np.uint8` of values in [0, 255]), back in [0, 1]."""
    return np.floor(np.clip(image, 0, 1) * 255 + 1e-6) / 255


# ----------------------------------------------------------------------------- package side (in the venv)

def _photos() -> dict[str, np.ndarray]:
    """The clean 224×224 uint8 photographs: shorter side resized to 224 (Pillow bilinear), centre crop."""
    import skimage.data
    from PIL import Image
    out = {}
    for name in PHOTOS:
        image = getattr(skimage.data, name)()
        image = image[0] if isinstance(image, tuple) else image
        h, w = image.shape[:2]
        scale = SIZE / min(h, w)
        size = (max(SIZE, round(w * scale)), max(SIZE, round(h * scale)))
        resized = np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))
        top, left = (resized.shape[0] - SIZE) // 2, (resized.shape[1] - SIZE) // 2
        out[name] = np.ascontiguousarray(resized[top:top + SIZE, left:left + SIZE, :3])
    return out


def _published_elastic(image: np.ndarray, severity: int) -> np.ndarray:
    """The ImageNet-C elastic transform: (α, σ, affine jitter) = 244 × the published fractions on 224
    pixels; an affine warp (OpenCV, reflect-101 borders) moving three control points by U(−a, a), then
    displacement fields of U(−1, 1) noise blurred by σ (scikit-image, reflect, truncate 3) times α,
    resampled bilinearly (SciPy, reflect).  Returns float values in [0, 255]."""
    import cv2
    from skimage.filters import gaussian
    fractions = [(2, .7, .1), (2, .08, .2), (.05, .01, .02), (.07, .01, .02), (.12, .01, .02)][severity - 1]
    alpha, sigma, jitter = (244 * f for f in fractions)
    x = image.astype(np.float32) / 255
    h, w = x.shape[:2]
    centre, side = np.float32([h, w]) // 2, min(h, w) // 3
    points = np.float32([centre + side, [centre[0] + side, centre[1] - side], centre - side])
    moved = points + np.random.uniform(-jitter, jitter, size=points.shape).astype(np.float32)
    x = cv2.warpAffine(x, cv2.getAffineTransform(points, moved), (w, h), borderMode=cv2.BORDER_REFLECT_101)
    dx, dy = (gaussian(np.random.uniform(-1, 1, size=(h, w)), sigma, mode="reflect", truncate=3) * alpha
              for _ in range(2))
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    out = np.stack([ndimage.map_coordinates(x[..., c], [rows + dy, cols + dx], order=1, mode="reflect")
                    for c in range(x.shape[2])], axis=-1)
    return np.clip(out, 0, 1) * 255


def package_side(out: Path, seeds: dict[str, int], corruptions: list[str]) -> None:
    """In the venv: the package's SSIMs per (corruption, severity) over photographs × seeds, and the photographs."""
    import skimage.filters
    plain = skimage.filters.gaussian
    skimage.filters.gaussian = lambda image, *a, multichannel=None, **k: plain(  # the shim
        image, *a, **k, **({"channel_axis": -1} if multichannel else {}))
    from imagecorruptions import corrupt
    photos = _photos()
    result: dict[str, dict[str, list[float]]] = {}
    for name in corruptions:
        for severity in range(1, 6):
            values = []
            for seed in range(seeds[name]):
                for k, image in enumerate(photos.values()):
                    np.random.seed(1000 * seed + 10 * k + severity)
                    if name == "elastic_transform":
                        corrupted = np.uint8(_published_elastic(image, severity))
                    else:
                        corrupted = corrupt(image, corruption_name=name, severity=severity)
                    values.append(ssim(image / 255, corrupted / 255))
            result.setdefault(name, {})[str(severity)] = values
            print(f"package {name} {severity}: {np.mean(values):.4f}", file=sys.stderr, flush=True)
    np.savez(out.with_suffix(".npz"), **photos)
    out.write_text(json.dumps({"photos": list(photos), "ssim": result}))


# ----------------------------------------------------------------------------- probe side

def ensure_venv(cache: Path) -> Path:
    """The package-side interpreter, creating its virtual environment when it is missing."""
    python = cache / "venv" / "bin" / "python"
    if not python.exists():
        cache.mkdir(parents=True, exist_ok=True)
        venv.create(cache / "venv", with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PACKAGES], check=True)
    return python


def probe_side(photos: np.ndarray, seeds: dict[str, int],
               corruptions: list[str]) -> dict[str, dict[str, list[float]]]:
    """`probe`'s SSIMs, in the same layout as the package side's (photographs vary fastest)."""
    import torch

    from probe.corruptions import corrupt
    x = torch.from_numpy(photos).permute(0, 3, 1, 2).double() / 255
    result: dict[str, dict[str, list[float]]] = {}
    for name in corruptions:
        for severity in range(1, 6):
            values = []
            for seed in range(seeds[name]):
                generator = torch.Generator().manual_seed(1000 * seed + severity)
                corrupted = corrupt(x, name, severity, params="imagenet", generator=generator)
                for clean, image in zip(photos, corrupted.permute(0, 2, 3, 1).numpy()):
                    values.append(ssim(clean / 255, quantised(image)))
            result.setdefault(name, {})[str(severity)] = values
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, help=f"seeds per photograph (default {SEEDS}; "
                        f"{', '.join(f'{k} {v}' for k, v in MORE_SEEDS.items())})")
    parser.add_argument("--corruptions", nargs="+", default=list(CORRUPTIONS), choices=CORRUPTIONS, metavar="NAME")
    parser.add_argument("--cache", type=Path,
                        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                        / "probe" / "parity-imagecorruptions", help="folder of the package-side venv")
    parser.add_argument("--package-side", type=Path, metavar="OUT.json", help=argparse.SUPPRESS)
    parser.add_argument("--seed-counts", type=json.loads, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.package_side:
        package_side(args.package_side, args.seed_counts, args.corruptions)
        return 0
    seeds = {name: args.seeds or MORE_SEEDS.get(name, SEEDS) for name in args.corruptions}
    python = ensure_venv(args.cache)
    theirs_file = args.cache / "package_ssim.json"
    subprocess.run([str(python), str(Path(__file__).resolve()), "--package-side", str(theirs_file),
                    "--seed-counts", json.dumps(seeds), "--corruptions", *args.corruptions], check=True)
    theirs = json.loads(theirs_file.read_text())
    with np.load(theirs_file.with_suffix(".npz")) as stored:
        photos = np.stack([stored[name] for name in theirs["photos"]])
    site = next((args.cache / "venv" / "lib").glob("python*/site-packages"))
    sys.path.append(str(site))  # only for the lookup of the frost photographs' files
    from probe.corruptions.frost_photos import frost_source
    from probe.tables import format_table
    ours = probe_side(photos, seeds, args.corruptions)
    rows, failed = [], 0
    for name in args.corruptions:
        tolerance = TOLERANCE.get(name, DEFAULT_TOLERANCE)
        for severity in range(1, 6):
            mine, reference = np.array(ours[name][str(severity)]), np.array(theirs["ssim"][name][str(severity)])
            a, b = float(mine.mean()), float(reference.mean())
            error = float(np.std(mine - reference, ddof=1) / np.sqrt(len(mine)))  # paired by (seed, photograph)
            ok = abs(a - b) <= tolerance
            failed += not ok
            rows.append([name, severity, f"{a:.4f}", f"{b:.4f}", f"{a - b:+.4f}", f"{error:.4f}",
                         "ok" if ok else f"> {tolerance}"])
    print(format_table(["corruption", "severity", "probe SSIM", "reference SSIM", "difference", "s.e.", "within"],
                       rows))
    usual = args.seeds or SEEDS
    others = "".join(f", {name} {count}" for name, count in seeds.items() if count != usual)
    print(f"{len(rows) - failed} of {len(rows)} cells within tolerance; {len(photos)} photographs × {usual} seeds "
          f"per cell{others}; frost in probe: {frost_source()}; elastic reference: the published ImageNet-C formula")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
