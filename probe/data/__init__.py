"""Datasets: `load(spec, split=...)` for named datasets and every supported file format.

Every dataset yields `(image, label)` with the image a float tensor (C, H, W) in [0, 1].
Splits are 'train' and 'test'; a file or folder holding one unsplit set has only the split
'all'.  Asking for a split that a dataset does not have is an error.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import Dataset

from probe.data.arrays import (
    ArrayDataset,
    TransformedDataset,
    dataset_size,
    get_batch,
    image_shape,
    integral,
    labels_of,
    num_classes,
)
from probe.data.classes import class_names, read_class_names, set_class_names
from probe.data.formats import ImageFolder, read_path, refuse_block_options
from probe.data.inputs import as_dataset
from probe.data.named import NAMED, existing_root, load_named
from probe.errors import DataError, ParameterError

if TYPE_CHECKING:
    from _hashlib import HASH  # what `hashlib.sha256()` returns

SPLITS = ("train", "test", "all")
FINGERPRINT_BATCH = 256   # images read at a time by `selection_fingerprint`

__all__ = ["ArrayDataset", "NAMED", "SPLITS", "TransformedDataset", "class_names", "dataset_size", "fingerprint",
           "get_batch", "identity", "image_shape", "integral", "labels_of", "load", "num_classes", "read_class_names",
           "selection_fingerprint", "set_class_names", "subset_indices", "with_classes"]


def load(spec: str | os.PathLike, split: str = "test", root: str | os.PathLike | None = None, *,
         corruption: str | None = None, severity: int | None = None, image_size: int | None = None,
         trust: bool = False, classes: Sequence[str] | str | os.PathLike | None = None) -> Dataset:
    """Load a dataset by name (see `probe.data.NAMED`) or from a path in a supported format.

    `corruption` / `severity` select one block of a `*-C` folder; `image_size` resizes and
    centre-crops image folders; either given for data they do not apply to is a `DataError`.
    `classes` names the classes (a list, or a file of one name per line), else the dataset's
    own names are kept.  Pickled formats (CIFAR) are read as plain data only: containers,
    strings, numbers and numeric arrays; `trust=True` reads any pickle, which can run code.
    The dataset's `info` records `spec` and `split` (its identity in results).  Nothing is
    downloaded.
    """
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}' (expected one of {', '.join(SPLITS)})")
    if root is not None:
        existing_root(root)
    spec_str = str(spec)
    if spec_str in NAMED:
        refuse_block_options(f"'{spec_str}'", "a named dataset", corruption, severity, image_size)
        dataset: ArrayDataset | ImageFolder = load_named(spec_str, split, root, trust)
    else:
        path = Path(spec_str).expanduser()
        if not path.exists() and os.sep not in spec_str and not path.suffix:
            raise DataError(f"unknown dataset '{spec_str}' (names: {', '.join(NAMED)}; or give a path)")
        dataset = read_path(path, split, corruption=corruption, severity=severity, image_size=image_size,
                            trust=trust)
    block = f"[{corruption}:{severity}]" if corruption is not None else ""
    dataset.info.update(spec=spec_str + block, split=split)
    if classes is not None:
        set_class_names(dataset, read_class_names(classes) if isinstance(classes, (str, os.PathLike)) else classes)
    return dataset


def with_classes(data: Any, names: Sequence[str] | str | os.PathLike) -> Dataset:
    """`data` in any form a probe's `run` accepts, as a dataset whose classes are `names` (a list,
    or a file of one name per line)."""
    dataset = load(data) if isinstance(data, (str, os.PathLike)) else as_dataset(data)
    set_class_names(dataset, read_class_names(names) if isinstance(names, (str, os.PathLike)) else names)
    return dataset


def identity(dataset: Dataset) -> dict[str, str | int]:
    """What names a dataset in a result: its spec and split (for datasets made by `load`, else
    its class and source) and its size."""
    info = getattr(dataset, "info", {}) or {}
    spec = info.get("spec") or f"{type(dataset).__name__}:{getattr(dataset, 'source', 'in memory')}"
    return {"data": str(spec), "split": str(info.get("split", "none")), "data_size": dataset_size(dataset)}


def fingerprint(x: torch.Tensor, y: torch.Tensor) -> str:
    """SHA-256 of a batch of images (as float32) and labels: tells two datasets apart."""
    digest = hashlib.sha256()
    _digest_batch(digest, x, y)
    return digest.hexdigest()


def selection_fingerprint(dataset: Dataset, indices: npt.ArrayLike, batch: int = FINGERPRINT_BATCH) -> str:
    """SHA-256 of every selected image (as float32) and label, in the order of `indices`, read
    `batch` images at a time: two datasets that differ in any selected image differ here."""
    indices = np.asarray(indices, dtype=np.int64)
    digest = hashlib.sha256()
    for start in range(0, len(indices), batch):
        _digest_batch(digest, *get_batch(dataset, indices[start:start + batch]))
    return digest.hexdigest()


def _digest_batch(digest: HASH, x: torch.Tensor, y: torch.Tensor) -> None:
    digest.update(x.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    digest.update(y.detach().to("cpu", torch.int64).contiguous().numpy().tobytes())


def subset_indices(size: int, n: int | None, seed: int = 0) -> np.ndarray:
    """`n` distinct dataset indices drawn with `seed`, sorted; all of them when `n` is None.

    They are the first `n` of one seeded permutation of the dataset, so for one seed a smaller
    subset lies inside every larger one (`n = 32` ⊂ `n = 64`), whichever probe draws it."""
    if n is None:
        return np.arange(size)
    if n <= 0:
        raise ParameterError(f"the number of samples must be positive, got {n}")
    if n > size:
        raise ParameterError(f"{n} samples requested: larger than the dataset ({size} samples)")
    return np.sort(np.random.default_rng(seed).permutation(size)[:n])
