"""Which common corruptions can a corruption network express? (Calian et al. 2022, appendix F, Fig. 3.)

For clean test images `x` and their corrupted versions `x_c` (`probe.corruptions.corrupt`,
CIFAR-10-C parameters), optimise a per-image weight offset δ of a pretrained corruption
network to maximise `SSIM(c_{φ+δ}(x), x_c) − 1e-5 ‖δ‖²` (Adam, all images at once with their own
δ), and report the SSIM reached per corruption (mean ± std over images and severities), next to
SSIM(x, x_c) (doing nothing) and SSIM(c_φ(x), x_c) (δ = 0), for an EDSR and a CAE.  The
networks are pretrained first with `python -m probe.corruption_net`; networks and measurements
found in `--out` are reused (remove them to recompute).

    python -m analyses.corruption_net_reconstruction --out runs/reconstruction [--n 8] [--steps 200]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from probe import models, plot
from probe.attacks.ada import corrupt, zero_offsets
from probe.commands.corruption_net import main as corruption_net_main
from probe.corruptions import CORRUPTIONS
from probe.corruptions import corrupt as common_corruption
from probe.data import get_batch, load, subset_indices
from probe.params import parameter_blocks
from probe.plot import style
from probe.ssim import ssim
from probe.tables import format_table

PENALTY = 1e-5
NETWORKS = {"edsr": ["--arch", "edsr", "--epochs", "2"], "cae": ["--arch", "cae", "--epochs", "10"]}


def network(name: str, args: argparse.Namespace) -> torch.nn.Module:
    """The pretrained corruption network `name` (pretrained now unless its checkpoint exists)."""
    path = args.out / f"{name}.pt"
    if not path.exists():
        arguments = NETWORKS[name] + ["--data", args.data, "--seed", str(args.seed), "--out", str(path)]
        if corruption_net_main(arguments) != 0:
            raise SystemExit(f"pretraining {name} failed")
    return models.load(path)


def fit_offsets(net: torch.nn.Module, x: torch.Tensor, target: torch.Tensor, steps: int, lr: float,
                batch: int) -> torch.Tensor:
    """(N,) SSIM(c_{φ+δ}(x), target) reached by optimising one offset δ per image with Adam."""
    phi = parameter_blocks(net)
    reached = []
    for start in range(0, len(x), batch):
        images, goal = x[start:start + batch], target[start:start + batch]
        offsets = {name: tensor.requires_grad_() for name, tensor in zero_offsets(phi, len(images)).items()}
        optimiser = torch.optim.Adam(offsets.values(), lr=lr)
        for _ in range(steps):
            penalty = sum(beta.flatten(1).pow(2).sum(1) for beta in offsets.values())
            objective = ssim(corrupt(net, phi, offsets, images), goal) - PENALTY * penalty
            optimiser.zero_grad()
            (-objective.sum()).backward()
            optimiser.step()
        with torch.no_grad():
            reached.append(ssim(corrupt(net, phi, offsets, images), goal))
    return torch.cat(reached)


def measure(net: torch.nn.Module, x: torch.Tensor, args: argparse.Namespace) -> xr.Dataset:
    """SSIM per (corruption, severity, image): doing nothing, δ = 0, and the optimised δ."""
    shape = (len(CORRUPTIONS), len(args.severities), len(x))
    results = {key: np.zeros(shape) for key in ("identity", "reconstruction", "optimised")}
    phi = parameter_blocks(net)
    with torch.no_grad():
        rebuilt = corrupt(net, phi, zero_offsets(phi, len(x)), x)
    for i, name in enumerate(CORRUPTIONS):
        for j, severity in enumerate(args.severities):
            target = common_corruption(x, name, severity, generator=torch.Generator().manual_seed(args.seed))
            results["identity"][i, j] = ssim(x, target).numpy()
            results["reconstruction"][i, j] = ssim(rebuilt, target).numpy()
            results["optimised"][i, j] = fit_offsets(net, x, target, args.steps, args.lr, args.batch).numpy()
        print(f"  {name}: {results['optimised'][i].mean():.3f}", flush=True)
    return xr.Dataset({key: (("corruption", "severity", "image"), value) for key, value in results.items()},
                      coords={"corruption": list(CORRUPTIONS), "severity": args.severities})


def bars(measured: dict[str, xr.Dataset], path: Path) -> Path:
    """Mean ± std of the optimised SSIM per corruption, one bar per network (Fig. 3 of the paper)."""
    _, ax = style.new_axes(style.TWO_COLUMN, aspect=0.35)
    names = list(CORRUPTIONS)
    width = 0.8 / len(measured)
    for k, (label, ds) in enumerate(measured.items()):
        values = ds["optimised"].values.reshape(len(names), -1)
        ax.bar(np.arange(len(names)) + (k - (len(measured) - 1) / 2) * width, values.mean(1), width,
               yerr=values.std(1), capsize=2, color=style.color(k), label=label.upper(), error_kw={"lw": 0.6})
    ax.set_xticks(np.arange(len(names)), [n.replace("_", " ") for n in names], rotation=40, ha="right")
    ax.set_ylabel("SSIM reached")
    ax.set_ylim(0, 1.18)
    ax.legend(ncol=len(measured), loc="upper center")
    ax.set_title("reconstructing common corruptions by a weight offset of the corruption network")
    return plot.save(ax, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/reconstruction"))
    parser.add_argument("--data", default="fashion-mnist-sample")
    parser.add_argument("--n", type=int, default=8, help="test images per corruption and severity")
    parser.add_argument("--severities", type=int, nargs="+", default=[1, 3, 5])
    parser.add_argument("--steps", type=int, default=200, help="Adam steps on δ")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch", type=int, default=64, help="images optimised at once")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    test = load(args.data, split="test")
    x, _ = get_batch(test, subset_indices(len(test), args.n, args.seed))
    measured = {}
    for name in NETWORKS:
        net = network(name, args)
        print(f"{name}: pretrained to SSIM {net.probe_info['meta'].get('test_ssim', float('nan')):.3f}", flush=True)
        path = args.out / f"{name}_reconstruction.nc"
        if not path.exists():
            measure(net, x, args).to_netcdf(path)
        measured[name] = xr.load_dataset(path)
    def cells(select) -> list[str]:
        """Mean SSIM of doing nothing, of δ = 0, and mean ± std of the optimised δ, for every network."""
        return [f"{float(select(ds[key]).mean()):.3f}" + (f" ± {float(select(ds[key]).std()):.3f}"
                                                        if key == "optimised" else "")
                for ds in measured.values() for key in ("identity", "reconstruction", "optimised")]
    rows = [[c.replace("_", " ")] + cells(lambda values: values.sel(corruption=c))  # noqa: B023 (called at once)
            for c in CORRUPTIONS]
    rows.append(["all"] + cells(lambda values: values))
    headers = ["corruption"] + [f"{net} {key}" for net in measured for key in ("x", "c_φ(x)", "c_φ+δ(x)")]
    print(format_table(headers, rows))
    print(f"figure: {bars(measured, args.out / 'reconstruction.png')}")


if __name__ == "__main__":
    main()
