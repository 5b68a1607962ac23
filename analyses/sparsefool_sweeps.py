"""SparseFool companion analyses: λ sweep, δ sweep, random-pixel baseline,
transferability between models, and overlap of the perturbed pixels with captum attributions.

Run: `python -m analyses.sparsefool_sweeps CHECKPOINT [--data SPEC] [--n 100]
[--models OTHER.pt ...] --out DIR`.  Writes one `.nc` result and one figure per analysis
into DIR and prints a table for each.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from torch import nn

from probe import data as datasets
from probe import models, plot, results
from probe.logits import classify
from probe.sparsefool import plot as plots
from probe.sparsefool import run, summary
from probe.tables import format_table


def _sweep(model: nn.Module, data, n: int, dim: str, values: Sequence[float], **kwargs) -> xr.Dataset:
    rows = [summary(run(model, data, n=n, **{dim: v}, **kwargs)) for v in values]

    def column(name: str, long_name: str, units: str):
        return (dim, np.array([r[name] for r in rows], dtype=np.float64), {"long_name": long_name, "units": units})

    return xr.Dataset({
        "fooling_rate": column("fooling_rate", "fooling rate", "%"),
        "median_pixel_percent": column("median_perturbed_pixels", "median perturbed pixels (fooled images)", "%"),
        "mean_iterations": column("mean_iterations", "mean outer iterations", "iterations"),
        "mean_time": column("mean_time_per_sample", "attack time per sample", "s"),
    }, coords={dim: np.asarray(values, dtype=np.float64)})


def lambda_sweep(model: nn.Module, data, n: int, lams: Sequence[float], **kwargs) -> xr.Dataset:
    """Fooling rate, median sparsity and iterations against λ (dimension `lam`)."""
    return _sweep(model, data, n, "lam", lams, **kwargs)


def delta_sweep(model: nn.Module, data, n: int, deltas: Sequence[float], **kwargs) -> xr.Dataset:
    """Fooling rate and median sparsity against δ on the 0–255 scale (dimension `delta`)."""
    return _sweep(model, data, n, "delta", deltas, **kwargs)


def random_baseline(model: nn.Module, result: xr.Dataset, seed: int = 0) -> xr.Dataset:
    """Fooling rate of random perturbations as sparse as SparseFool's median, per channel.

    For channel c, m_c = median (over fooled images) of SparseFool's changed coordinates in
    c; every image gets m_c random pixels of channel c set to 0 or 1 (seeded by `seed` and
    the dataset index).  Samples with non-finite clean logits are left out of both rates.
    """
    x = torch.from_numpy(result["image"].values)
    fooled = result["fooled"].values.astype(bool)
    changed = (result["perturbation"].values != 0)[fooled].reshape(fooled.sum(), x.shape[1], -1).sum(2)
    counts = np.median(changed, axis=0).round().astype(int)                            # per channel
    noisy = x.clone().flatten(2)
    for row, index in enumerate(result["sample"].values):
        g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(index))
        for c, m in enumerate(counts):
            where = torch.randperm(noisy.shape[2], generator=g)[:m]
            noisy[row, c, where] = torch.randint(0, 2, (m,), generator=g).to(noisy.dtype)
    with torch.no_grad():
        prediction, finite = classify(model(noisy.reshape(x.shape)))
    clean = result["prediction"].values
    flipped = (prediction.numpy() != clean) & finite.numpy()
    attacked = ~result["non_finite"].values
    return xr.Dataset({
        "random_fooled": ("sample", flipped, {"long_name": "random sparse perturbation changed the prediction"}),
        "coordinates_per_channel": ("channel", counts, {"long_name": "random coordinates per channel",
                                                        "units": "coordinates"}),
    }, coords={"sample": result["sample"].values}, attrs={
        "random_fooling_rate": float(100 * flipped[attacked].mean()) if attacked.any() else 0.0,
        "sparsefool_fooling_rate": summary(result)["fooling_rate"]})


def transfer_matrix(named_models: dict[str, nn.Module], data, n: int, **kwargs) -> xr.Dataset:
    """% of SparseFool examples crafted on each source model (and fooling it) that fool each target."""
    names = list(named_models)
    matrix = np.zeros((len(names), len(names)))
    for i, source in enumerate(names):
        result = run(named_models[source], data, n=n, save_perturbations=True, **kwargs)
        fooled = result["fooled"].values.astype(bool)
        x = torch.from_numpy(result["image"].values[fooled])
        adv = x + torch.from_numpy(result["perturbation"].values[fooled])
        for j, target in enumerate(names):
            with torch.no_grad():
                after, finite = classify(named_models[target](adv))
                changed = (after != classify(named_models[target](x))[0]) & finite
            matrix[i, j] = 100.0 * changed.double().mean().item() if len(x) else np.inf
    return xr.Dataset({"transfer_rate": (("source", "target"), matrix,
                                         {"long_name": "fooling rate on the target", "units": "%"})},
                      coords={"source": names, "target": names})


def attribution_overlap(model: nn.Module, result: xr.Dataset, ig_steps: int = 32) -> xr.Dataset:
    """Share of SparseFool's perturbed pixels among the k top-attributed pixels (k = pixels it
    changed), for captum Saliency and Integrated Gradients, against the chance level k / pixels."""
    from captum.attr import IntegratedGradients, Saliency
    fooled = result["fooled"].values.astype(bool)
    sub = result.isel(sample=np.flatnonzero(fooled))
    x = torch.from_numpy(sub["image"].values).requires_grad_(True)
    target = torch.from_numpy(sub["prediction"].values)
    perturbed = torch.from_numpy(sub["perturbation"].values != 0).any(1).flatten(1)   # (M, H·W)
    k = perturbed.sum(1)
    methods = {
        "saliency": lambda: Saliency(model).attribute(x, target=target, abs=True),
        "integrated_gradients": lambda: IntegratedGradients(model).attribute(x, baselines=0.0 * x, target=target,
                                                                              n_steps=ig_steps),
    }
    overlaps = []
    for attribute in methods.values():
        score = attribute().detach().abs().sum(1).flatten(1)
        rank = score.argsort(dim=1, descending=True).argsort(dim=1)                  # 0 = most attributed
        top = rank < k[:, None]
        overlaps.append(((top & perturbed).sum(1).double() / k.double()).numpy())
    pixels = perturbed.shape[1]
    return xr.Dataset({
        "overlap": (("attribution", "sample"), 100.0 * np.stack(overlaps),
                    {"long_name": "perturbed pixels among the top-k attributed pixels", "units": "%"}),
        "chance": ("sample", 100.0 * k.double().numpy() / pixels,
                   {"long_name": "chance level k / pixels", "units": "%"}),
    }, coords={"attribution": list(methods), "sample": sub["sample"].values})


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--models", nargs="*", default=[], help="more checkpoints for the transfer matrix")
    parser.add_argument("--data", default="fashion-mnist-sample")
    parser.add_argument("--split", default="test")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lams", type=float, nargs="+", default=[1, 1.5, 2, 3, 5, 8])
    parser.add_argument("--deltas", type=float, nargs="+", default=[5, 10, 15, 25, 50, 100, 255])
    parser.add_argument("--out", type=Path, default=Path("runs/sparsefool"))
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    data = datasets.load(args.data, split=args.split)
    model = models.load(args.checkpoint).eval()
    common = {"seed": args.seed}

    def save(ds: xr.Dataset, name: str, draw=None) -> None:
        ds.attrs.update(probe=f"sparsefool_{name}", checkpoint=args.checkpoint, data=args.data, n=args.n)
        results.save(ds, args.out / f"{name}.nc")
        if draw is not None:
            plot.save(draw(ds), args.out / f"{name}.png")

    base = run(model, data, n=args.n, save_perturbations=True, out=args.out / "base.nc", **common)
    plot.save(plots.examples(base), args.out / "examples.png")
    plot.save(plots.histogram(base), args.out / "histogram.png")
    print(format_table(["quantity", "value"], list(summary(base).items())))

    sweep = lambda_sweep(model, data, args.n, args.lams, **common)
    save(sweep, "lambda_sweep", plots.lambda_sweep)
    print(format_table(["λ", "fooling rate (%)", "median pixels (%)", "mean iterations", "s / sample"],
                       [[v, *sweep.sel(lam=v)[["fooling_rate", "median_pixel_percent", "mean_iterations",
                                               "mean_time"]].to_array().values] for v in sweep["lam"].values]))

    sweep = delta_sweep(model, data, args.n, args.deltas, **common)
    save(sweep, "delta_sweep", plots.delta_sweep)
    print(format_table(["δ (0–255)", "fooling rate (%)", "median pixels (%)", "mean iterations", "s / sample"],
                       [[v, *sweep.sel(delta=v)[["fooling_rate", "median_pixel_percent", "mean_iterations",
                                                 "mean_time"]].to_array().values] for v in sweep["delta"].values]))

    baseline = random_baseline(model, base, args.seed)
    save(baseline, "random_baseline")
    print(format_table(["perturbation", "coordinates per channel", "fooling rate (%)"],
                       [["SparseFool", "per image", baseline.attrs["sparsefool_fooling_rate"]],
                        ["random 0/1", baseline["coordinates_per_channel"].values.tolist(),
                         baseline.attrs["random_fooling_rate"]]]))

    overlap = attribution_overlap(model, base)
    save(overlap, "attribution_overlap")
    print(format_table(["attribution", "mean overlap (%)", "mean chance (%)"],
                       [[m, float(overlap["overlap"].sel(attribution=m).mean()), float(overlap["chance"].mean())]
                        for m in overlap["attribution"].values]))

    if args.models:
        paths = [args.checkpoint, *args.models]
        named = {f"{i}:{Path(p).stem}": models.load(p).eval() for i, p in enumerate(paths)}
        matrix = transfer_matrix(named, data, args.n, **common)
        save(matrix, "transfer", plots.transfer)
        print(format_table(["source \\ target", *matrix["target"].values],
                           [[s, *matrix["transfer_rate"].sel(source=s).values] for s in matrix["source"].values]))
    print(f"results and figures in {args.out}")


if __name__ == "__main__":
    main()
