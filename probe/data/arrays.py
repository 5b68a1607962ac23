"""In-memory (or memory-mapped) image datasets with fast batched access."""
from __future__ import annotations

from collections.abc import Callable, Sized
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import Dataset

from probe.errors import DataError, ProbeError

CHECK_ELEMENTS = 1 << 24   # pixel values per block when the images are checked (streamed, so memory maps stay lazy)


def to_nchw(images: np.ndarray | torch.Tensor, source: str) -> tuple[np.ndarray | torch.Tensor, bool]:
    """Return `images` with 4 axes and whether they are channels-last (NHWC).

    Accepts (N, H, W), (N, C, H, W) and (N, H, W, C) with C in {1, 3}.  Nothing is copied,
    so memory-mapped arrays stay memory-mapped.
    """
    if images.ndim == 3:
        return images[:, None], False
    if images.ndim != 4:
        raise DataError(f"{source}: images must have 3 or 4 axes (N,H,W / N,C,H,W / N,H,W,C), "
                        f"got shape {tuple(images.shape)}")
    if images.shape[1] in (1, 3):
        return images, False
    if images.shape[-1] in (1, 3):
        return images, True
    raise DataError(f"{source}: cannot tell the channel axis of images with shape {tuple(images.shape)} "
                    f"(expected 1 or 3 channels)")


def dataset_size(dataset: Any) -> int:
    """The number of items of a map-style dataset (torch's `Dataset` type declares no `__len__`, though
    every map-style dataset a probe reads has one)."""
    return len(cast(Sized, dataset))


def integral(values: npt.ArrayLike | torch.Tensor, what: str, error: type[ProbeError] = DataError) -> np.ndarray:
    """`values` as int64; `error` naming `what` for anything that is not a whole number: strings
    and other objects, and floats that are not integral (3.0 is taken as 3; 2.5, NaN and inf are
    refused, never truncated)."""
    values = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values)
    if values.dtype.kind in "biu":
        return values.astype(np.int64)
    if values.dtype.kind != "f":
        example = values.reshape(-1)[0] if values.size else ""
        raise error(f"{what} must be integers, got {values.dtype} values (e.g. {example!r})")
    whole = np.isfinite(values) & (values == np.round(values))
    if not whole.all():
        position = int(np.flatnonzero(~whole.reshape(-1))[0])
        raise error(f"{what} must be integers, got {values.reshape(-1)[position]} at position {position}")
    return values.astype(np.int64)


