"""Thesis Fig. 4.10, the sharp transition: on T2(ρ = 20, ε, σ = 1, K = 3) (D = 100, N = 10 000
training and 1 000 test samples) the MLP of Table 4.1 (10 × 500), trained with the same recipe
(SGD, momentum 0.9, linear decay from 0.1, no weight decay, 500 epochs), ignores the small
linearly separable feature along u1 while ε is small (huge or non-converged margins along u1,
margin ≈ ρ/4 along u2) and switches to it near ε ≈ 0.5 (margin ≈ ε/2 along u1, large along u2);
the test accuracy stays 100 %.  One model per ε (the data differ only by ε: same U, noise, labels).

    python -m analyses.t2_transition --out DIR [--epsilons 0 0.1 ... 1.0] [--epochs 500]

Resumable (rerun the same command; `--epsilons` may list a subset, e.g. one per process; every
run assembles all the ε found in DIR).  Writes in DIR: `eps_E.pt`, `eps_E.history.nc`,
`eps_E_u1.nc`, `eps_E_u2.nc` (margins, `refine=True`), the figure `t2_transition.pdf`
(`figures.t2_transition`) and `t2.nc`:

- `margin(epsilon, subspace, sample)`, `margin_refined(...)`, `converged(...)` with `subspace` ∈
  {u1, u2} (+inf: not converged); `test_accuracy(epsilon)`, `train_accuracy(epsilon)` in %.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import xarray as xr

from analyses import thesis
from analyses.margins_synthetic import build
from figures.t2_transition import draw
from figures import common
from probe import results
from probe.data.synthetic import t2
from probe.margins import run
from probe.spectral import Bases
from probe.tables import format_table

EPSILONS = tuple(round(0.1 * i, 1) for i in range(11))


def measure(epsilon: float, args: argparse.Namespace) -> None:
    """Train (or reuse) the MLP on T2 at `epsilon` and measure its margins along u1 and u2."""
    data = t2(args.train_n + args.test_n, rho=args.rho, epsilon=epsilon, sigma=args.sigma, k=args.k, dim=args.dim,
              seed=args.seed)
    train_set, test_set = data.split(args.train_n)
    stem = args.out / f"eps_{epsilon:g}"
    model = build("mlp", args.dim, args.seed, "default")
    recipe = thesis.SYNTHETIC.scaled(epochs=args.epochs)
    print(f"--- ε = {epsilon:g}: {recipe}", flush=True)
    thesis.train(model, train_set, test_set, Path(f"{stem}.pt"), recipe, seed=args.seed,
                 log=lambda line: print(f"ε={epsilon:g}: {line}", flush=True))
    shape = tuple(test_set.image_shape)
    for i, name in enumerate(("u1", "u2")):
        ds = run(model.eval(), test_set, subspaces=Bases(shape, test_set.rotation[:, i:i + 1].double(), kind=name),
                 seed=args.seed, max_iter=args.max_iter, refine=True, out=Path(f"{stem}_{name}.nc"), resume=True)
        print(f"ε = {epsilon:g} along {name}: median margin {np.median(ds['margin'].values):.4g}", flush=True)


def assemble(folder: Path) -> xr.Dataset:
    """`t2.nc` from every ε whose both margin runs and training history are in `folder`."""
    found = sorted(float(p.name[4:-6]) for p in folder.glob("eps_*_u2.nc") if (folder / f"{p.name[:-6]}_u1.nc").is_file())
    per_epsilon, accuracy = [], []
    for epsilon in found:
        stem = folder / f"eps_{epsilon:g}"
        both = [results.load(Path(f"{stem}_{name}.nc"))[["margin", "margin_refined", "converged"]].isel(subspace=0, drop=True)
                for name in ("u1", "u2")]
        per_epsilon.append(xr.concat(both, dim="subspace"))
        history = results.load(Path(f"{stem}.history.nc"))
        accuracy.append((thesis.final(history), thesis.final(history, "train_accuracy")))
    table = xr.concat(per_epsilon, dim="epsilon").assign_coords(epsilon=found, subspace=["u1", "u2"])
    table["test_accuracy"] = ("epsilon", [a[0] for a in accuracy], {"long_name": "test accuracy", "units": "%"})
    table["train_accuracy"] = ("epsilon", [a[1] for a in accuracy], {"long_name": "training accuracy", "units": "%"})
    return table


def report(table: xr.Dataset, rho: float) -> str:
    rows = []
    for epsilon in table["epsilon"].values:
        cell = table.sel(epsilon=epsilon)
        medians = [float(np.median(cell[v].sel(subspace=s).values)) for s in ("u1", "u2")
                   for v in ("margin", "margin_refined")]
        unconverged = [100 * (1 - float(cell["converged"].sel(subspace=s).mean())) for s in ("u1", "u2")]
        rows.append([float(epsilon), *medians[:2], epsilon / 2, unconverged[0], *medians[2:], unconverged[1],
                     float(cell["test_accuracy"])])
    return (format_table(["ε", "u1 DeepFool", "u1 refined", "ε/2", "u1 not conv. %", "u2 DeepFool", "u2 refined",
                          "u2 not conv. %", "test acc %"], rows)
            + "\nmedian margins; 'refined': the exact distance along DeepFool's direction (DeepFool's last"
              " linear step overshoots on these saturated MLPs)"
            + f"\nexpected (thesis Fig. 4.10): along u1 huge or not converged below ε ≈ 0.5, ≈ ε/2 above; "
              f"along u2 ≈ ρ/4 = {rho / 4:g} below, large above; test accuracy 100 %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/t2_transition"))
    parser.add_argument("--epsilons", type=float, nargs="+", default=list(EPSILONS))
    parser.add_argument("--rho", type=float, default=20.0)
    parser.add_argument("--sigma", type=float, default=1.0)
    parser.add_argument("--k", type=int, default=3, help="K: the second feature takes 2K values per class")
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--train-n", type=int, default=10_000)
    parser.add_argument("--test-n", type=int, default=1_000)
    parser.add_argument("--epochs", type=int, default=thesis.SYNTHETIC.epochs)
    args = thesis.parse(parser)
    for epsilon in args.epsilons:
        measure(epsilon, args)
    table = assemble(args.out)
    table.attrs = results.provenance("t2_transition", {k: str(v) for k, v in vars(args).items()},
                                     data_identity={"data": "T2", "split": "test"}, seed=args.seed)
    results.save(table, args.out / "t2.nc")
    print(report(table, args.rho))
    print("figure:", ", ".join(map(str, common.render(draw, args.out))))


if __name__ == "__main__":
    main()
