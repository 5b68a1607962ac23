"""Benchmark: batched SparseFool against a per-sample loop written from the published semantics.

The reference follows the SparseFool authors' algorithm (Modas, Moosavi-Dezfooli and Frossard,
2019, §3, Algorithm 1, with the rules of their code) one image at a time: DeepFool ("original"
rule, no box) from `x_i` with one backward pass per candidate class; the boundary point
`x_i + λ r` and the normal `∇(f_adv − f_label)` at `x_i + r` with the raw `r`; the
one-coordinate-at-a-time LinearSolver (`greedy_linear_solver`, stopping when the sign changes);
the stop when `clip(x0 + 1.02 (x_i − x0))` is adversarial; at the iteration limit `x_i` if only
it is adversarial.  `probe.attacks.sparsefool` runs on working batches of the same images, back
to back in this process, without and with the perceptibility box δ = 25/255.  Printed: the share
of images with the same perturbed-pixel set, the fooling rates and median sparsity of both, time,
peak memory and the speed ratio.

    python -m analyses.bench_sparsefool CHECKPOINT [--data fashion-mnist] [--n 100] [--threads 1] [--float64]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from analyses.peak_memory import PeakMemory
from probe import data, models
from probe.attacks.deepfool import STEP_FLOOR
from probe.attacks.linear_solver import greedy_linear_solver
from probe.attacks.sparsefool import DEEPFOOL_OVERSHOOT, SOLVER_BETA, boundary_normal, perceptibility_bounds, sparsefool
from probe.tables import format_table


def reference_deepfool(model: nn.Module, x: torch.Tensor, candidates: int = 10, overshoot: float = DEEPFOOL_OVERSHOOT,
                       max_iter: int = 50) -> tuple[torch.Tensor, int, int] | None:
    """DeepFool ("original" rule, no box) on ONE image (1, C, H, W): one backward pass per candidate.
    Returns (r, F(x), the class reached at x + (1 + η) r), or None where it does not converge."""
    with torch.no_grad():
        logits = model(x)[0]
    classes = logits.topk(min(candidates, len(logits))).indices.tolist()
    label = classes[0]
    r = torch.zeros_like(x)
    for _ in range(max_iter):
        point = (x + r).requires_grad_(True)
        logits = model(point)[0]
        grad_0, = torch.autograd.grad(logits[label], point, retain_graph=True)
        best, best_w = float("inf"), None
        for k in classes[1:]:
            grad_k, = torch.autograd.grad(logits[k], point, retain_graph=True)
            w = grad_k - grad_0
            distance = float((logits[k] - logits[label]).detach().abs()) / (float(w.norm()) + 1e-8)
            if float(w.norm()) > 0 and distance < best:
                best, best_w = distance, w
        if best_w is None:
            return None
        r = r + max(best, STEP_FLOOR) * best_w / best_w.norm()
        with torch.no_grad():
            reached = int(model(x + (1 + overshoot) * r).argmax())
        if reached != label:
            return r, label, reached
    return None


def reference_sparsefool(model: nn.Module, x0: torch.Tensor, lb: torch.Tensor, ub: torch.Tensor, lam: float = 3.0,
                         max_iter: int = 20, overshoot: float = 0.02) -> torch.Tensor:
    """SparseFool on ONE image (1, C, H, W) inside [lb, ub]; returns the adversarial image."""
    with torch.no_grad():
        label = int(model(x0).argmax())
    xi, steps = x0.clone(), 0

    def overshot(point: torch.Tensor) -> torch.Tensor:
        return torch.minimum(torch.maximum(x0 + (1 + overshoot) * (point - x0), lb), ub)

    for _ in range(max_iter):
        found = reference_deepfool(model, xi)
        if found is None:                                                    # DeepFool failed: stop
            break
        r, start, adv = found
        w, _ = boundary_normal(model, xi + r, torch.tensor([start]), torch.tensor([adv]))
        if float(w.norm()) <= 1e-12:
            break
        w = w / w.norm()
        x_b = xi + lam * r
        if float((w * (xi - x_b)).sum()) > 0:                                 # wrong side: stop
            break
        xi = greedy_linear_solver(xi[0], w[0], x_b[0], lb[0], ub[0], beta=SOLVER_BETA)[None]
        steps += 1
        with torch.no_grad():
            if int(model(overshot(xi)).argmax()) != label:
                return overshot(xi)
    with torch.no_grad():
        if steps and int(model(xi).argmax()) != label:
            return xi
    return overshot(xi)


def _summary(model: nn.Module, x: torch.Tensor, adversarial: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        fooled = (model(adversarial).argmax(1) != model(x).argmax(1)).cpu().numpy()
    pixels = (adversarial != x).any(1).flatten(1).cpu().numpy()                # (N, H·W) perturbed-pixel sets
    return fooled, pixels


def compare(model: nn.Module, x: torch.Tensor, delta: float | None, batch_size: int) -> dict:
    lb, ub = perceptibility_bounds(x, 0.0, 1.0, delta)
    sparsefool(model, x[:2], delta=delta), reference_sparsefool(model, x[:1], lb[:1], ub[:1])   # warm-up
    with PeakMemory() as peak:
        start = time.perf_counter()
        ours = torch.cat([sparsefool(model, x[i:i + batch_size], delta=delta).perturbation
                          for i in range(0, len(x), batch_size)]) + x
        ours_time = time.perf_counter() - start
    ours_mib = peak.mib
    with PeakMemory() as peak:
        start = time.perf_counter()
        theirs = torch.cat([reference_sparsefool(model, x[i:i + 1], lb[i:i + 1], ub[i:i + 1]) for i in range(len(x))])
        theirs_time = time.perf_counter() - start
    fooled_ours, pixels_ours = _summary(model, x, ours)
    fooled_theirs, pixels_theirs = _summary(model, x, theirs)
    same_set = (pixels_ours == pixels_theirs).all(1)
    share = 100.0 * pixels_ours.sum(1) / pixels_ours.shape[1]
    share_theirs = 100.0 * pixels_theirs.sum(1) / pixels_theirs.shape[1]
    rows = [["probe (batched)", 100 * fooled_ours.mean(), np.median(share[fooled_ours]), ours_time / len(x), ours_mib],
            ["per-sample loop", 100 * fooled_theirs.mean(), np.median(share_theirs[fooled_theirs]),
             theirs_time / len(x), peak.mib]]
    print(format_table(["implementation", "fooling rate (%)", "median pixels (%)", "s / sample", "peak MiB"], rows))
    print(f"same perturbed-pixel set: {100 * same_set.mean():.1f}% of {len(x)} images (goal ≥ 90%); "
          f"same fooled flag: {100 * (fooled_ours == fooled_theirs).mean():.1f}%; max |Δ image| on identical sets "
          f"{(ours - theirs).abs().amax(dim=(1, 2, 3))[torch.from_numpy(same_set)].max().item():.1e}")
    print(f"fooling rate: probe {100 * fooled_ours.mean():.1f}% vs loop {100 * fooled_theirs.mean():.1f}% "
          f"(goal: probe ≥ loop); speed-up: {theirs_time / ours_time:.1f}× (goal ≥ 2.5)")
    return {"same_set": same_set.mean(), "speed_up": theirs_time / ours_time}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--data", default="fashion-mnist-sample")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64, help="images per SparseFool call (the probe's default)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--float64", action="store_true", help="run both in float64 (no float32 near-ties)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    dtype = torch.float64 if args.float64 else torch.float32
    test = data.load(args.data, split="test")
    x, _ = data.get_batch(test, data.subset_indices(len(test), args.n, args.seed))
    model = models.load(args.checkpoint).eval().to(dtype)
    for delta in (None, 25 / 255):
        print(f"== {args.checkpoint}, {args.data}, {args.n} images, {torch.get_num_threads()} thread(s), {dtype}, "
              f"δ = {'none' if delta is None else '25/255'}")
        compare(model, x.to(dtype), delta, args.batch_size)


if __name__ == "__main__":
    main()
