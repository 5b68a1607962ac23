"""Thesis §5.4, PRIME insights on Fashion-MNIST: LeNets trained with each PRIME primitive alone
(spectral, spatial, colour) and with all three, each with PRIME's mixing (AugMix-style chains,
Dirichlet weights, blend with the clean image) and without it (one primitive per image), beside a
standard LeNet; every model on generated Fashion-MNIST-C (the 15 benchmark corruptions, CIFAR
parameters, severities 1–5).  Reports the clean accuracy, the corruption accuracy and the accuracy
per severity, i.e. the clean-accuracy / robustness trade-off of each primitive and of mixing.
Training: the thesis' MNIST recipe (SGD, triangular peak 0.21, weight decay 5e-4, `--epochs`).

    python -m analyses.prime_primitives --out DIR [--models standard prime spectral ...] [--epochs 30] [--n 1000]

Resumable (rerun the same command; `--models` runs a subset, every run reports all the models
found in DIR).  Writes in DIR: `NAME.pt`, `NAME.history.nc`, `NAME.nc` (the corruption result,
`probe='corruptions'`, attributes `model_label`, `augment`), the figure `prime_primitives.pdf` (and `.png`)
and `prime_primitives.nc`:

- `accuracy(model, severity)` in %: severity 0 is the clean accuracy, 1–5 the mean over corruptions;
- `clean_accuracy(model)`, `corruption_accuracy(model)` in %, `corruption_error(model, corruption)`
  in % (100 − accuracy, mean over severities); coordinate `augment(model)`: the `--augment` spec.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import xarray as xr

from analyses import thesis
from figures import common
from probe import results
from probe.augment import parse_augment
from probe.corruptions import plot as corruption_plots
from probe.corruptions import run
from probe.plot import style
from probe.tables import format_table

MODELS = {   # name → PRIME spec (`--augment`)
    "standard": "none",
    "prime": "prime",
    "spectral": "prime:primitives=spectral",
    "spatial": "prime:primitives=spatial",
    "colour": "prime:primitives=colour",
    "prime_no_mix": "prime:mix=false",
    "spectral_no_mix": "prime:primitives=spectral,mix=false",
    "spatial_no_mix": "prime:primitives=spatial,mix=false",
    "colour_no_mix": "prime:primitives=colour,mix=false",
}
# CIFAR-10 ResNet-18 (Modas et al. 2022, PRIME, Table 1; RobustBench corruptions leaderboard): clean, then
# severities 1–5 (the shape of the decline)
PUBLISHED = {
    "standard": (95.0, 86.9, 81.3, 74.9, 67.6, 56.5),   # clean: the paper's standard model; per severity: leaderboard
    "prime": (94.2, 92.8, 91.6, 90.4, 88.6, 85.6),
}


def train_and_probe(name: str, args: argparse.Namespace, train_set, test_set) -> xr.Dataset:
    """Train (or reuse) one LeNet and measure it on generated Fashion-MNIST-C; saved as DIR/NAME.nc."""
    model = thesis.lenet(train_set, args.seed)
    recipe = thesis.MNIST.scaled(epochs=args.epochs)
    print(f"--- {name} ({MODELS[name]}): {recipe}", flush=True)
    augment = parse_augment(MODELS[name], dict(getattr(train_set, "info", {})))
    thesis.train(model, train_set, test_set, args.out / f"{name}.pt", recipe, seed=args.seed, augment=augment,
                 log=lambda line: print(f"{name}: {line}", flush=True))
    path = args.out / f"{name}.nc"
    ds = run(model.eval(), test_set, n=args.n, seed=args.seed, out=path, resume=True, reference="none")
    ds.attrs.update(model_label=name.replace("_", " "), augment=MODELS[name], recipe=str(recipe))
    results.save(ds, path)
    return ds


def collect(folder: Path) -> xr.Dataset:
    """`prime_primitives.nc` from every model's corruption result in `folder`."""
    found = {name: results.load(folder / f"{name}.nc") for name in MODELS if (folder / f"{name}.nc").is_file()}
    names = list(found)
    accuracy = [[float(ds["clean_accuracy"]), *ds["accuracy"].mean("corruption").values] for ds in found.values()]
    first = next(iter(found.values()))
    return xr.Dataset({
        "accuracy": (("model", "severity"), np.array(accuracy),
                     {"long_name": "accuracy (severity 0: clean; else mean over corruptions)", "units": "%"}),
        "clean_accuracy": ("model", [float(ds["clean_accuracy"]) for ds in found.values()], {"units": "%"}),
        "corruption_accuracy": ("model", [float(ds["corruption_accuracy"]) for ds in found.values()], {"units": "%"}),
        "corruption_error": (("model", "corruption"), np.array([100.0 - ds["accuracy"].mean("severity").values
                                                               for ds in found.values()]), {"units": "%"}),
    }, coords={"model": names, "severity": [0, *first["severity"].values.tolist()],
               "corruption": first["corruption"].values, "augment": ("model", [MODELS[n] for n in names])})


