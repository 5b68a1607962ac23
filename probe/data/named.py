"""Named datasets, resolved against a data root; nothing is ever downloaded."""
from __future__ import annotations

import os
from pathlib import Path
from typing import cast

import numpy as np

from probe.data.arrays import ArrayDataset
from probe.data.formats import find_idx_pair, read_cifar, read_idx_pair
from probe.errors import DataError

EMBEDDED_ROOT = Path(__file__).resolve().parent / "embedded"
SYSTEM_ROOT = Path("/usr/share/datasets")

# name -> (candidate sub-folders of a data root, facts about the dataset)
NAMED = {
    "fashion-mnist": (("fashion-mnist", "fashion_mnist", "FashionMNIST/raw", "FashionMNIST"),
                      {"num_classes": 10, "hflip": True, "crop_padding": 0}),
    "mnist": (("mnist", "MNIST/raw", "MNIST"), {"num_classes": 10, "hflip": False, "crop_padding": 0}),
    "cifar10": (("cifar-10-batches-py", "cifar10/cifar-10-batches-py", "cifar10", "CIFAR10"),
                {"num_classes": 10, "hflip": True, "crop_padding": 4}),
    "cifar100": (("cifar-100-python", "cifar100/cifar-100-python", "cifar100", "CIFAR100"),
                 {"num_classes": 100, "hflip": True, "crop_padding": 4}),
    "digits": ((), {"num_classes": 10, "hflip": False, "crop_padding": 0}),
    "fashion-mnist-sample": ((), {"num_classes": 10, "hflip": True, "crop_padding": 0}),
}
DIGITS_TEST_FRACTION = 0.2


def data_roots(root: str | os.PathLike | None = None) -> list[Path]:
    """Where named datasets are looked for: `root`, `$PROBE_DATA_ROOT`, `/usr/share/datasets`.

    A root the user named that does not exist is an error, never a silent fall-back.
    """
    roots = []
    for folder, what in ((root, "data root"), (os.environ.get("PROBE_DATA_ROOT"), "PROBE_DATA_ROOT")):
        if folder:
            roots.append(existing_root(folder, what))
    return roots + [SYSTEM_ROOT]


def existing_root(folder: str | os.PathLike, what: str = "data root") -> Path:
    """`folder` as a path, or a `DataError` when it is not an existing folder."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise DataError(f"{what} {folder} does not exist (or is not a folder)")
    return path


def load_named(name: str, split: str, root: str | os.PathLike | None = None, trust: bool = False) -> ArrayDataset:
    """A named dataset's `split`; `trust` allows CIFAR pickles that are not plain data."""
    folders, facts = NAMED[name]
    info = dict(facts, name=name, split=split)
    if split not in ("train", "test"):
        raise DataError(f"dataset '{name}' has no '{split}' split (it has: train, test)")
    if name == "fashion-mnist-sample":
        embedded = cast(tuple[Path, Path], find_idx_pair(EMBEDDED_ROOT / name, split))   # both splits are embedded
        return read_idx_pair(*embedded, info=info)
    if name == "digits":
        return _load_digits(split, info)
    searched = []
    for base in data_roots(root):
        for folder in folders:
            candidate = base / folder
            searched.append(str(candidate))
            if not candidate.is_dir():
                continue
            if name in ("fashion-mnist", "mnist"):
                pair = find_idx_pair(candidate, split)
                if pair:
                    return read_idx_pair(*pair, info=info)
            else:
                return read_cifar(candidate, split, info=info, trust=trust)
    raise DataError(f"dataset '{name}' ({split}) not found; looked in {', '.join(searched[:6])}"
                    f"{' ...' if len(searched) > 6 else ''} (set --data-root or PROBE_DATA_ROOT)")


def _load_digits(split: str, info: dict) -> ArrayDataset:
    """scikit-learn's 8×8 digits (values 0..16 scaled to [0, 1]); a fixed seeded 80/20 split."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError("dataset 'digits' needs scikit-learn (pip install 'probe-robustness[digits]')") from None
    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    n_test = int(round(DIGITS_TEST_FRACTION * len(order)))
    chosen = np.sort(order[:n_test] if split == "test" else order[n_test:])
    images = (digits.images[chosen] / 16.0).astype(np.float32)
    return ArrayDataset(images, digits.target[chosen], source="sklearn:digits", info=info)
