"""What the reproductions of the thesis' findings share (issue 15): the published training recipes,
training that survives interruption (continue a run, reuse a finished one), Fashion-MNIST with its
frequency variants, and the table of our numbers beside the published ones.

Every long step is resumable, so rerunning a script with the same arguments finishes what an
interrupted run left: a model is trained with a checkpoint every epoch (`probe.train.fit(...,
resume=True)`) and reused once its history file exists; a margins run writes its chunks beside its
result (`probe.margins.run(..., resume=True)`) and returns the finished result at once.
"""
from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from torch import nn

from probe import data, models, results
from probe.data import TransformedDataset, fingerprint, get_batch
from probe.data.transforms import parse_transform
from probe.errors import ResumeError
from probe.tables import format_table
from probe.train import channel_statistics, fit, history_path

TOLERANCE = 0.20   # a number further than this (relative) from the published one is flagged


@dataclasses.dataclass(frozen=True)
class Recipe:
    """SGD with momentum, batch 128, gradient-norm clipping 0.5, no data augmentation (the thesis'
    training loop), with its schedule, peak rate, weight decay and length."""

    epochs: int
    lr: float
    schedule: str
    weight_decay: float
    momentum: float = 0.9
    batch_size: int = 128
    clip_grad: float = 0.5

    def scaled(self, epochs: int | None = None, lr: float | None = None) -> Recipe:
        """The same recipe with another length or peak rate (fine-tuning, quick tries)."""
        return dataclasses.replace(self, epochs=epochs or self.epochs, lr=lr or self.lr)

    def fit_options(self) -> dict:
        return {"epochs": self.epochs, "lr": self.lr, "schedule": self.schedule, "weight_decay": self.weight_decay,
                "momentum": self.momentum, "batch_size": self.batch_size, "clip_grad": self.clip_grad,
                "standard_augment": False}


SYNTHETIC = Recipe(epochs=500, lr=0.1, schedule="linear", weight_decay=0.0)      # linear decay, no regularisation
MNIST = Recipe(epochs=30, lr=0.21, schedule="triangular", weight_decay=5e-4)     # peak at 2/5 of training


def train(model: nn.Module, train_set, test_set, checkpoint: Path, recipe: Recipe, seed: int = 0,
          log: Callable[[str], None] | None = print, **extra) -> xr.Dataset:
    """Train `model` in place with `recipe` (checkpoint every epoch), continuing an interrupted run;
    a finished run (its history file exists) is loaded instead.  Returns the per-epoch history
    (`test_accuracy`, `train_accuracy`, ... in %).  `extra`: further `fit` keywords (an augmentation)."""
    checkpoint = Path(checkpoint)
    identity = run_identity(train_set, recipe, seed, extra)
    if checkpoint.is_file() and history_path(checkpoint).is_file():
        history = results.load(history_path(checkpoint))
        check_finished_run(history.attrs, identity, history_path(checkpoint), log)
        model.load_state_dict(models.load(checkpoint).state_dict())
        return history
    history = fit(model, train_set, test_set, checkpoint=checkpoint, resume=True, seed=seed, log=log,
                  meta={"recipe": str(recipe)}, **recipe.fit_options(), **extra)
    history.attrs = identity
    results.save(history, history_path(checkpoint))
    return history


def run_identity(train_set, recipe: Recipe, seed: int, extra: dict) -> dict[str, str]:
    """What a finished run is reused for: its recipe, seed, augmentation and training data (size
    and SHA-256 of its first 64 items)."""
    x, y = get_batch(train_set, np.arange(min(64, len(train_set))))
    return {"recipe": str(recipe), "seed": str(seed), "augment": getattr(extra.get("augment"), "name", "none"),
            "data_size": str(len(train_set)), "data_fingerprint": fingerprint(x, y)}


def check_finished_run(saved: dict, identity: dict[str, str], where: Path, log: Callable[[str], None] | None) -> None:
    """Reuse a finished training run only if it is this one: refuse one made with another recipe,
    seed, augmentation or training data.  Runs saved before the data was recorded are checked on
    what they recorded (recipe and seed), and say so."""
    differ = sorted(key for key in identity if key in saved and str(saved[key]) != identity[key])
    if differ:
        raise ResumeError(f"{where} is another training run ({', '.join(differ)} differ): remove it, or give "
                          "this run its own --out")
    missing = [key for key in identity if key not in saved]
    if missing and log:
        log(f"reusing {where}: an older run, checked on {', '.join(k for k in identity if k in saved)} only "
            f"(it records no {', '.join(missing)})")


def final(history: xr.Dataset, name: str = "test_accuracy") -> float:
    """The last epoch's value of a history variable."""
    return float(history[name].values[-1])


