"""Thesis Table 4.1 / Table A.1: margins on T1(ε = 5, σ = 1) along u1, in its orthogonal complement,
in a random subspace orthogonal to u1 and in a random subspace, of an MLP (10 hidden layers of 500)
and a logistic regression trained with the published recipe (SGD, momentum 0.9, batch 128,
learning rate decaying linearly from 0.1, no weight decay, 500 epochs; PyTorch's default
initialisation).  D = 100, N = 10 000 training and M = 1 000 test samples, random subspaces of
dimension 3 (a different seeded one for every test sample).  Prints the median and the 5/95
percentiles of DeepFool's margin (and of the exact bisection distance) beside the published medians.

    python -m analyses.margins_synthetic --out DIR [--models mlp logistic] [--epochs 500] [--epsilon 5]

Resumable: rerun the same command to continue (models checkpoint every epoch; margins by chunk).
Writes in DIR: `MODEL.pt` and `MODEL.history.nc` (the trained models), `MODEL_SUBSPACE.nc` (each
margins run, `probe='margins'`, `refine=True`), `t1.pdf` (and `t1.png`) and `t1.nc`:

- `margin(model, subspace, sample)`: DeepFool margin ‖(1+η) r‖ (+inf: not converged);
- `margin_refined(model, subspace, sample)`: the bisection distance along the direction found;
- `converged(model, subspace, sample)`; `test_accuracy(model)`, `train_accuracy(model)` in %;
- `published(model, subspace)`: the thesis' median;
- `shared_median(shared, draw)` (with the logistic regression): its exact median margin when one
  random subspace is shared by all test samples, for `draw` = 1 000 such subspaces, `shared` ∈
  {random_orthogonal, random} — how far one draw of "a random subspace" moves the median;
- coordinates `model` ∈ {mlp, logistic}, `subspace` ∈ {u1, complement, random_orthogonal, random},
  `sample` (test indices), `dimension(subspace)`.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from analyses import thesis
from figures import common
from probe import models, results
from probe.data.synthetic import SyntheticDataset, t1
from probe.margins import plot as margin_plots
from probe.margins import run
from probe.plot import style
from probe.spectral import Bases, PerSampleBases, SubspaceFamily

PUBLISHED = {   # thesis Table 4.1 (MLP) and Table A.1 (logistic regression): median margins
    "mlp": {"u1": 2.50, "complement": 12.36, "random_orthogonal": 102.0, "random": 27.9},
    "logistic": {"u1": 2.49, "complement": 38.3, "random_orthogonal": 193.0, "random": 12.1},
}
ARCHITECTURES = {"mlp": ("mlp", {"width": 500, "depth": 10}), "logistic": ("linear", {})}
SUBSPACES = ("u1", "complement", "random_orthogonal", "random")


def subspace_families(test: SyntheticDataset, dimension: int, seed: int) -> dict[str, SubspaceFamily]:
    """u1 itself, its orthogonal complement, and per test sample a random `dimension`-dimensional
    subspace orthogonal to u1 and one drawn freely (seeded)."""
    shape, u1 = tuple(test.image_shape), test.direction.double()
    dim = u1.numel()
    complement = torch.linalg.qr(torch.cat([u1[:, None], torch.eye(dim, dtype=torch.float64)], 1)).Q[:, 1:dim]
    generator = torch.Generator().manual_seed(seed + 1)
    gaussian = torch.randn(2, len(test), dim, dimension, generator=generator, dtype=torch.float64)
    orthogonal = gaussian[0] - u1[None, :, None] * (u1 @ gaussian[0])[:, None, :]
    samples = np.arange(len(test))
    return {"u1": Bases(shape, u1[:, None], kind="u1"),
            "complement": Bases(shape, complement, kind="complement"),
            "random_orthogonal": PerSampleBases(shape, orthogonal, samples, orthonormalize=True),
            "random": PerSampleBases(shape, gaussian[1], samples, orthonormalize=True)}


def shared_subspace_medians(model: torch.nn.Module, test: SyntheticDataset, dimension: int, draws: int,
                            seed: int) -> xr.DataArray:
    """Exact median margins of a linear two-logit model when one random subspace S is shared by every
    test sample: `median |g(x)| / ‖P_S w‖` with `g = f_1 − f_0 = w·x + b`, for `draws` subspaces S
    drawn freely and orthogonally to u1 (seeded)."""
    x = test.x.clone().requires_grad_(True)
    gap = model(x).diff(dim=1)[:, 0]
    w = torch.autograd.grad(gap.sum(), x)[0][0].flatten().double()   # the same at every x: the model is linear
    median_gap = float(gap.detach().abs().median())
    u1 = test.direction.double()
    gaussian = torch.randn(draws, u1.numel(), dimension, generator=torch.Generator().manual_seed(seed + 2),
                           dtype=torch.float64)
    bases = {"random_orthogonal": gaussian - u1[None, :, None] * (u1 @ gaussian)[:, None, :], "random": gaussian}
    medians = [median_gap / (torch.linalg.qr(b).Q.transpose(1, 2) @ w).norm(dim=1).numpy() for b in bases.values()]
    return xr.DataArray(np.stack(medians), dims=("shared", "draw"), coords={"shared": list(bases)},
                        attrs={"long_name": "exact median margin in one random subspace shared by all samples",
                               "units": "L2"})


def build(name: str, dim: int, seed: int, init: str, **sizes: int) -> torch.nn.Module:
    """The MLP or the logistic regression (two logits) for D-vectors, seeded; `init` 'he' replaces
    PyTorch's default initialisation by He-normal weights and zero biases; `sizes` (the MLP's
    `width`, `depth`) replace the thesis' (quick tests only)."""
    arch, kwargs = ARCHITECTURES[name]
    torch.manual_seed(seed)
    model = models.build(arch, in_channels=1, num_classes=2, image_size=(1, dim), mean=[0.0], std=[1.0],
                         **{**kwargs, **sizes})
    if init == "he":
        for layer in model.modules():
            if isinstance(layer, torch.nn.Linear):
                torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                torch.nn.init.zeros_(layer.bias)
    return model


