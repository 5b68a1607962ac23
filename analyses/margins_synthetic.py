"""The T1 margin table: margins along u1, in its orthogonal complement, in a random subspace
orthogonal to u1 and in a random subspace, for an MLP (10 × 500) and a linear model.

Published medians for the MLP at ε = 5, σ = 1, D = 100, subspace dimension 3 (REFERENCE §2):
along u1 2.50, complement 12.36, random ⟂ u1 102.0, random 27.9; a linear or ideal
classifier gives exactly ε/2 = 2.5 along u1.

    python -m analyses.margins_synthetic [--epochs 10] [--n 200] [--out runs/margins_synthetic]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from probe import models
from probe.commands.common import format_table
from probe.data.synthetic import SyntheticDataset, t1
from probe.margins import run, summary
from probe.spectral import Bases, random_subspaces
from probe.train import fit

PUBLISHED_MLP = {"along u1": 2.50, "complement": 12.36, "random ⟂ u1": 102.0, "random": 27.9}


def split(dataset: SyntheticDataset, n_train: int) -> tuple[SyntheticDataset, SyntheticDataset]:
    """Train / test parts that share the mixing matrix U."""
    part = lambda s: SyntheticDataset(dataset.x[s], dataset.labels[s], dataset.rotation, dataset.info)  # noqa: E731
    return part(slice(0, n_train)), part(slice(n_train, None))


def subspace_families(dataset: SyntheticDataset, dimension: int, seed: int) -> dict[str, Bases]:
    shape = tuple(dataset.x.shape[1:])
    u1 = dataset.direction.double()
    dim = u1.numel()
    complement = torch.eye(dim, dtype=torch.float64) - torch.outer(u1, u1)
    gaussian = torch.randn(dim, dimension, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    return {
        "along u1": Bases(shape, u1[:, None]),
        "complement": Bases(shape, torch.linalg.svd(complement).U[:, :dim - 1]),
        "random ⟂ u1": Bases(shape, complement @ gaussian, orthonormalize=True),
        "random": random_subspaces(shape, dimension, seed=seed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epsilon", type=float, default=5.0)
    parser.add_argument("--sigma", type=float, default=1.0)
    parser.add_argument("--train-n", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--n", type=int, default=200, help="test points per subspace")
    parser.add_argument("--dimension", type=int, default=3, help="dimension of the random subspaces")
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/margins_synthetic"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    train, test = split(t1(args.train_n + args.n, args.epsilon, args.sigma, seed=args.seed), args.train_n)
    families = subspace_families(train, args.dimension, args.seed)
    dim = train.x.shape[-1]
    table = []
    for arch, kwargs, lr in (("mlp", {"width": 500, "depth": 10}, 0.02), ("linear", {}, 0.05)):
        torch.manual_seed(args.seed)
        model = models.build(arch, in_channels=1, num_classes=2, image_size=(1, dim), mean=[0.0], std=[1.0], **kwargs)
        for layer in model.modules():  # He initialisation: PyTorch's default starves a 10-layer ReLU MLP
            if isinstance(layer, torch.nn.Linear):
                torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                torch.nn.init.zeros_(layer.bias)
        history = fit(model, train, test, epochs=args.epochs, lr=lr, seed=args.seed,
                      log=lambda line, a=arch: print(f"{a}: {line}"))
        accuracy = float(history["test_accuracy"].values[-1])
        row = [arch, accuracy]
        for name, family in families.items():
            ds = run(model.eval(), test, subspaces=family, n=args.n, seed=args.seed, max_iter=args.max_iter,
                     out=args.out / f"{arch}_{name.replace(' ', '_').replace('⟂', 'perp')}.nc")
            row += [float(np.median(ds["margin"].values)), summary(ds)["not_converged"]]
        table.append(row)
    headers = ["model", "test acc %"]
    for name in families:
        headers += [f"{name} (median)", "not conv."]
    table.append(["published MLP", "-"] + [v for p in PUBLISHED_MLP.values() for v in (p, "-")])
    print(f"T1(ε={args.epsilon:g}, σ={args.sigma:g}), D={dim}, {args.n} test points, random subspaces of dim {args.dimension}")
    print(format_table(headers, table))


if __name__ == "__main__":
    main()
