"""Compare the loss flatness of LeNets trained with different augmentations.

Trains one LeNet per `--augment` spec on the embedded Fashion-MNIST sample through the real
`python -m probe.train` command (checkpoints are cached in `--out`), runs the flatness probe
(`probe.flatness.run`) on each with the same seeded data subset and directions, and
writes one comparison figure and a table (test accuracy, F(γ) at the largest radius ±
standard error, top Hessian eigenvalue, Hessian trace ± standard error).

    python -m analyses.flatness_compare --out runs/flatness [--epochs 8] [--filter-norm]
        [--augment none lp:L2:1.5 adversarial:l2:0.5:3]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from probe import flatness, models, plot
from probe.augment import AUGMENTATIONS
from probe.commands.train import main as train_main
from probe.flatness import plot as flat_figures
from probe.plot import style
from probe.tables import format_table

DATA = "fashion-mnist-sample"
DEFAULT_AUGMENTS = ("none", "lp:L2:1.5", "adversarial:l2:0.5:3")


def slug(spec: str) -> str:
    return spec.replace(":", "_").replace(",", "+") or "none"


def train(spec: str, out: Path, epochs: int, seed: int) -> Path:
    """Train (or reuse) the LeNet for augmentation `spec`."""
    checkpoint = out / f"lenet_{slug(spec)}.pt"
    if not checkpoint.exists():
        code = train_main(["--arch", "lenet", "--data", DATA, "--epochs", str(epochs), "--seed", str(seed),
                           "--augment", spec, "--out", str(checkpoint), "--quiet"])
        if code:
            raise SystemExit(f"training with --augment {spec} failed")
    return checkpoint


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/flatness"))
    parser.add_argument("--augment", nargs="+", default=list(DEFAULT_AUGMENTS),
                        help=f"training augmentations (known: {', '.join(sorted(AUGMENTATIONS))})")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=2000, help="test samples for the loss (same subset for all)")
    parser.add_argument("--directions", type=int, default=50)
    parser.add_argument("--radii", type=float, nargs="+")
    parser.add_argument("--filter-norm", action="store_true")
    parser.add_argument("--hessian", default="top:3,trace:30")
    args = parser.parse_args(argv)
    for spec in args.augment:
        if spec.partition(":")[0] not in AUGMENTATIONS:
            parser.error(f"unknown augmentation '{spec}' (known: {', '.join(sorted(AUGMENTATIONS))})")
    args.out.mkdir(parents=True, exist_ok=True)
    kind = "filter" if args.filter_norm else "plain"
    found = {}
    for spec in args.augment:
        checkpoint = train(spec, args.out, args.epochs, args.seed)
        found[spec] = flatness.run(models.load(checkpoint), DATA, n=args.n, seed=args.seed, radii=args.radii,
                                   directions=args.directions, filter_norm=args.filter_norm, hessian=args.hessian,
                                   out=args.out / f"flatness_{slug(spec)}_{kind}.nc")

    _, axes = style.new_axes(width=style.TWO_COLUMN, aspect=0.8, ncols=2)
    flat_figures.curves(found, ax=axes[0])
    axes[0].set_title(f"sphere flatness ({'filter-normalised' if args.filter_norm else 'plain'} directions)")
    names = list(found)
    traces = [float(found[s]["trace"]) if "trace" in found[s] else np.nan for s in names]
    errors = [float(found[s]["trace_se"]) if "trace_se" in found[s] else np.nan for s in names]
    axes[1].bar(range(len(names)), traces, yerr=errors, color=[style.color(i) for i in range(len(names))])
    axes[1].set_xticks(range(len(names)), names, rotation=20)
    axes[1].set_ylabel("Hessian trace (Hutchinson)")
    plot.save(axes[0], args.out / f"flatness_compare_{kind}.png")

    rows = []
    for spec, ds in found.items():
        accuracy = models.load(args.out / f"lenet_{slug(spec)}.pt").probe_info["meta"].get("test_accuracy", np.nan)
        top = ds["eigenvalue"].values[0] if "eigenvalue" in ds else np.nan
        trace = f"{float(ds['trace']):.4g} ± {float(ds['trace_se']):.2g}" if "trace" in ds else "-"
        rows.append((spec, accuracy, float(ds["sample_loss"].mean()),
                     f"{float(ds['flatness'][-1]):.4g} ± {float(ds['flatness_se'][-1]):.2g}", top, trace))
    radius = float(found[names[0]]["radius"][-1])
    print(format_table(["augment", "test acc %", "loss", f"F({radius:g})", "top λ", "trace"], rows))
    print(f"figure: {args.out / f'flatness_compare_{kind}.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
