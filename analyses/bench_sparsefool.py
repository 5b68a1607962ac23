"""Benchmark: batched SparseFool against a straightforward per-sample implementation.

1. Same algorithm, same model, same images: `probe.attacks.sparsefool` on the whole batch
   against a loop over samples (DeepFool on one image with one backward pass per candidate
   class, the one-coordinate-at-a-time greedy LinearSolver).  Both are timed back to back in
   this process; the results must agree.
2. With `--published CHECKPOINT` (a LeNet trained on the full Fashion-MNIST): fooling rate,
   median sparsity and time of the batched attack against a per-sample SparseFool of the
   published semantics, whose DeepFool step ignores the box.

Run: `python -m analyses.bench_sparsefool CHECKPOINT [--n 128] [--published FULL.pt]`.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from probe import data, models
from probe.attacks.linear_solver import greedy_linear_solver
from probe.attacks.sparsefool import DEEPFOOL_OVERSHOOT, SOLVER_MARGIN, boundary_normal, sparsefool
from probe.commands.common import format_table
from probe.logits import classify


def reference_deepfool(model: nn.Module, x: torch.Tensor, box: bool, candidates: int = 10,
                       overshoot: float = DEEPFOOL_OVERSHOOT,
                       max_iter: int = 50) -> tuple[torch.Tensor, int] | None:
    """DeepFool on ONE image (1, C, H, W) the straightforward way: one backward pass per candidate
    class.  With `box`, the iterate that is evaluated is `clip(x + (1+η) r, 0, 1)` (REFERENCE §1).
    Returns (r, adversarial class), or None where it does not converge."""
    with torch.no_grad():
        classes = model(x)[0].topk(min(candidates, model(x).shape[1])).indices
    label = int(classes[0])
    r = torch.zeros_like(x)
    for step in range(max_iter + 1):
        point = x + (1.0 + overshoot) * r
        point = (point.clamp(0.0, 1.0) if box else point).requires_grad_(True)
        logits = model(point)[0]
        if int(logits.argmax()) != label:
            return r, int(logits.argmax())
        if step == max_iter:
            return None
        grad_0, = torch.autograd.grad(logits[label], point, retain_graph=True)
        best, best_w, best_g = float("inf"), None, 0.0
        for k in classes[1:].tolist():
            grad_k, = torch.autograd.grad(logits[k], point, retain_graph=True)
            w = grad_k - grad_0
            g = float((logits[k] - logits[label]).detach().abs())
            if g / (float(w.norm()) + 1e-8) < best:
                best, best_w, best_g = g / (float(w.norm()) + 1e-8), w, g
        if best_w is None:
            return None
        r = r + (best_g + 1e-4) / (float(best_w.norm()) + 1e-8) ** 2 * best_w
    return None


def per_sample_sparsefool(model: nn.Module, x: torch.Tensor, lam: float = 3.0, max_iter: int = 20,
                          overshoot: float = 0.02, deepfool_box: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """SparseFool one image at a time in [0, 1] (the reference); returns (perturbations, iterations).

    `deepfool_box=False` runs the DeepFool step without the box and uses its raw `r`, as the
    published code does; otherwise `r` is the in-box part, as in `probe.attacks.sparsefool`.
    """
    perturbations, iterations = torch.zeros_like(x), torch.zeros(len(x), dtype=torch.int64)
    for i in range(len(x)):
        x0 = x[i:i + 1]
        with torch.no_grad():
            label = model(x0).argmax(1)
        xi = x0.clone()
        for _ in range(max_iter):
            with torch.no_grad():
                if model(xi).argmax(1) != label:
                    break
            found = reference_deepfool(model, xi, deepfool_box)
            if found is None:
                break
            r, adv = found
            r = ((xi + r).clamp(0.0, 1.0) - xi if deepfool_box else r).detach()
            w, _ = boundary_normal(model, xi + r, label, torch.tensor([adv]))
            norm = float(w.norm())
            if norm == 0.0:
                break
            w = w / norm
            if float((w * (-lam * r)).sum()) > 0:                               # wrong side: stop
                break
            xi = greedy_linear_solver(xi, w, xi + lam * r, 0.0, 1.0, margin=SOLVER_MARGIN)
            iterations[i] += 1
        perturbations[i] = (x0 + (1.0 + overshoot) * (xi - x0)).clamp(0.0, 1.0)[0] - x0[0]
    return perturbations, iterations


def _stats(model: nn.Module, x: torch.Tensor, perturbation: torch.Tensor, seconds: float) -> dict:
    with torch.no_grad():
        adv, finite = classify(model(x + perturbation))
        fooled = ((adv != classify(model(x))[0]) & finite).numpy()
    pixels = 100.0 * (perturbation != 0).any(1).flatten(1).sum(1).double().numpy() / (x.shape[2] * x.shape[3])
    return {"fooling_rate": 100.0 * fooled.mean(),
            "median_perturbed_pixels": float(np.median(pixels[fooled])) if fooled.any() else float("inf"),
            "time_per_sample": seconds / len(x)}


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def same_algorithm(model: nn.Module, x: torch.Tensor) -> None:
    sparsefool(model, x[:2]), per_sample_sparsefool(model, x[:2])                      # warm-up (first-call costs)
    batched, t_batched = _timed(lambda: sparsefool(model, x))
    (reference, iters), t_ref = _timed(lambda: per_sample_sparsefool(model, x))
    diff = (batched.perturbation - reference).abs().amax(dim=(1, 2, 3))
    same_iters = (batched.iterations.cpu() == iters).float().mean().item()
    rows = [["batched", *_stats(model, x, batched.perturbation, t_batched).values()],
            ["per-sample", *_stats(model, x, reference, t_ref).values()]]
    print(format_table(["implementation", "fooling rate (%)", "median pixels (%)", "s / sample"], rows))
    print(f"max |Δ perturbation| {diff.max().item():.2e}; samples equal to 1e-6: {(diff <= 1e-6).float().mean().item():.1%};"
          f" same iteration count: {same_iters:.1%}")
    print(f"speed-up (per-sample time / batched time): {t_ref / t_batched:.1f}x on {len(x)} images")


def published(model: nn.Module, x: torch.Tensor) -> None:
    sparsefool(model, x[:2]), per_sample_sparsefool(model, x[:2], deepfool_box=False)  # warm-up
    batched, t_batched = _timed(lambda: sparsefool(model, x))
    (reference, _), t_ref = _timed(lambda: per_sample_sparsefool(model, x, deepfool_box=False))
    rows = [["probe (batched, boxed DeepFool)", *_stats(model, x, batched.perturbation, t_batched).values()],
            ["published semantics (per sample)", *_stats(model, x, reference, t_ref).values()]]
    print(format_table(["implementation", "fooling rate (%)", "median pixels (%)", "s / sample"], rows))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--data", default="fashion-mnist-sample")
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--published", help="LeNet checkpoint trained on the full Fashion-MNIST")
    parser.add_argument("--published-data", default="fashion-mnist")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    test = data.load(args.data, split="test")
    x, _ = data.get_batch(test, data.subset_indices(len(test), args.n, args.seed))
    for dtype in (torch.float32, torch.float64):   # float64: exact agreement (no float32 near-ties in the sort)
        print(f"== same algorithm, {args.checkpoint}, {args.data}, {args.n} images, {torch.get_num_threads()} thread(s), {dtype}")
        same_algorithm(models.load(args.checkpoint).eval().to(dtype), x.to(dtype))
    if args.published:
        full = data.load(args.published_data, split="test")
        x, _ = data.get_batch(full, data.subset_indices(len(full), args.n, args.seed))
        print(f"== published semantics, {args.published}, {args.published_data}, {args.n} images, float32")
        published(models.load(args.published).eval(), x)


if __name__ == "__main__":
    main()
