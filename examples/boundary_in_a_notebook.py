"""A first look at a model's decision boundary from Python (what a notebook would do).

Trains a small LeNet on the embedded Fashion-MNIST sample (a few seconds), then:
margins in every DCT frequency band, SparseFool on a batch, and a figure of the margins.

    python examples/boundary_in_a_notebook.py [--out examples_out]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

import figures
from figures.margins import bands
from probe import data, models, results
from probe.attacks import sparsefool
from probe.margins import sweep
from probe.spectral import dct_diagonal_blocks
from probe.train import fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("examples_out"))
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()

    train = data.load("fashion-mnist-sample", split="train")
    test = data.load("fashion-mnist-sample", split="test")
    torch.manual_seed(0)
    model = models.build("lenet", in_channels=1, num_classes=10, image_size=(28, 28), mean=[0.286], std=[0.353])
    history = fit(model, train, test, epochs=args.epochs)
    print(f"test accuracy {history['test_accuracy'].values[-1]:.1f}%")

    # Distance to the boundary inside each 8×8 DCT block (21 bands for 28×28 images).
    margins = sweep(model, test, dct_diagonal_blocks((1, 28, 28)), n=16, seed=0)
    results.save(margins, args.out / "margins.nc")
    median = margins["margin"].median("sample").values
    print("median margin per band:", np.array2string(median, precision=2))

    # How few pixels flip the decision of 16 test images.
    x, _ = data.get_batch(test, margins["sample"].values)
    attack = sparsefool(model, x, lam=3.0)
    pixels = attack.perturbed_pixels.float() / (28 * 28) * 100
    print(f"SparseFool fooled {int(attack.fooled.sum())}/16, median {float(pixels.median()):.2f}% of pixels")

    figures.save(bands(margins, log=True), args.out / "margins.png")
    print(f"wrote {args.out}/margins.nc and margins.png")


if __name__ == "__main__":
    main()
