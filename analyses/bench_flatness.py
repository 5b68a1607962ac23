"""Speed of the flatness probe on a LeNet (embedded Fashion-MNIST sample).

1. The cost of one Hessian-vector product relative to one training step (same batch).
2. A 50-direction × 10-radius sphere sweep (± pairs: 1000 loss evaluations) over 2000
   samples with `probe.flatness.sphere_flatness` (data batched once on the device, weights
   written in place and restored by copy), against a straightforward reference that
   deep-copies the model for each perturbation and re-reads the data from the dataset,
   and against evaluating 8 perturbed copies at once with `torch.func.vmap`; all three
   must give the same losses.  The target is < 60 s for the sweep.

    python -m analyses.bench_flatness [--checkpoint LENET.pt] [--device cpu]
"""
from __future__ import annotations

import argparse
import copy
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from probe import data, models
from probe import flatness as fl
from probe import params as P
from probe.devices import resolve_device
from probe.hessian import HessianOperator
from probe.tables import format_table
from probe.train import fit

RADII = fl.DEFAULT_RADII


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def lenet(checkpoint: str | None, device: torch.device) -> nn.Module:
    if checkpoint:
        return models.load(checkpoint, map_location=device)
    torch.manual_seed(0)
    model = models.build("lenet", in_channels=1, num_classes=10, image_size=(28, 28), mean=[0.286], std=[0.353])
    fit(model, data.load("fashion-mnist-sample", split="train"), epochs=1, lr=0.05, device=device)
    return model.eval()


def step_versus_hvp(model: nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int) -> dict[str, float]:
    """Median seconds of a training step (forward, backward, SGD update) and of an HVP on one batch."""
    trained = copy.deepcopy(model).train()
    optimizer = torch.optim.SGD(trained.parameters(), lr=1e-3, momentum=0.9)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(trained(x), y).backward()
        optimizer.step()

    with P.preserved(model):
        operator = HessianOperator(model, x, y, batch_size=len(x))
        v = torch.randn(operator.dim, device=x.device)
        train_step(), operator(v)   # warm up
        return {"train_step": median_time(train_step, repeats), "hvp": median_time(lambda: operator(v), repeats)}


def reference_losses(model: nn.Module, dataset, indices: np.ndarray, points: list[torch.Tensor],
                     batch_size: int, device: torch.device) -> np.ndarray:
    """Straightforward: a fresh perturbed copy of the model per point, data re-read per batch."""
    out = []
    names = [name for name, _ in P.trainable(model)]
    for point in points:
        copy_ = copy.deepcopy(model).eval()
        own = dict(copy_.named_parameters())
        P.assign([own[n] for n in names], point)
        total = 0.0
        with torch.no_grad():
            for start in range(0, len(indices), batch_size):
                xb, yb = data.get_batch(dataset, indices[start:start + batch_size])
                total += float(F.cross_entropy(copy_(xb.to(device)), yb.to(device), reduction="sum"))
        out.append(total / len(indices))
    return np.array(out)


def vmap_losses(model: nn.Module, x: torch.Tensor, y: torch.Tensor, points: list[torch.Tensor],
                batch_size: int, copies: int = 8) -> np.ndarray:
    """K perturbed copies per call through `torch.func.functional_call` + `vmap`."""
    names = [name for name, _ in P.trainable(model)]
    like = [p for _, p in P.trainable(model)]
    buffers = dict(model.named_buffers())

    def loss(params, xb, yb):
        return F.cross_entropy(functional_call(model, (params, buffers), (xb,)), yb, reduction="sum")

    batched = vmap(loss, in_dims=(0, None, None))
    out = []
    with torch.no_grad():
        for start in range(0, len(points), copies):
            stack = torch.stack(points[start:start + copies])
            params = {n: t.view(len(stack), *p.shape) for n, t, p in
                      zip(names, torch.split(stack, [p.numel() for p in like], dim=1), like)}
            total = sum(batched(params, x[i:i + batch_size], y[i:i + batch_size])
                        for i in range(0, len(x), batch_size))
            out.extend((total / len(x)).tolist())
    return np.array(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="a LeNet checkpoint (default: train one epoch on the sample)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--reference-directions", type=int, default=3,
                        help="directions timed with the reference and vmap paths (then scaled to 50)")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    model = lenet(args.checkpoint, device)
    dataset = data.load("fashion-mnist-sample", split="train")
    indices = data.subset_indices(len(dataset), args.n, 0)
    x, y = data.get_batch(dataset, indices)
    x, y = x.to(device), y.to(device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, LeNet with "
          f"{sum(p.numel() for p in model.parameters())} parameters, {len(indices)} samples")

    cost = step_versus_hvp(model, x[:128], y[:128], repeats=20)
    full = step_versus_hvp(model, x, y, repeats=3)
    print(format_table(["batch", "training step (ms)", "HVP (ms)", "HVP / step"],
                           [(128, 1e3 * cost["train_step"], 1e3 * cost["hvp"], cost["hvp"] / cost["train_step"]),
                            (len(x), 1e3 * full["train_step"], 1e3 * full["hvp"], full["hvp"] / full["train_step"])]))

    start, cpu_start = time.perf_counter(), time.process_time()
    sweep = fl.sphere_flatness(model, x, y, RADII, 50, seed=0, batch_size=args.batch_size)
    sweep_seconds, sweep_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    evaluations = 2 * 50 * len(RADII)

    k = args.reference_directions
    theta = P.flatten([p for _, p in P.trainable(model)])
    points = []
    for d in range(k):
        u = fl.make_direction([p for _, p in P.trainable(model)],
                              fl.direction_generator(0, fl.FLATNESS_STREAM, d, device), False, False)
        for gamma in RADII:
            points += [theta + gamma * u, theta - gamma * u]
    expected = sweep["loss"].values[:, :k, :].transpose(1, 0, 2).reshape(-1)
    start = time.perf_counter()
    reference = reference_losses(model, dataset, indices, points, args.batch_size, device)
    reference_seconds = (time.perf_counter() - start) / len(points) * evaluations
    start = time.perf_counter()
    vmapped = vmap_losses(model, x, y, points, args.batch_size)
    vmap_seconds = (time.perf_counter() - start) / len(points) * evaluations
    ok_ref = np.allclose(reference, expected, rtol=1e-5)
    ok_vmap = np.allclose(vmapped, expected, rtol=1e-4)
    print(format_table(
        ["50 dirs × 10 radii, ± pairs", "seconds", "ms / evaluation", "same losses"],
        [("probe (in place, data batched once)", sweep_seconds, 1e3 * sweep_seconds / evaluations, "-"),
         ("reference (copy + re-read), scaled", reference_seconds, 1e3 * reference_seconds / evaluations, ok_ref),
         ("vmap, 8 copies per call, scaled", vmap_seconds, 1e3 * vmap_seconds / evaluations, ok_vmap)]))
    print(f"speed-up over the reference: {reference_seconds / sweep_seconds:.2f}×; "
          f"vmap / probe time: {vmap_seconds / sweep_seconds:.2f}")
    print(f"sweep {'PASSES' if sweep_seconds < 60 else 'MISSES'} the 60 s target ({sweep_seconds:.1f} s wall, "
          f"{sweep_cpu:.1f} s CPU over {torch.get_num_threads()} threads; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores); "
          f"F(γ={RADII[-1]:g}) = {float(sweep['flatness'][-1]):.4g} ± {float(sweep['flatness_se'][-1]):.2g}")
    return 0 if ok_ref and ok_vmap else 1


if __name__ == "__main__":
    raise SystemExit(main())
