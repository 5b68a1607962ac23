"""Datasets: `load(spec, split=...)` for named datasets and every supported file format.

Every dataset yields `(image, label)` with the image a float tensor (C, H, W) in [0, 1].
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from probe.data.arrays import ArrayDataset, TransformedDataset, get_batch, image_shape, num_classes
from probe.data.formats import read_path
from probe.data.named import NAMED, load_named
from probe.errors import DataError, ParameterError

SPLITS = ("train", "test")

__all__ = ["ArrayDataset", "NAMED", "TransformedDataset", "get_batch", "image_shape", "load",
           "num_classes", "subset_indices"]


def load(spec: str | os.PathLike, split: str = "test", root: str | os.PathLike | None = None, *,
         corruption: str | None = None, severity: int | None = None, image_size: int | None = None) -> Dataset:
    """Load a dataset by name (see `probe.data.NAMED`) or from a path in a supported format.

    `corruption` / `severity` select one block of a `*-C` folder; `image_size` resizes and
    centre-crops image folders.  Nothing is downloaded.
    """
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}' (expected one of {', '.join(SPLITS)})")
    spec_str = str(spec)
    if spec_str in NAMED:
        return load_named(spec_str, split, root)
    path = Path(spec_str).expanduser()
    if not path.exists() and os.sep not in spec_str and not path.suffix:
        raise DataError(f"unknown dataset '{spec_str}' (names: {', '.join(NAMED)}; or give a path)")
    return read_path(path, split, corruption=corruption, severity=severity, image_size=image_size)


def subset_indices(size: int, n: int | None, seed: int = 0) -> np.ndarray:
    """`n` distinct dataset indices drawn with `seed`, sorted; all of them when `n` is None."""
    if n is None:
        return np.arange(size)
    if n <= 0:
        raise ParameterError(f"--n must be positive, got {n}")
    if n > size:
        raise ParameterError(f"--n {n} is larger than the dataset ({size} samples)")
    return np.sort(np.random.default_rng(seed).choice(size, n, replace=False))