def measure(args: argparse.Namespace) -> xr.Dataset:
    """Train every model (or reuse / continue it) and measure its margins in every subspace."""
    train_set, test_set = t1(args.train_n + args.test_n, args.epsilon, args.sigma, args.dim,
                             args.seed).split(args.train_n)
    families = subspace_families(test_set, args.dimension, args.seed)
    recipe = thesis.SYNTHETIC.scaled(epochs=args.epochs)
    per_model, accuracy = [], {}
    for name in args.models:
        model = build(name, args.dim, args.seed, args.init)
        print(f"--- {name}: {recipe}")
        checkpoint = args.out / f"{name}.pt"
        history = thesis.train(model, train_set, test_set, checkpoint, recipe, seed=args.seed,
                               log=lambda line, n=name: print(f"{n}: {line}", flush=True))
        accuracy[name] = (thesis.final(history), thesis.final(history, "train_accuracy"))
        if name == "logistic":
            shared = shared_subspace_medians(model.eval(), test_set, args.dimension, 1000, args.seed)
        sweeps = []
        for subspace, family in families.items():
            ds = run(model.eval(), test_set, subspaces=family, seed=args.seed, max_iter=args.max_iter, refine=True,
                     out=args.out / f"{name}_{subspace}.nc", resume=True)
            print(f"{name} / {subspace}: median margin {np.median(ds['margin'].values):.4g} "
                  f"({ds.attrs['elapsed_seconds']:.0f} s)", flush=True)
            sweeps.append(ds[["margin", "margin_refined", "converged"]].isel(subspace=0, drop=True))
        per_model.append(xr.concat(sweeps, dim="subspace"))
    table = xr.concat(per_model, dim="model").assign_coords(
        model=list(args.models), subspace=list(families),
        dimension=("subspace", [int(f.dimensions[0]) for f in families.values()]))
    table["test_accuracy"] = ("model", [accuracy[m][0] for m in args.models],
                              {"long_name": "test accuracy", "units": "%"})
    table["train_accuracy"] = ("model", [accuracy[m][1] for m in args.models],
                               {"long_name": "training accuracy", "units": "%"})
    table["published"] = (("model", "subspace"), [[PUBLISHED[m][s] for s in families] for m in args.models],
                          {"long_name": "published median margin (thesis Tables 4.1, A.1)", "units": "L2"})
    if "logistic" in args.models:
        table["shared_median"] = shared
    table.attrs = results.provenance("t1_margins", {k: str(v) for k, v in vars(args).items()},
                                     data_identity={"data": "T1", "split": "test"}, seed=args.seed)
    table.attrs.update(recipe=str(recipe), complete=1)
    return table