def check_pixels(images: np.ndarray | torch.Tensor, source: str) -> None:
    """Every float image finite and in [0, 1], checked in blocks (a `DataError` naming the first
    image that is not)."""
    per_image = max(1, int(np.prod(images.shape[1:])))
    rows = max(1, CHECK_ELEMENTS // per_image)
    for start in range(0, len(images), rows):
        block = images[start:start + rows]
        block = block.detach().cpu().float().numpy() if isinstance(block, torch.Tensor) else np.asarray(block)
        flat = block.reshape(len(block), -1)
        finite = np.isfinite(flat).all(axis=1)
        if not finite.all():
            raise DataError(f"{source}: image {start + int(np.flatnonzero(~finite)[0])} has NaN or infinite pixel "
                            f"values")
        inside = (flat.min(axis=1) >= 0.0) & (flat.max(axis=1) <= 1.0 + 1e-6)
        if not inside.all():
            first = int(np.flatnonzero(~inside)[0])
            raise DataError(f"{source}: float pixel values must lie in [0, 1]; image {start + first} has values in "
                            f"[{flat[first].min():.3g}, {flat[first].max():.3g}]")


class ArrayDataset(Dataset):
    """Images and labels held as arrays; `__getitem__` yields `(float CHW in [0, 1], int)`.

    `images` may be uint8 (divided by 255) or float already in [0, 1] (every image is checked,
    finite and in range), channels first or last, and may be a memory map; `labels` must be
    whole numbers.  `batch(indices)` gathers many samples at once.
    `info` carries dataset facts (name, whether horizontal flips preserve the class).
    """

    def __init__(self, images: np.ndarray | torch.Tensor, labels: npt.ArrayLike | torch.Tensor, source: str = "arrays",
                 info: dict | None = None) -> None:
        images, self.channels_last = to_nchw(images, source)
        labels = integral(labels, f"{source}: labels").reshape(-1)
        if len(images) != len(labels):
            raise DataError(f"{source}: {len(images)} images but {len(labels)} labels")
        if len(images) == 0:
            raise DataError(f"{source}: no images")
        dtype = images.dtype if isinstance(images, np.ndarray) else images.dtype
        self.is_uint8 = dtype in (np.uint8, torch.uint8)
        if not self.is_uint8:
            check_pixels(images, source)
        self.images = images
        self.labels = labels
        self.source = source
        self.info = dict(info or {})

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        shape = cast(tuple[int, int, int], tuple(self.images.shape[1:]))   # images have 4 axes (`to_nchw`)
        return (shape[2], shape[0], shape[1]) if self.channels_last else shape

    @property
    def num_classes(self) -> int:
        return int(self.info.get("num_classes", int(self.labels.max()) + 1))

    def batch(self, indices: npt.ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
        indices = np.asarray(indices, dtype=np.int64)
        raw = self.images[indices] if isinstance(self.images, np.ndarray) else self.images[torch.as_tensor(indices)]
        x = torch.as_tensor(np.ascontiguousarray(raw) if isinstance(raw, np.ndarray) else raw)
        if self.channels_last:
            x = x.permute(0, 3, 1, 2)
        x = x.float().div_(255.0) if self.is_uint8 else x.float()
        return x.contiguous(), torch.as_tensor(self.labels[indices])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x, y = self.batch([index])
        return x[0], int(y[0])


class TransformedDataset(Dataset):
    """Applies a batched image transform (tensor in, tensor out) on top of a dataset.

    The result is not clipped: frequency transforms (DCT flip, low/high pass) are linear and
    leave [0, 1]; clipping would break the flip's orthogonality and mix frequencies back in.
    """

    def __init__(self, base: Dataset, transform: Callable[[torch.Tensor], torch.Tensor], name: str) -> None:
        self.base = base
        self.transform = transform
        self.info = dict(getattr(base, "info", {}))
        self.info["transform"] = name
        self.source = f"{getattr(base, 'source', 'dataset')}|{name}"

    def __len__(self) -> int:
        return dataset_size(self.base)

    @property
    def num_classes(self) -> int:
        return num_classes(self.base)

    def batch(self, indices: npt.ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = get_batch(self.base, indices)
        return self.transform(x), y

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x, y = self.batch([index])
        return x[0], int(y[0])


def get_batch(dataset: Dataset, indices: npt.ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Gather `indices` of any map-style dataset as `(images float NCHW, labels int64)`.  An image
    with a NaN or infinite pixel, or a label that is not a whole number, is a `DataError` naming
    its dataset index (so that it is never taken for a fault of the model)."""
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if hasattr(dataset, "batch"):
        x, y = dataset.batch(indices)
    else:
        items = [dataset[int(i)] for i in indices]
        x = torch.stack([torch.as_tensor(item[0], dtype=torch.float32) for item in items])
        y = torch.as_tensor([class_number(item[1], int(i)) for item, i in zip(items, indices)], dtype=torch.int64)
    finite = torch.isfinite(x.reshape(len(x), -1)).all(1)
    if not bool(finite.all()):
        raise DataError(f"image {int(indices[int(torch.nonzero(~finite)[0, 0])])} of the data has NaN or infinite "
                        "pixel values")
    return x, y


def class_number(label: Any, index: int) -> int:
    """A label as an int; a `DataError` for a string, a fraction or anything else."""
    try:
        number = int(label)
        whole = number == label
    except (TypeError, ValueError):
        whole = False
    if not whole:
        raise DataError(f"the label of image {index} is {label!r}; labels must be class numbers 0..K-1")
    return number


def labels_of(dataset: Dataset, indices: npt.ArrayLike) -> np.ndarray:
    """Labels of `indices` (int64) without decoding images where the dataset allows it."""
    indices = np.asarray(indices, dtype=np.int64)
    if isinstance(dataset, TransformedDataset):
        return labels_of(dataset.base, indices)
    if isinstance(dataset, torch.utils.data.Subset):
        return labels_of(dataset.dataset, np.asarray(dataset.indices)[indices])
    for name in ("labels", "targets"):
        labels = getattr(dataset, name, None)
        if labels is not None and len(labels) == dataset_size(dataset):
            return np.asarray(labels, dtype=np.int64)[indices]
    return np.concatenate([get_batch(dataset, indices[i:i + 256])[1].numpy() for i in range(0, len(indices), 256)]
                          + [np.zeros(0, dtype=np.int64)])


def num_classes(dataset: Dataset) -> int:
    """Number of classes, from the dataset's metadata or its labels."""
    if hasattr(dataset, "num_classes"):
        return int(dataset.num_classes)
    return int(max(int(dataset[i][1]) for i in range(dataset_size(dataset)))) + 1


def image_shape(dataset: Dataset) -> tuple[int, int, int]:
    """(C, H, W) of the dataset's images."""
    if hasattr(dataset, "image_shape"):
        return cast(tuple[int, int, int], tuple(dataset.image_shape))
    return cast(tuple[int, int, int], tuple(get_batch(dataset, [0])[0].shape[1:]))
