"""Standard vs AugMix vs PRIME LeNets on Fashion-MNIST, tested on generated Fashion-MNIST-C.

Trains one LeNet per augmentation with `python -m probe.train`, runs `python -m
probe.corruptions` (the 15 benchmark corruptions at 5 severities, CIFAR-10-C parameters)
on test images with and without test-time BN adaptation (commands run in parallel, one
thread each; finished outputs are reused), and prints clean accuracy, corruption accuracy,
CIFAR-style mCE and the ImageNet-style (relative) mCE normalised by the standard model.
Figures: severity curves of all models, a heat map per model, the corruption grid and a
PRIME / AugMix sample grid.

    python -m analyses.corruption_training --out runs/corruption_training [--epochs 3] [--n 1000]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from probe import data, plot, results
from probe.augment import parse_augment
from probe.corruptions import plot as corruption_figures
from probe.corruptions import summarize
from probe.tables import format_table

MODELS = {"standard": "none", "augmix": "augmix", "prime": "prime"}


def run_all(commands: dict[str, list[str]], jobs: int) -> None:
    """Run `python -m ...` commands, `jobs` at a time, each on one thread; fail if any fails."""
    pending, running = list(commands.items()), {}
    environment = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    while pending or running:
        while pending and len(running) < jobs:
            name, argv = pending.pop(0)
            running[name] = (subprocess.Popen([sys.executable, "-m", *argv], env=environment), time.perf_counter())
        time.sleep(1)
        for name, (process, start) in list(running.items()):
            if process.poll() is not None:
                del running[name]
                if process.returncode:
                    raise SystemExit(f"{name} failed (exit {process.returncode}): {' '.join(commands[name])}")
                print(f"{name}: {time.perf_counter() - start:.0f} s")


def train_commands(args: argparse.Namespace) -> dict[str, list[str]]:
    """`probe.train` command lines for the models whose checkpoints are missing."""
    commands = {}
    for name, augment in MODELS.items():
        if not (args.out / f"{name}.pt").exists() or (args.out / f"{name}.pt.state").exists():
            argv = ["probe.train", "--arch", "lenet", "--data", args.data, "--epochs", str(args.epochs),
                    "--augment", augment, "--seed", str(args.seed), "--out", str(args.out / f"{name}.pt"), "--quiet"]
            if (args.out / f"{name}.pt.state").exists():
                argv.append("--resume")
            if args.train_n:
                argv += ["--n", str(args.train_n)]
            commands[f"train {name}"] = argv
    return commands


def probe_commands(args: argparse.Namespace, bn_adapt: str | None) -> dict[str, list[str]]:
    """`probe.corruptions` command lines (the augmented models normalised by the standard one)."""
    commands = {}
    suffix = "_bn" if bn_adapt else ""
    for name in MODELS:
        path = args.out / f"{name}{suffix}.nc"
        if path.exists():
            continue
        argv = ["probe.corruptions", str(args.out / f"{name}.pt"), "--data", args.data, "--n", str(args.n),
                "--seed", str(args.seed), "--out", str(path), "--plot", str(args.out / f"{name}{suffix}_heatmap.png"),
                "--quiet", "--device", "cpu", "--reference", "none"]
        if bn_adapt:
            argv += ["--bn-adapt", bn_adapt]
        commands[f"probe {name}{suffix}"] = argv
    return commands


def augmentation_samples(args: argparse.Namespace, draws: int = 8) -> xr.DataArray:
    """`draws` AugMix and PRIME samples of one test image (dims augmentation, draw, channel, row, col)."""
    x, _ = data.get_batch(data.load(args.data, split="test"), [0] * draws)
    rows = [x.numpy()]
    for spec in ("augmix", "prime"):
        rows.append(parse_augment(spec).augment(x, torch.Generator().manual_seed(args.seed)).numpy())
    return xr.DataArray(np.stack(rows), dims=("augmentation", "draw", "channel", "row", "col"),
                        coords={"augmentation": ["clean", "augmix", "prime"], "draw": np.arange(draws)})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/corruption_training"))
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n", type=int, default=1000, help="test images probed")
    parser.add_argument("--bn-adapt", default="0:128", help="N:n for the adapted runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-n", type=int, help="train on a seeded subset of this many images (default: all)")
    parser.add_argument("--jobs", type=int, default=3, help="commands run at once (one thread each)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    run_all(train_commands(args), args.jobs)
    run_all({**probe_commands(args, None), **probe_commands(args, args.bn_adapt)}, args.jobs)
    table, plain, adapted = [], {}, {}
    for bn in (None, args.bn_adapt):
        suffix = "_bn" if bn else ""
        standard = results.load(args.out / f"standard{suffix}.nc")
        for name in MODELS:
            ds = results.load(args.out / f"{name}{suffix}.nc")
            ds = summarize(ds, reference=args.out / f"standard{suffix}.nc")  # mCE normalised by the standard model
            (adapted if bn else plain)[name] = ds
            table.append([name, f"BN {bn}" if bn else "none", float(ds["clean_accuracy"]),
                          float(ds["corruption_accuracy"]), float(ds["mce"]), float(ds["imagenet_mce"]),
                          float(ds["relative_mce"]), float(standard["mce"]) - float(ds["mce"])])
    print(format_table(["model", "adaptation", "clean %", "corruption %", "mCE %", "mCE/std %", "rel mCE/std %",
                            "mCE gain vs std"], table))
    plot.save(corruption_figures.severity_curves(plain), args.out / "severity_curves.png")
    plot.save(corruption_figures.severity_curves({f"{k} + BN": v for k, v in adapted.items()}),
                 args.out / "severity_curves_bn.png")
    plot.save(corruption_figures.corruption_grid(plain["standard"]), args.out / "corruption_grid.png")
    plot.save(corruption_figures.augmentation_grid(augmentation_samples(args)), args.out / "augmentation_grid.png")
    print(f"results and figures in {args.out}")


if __name__ == "__main__":
    main()
