"""Lp balls in high dimension: uniform samples, their radius law, and how little of an L∞
ball lies inside an L2 ball of similar size (concentration of measure).

    python examples/lp_balls.py
"""
from __future__ import annotations

import torch

from probe.balls import sample_ball
from probe.overlap import overlap


def main() -> None:
    generator = torch.Generator().manual_seed(0)
    dim = 3072  # a CIFAR image
    for p in (0.5, 1.0, 2.0, float("inf")):
        points = sample_ball(4000, dim, p, 1.0, generator=generator)
        norms = points.abs().pow(p).sum(1).pow(1 / p) if p != float("inf") else points.abs().amax(1)
        # Uniform in the ball: (‖x‖/ε)^d is uniform on [0, 1], so its mean is 1/2.
        print(f"L{p:g}: mean (‖x‖/ε)^d = {float(norms.double().pow(dim).mean()):.3f} (expected 0.5)")
    for eps in (0.10, 0.125, 0.15):
        fraction, stderr = overlap(dim, float("inf"), eps, 2.0, 4.0, 4000, generator=generator)
        print(f"L∞ ball of radius {eps}: {100 * fraction:.1f} ± {100 * stderr:.1f}% inside the L2 ball of radius 4")


if __name__ == "__main__":
    main()
