"""Benchmark: full-space DeepFool against foolbox's batched `L2DeepFoolAttack` (when foolbox is installed).

Same model, same images, same settings (10 candidates, overshoot 0.02, 50 steps, the [0, 1]
box, one CPU thread by default), and `probe`'s `variant="foolbox"` (foolbox's convention:
linearised at the clipped overshot point, foolbox's step rule): both attacks run back to back in this
process; the L2 norms of the perturbations are compared where both succeed (foolbox clips its iterate inside the
loop, Moosavi-Dezfooli et al. 2016, §3, so it fails on some samples that `probe` solves: those are counted), and
the speed ratio is printed.  Without foolbox, only `probe`'s time is printed.

    python -m analyses.bench_deepfool [CHECKPOINT] [--n 256] [--threads 1]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from analyses.bench_margins import trained_lenet
from probe import data
from probe.attacks.deepfool import deepfool

SETTINGS = {"candidates": 10, "overshoot": 0.02, "steps": 50}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", help="LeNet checkpoint (default: train one on the embedded sample)")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = trained_lenet(args.checkpoint)
    test = data.load("fashion-mnist-sample", split="test")
    x, _ = test.batch(data.subset_indices(len(test), args.n, seed=0))
    labels = model(x).argmax(1)
    deepfool(model, x[:8], max_iter=2, variant="foolbox")                # warm-up
    start = time.perf_counter()
    ours = deepfool(model, x, candidates=SETTINGS["candidates"], overshoot=SETTINGS["overshoot"],
                    max_iter=SETTINGS["steps"], bounds=(0.0, 1.0), variant="foolbox")
    ours_seconds = time.perf_counter() - start
    ours_norm = ours.norm.numpy()
    print(f"probe: {args.n} images in {ours_seconds:.2f} s ({1e3 * ours_seconds / args.n:.2f} ms/image), "
          f"converged {ours.converged.float().mean() * 100:.1f}%, {torch.get_num_threads()} thread(s)")
    try:
        import foolbox
    except ImportError:
        print("foolbox is not installed: no comparison (pip install foolbox)")
        return
    fmodel = foolbox.PyTorchModel(model, bounds=(0.0, 1.0))
    attack = foolbox.attacks.L2DeepFoolAttack(**SETTINGS)
    attack(fmodel, x[:8], labels[:8], epsilons=None)                      # warm-up
    start = time.perf_counter()
    _, adversarial, _ = attack(fmodel, x, labels, epsilons=None)
    theirs_seconds = time.perf_counter() - start
    with torch.no_grad():
        theirs_ok = (model(adversarial).argmax(1) != labels).numpy()
    theirs_norm = (adversarial - x).flatten(1).norm(dim=1).numpy()
    both = np.isfinite(ours_norm) & theirs_ok
    relative = np.abs(ours_norm[both] - theirs_norm[both]) / theirs_norm[both]
    print(f"foolbox {foolbox.__version__}: {theirs_seconds:.2f} s ({1e3 * theirs_seconds / args.n:.2f} ms/image), "
          f"succeeded {theirs_ok.mean() * 100:.1f}%")
    print(f"agreement where both succeed ({both.sum()} images): median relative difference of the L2 norms "
          f"{np.median(relative):.2e}, 90th percentile {np.quantile(relative, 0.9):.2e}; "
          f"probe succeeded where foolbox failed: {int((np.isfinite(ours_norm) & ~theirs_ok).sum())}")
    print(f"speed-up over foolbox: {theirs_seconds / ours_seconds:.2f}×")


if __name__ == "__main__":
    main()
