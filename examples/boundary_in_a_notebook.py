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

import probe
from probe import data, models, plot
from probe.plot.margins import bands
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
    margins = probe.margins.run(model, test, n=16, seed=0, out=args.out / "margins.nc")
    median = margins["margin"].median("sample").values
    print("median margin per band:", np.array2string(median, precision=2))

    # How few pixels flip the decision of the same 16 test images: the same call, other options.
    sparse = probe.sparsefool.summary(probe.sparsefool.run(model, test, n=16, seed=0, lam=3.0))
    print(f"SparseFool fooled {sparse['fooling_rate']:.0f}% of 16, median {sparse['median_perturbed_pixels']:.2f}% "
          f"of pixels")

    plot.save(bands(margins, log=True), args.out / "margins.png")
    print(f"wrote {args.out}/margins.nc and margins.png")


if __name__ == "__main__":
    main()
