"""Benchmark: probes on 224×224 images stay within their memory budget.

Each case runs in a fresh process and reports its peak resident memory (VmHWM), its time, the
working batch the runner chose and the budget: margins with default options (14 DCT bands) on a
CIFAR-style ResNet-18 at 224×224 — full-size feature maps, the worst case — and on an ImageNet
ResNet-50, SparseFool, PGD (working batch from the same budget rule) and the corruption probe.
Models have random weights and the images are random: memory and time do not depend on either.

    python -m analyses.bench_scale [--cases margins sparsefool pgd corruptions] [--max-memory 2G]
        [--device cpu] [--n 2] [--max-iter 2]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
import torch

import probe
from probe import memory, models
from probe.attacks.pgd import pgd_attack
from probe.data import ArrayDataset

CASES = {   # name: (architecture, what runs)
    "margins": ("resnet18", "margins"),
    "margins-resnet50": ("imagenet-resnet50", "margins"),
    "sparsefool": ("resnet18", "sparsefool"),
    "pgd": ("resnet18", "pgd"),
    "corruptions": ("resnet18", "corruptions"),
}
SIZE = 224
PGD_ROW_COST = 3.0   # a forward and a backward pass per image


def peak_resident_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) * 1024
    return -1


def run_case(name: str, args: argparse.Namespace) -> dict:
    """One case in this process; returns its measurements."""
    arch, kind = CASES[name]
    torch.manual_seed(0)
    device = torch.device(args.device)
    model = models.build(arch, in_channels=3, num_classes=10, image_size=(SIZE, SIZE)).to(device).eval()
    images = np.random.default_rng(0).integers(0, 256, (max(args.n, 8), 3, SIZE, SIZE), dtype=np.uint8)
    data = ArrayDataset(images, np.arange(len(images)) % 10)
    start = time.perf_counter()
    common = dict(n=args.n, max_memory=args.max_memory, device=device)
    if kind == "margins":
        ds = probe.margins.run(model, data, max_iter=args.max_iter, **common)
        extra = {"pairs": int(ds["margin"].size)}
    elif kind == "sparsefool":
        ds = probe.sparsefool.run(model, data, max_iter=1, **common)
        extra = {}
    elif kind == "corruptions":
        ds = probe.corruptions.run(model, data, corruptions=["gaussian_noise", "defocus_blur", "zoom_blur", "contrast",
                                                             "jpeg_compression"], severities="3", **common)
        extra = {}
    else:
        x, y = data.batch(np.arange(8))
        row_bytes = PGD_ROW_COST * memory.activation_bytes(model, x[:1].to(device))
        rows = memory.working_batch(memory.budget(device, args.max_memory), row_bytes, 8)
        for begin in range(0, 8, rows):
            pgd_attack(model, x[begin:begin + rows].to(device), y[begin:begin + rows].to(device), norm="l2",
                       epsilon=1.0, steps=2)
        ds = None
        extra = {"working_batch": rows, "images": 8}
    seconds = time.perf_counter() - start
    measured = {"case": name, "arch": arch, "seconds": round(seconds, 1),
                "peak_gib": round(peak_resident_bytes() / memory.GIB, 2)}
    if ds is not None:
        measured.update(working_batch=int(ds.attrs["batch_size"]),
                        budget_gib=round(ds.attrs["memory_budget"] / memory.GIB, 2))
    return {**measured, **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["margins", "sparsefool", "pgd", "corruptions"],
                        choices=sorted(CASES))
    parser.add_argument("--max-memory", default=None, help="budget (default: the runner's, 2G on CPU)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n", type=int, default=2)
    parser.add_argument("--max-iter", type=int, default=2)
    parser.add_argument("--one", help=argparse.SUPPRESS)   # run one case in this process (the child)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_case(args.one, args)))
        return
    for name in args.cases:
        child = [sys.executable, "-m", "analyses.bench_scale", "--one", name, "--device", args.device,
                 "--n", str(args.n), "--max-iter", str(args.max_iter)]
        if args.max_memory:
            child += ["--max-memory", args.max_memory]
        proc = subprocess.run(child, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{name}: failed\n{proc.stderr[-2000:]}")
            continue
        print(proc.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
