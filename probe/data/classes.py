"""Class names: from the named datasets, an image folder's folder names, a file, or the caller.

A dataset's names live in its `info` (`class_names`, or `classes` for image folders); the
named datasets' names are those their publishers list: Fashion-MNIST (Xiao et al. 2017,
arXiv:1708.07747), CIFAR-10 and CIFAR-100 (Krizhevsky 2009, the `batches.meta` /
`meta` files of the python release; CIFAR-100's fine labels), MNIST and digits as the digits.
Results carry them as the attribute `class_names` (entry k names class k).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from torch.utils.data import Dataset, Subset

from probe.errors import DataError

FASHION_MNIST = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"]
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR100 = [
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl", "boy",
    "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair", "chimpanzee", "clock",
    "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish",
    "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom", "oak_tree", "orange",
    "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine",
    "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk",
    "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm"]
DIGITS = [str(d) for d in range(10)]
NAMED_CLASSES = {"fashion-mnist": FASHION_MNIST, "fashion-mnist-sample": FASHION_MNIST, "cifar10": CIFAR10,
                 "cifar100": CIFAR100, "mnist": DIGITS, "digits": DIGITS}


def class_names(dataset: Dataset) -> list[str] | None:
    """The dataset's class names (entry k names class k), or None when it has none."""
    info = getattr(dataset, "info", None) or {}
    for key in ("class_names", "classes"):
        if isinstance(info.get(key), (list, tuple)):
            return [str(name) for name in info[key]]
    if info.get("name") in NAMED_CLASSES:
        return list(NAMED_CLASSES[info["name"]])
    base = dataset.dataset if isinstance(dataset, Subset) else getattr(dataset, "base", None)
    return class_names(base) if isinstance(base, Dataset) else None


def read_class_names(path: str | os.PathLike) -> list[str]:
    """Class names from a text file, one per line in label order (blank lines at the end ignored)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read class names from {path}: {exc}") from None
    while lines and not lines[-1].strip():
        lines.pop()
    names = [line.strip() for line in lines]
    if not names or not all(names):
        raise DataError(f"{path}: class names are one non-empty name per line")
    return names


def set_class_names(dataset: Dataset, names: Sequence[str]) -> None:
    """Name the dataset's classes (entry k names class k); fewer names than labels is a `DataError`
    when the runner meets a label without a name."""
    names = [str(name) for name in names]
    if not names or len(set(names)) != len(names):
        raise DataError("class names must be a non-empty list of distinct names")
    info = getattr(dataset, "info", None)
    if not isinstance(info, dict):
        raise DataError(f"cannot attach class names to a {type(dataset).__name__} (it has no info dict)")
    info["class_names"] = names