def lenet(train_set, seed: int = 0) -> nn.Module:
    """A fresh LeNet for 28×28 grey images, normalised by the training set's statistics."""
    mean, std = channel_statistics(train_set)
    torch.manual_seed(seed)
    return models.build("lenet", in_channels=1, num_classes=10, image_size=(28, 28), mean=mean, std=std)


def variant(dataset, transform: str | None):
    """`dataset` seen through a frequency transform ('dct-flip', 'low-pass:B', 'high-pass:B'), or as is."""
    return TransformedDataset(dataset, parse_transform(transform), transform) if transform else dataset


class Union(torch.utils.data.Dataset):
    """The samples of several datasets one after the other (batched access, the first one's metadata)."""

    def __init__(self, *parts) -> None:
        self.parts = parts
        self.starts = np.cumsum([0, *(len(p) for p in parts)])
        self.info = dict(getattr(parts[0], "info", {}))

    def __len__(self) -> int:
        return int(self.starts[-1])

    @property
    def num_classes(self) -> int:
        return data.num_classes(self.parts[0])

    def batch(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        indices = np.asarray(indices, dtype=np.int64)
        part = np.searchsorted(self.starts, indices, side="right") - 1
        present = np.unique(part)
        pieces = [data.get_batch(self.parts[k], indices[part == k] - self.starts[k]) for k in present]
        rows = torch.as_tensor(np.concatenate([np.nonzero(part == k)[0] for k in present]))
        x, y = torch.cat([p[0] for p in pieces]), torch.cat([p[1] for p in pieces])
        return x[torch.argsort(rows)], y[torch.argsort(rows)]

    def __getitem__(self, index: int):
        x, y = self.batch([index])
        return x[0], int(y[0])


class Replaced(torch.utils.data.Dataset):
    """`dataset` with the images at `indices` replaced by `images` (labels kept)."""

    def __init__(self, dataset, indices, images: torch.Tensor) -> None:
        self.dataset, self.images = dataset, images
        self.position = {int(i): k for k, i in enumerate(np.asarray(indices, dtype=np.int64))}
        self.info = dict(getattr(dataset, "info", {}))

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def num_classes(self) -> int:
        return data.num_classes(self.dataset)

    def batch(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = data.get_batch(self.dataset, indices)
        for row, index in enumerate(np.asarray(indices, dtype=np.int64).tolist()):
            if index in self.position:
                x[row] = self.images[self.position[index]]
        return x, y

    def __getitem__(self, index: int):
        x, y = self.batch([index])
        return x[0], int(y[0])


def subset(dataset, n: int | None, seed: int = 0):
    """A seeded subset of `n` items of `dataset` keeping its metadata, or `dataset` itself when `n` is None."""
    if n is None:
        return dataset
    part = torch.utils.data.Subset(dataset, data.subset_indices(len(dataset), n, seed).tolist())
    part.info = dict(getattr(dataset, "info", {}))
    return part


def fashion_mnist(spec: str = "fashion-mnist") -> tuple:
    """(train, test) of `spec`: the full set where installed, e.g. `fashion-mnist-sample` otherwise."""
    return data.load(spec, split="train"), data.load(spec, split="test")


def compare(rows: list[tuple[str, float, float | None]], headers: tuple[str, str] = ("quantity", "ours")) -> str:
    """A table of (label, ours, published): the ratio, and '!' where they differ by more than 20 %."""
    table = []
    for label, ours, published in rows:
        if published is None:
            table.append([label, ours, "-", "-", ""])
            continue
        ratio = ours / published if published else float("inf")
        table.append([label, ours, published, ratio, "!" if not abs(ratio - 1.0) <= TOLERANCE else ""])
    return format_table([*headers, "published", "ours / published", f">{TOLERANCE:.0%}"], table)


def image_options(parser: argparse.ArgumentParser, n: int) -> None:
    """Add the options of the analyses that train LeNets on Fashion-MNIST and sweep their margins:
    `--data`, `--train-n`, `--epochs` (the MNIST recipe's), `--n` (test images per sweep, default
    `n`) and `--low-pass` (B of the thesis' 14×14 low-pass)."""
    parser.add_argument("--data", default="fashion-mnist", help="fashion-mnist (full) or fashion-mnist-sample")
    parser.add_argument("--train-n", type=int, help="train on a seeded subset of this size (default: all)")
    parser.add_argument("--epochs", type=int, default=MNIST.epochs)
    parser.add_argument("--n", type=int, default=n, help="test images per margin sweep")
    parser.add_argument("--low-pass", type=int, default=14, help="B of the low-pass (keeps B×B DCT coefficients)")


def parse(parser: argparse.ArgumentParser, margins: bool = True,
          argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Add the options every reproduction shares (`--seed`; `--max-iter` of DeepFool where margins
    are measured), parse `argv` (default: the command line) and create `--out`."""
    if margins:
        parser.add_argument("--max-iter", type=int, default=100, help="DeepFool steps")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    return args
