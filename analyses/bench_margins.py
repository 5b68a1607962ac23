"""Benchmark: the batched margin sweep against a per-sample, per-band DeepFool loop.

The reference is written from the published semantics of the subspace DeepFool of Ortiz-Jiménez
et al. (2020, "Hold me tight!", §3), the "original" rule of `probe.attacks.deepfool`: one image
and one DCT band at a time, one backward pass per candidate class, the projection
`IDCT2(M ⊙ DCT2(·))`, linearisation at the iterate `x0 + r`, the step
`max(|g| / ‖P w‖, 1e-4)` along `P w / ‖P w‖`, success checked at the overshot point
`x0 + (1 + η) r`.  Both run on the same LeNet and samples, back to back in this process; the
script prints the per-pair agreement (share of (image, band) pairs within 0.1 %, whether the
converged sets are identical), the time and peak memory of each, the speed ratio, and the cost
of the "original" rule against the "foolbox" convention (linearised at the overshot point, one
forward pass fewer to evaluate per step but the same number of passes in `probe`) at the same
batch.  With `--refine`, also the bisection distance (`margin_refined`) against the margin.

    python -m analyses.bench_margins [CHECKPOINT] [--data fashion-mnist] [--n 100] [--reference-n 50] [--threads 1]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from analyses.peak_memory import PeakMemory
from probe import data, models
from probe.attacks.deepfool import GRADIENTS, STEP_FLOOR
from probe.margins import run, summary
from probe.spectral import dct_diagonal_blocks
from probe.train import fit


def reference_margin(model: nn.Module, x: torch.Tensor, family, member: int, candidates: int = 10,
                     overshoot: float = 0.02, max_iter: int = 100) -> float:
    """Subspace DeepFool ("original" rule) on one image (1, C, H, W) and one band; `inf` if it does
    not converge or no candidate gradient has a component in the band."""
    which = torch.tensor([member])
    with torch.no_grad():
        logits = model(x)[0]
    classes = logits.argsort(descending=True)[:candidates].tolist()
    label = classes[0]
    r = torch.zeros_like(x)
    for _ in range(max_iter):
        point = (x + r).requires_grad_(True)                 # linearise at the iterate
        logits = model(point)[0]
        grad_0, = torch.autograd.grad(logits[label], point, retain_graph=True)
        best, best_w = float("inf"), None
        for k in classes[1:]:
            grad_k, = torch.autograd.grad(logits[k], point, retain_graph=True)
            w = family.project(grad_k - grad_0, which)
            w_norm = float(w.norm())
            if w_norm <= 1e-5 * float((grad_k - grad_0).norm()):     # no component in the band
                continue
            distance = float((logits[k] - logits[label]).detach().abs()) / (w_norm + 1e-8)
            if distance < best:
                best, best_w = distance, w
        if best_w is None:
            return float("inf")
        r = r + max(best, STEP_FLOOR) * best_w / best_w.norm()
        with torch.no_grad():                                # check at the overshot point
            if int(model(x + (1 + overshoot) * r).argmax()) != label:
                return float(((1 + overshoot) * r).norm())
    return float("inf")


def trained_lenet(checkpoint: str | None) -> nn.Module:
    if checkpoint:
        return models.load(checkpoint).eval()
    torch.manual_seed(0)
    model = models.build("lenet", in_channels=1, num_classes=10, image_size=(28, 28), mean=[0.286], std=[0.353])
    fit(model, data.load("fashion-mnist-sample", split="train"), epochs=4, lr=0.1, seed=0)
    return model.eval()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed_run(model, test, family, indices, batch_size, device, **options):
    _sync(device)
    with PeakMemory(device) as peak:
        start = time.perf_counter()
        ds = run(model, test, subspaces=family, indices=indices, batch_size=batch_size, device=device, **options)
        _sync(device)
        seconds = time.perf_counter() - start
    return ds, seconds, peak.mib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", help="LeNet checkpoint (default: train one on the embedded sample)")
    parser.add_argument("--data", default="fashion-mnist-sample", help="test data (default %(default)s)")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--reference-n", type=int, default=None, help="samples for the slow loop (default: --n)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=128, help="(subspace, sample) pairs per DeepFool call")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for both sides (default 1)")
    parser.add_argument("--refine", action="store_true", help="also check margin_refined against the margin")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = trained_lenet(args.checkpoint).to(device)
    test = data.load(args.data, split="test")
    family = dct_diagonal_blocks((1, 28, 28))
    indices = data.subset_indices(len(test), args.n, seed=0)
    print(f"device {device}, torch threads {torch.get_num_threads()}, {args.data}: {args.n} samples × "
          f"{len(family)} bands, batch {args.batch_size}")

    x, _ = data.get_batch(test, indices[:128])
    classes = model(x.to(device)).topk(10, 1).indices
    for name, jacobian in GRADIENTS.items():
        jacobian(model, x[:8].to(device), classes[:8])
        start = time.perf_counter()
        jacobian(model, x.to(device), classes)
        print(f"jacobian '{name}' for {len(x)} images × 9 candidates: {time.perf_counter() - start:.3f} s")

    run(model, test, subspaces=family, indices=indices[:2], device=device)           # warm-up
    timings = {}
    for variant in ("foolbox", "original", "foolbox", "original"):                  # interleaved, best of two
        ds_variant, seconds, mib = _timed_run(model, test, family, indices, args.batch_size, device, variant=variant)
        if variant not in timings or seconds < timings[variant][1]:
            timings[variant] = (ds_variant, seconds, mib)
    for variant, (ds_variant, seconds, mib) in timings.items():
        print(f"batched sweep, variant '{variant}': {seconds:.2f} s, peak memory {mib:.1f} MiB, mean iterations "
              f"{float(ds_variant['iterations'].mean()):.2f}, not converged {summary(ds_variant)['not_converged']:.3f}")
    ds, batched_time, batched_mib = timings["original"]
    print(f"cost of the 'original' rule: {batched_time / timings['foolbox'][1]:.3f}× the 'foolbox' convention's time "
          f"at the same batch (goal ≤ 1.15)")

    reference_n = args.reference_n or args.n
    reference = np.full((len(family), reference_n), np.inf)
    with PeakMemory(device) as peak:
        start = time.perf_counter()
        for i, index in enumerate(indices[:reference_n]):
            image, _ = data.get_batch(test, [index])
            for member in range(len(family)):
                reference[member, i] = reference_margin(model, image.to(device), family, member)
        reference_time = time.perf_counter() - start
    batched = ds["margin"].values[:, :reference_n]
    both = np.isfinite(batched) & np.isfinite(reference)
    relative = np.full(batched.shape, np.inf)
    relative[both] = np.abs(batched[both] - reference[both]) / reference[both]
    agree = (relative <= 1e-3) | (np.isinf(batched) & np.isinf(reference))
    mismatched = int((np.isfinite(batched) != np.isfinite(reference)).sum())
    scaled = reference_time * args.n / reference_n
    print(f"reference loop: {reference_time:.2f} s for {reference_n} samples, peak memory {peak.mib:.1f} MiB"
          + (f" (→ {scaled:.1f} s for {args.n})" if reference_n != args.n else ""))
    print(f"agreement: {100 * agree.mean():.1f}% of {agree.size} (image, band) pairs within 0.1% (goal ≥ 99%); "
          f"{both.sum()} converged in both, max relative difference {relative[both].max():.2e}, median "
          f"{np.median(relative[both]):.1e}; converged sets identical: {'yes' if mismatched == 0 else 'no'} "
          f"({mismatched} pairs differ)")
    print(f"speed-up of the batched sweep over the per-sample loop: {scaled / batched_time:.1f}× (goal ≥ 5)")

    if args.refine:
        refined_ds, refine_time, _ = _timed_run(model, test, family, indices, args.batch_size, device, refine=True)
        margin, refined = refined_ds["margin"].values, refined_ds["margin_refined"].values
        converged = refined_ds["converged"].values
        above = int((refined[converged] > margin[converged]).sum())
        ratio = np.median(refined[converged]) / np.median(margin[converged])
        bands = np.median(refined, axis=1) / np.median(margin, axis=1)
        print(f"refine ({refine_time:.2f} s): refined > margin on {above} of {converged.sum()} converged pairs; "
              f"median refined / median margin {ratio:.4f} (per band {bands.min():.4f} … {bands.max():.4f}); "
              f"median per-pair ratio {np.median(refined[converged] / margin[converged]):.4f}")


if __name__ == "__main__":
    main()
