"""Benchmark: overlap Monte Carlo, 10^6 samples at d = 3072 for one (p, radius) pair.

Times `probe.overlap.overlap` (chunked float32 torch, stable sampler) against a
straightforward float64 NumPy version that draws all samples at once with `Gamma(1/p)`.
Each implementation runs in a fresh process so that its peak resident memory can be read
(`ru_maxrss`).  The NumPy version needs n·d·8 bytes per array (24.6 GB at 10^6 × 3072), so
it runs on `--numpy-samples` and its time and memory are also given per 10^6 samples by
linear extrapolation (clearly marked).  Both estimates must agree within binomial error.

    python -m analyses.bench_overlap [--samples 1000000] [--p 1] [--radius 157] [--numpy-samples 20000]
"""
from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time

import numpy as np

DIM = 3072
REFERENCE = (2.0, 4.0)


def numpy_overlap(n: int, dim: int, p: float, radius: float, seed: int) -> float:
    """The textbook float64 version: every sample at once, g = ±Gamma(1/p)^(1/p)."""
    rng = np.random.default_rng(seed)
    if math.isinf(p):
        x = rng.uniform(-radius, radius, size=(n, dim))
    else:
        g = rng.gamma(1.0 / p, size=(n, dim)) ** (1.0 / p) * rng.choice([-1.0, 1.0], size=(n, dim))
        scale = rng.random(n) ** (1.0 / dim)
        x = radius * scale[:, None] * g / (np.abs(g) ** p).sum(1, keepdims=True) ** (1.0 / p)
    return float(np.mean(np.sqrt((x ** 2).sum(1)) <= REFERENCE[1]))


def worker(impl: str, n: int, p: float, radius: float, seed: int) -> dict:
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if impl == "torch":
        import torch

        from probe.overlap import overlap
        torch.manual_seed(seed)
        fraction, _ = overlap(DIM, p, radius, *REFERENCE, n, generator=torch.Generator().manual_seed(seed))
    else:
        fraction = numpy_overlap(n, DIM, p, radius, seed)
    seconds = time.perf_counter() - start
    peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline) / 1024
    return {"impl": impl, "n": n, "seconds": seconds, "peak_mb": peak_mb, "fraction": fraction}


def run_in_subprocess(impl: str, n: int, p: float, radius: float, seed: int) -> dict:
    out = subprocess.run([sys.executable, "-m", "analyses.bench_overlap", "--worker", impl, "--samples", str(n),
                          "--p", str(p), "--radius", str(radius), "--seed", str(seed)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--numpy-samples", type=int, default=20_000)
    parser.add_argument("--p", type=float, default=1.0)
    parser.add_argument("--radius", type=float, default=157.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", choices=("torch", "numpy"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.samples, args.p, args.radius, args.seed)))
        return
    ours = run_in_subprocess("torch", args.samples, args.p, args.radius, args.seed)
    ref = run_in_subprocess("numpy", args.numpy_samples, args.p, args.radius, args.seed + 1)
    scale = args.samples / args.numpy_samples
    se = math.sqrt(ours["fraction"] * (1 - ours["fraction"]) / ours["n"]
                   + ref["fraction"] * (1 - ref["fraction"]) / ref["n"])
    print(f"overlap of L{args.p:g}(radius {args.radius:g}) with L2(4), d = {DIM}")
    print(f"{'implementation':<34}{'samples':>10}{'time (s)':>12}{'peak RSS (MB)':>16}{'fraction':>10}")
    print(f"{'probe (torch f32, chunked)':<34}{ours['n']:>10}{ours['seconds']:>12.2f}{ours['peak_mb']:>16.0f}"
          f"{ours['fraction']:>10.4f}")
    print(f"{'NumPy f64, all at once':<34}{ref['n']:>10}{ref['seconds']:>12.2f}{ref['peak_mb']:>16.0f}"
          f"{ref['fraction']:>10.4f}")
    print(f"{'NumPy, extrapolated ×' + format(scale, 'g'):<34}{args.samples:>10}{ref['seconds'] * scale:>12.1f}"
          f"{ref['peak_mb'] * scale:>16.0f}{'':>10}")
    print(f"per-sample speed ratio (NumPy / probe): {ref['seconds'] / ref['n'] / (ours['seconds'] / ours['n']):.2f}")
    agree = abs(ours["fraction"] - ref["fraction"]) <= 4 * se + 1e-12
    print(f"fractions agree within 4 binomial s.e. ({se:.4f}): {agree}")


if __name__ == "__main__":
    main()
