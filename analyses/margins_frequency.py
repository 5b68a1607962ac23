"""Frequency margins on Fashion-MNIST: standard, DCT-flipped, low-passed and L2-adversarial LeNets.

Trains the four LeNets on a seeded subset of the training set (few epochs, to keep the run
modest on a CPU), sweeps each over the 21 diagonal 8×8 DCT blocks on test images from its
own input distribution (flipped / low-passed test images for those models), plots the four
margin curves on one axes (`figures.frequency_margins`), and records the energy spectrum
of the PGD perturbations during adversarial training (per epoch).

    python -m analyses.margins_frequency --out runs/margins_frequency [--train-n 10000] [--epochs 3] [--n 200]
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from figures.frequency_margins import render
from probe import data, models, results
from probe.augment.adversarial import AdversarialTraining
from probe.data import TransformedDataset, subset_indices
from probe.data.transforms import parse_transform
from probe.commands.common import format_table
from probe.commands.margins import report
from probe.margins import run, summary
from probe.spectral import dct_diagonal_blocks, energy_spectrum
from probe.train import channel_statistics, fit


def train_lenet(train_set, test_set, epochs: int, seed: int, augment=None, path: Path | None = None):
    mean, std = channel_statistics(train_set)
    torch.manual_seed(seed)
    model = models.build("lenet", in_channels=1, num_classes=10, image_size=(28, 28), mean=mean, std=std)
    history = fit(model, train_set, test_set, epochs=epochs, lr=0.05, seed=seed, augment=augment,
                  checkpoint=path, log=print)
    return model.eval(), float(history["test_accuracy"].values[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/margins_frequency"))
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--train-n", type=int, default=10000, help="training images (seeded subset)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n", type=int, default=200, help="test images per sweep")
    parser.add_argument("--low-pass", type=int, default=14, help="B of the low-pass model (keeps B×B)")
    parser.add_argument("--epsilon", type=float, default=2.0, help="L2 radius of adversarial training")
    parser.add_argument("--steps", type=int, default=5, help="PGD steps of adversarial training")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    train_full, test_full = data.load(args.data, split="train"), data.load(args.data, split="test")
    subset = subset_indices(len(train_full), args.train_n, args.seed).tolist()
    family = dct_diagonal_blocks((1, 28, 28))

    energies: list[np.ndarray] = []
    batch_energy: list[torch.Tensor] = []
    steps_per_epoch = math.ceil(args.train_n / 128)

    def record(delta: torch.Tensor) -> None:
        batch_energy.append(energy_spectrum(delta.cpu(), family).mean(0))
        if len(batch_energy) == steps_per_epoch:
            energies.append(torch.stack(batch_energy).mean(0).numpy())
            batch_energy.clear()

    variants = {
        "standard": (None, None),
        "flipped": ("dct-flip", None),
        f"low-pass {args.low_pass}": (f"low-pass:{args.low_pass}", None),
        f"L2 adversarial ε={args.epsilon:g}": (None, AdversarialTraining("l2", args.epsilon, args.steps, monitor=record)),
    }
    rows = []
    for name, (transform, augment) in variants.items():
        train_set, test_set = train_full, test_full
        if transform:
            function = parse_transform(transform)
            train_set = TransformedDataset(train_full, function, transform)
            test_set = TransformedDataset(test_full, function, transform)
        train_subset = torch.utils.data.Subset(train_set, subset)
        train_subset.info = dict(getattr(train_set, "info", {}))
        print(f"--- {name}: training on {args.train_n} images for {args.epochs} epochs")
        slug = name.split()[0].lower()
        model, accuracy = train_lenet(train_subset, test_set, args.epochs, args.seed, augment, args.out / f"{slug}.pt")
        ds = run(model, test_set, subspaces=family, n=args.n, seed=args.seed)
        ds.attrs.update(model_label=name, test_accuracy=accuracy, data=args.data, transform=transform or "none")
        results.save(ds, args.out / f"{slug}.nc")
        medians = np.median(ds["margin"].values, axis=1)
        rows.append([name, accuracy, float(medians[0]), float(medians[10]), float(medians[20]),
                     summary(ds)["not_converged"], float(ds.attrs["elapsed_seconds"])])
        print(report(ds))

    print(format_table(["model", "test acc %", "median band 0", "median band 10", "median band 20",
                        "not converged", "sweep s"], rows))

    spectrum = xr.Dataset({"energy": (("epoch", "subspace"), np.stack(energies),
                                      {"long_name": "mean share of PGD perturbation energy", "units": "1"})},
                          coords={"epoch": np.arange(1, len(energies) + 1), "subspace": np.arange(len(family)),
                                  "band_start": ("subspace", family.starts[:, 0])})
    spectrum.attrs = results.provenance("energy_spectrum", vars(args), data_identity={"data": args.data, "split": "train"},
                                        seed=args.seed)
    results.save(spectrum, args.out / "pgd_energy.nc")
    print("PGD perturbation energy share per band (last epoch):",
          np.array2string(spectrum["energy"].values[-1], precision=3, max_line_width=200))
    print("figures:", ", ".join(map(str, render(args.out))))


if __name__ == "__main__":
    main()