def report(table: xr.Dataset) -> str:
    rows = [[str(m), str(table["augment"].sel(model=m).values), *table["accuracy"].sel(model=m).values,
             float(table["corruption_accuracy"].sel(model=m))] for m in table["model"].values]
    rows += [[f"published CIFAR-10 {name}", "R18", *values, float(np.mean(values[1:]))]
             for name, values in PUBLISHED.items()]
    lines = [format_table(["model", "augment", "clean %", *(f"sev {s} %" for s in table["severity"].values[1:]),
                           "corruption %"], rows)]
    if "standard" in table["model"].values:
        base = table.sel(model="standard")
        lines += ["", "against the standard model (percentage points): clean-accuracy cost, corruption-accuracy gain"]
        lines.append(format_table(["model", "clean Δ", "corruption Δ"],
                                  [[str(m), float(table["clean_accuracy"].sel(model=m) - base["clean_accuracy"]),
                                    float(table["corruption_accuracy"].sel(model=m) - base["corruption_accuracy"])]
                                   for m in table["model"].values if m != "standard"]))
    lines.append("expected (thesis §5.4): every primitive alone helps on the corruptions it resembles; all three mixed "
                 "help most; mixing beats single primitives; robustness costs a little clean accuracy")
    return "\n".join(lines)


BELOW = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.3), "ncol": 2, "fontsize": 4.5, "frameon": False}


def family(name: str) -> str:
    """The primitive a model's augmentation uses, the same with and without mixing ('prime': all three)."""
    return name.removesuffix("_no_mix")


@style.styled
def figure(folder: Path, table: xr.Dataset):
    """Accuracy against severity (with and without mixing) and the clean / corruption trade-off; one colour
    per primitive in every panel (squares: without mixing)."""
    fig, axes = style.panels(3, style.TWO_COLUMN, aspect=0.9)
    found = {str(m): results.load(folder / f"{m}.nc") for m in table["model"].values}
    families = list(dict.fromkeys(family(m) for m in found))
    color = {m: style.color(families.index(family(m))) for m in found}
    for ax, (title, keep) in zip(axes, (("with mixing", lambda m: "no_mix" not in m),
                                        ("without mixing", lambda m: "no_mix" in m or m == "standard"))):
        shown = {m: ds for m, ds in found.items() if keep(m)}
        corruption_plots.severity_curves({m.replace("_", " "): ds for m, ds in shown.items()}, ax=ax,
                                         colors=[color[m] for m in shown])
        legend = ax.get_legend()   # below the panel: above it would cover the title, inside the curves
        ax.legend(handles=legend.legend_handles, labels=[text.get_text() for text in legend.get_texts()],
                  **BELOW)
        ax.set_title(title)
    trade = axes[2]
    for m in table["model"].values:
        trade.scatter(float(table["clean_accuracy"].sel(model=m)), float(table["corruption_accuracy"].sel(model=m)),
                      color=color[str(m)], marker="s" if "no_mix" in str(m) else "o", label=str(m).replace("_", " "))
    trade.set_xlabel("clean accuracy (%)")
    trade.set_ylabel("corruption accuracy (%)")
    trade.set_title("trade-off (squares: without mixing)")
    trade.legend(**BELOW)
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/prime_primitives"))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--epochs", type=int, default=thesis.MNIST.epochs)
    parser.add_argument("--n", type=int, default=1000, help="test images corrupted")
    args = thesis.parse(parser, margins=False)
    train_set, test_set = thesis.fashion_mnist(args.data)
    for name in args.models:
        ds = train_and_probe(name, args, train_set, test_set)
        print(f"{name}: clean {float(ds['clean_accuracy']):.2f} %, corruption {float(ds['corruption_accuracy']):.2f} %",
              flush=True)
    table = collect(args.out)
    table.attrs = results.provenance("prime_primitives", {k: str(v) for k, v in vars(args).items()},
                                     data_identity={"data": args.data, "split": "test"}, seed=args.seed)
    results.save(table, args.out / "prime_primitives.nc")
    print(report(table))
    print("figure:", common.save(figure(args.out, table), args.out / "prime_primitives"))


if __name__ == "__main__":
    main()
