"""Benchmark: the batched margin sweep against a per-sample, per-band DeepFool loop.

The reference follows the published semantics: one image and one DCT band at a time, one
backward pass per candidate class, the projection `IDCT2(M ⊙ DCT2(·))`, success checked at
the overshot point.  Both run on the same trained LeNet and samples, back to back in this
process; the script checks that their margins agree where both converge and prints the
speed ratio.  Also times the two batched Jacobian methods of `probe.attacks.deepfool`.

    python -m analyses.bench_margins [CHECKPOINT] [--n 200] [--reference-n 200] [--device cpu] [--threads 1]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from probe import data, models
from probe.attacks.deepfool import GRADIENTS
from probe.margins import run, summary
from probe.spectral import dct_diagonal_blocks
from probe.train import fit


def reference_margin(model: nn.Module, x: torch.Tensor, family, member: int, candidates: int = 10,
                     overshoot: float = 0.02, max_iter: int = 100) -> float:
    """Subspace DeepFool on one image (1, C, H, W) and one band; `inf` if it does not converge."""
    which = torch.tensor([member])
    with torch.no_grad():
        logits = model(x)[0]
    classes = logits.argsort(descending=True)[:candidates]
    label = int(classes[0])
    r = torch.zeros_like(x)
    for _ in range(max_iter + 1):
        point = (x + (1 + overshoot) * r).requires_grad_(True)
        logits = model(point)[0]
        if int(logits.argmax()) != label:
            return float(((1 + overshoot) * r).norm())
        if _ == max_iter:
            break
        best, best_w, best_g = float("inf"), None, None
        grad_0, = torch.autograd.grad(logits[label], point, retain_graph=True)
        for k in classes[1:]:
            grad_k, = torch.autograd.grad(logits[int(k)], point, retain_graph=True)
            w = family.project(grad_k - grad_0, which)
            g = float((logits[int(k)] - logits[label]).detach().abs())
            w_norm = float(w.norm())
            if w_norm <= 1e-5 * float((grad_k - grad_0).norm()):
                continue
            if g / (w_norm + 1e-8) < best:
                best, best_w, best_g = g / (w_norm + 1e-8), w, g
        if best_w is None:
            return float("inf")
        r = r + (best_g + 1e-4) / (float(best_w.norm()) + 1e-8) ** 2 * best_w.detach()
    return float("inf")


def trained_lenet(checkpoint: str | None) -> nn.Module:
    if checkpoint:
        return models.load(checkpoint).eval()
    torch.manual_seed(0)
    model = models.build("lenet", in_channels=1, num_classes=10, image_size=(28, 28), mean=[0.286], std=[0.353])
    fit(model, data.load("fashion-mnist-sample", split="train"), epochs=4, lr=0.1, seed=0)
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", help="LeNet checkpoint (default: train one on the embedded sample)")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--reference-n", type=int, default=None, help="samples for the slow loop (default: --n)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=128, help="(subspace, sample) pairs per DeepFool call")
    parser.add_argument("--threads", type=int, help="torch CPU threads for both sides (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = trained_lenet(args.checkpoint).to(device)
    test = data.load("fashion-mnist-sample", split="test")
    family = dct_diagonal_blocks((1, 28, 28))
    indices = data.subset_indices(len(test), args.n, seed=0)
    print(f"device {device}, torch threads {torch.get_num_threads()}, {args.n} samples × {len(family)} bands")

    x, _ = data.get_batch(test, indices[:128])
    classes = model(x.to(device)).topk(10, 1).indices
    for name, jacobian in GRADIENTS.items():
        jacobian(model, x[:8].to(device), classes[:8])
        start = time.perf_counter()
        jacobian(model, x.to(device), classes)
        print(f"jacobian '{name}' for 128 images × 9 candidates: {time.perf_counter() - start:.3f} s")

    start = time.perf_counter()
    ds = run(model, test, subspaces=family, indices=indices, batch_size=args.batch_size, device=device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    batched_time = time.perf_counter() - start
    print(f"batched sweep: {batched_time:.2f} s, mean iterations {float(ds['iterations'].mean()):.2f}, "
          f"not converged {summary(ds)['not_converged']:.3f}")

    reference_n = args.reference_n or args.n
    reference = np.full((len(family), reference_n), np.inf)
    start = time.perf_counter()
    for i, index in enumerate(indices[:reference_n]):
        image, _ = data.get_batch(test, [index])
        for member in range(len(family)):
            reference[member, i] = reference_margin(model, image.to(device), family, member)
    reference_time = time.perf_counter() - start
    batched = ds["margin"].values[:, :reference_n]
    both = np.isfinite(batched) & np.isfinite(reference)
    relative = np.abs(batched[both] - reference[both]) / reference[both]
    scaled = reference_time * args.n / reference_n
    print(f"reference loop: {reference_time:.2f} s for {reference_n} samples"
          + (f" (→ {scaled:.1f} s for {args.n})" if reference_n != args.n else ""))
    print(f"agreement: {both.sum()} pairs converged in both, max relative difference {relative.max():.2e}, "
          f"converged-flag mismatches {int((np.isfinite(batched) != np.isfinite(reference)).sum())}")
    print(f"speed-up: {scaled / batched_time:.1f}×")
    if relative.max() >= 1e-3:
        raise SystemExit("margins disagree (relative difference ≥ 1e-3)")


if __name__ == "__main__":
    main()