def report(table: xr.Dataset) -> str:
    """Median [5 %, 95 %] of both margins per model and subspace, beside the published medians."""
    lines, rows = [], []
    for name in table["model"].values:
        lines.append(f"{name}: test accuracy {float(table['test_accuracy'].sel(model=name)):.2f} %, "
                     f"train {float(table['train_accuracy'].sel(model=name)):.2f} %")
        for subspace in table["subspace"].values:
            cell = table.sel(model=name, subspace=subspace)
            # sample quantiles (no interpolation: a non-converged margin is +inf, never inf − inf = NaN)
            low, middle, high = np.quantile(cell["margin"].values, [0.05, 0.5, 0.95], method="nearest")
            refined = float(np.quantile(cell["margin_refined"].values, 0.5, method="nearest"))
            lines.append(f"  {subspace:>17}: margin {middle:.4g} [{low:.4g}, {high:.4g}]  refined {refined:.4g}  "
                         f"not converged {100 * (1 - float(cell['converged'].mean())):.1f} %")
            rows.append((f"{name} {subspace} DeepFool", float(middle), float(cell["published"])))
            rows.append((f"{name} {subspace} refined", refined, float(cell["published"])))
    lines += ["", thesis.compare(rows, ("model / subspace / margin", "median"))]
    if "shared_median" in table:
        lines.append("\nlogistic regression, one random subspace shared by all samples (exact, "
                     f"{table.sizes['draw']} draws): median margin over the test set")
        for shared in table["shared"].values:
            draws = table["shared_median"].sel(shared=shared).values
            published = PUBLISHED["logistic"][str(shared)]
            lines.append(f"  {shared:>17}: 5 / 50 / 95 % over draws {np.percentile(draws, 5):.4g} / "
                         f"{np.percentile(draws, 50):.4g} / {np.percentile(draws, 95):.4g}; published {published:g} "
                         f"lies at the {100 * (draws < published).mean():.0f}th percentile")
    return "\n".join(lines)


@style.styled
def figure(table: xr.Dataset):
    """One panel per model: the margin distribution per subspace, the published median as a cross."""
    fig, axes = style.panels(table.sizes["model"], style.TWO_COLUMN, aspect=0.8)
    for ax, name in zip(axes, table["model"].values):
        margin_plots.bands(table.sel(model=name), ax=ax, log=True)
        marker = ax.scatter(np.arange(table.sizes["subspace"]), table["published"].sel(model=name).values,
                            marker="x", color="black", zorder=5)
        legend = ax.get_legend()
        ax.legend([*legend.legend_handles, marker], [*(t.get_text() for t in legend.get_texts()), "published median"],
                  loc="upper left")
        ax.set_title(f"{name} (test accuracy {float(table['test_accuracy'].sel(model=name)):.1f} %)")
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/margins_synthetic"))
    parser.add_argument("--models", nargs="+", default=list(ARCHITECTURES), choices=list(ARCHITECTURES))
    parser.add_argument("--epsilon", type=float, default=5.0, help="class means at ±ε/2 along u1")
    parser.add_argument("--sigma", type=float, default=1.0)
    parser.add_argument("--dim", type=int, default=100, help="D")
    parser.add_argument("--train-n", type=int, default=10_000)
    parser.add_argument("--test-n", type=int, default=1_000, help="test samples, all of them measured")
    parser.add_argument("--epochs", type=int, default=thesis.SYNTHETIC.epochs)
    parser.add_argument("--dimension", type=int, default=3, help="dimension of the random subspaces")
    parser.add_argument("--init", choices=("default", "he"), default="default",
                        help="PyTorch's default initialisation (the published code's) or He-normal")
    args = thesis.parse(parser)
    table = measure(args)
    results.save(table, args.out / "t1.nc")
    print(f"\nT1(ε={args.epsilon:g}, σ={args.sigma:g}), D={args.dim}, N={args.train_n}, {args.test_n} test samples, "
          f"random subspaces of dimension {args.dimension}")
    print(report(table))
    print("figure:", common.save(figure(table), args.out / "t1"))


if __name__ == "__main__":
    main()
