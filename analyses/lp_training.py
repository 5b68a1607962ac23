"""Standard vs L0-noise vs ESP training of LeNet on Fashion-MNIST, compared on clean accuracy,
mCE_Lp and iCE (Siedel et al., Lp-norm corruption robustness).

Trains three LeNets on the full training set (same seed, schedule and epochs; only the
augmentation differs), then runs the Lp-corruption probe and the common-corruption probe on a
seeded subset of the test set with the same noise for every model.  Checkpoints are reused when present.

    python -m analyses.lp_training --out runs/lp_training [--epochs 3] [--n 2000] [--max-strength 0.5]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from probe import corruptions, lp, models, plot
from probe.augment import parse_augment
from probe.data import image_shape, load, num_classes, subset_indices
from probe.lp.plot import heatmap, summary_bars
from probe.plot import style
from probe.tables import format_table
from probe.train import channel_statistics, fit

RUNS = {"standard": "none", "L0 noise": "lp:L0:0.01", "ESP": "esp:2.5"}


def train(name: str, spec: str, train_set, test_set, args, out: Path) -> torch.nn.Module:
    path = out / f"lenet_{name.replace(' ', '_').lower()}.pt"
    if path.exists():
        return models.load(path)
    channels, height, width = image_shape(train_set)
    mean, std = channel_statistics(train_set)
    torch.manual_seed(args.seed)
    model = models.build("lenet", in_channels=channels, num_classes=num_classes(train_set),
                         image_size=(height, width), mean=mean, std=std)
    augment = parse_augment(spec, dict(train_set.info, num_classes=num_classes(train_set)))
    fit(model, train_set, test_set, epochs=args.epochs, lr=0.1, augment=augment, seed=args.seed,
        checkpoint=path, meta={"data": args.data, "augment": spec}, log=print)
    return model


def common_corruptions(checkpoint: Path, args, out: Path):
    """Accuracy under the 15 common corruptions (generated, CIFAR-10-C parameters) on the same images."""
    return corruptions.run(models.load(checkpoint), args.data, n=args.n, seed=args.seed, out=out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/lp_training"))
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n", type=int, default=2000, help="test images for the Lp probe")
    parser.add_argument("--max-strength", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    train_set, test_set = load(args.data, "train"), load(args.data, "test")
    indices = subset_indices(len(test_set), args.n, args.seed)
    strengths = np.linspace(args.max_strength / 10, args.max_strength, 10).tolist()
    runs, common = {}, {}
    for name, spec in RUNS.items():
        model = train(name, spec, train_set, test_set, args, args.out).eval()
        stem = name.replace(" ", "_").lower()
        runs[name] = lp.run(model, test_set, indices=indices, strengths=strengths, seed=args.seed, batch_size=250,
                            out=args.out / f"lp_{stem}.nc")
        common[name] = common_corruptions(args.out / f"lenet_{stem}.pt", args, args.out / f"corruptions_{stem}.nc")
    rows = [[name, float(ds["clean_accuracy"]), float(ds["mce_lp"]), float(ds["ice"])] +
            [float(ds["accuracy"].sel(p=p).mean()) for p in (0.0, 2.0, float("inf"))] +
            [float(common[name]["corruption_accuracy"]), float(common[name]["mce"])] for name, ds in runs.items()]
    print(format_table(["training", "clean acc (%)", "mCE_Lp", "iCE (%)", "L0 acc", "L2 acc", "Linf acc",
                        "common-corruption acc", "mCE"], rows))
    _, grid = style.new_axes(style.TWO_COLUMN, aspect=0.9, nrows=2, ncols=2, squeeze=False, layout="constrained")
    axes = grid.ravel()   # one heat map per training (three), the summary bars last
    for ax, (name, ds) in zip(axes, runs.items()):
        heatmap(ds, ax=ax, label=name)   # one axes: the norm × strength heat map
    summary_bars(runs, ax=axes[-1])
    print(f"figure: {plot.save(axes[0], args.out / 'lp_training.png')}")


if __name__ == "__main__":
    main()
