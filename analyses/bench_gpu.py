"""GPU benchmark: batched margin sweeps against the per-sample reference loop, on the same GPU.

1. Margins on a CIFAR-style ResNet-18 (32×32, 13 DCT bands) and an ImageNet ResNet-50
   (224×224, 14 bands): time per (image, band) of `probe.margins.run` against the per-sample,
   per-band, per-class-backward loop (`analyses.bench_margins.reference_margin`, the published
   code's semantics) on the same images; the margins must agree (relative 1e-3 where both
   converge); the ratio (target ≥ 50×) and the extrapolation to 1000 ImageNet images × 14
   bands (published code ≈ 3.6 h on a V100; target ≤ 5 min) are printed.
2. SparseFool against torchattacks' SparseFool (when installed) on the CIFAR ResNet-18:
   fooling rate, median perturbed pixels and time per image.

Models have random weights (timing and agreement do not depend on training) unless
`--checkpoint-cifar` / `--checkpoint-imagenet` are given.  Prints one JSON line per
measurement.  Runs on the CPU with `--device cpu --quick` (a smoke test of the script).

    python -m analyses.bench_gpu [--device cuda] [--n-cifar 256] [--n-imagenet 32] [--reference-n 2] [--quick]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

import probe
from analyses.bench_margins import reference_margin
from probe import models
from probe.data import ArrayDataset
from probe.margins import subspace_family

# the reference code on a V100 (Ortiz-Jiménez et al. 2020, "Hold me tight!", reference code timing)
PUBLISHED_SECONDS_PER_IMAGE_BAND = 120.0 / 128


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _data(n: int, size: int, seed: int = 0) -> ArrayDataset:
    images = np.random.default_rng(seed).integers(0, 256, (n, 3, size, size), dtype=np.uint8)
    return ArrayDataset(images, np.arange(n) % 10)


def _model(arch: str, size: int, checkpoint: str | None, device: torch.device):
    if checkpoint:
        return models.load(checkpoint, map_location=device).eval()
    torch.manual_seed(0)
    return models.build(arch, in_channels=3, num_classes=10, image_size=(size, size)).to(device).eval()


def margins_case(name: str, arch: str, size: int, n: int, reference_n: int, max_iter: int, device: torch.device,
                 checkpoint: str | None) -> dict:
    model = _model(arch, size, checkpoint, device)
    data = _data(n, size)
    family = subspace_family((3, size, size))
    probe.margins.run(model, data, n=min(n, 2), max_iter=2, device=device)   # warm-up (kernels, allocator)
    _sync(device)
    start = time.perf_counter()
    ds = probe.margins.run(model, data, n=n, max_iter=max_iter, device=device)
    _sync(device)
    batched = (time.perf_counter() - start) / (n * len(family))
    reference = np.full((len(family), reference_n), np.inf)
    start = time.perf_counter()
    for i, index in enumerate(ds["sample"].values[:reference_n]):
        image = data.batch([index])[0].to(device)
        for member in range(len(family)):
            reference[member, i] = reference_margin(model, image, family, member, max_iter=max_iter)
    _sync(device)
    per_sample = (time.perf_counter() - start) / (reference_n * len(family))
    ours = ds["margin"].values[:, :reference_n]
    both = np.isfinite(ours) & np.isfinite(reference)
    difference = float((np.abs(ours[both] - reference[both]) / reference[both]).max()) if both.any() else 0.0
    return {"case": name, "device": str(device), "images": n, "bands": len(family),
            "working_batch": int(ds.attrs["batch_size"]), "seconds_per_image_band": batched,
            "reference_seconds_per_image_band": per_sample, "speedup": per_sample / batched,
            "max_relative_difference": difference,
            "flag_mismatches": int((np.isfinite(ours) != np.isfinite(reference)).sum()),
            "minutes_for_1000x14": batched * 1000 * 14 / 60,
            "published_hours_for_1000x14": PUBLISHED_SECONDS_PER_IMAGE_BAND * 1000 * 14 / 3600}


def sparsefool_case(n: int, device: torch.device, checkpoint: str | None) -> dict:
    model = _model("resnet18", 32, checkpoint, device)
    data = _data(n, 32, seed=1)
    _sync(device)
    start = time.perf_counter()
    numbers = probe.sparsefool.summary(probe.sparsefool.run(model, data, n=n, device=device))
    _sync(device)
    ours = {"fooling_rate": numbers["fooling_rate"], "median_perturbed_pixels": numbers["median_perturbed_pixels"],
            "seconds_per_image": (time.perf_counter() - start) / n}
    try:
        import torchattacks
    except ImportError:
        return {"case": "sparsefool", "probe": ours, "torchattacks": "not installed"}
    x, y = data.batch(np.arange(n))
    x, y = x.to(device), y.to(device)
    attack = torchattacks.SparseFool(model, steps=20, lam=3, overshoot=0.02)
    _sync(device)
    start = time.perf_counter()
    adversarial = attack(x, model(x).argmax(1))
    _sync(device)
    changed = (adversarial != x).any(1).flatten(1).float().mean(1) * 100
    fooled = model(adversarial).argmax(1) != model(x).argmax(1)
    theirs = {"fooling_rate": float(fooled.float().mean() * 100),
              "median_perturbed_pixels": float(changed[fooled].median()) if fooled.any() else float("inf"),
              "seconds_per_image": (time.perf_counter() - start) / n}
    return {"case": "sparsefool", "probe": ours, "torchattacks": theirs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--n-cifar", type=int, default=256)
    parser.add_argument("--n-imagenet", type=int, default=32)
    parser.add_argument("--reference-n", type=int, default=2, help="images of the per-sample loop")
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--checkpoint-cifar")
    parser.add_argument("--checkpoint-imagenet")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check that the script runs")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.quick:
        args.n_cifar, args.n_imagenet, args.reference_n, args.max_iter = 4, 1, 1, 3
    cases = [("cifar-resnet18", "resnet18", 32, args.n_cifar, args.checkpoint_cifar),
             ("imagenet-resnet50", "imagenet-resnet50", 64 if args.quick else 224, args.n_imagenet,
              args.checkpoint_imagenet)]
    for name, arch, size, n, checkpoint in cases:
        print(json.dumps(margins_case(name, arch, size, n, args.reference_n, args.max_iter, device, checkpoint)),
              flush=True)
    print(json.dumps(sparsefool_case(min(args.n_cifar, 64), device, args.checkpoint_cifar)), flush=True)


if __name__ == "__main__":
    main()
