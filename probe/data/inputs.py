"""Data as people hold it, converted once into a dataset the runner reads.

`as_dataset(data)` accepts

- a dataset with a batched `batch(indices)` (every dataset `probe.data.load` returns), or a
  `torch.utils.data.Subset` of one: as it is;
- a `TensorDataset`, a tuple or list `(x, y)` of tensors or numpy arrays: images and labels;
- a bare image tensor or array: the labels are the model's predictions, filled in by the
  runner (`label_by_model`) and recorded as such (`data_labels = 'model predictions'`);
- any other map-style dataset whose items are `(image, label)` or `{"image": ..., "label": ...}`,
  images as tensors, arrays or PIL images.

Images may be (N, H, W), (N, C, H, W) or channels-last (N, H, W, C) with C ∈ {1, 3}; a shape
where both readings fit is refused (`DataError`).  uint8 images are scaled to [0, 1]; float
images must already lie in [0, 1].  `description(dataset)` is what the result's provenance
records about what was given: `data_type`, `data_shape` and, for tensors and arrays,
`data_sha256` of their content (images, then labels).
"""
from __future__ import annotations

import hashlib
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, Subset, TensorDataset

from probe.data.arrays import ArrayDataset, class_number, dataset_size
from probe.errors import DataError
from probe.logits import classify

PREDICTED = "model predictions"
GIVEN = "given"
CHANNELS = (1, 3)
LABEL_BATCH = 256   # images per forward pass when the model labels a bare image batch


def channels_last(shape: tuple[int, ...], source: str) -> bool:
    """Whether images of `shape` ((N, H, W), (N, C, H, W) or (N, H, W, C)) are channels-last;
    a `DataError` when the channel axis cannot be told (both or neither of axes 1 and 3 could be it)."""
    if len(shape) == 3:
        return False
    if len(shape) != 4:
        raise DataError(f"{source}: images must have 3 or 4 axes (N,H,W / N,C,H,W / N,H,W,C), got shape {shape}")
    first, last = shape[1] in CHANNELS, shape[3] in CHANNELS
    if first == last:
        raise DataError(f"{source}: cannot tell the channel axis of images with shape {shape} "
                        f"({'both' if first else 'neither'} axis 1 and axis 3 could hold 1 or 3 channels); "
                        f"give them as (N, C, H, W)")
    return last


def _array(value: Any, what: str) -> np.ndarray | torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, np.ndarray):
        return value
    raise DataError(f"{what} must be a tensor or a numpy array, got {type(value).__name__}")


def _sha256(*arrays: np.ndarray | torch.Tensor) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        plain = array.contiguous().numpy() if isinstance(array, torch.Tensor) else np.ascontiguousarray(array)
        digest.update(plain.tobytes())
    return digest.hexdigest()


def _from_arrays(images: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor | None,
                 kind: str) -> ArrayDataset:
    images = _array(images, "images")
    source = f"{kind} {tuple(images.shape)}"
    if images.dtype == torch.bool or images.dtype == np.bool_:
        raise DataError(f"{source}: boolean images; give uint8 (0–255) or float in [0, 1]")
    if channels_last(tuple(images.shape), source) and images.shape[-1] == 1:
        images = images[..., 0]
    if labels is None:
        given = np.zeros(len(images), dtype=np.int64)
    else:
        labels = _array(labels, "labels")
        plain = labels.numpy() if isinstance(labels, torch.Tensor) else labels
        if plain.ndim != 1 or not np.issubdtype(plain.dtype, np.integer):
            raise DataError(f"{source}: labels must be one integer class per image, got shape "
                            f"{tuple(plain.shape)} of {plain.dtype}")
        given = plain.astype(np.int64)
    info = {"spec": f"in-memory {kind}", "split": "none", "labels": GIVEN if labels is not None else PREDICTED,
            "given": {"data_type": kind, "data_shape": [int(s) for s in images.shape],
                      "data_sha256": _sha256(images, *([labels] if labels is not None else []))}}
    dataset = ArrayDataset(images, given, source=source, info=info)
    if labels is not None and len(given) and given.min() < 0:
        raise DataError(f"{source}: labels must be non-negative class indices, got {int(given.min())}")
    return dataset


def _kind(value: Any) -> str:
    return "tensor" if isinstance(value, torch.Tensor) else "numpy array"


class ItemDataset(Dataset):
    """A map-style dataset whose items are `(image, label)` or `{"image", "label"}` in any image
    form (tensor, array, PIL image; channels first or last; uint8 or float in [0, 1]), read as
    `(float CHW tensor in [0, 1], int)`."""

    def __init__(self, base: Dataset) -> None:
        self.base = base
        own = dict(getattr(base, "info", {}) or {})
        self.source = f"{type(base).__module__}.{type(base).__name__}"
        self.info = dict(own, spec=own.get("spec", f"{type(base).__name__}:{getattr(base, 'source', 'in memory')}"))
        self.info.setdefault("given", {"data_type": self.source, "data_shape": [dataset_size(base)]})
        for name in ("classes", "class_names"):
            if name not in self.info and isinstance(getattr(base, name, None), (list, tuple)):
                self.info["class_names"] = [str(c) for c in getattr(base, name)]
        if dataset_size(base) == 0:
            raise DataError(f"{self.source}: the dataset is empty")

    def __len__(self) -> int:
        return dataset_size(self.base)

    @property
    def labels(self) -> np.ndarray | None:
        """The base dataset's `targets` or `labels`, when it holds them (torchvision style)."""
        for name in ("targets", "labels"):
            values = getattr(self.base, name, None)
            if values is not None and len(values) == len(self):
                return np.asarray(values, dtype=np.int64)
        return None

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        item = self.base[index]
        if isinstance(item, dict):
            missing = [key for key in ("image", "label") if key not in item]
            if missing:
                raise DataError(f"{self.source}: items are dicts without {' and '.join(map(repr, missing))} "
                                f"(entries: {', '.join(map(str, item))})")
            image, label = item["image"], item["label"]
        elif isinstance(item, (tuple, list)) and len(item) >= 2:
            image, label = item[0], item[1]
        else:
            raise DataError(f"{self.source}: items must be (image, label) or {{'image', 'label'}}, got "
                            f"{type(item).__name__}")
        return image_tensor(image, self.source), class_number(label, index)


def image_tensor(image: Any, source: str) -> torch.Tensor:
    """One image (tensor, array or PIL image; (H, W), (C, H, W) or (H, W, C)) as a float (C, H, W) in [0, 1]."""
    if not isinstance(image, (torch.Tensor, np.ndarray)):
        image = np.asarray(image)   # PIL images and nested lists
    x = torch.as_tensor(np.ascontiguousarray(image) if isinstance(image, np.ndarray) else image.detach().cpu())
    if x.ndim == 2:
        x = x[None]
    elif x.ndim == 3 and channels_last((1, *x.shape), f"{source} item"):
        x = x.permute(2, 0, 1)
    elif x.ndim != 3:
        raise DataError(f"{source}: an image must be (H, W), (C, H, W) or (H, W, C), got shape {tuple(x.shape)}")
    x = x.float().div(255.0) if x.dtype == torch.uint8 else x.float()
    if x.numel() and (float(x.min()) < 0.0 or float(x.max()) > 1.0 + 1e-6):
        raise DataError(f"{source}: float pixel values must lie in [0, 1]; found range "
                        f"[{float(x.min()):.3g}, {float(x.max()):.3g}]")
    return x.contiguous()


def _ready(data: Any) -> bool:
    """A dataset the runner reads as it is: batched (`batch`), or a `Subset` of such a dataset."""
    if isinstance(data, Subset):
        return _ready(data.dataset)
    return hasattr(data, "batch") and hasattr(data, "__len__")


def as_dataset(data: Any) -> Dataset:
    """`data` in any form of the module docstring as a dataset yielding (float CHW in [0, 1], int)."""
    if isinstance(data, (torch.Tensor, np.ndarray)):
        return _from_arrays(data, None, _kind(data))
    pair = isinstance(data, (tuple, list)) and len(data) == 2 and all(
        isinstance(v, (torch.Tensor, np.ndarray)) for v in data)
    if pair:
        return _from_arrays(data[0], data[1], f"tuple of {_kind(data[0])}s")
    if isinstance(data, tuple):
        raise DataError("data given as a tuple must be (images, labels): two tensors or numpy arrays")
    if isinstance(data, TensorDataset):
        if len(data.tensors) not in (1, 2):
            raise DataError(f"a TensorDataset must hold images, or images and labels; "
                            f"it holds {len(data.tensors)} tensors")
        return _from_arrays(data.tensors[0], data.tensors[1] if len(data.tensors) == 2 else None, "TensorDataset")
    if _ready(data):
        return data
    if data is None or not hasattr(data, "__len__") or not hasattr(data, "__getitem__"):
        raise DataError(f"data must be a dataset spec, a map-style dataset, a TensorDataset, (images, labels) or "
                        f"an image batch (tensor or numpy array), got {type(data).__name__}")
    return ItemDataset(data)


def labels_given(dataset: Dataset) -> bool:
    """False for a bare image batch, whose labels are the model's predictions."""
    return (getattr(dataset, "info", None) or {}).get("labels") != PREDICTED


@torch.no_grad()
def label_by_model(dataset: Dataset, model: nn.Module, device: torch.device) -> None:
    """Set the labels of a bare image batch to `model`'s predictions (rows with non-finite logits:
    class 0; the probes flag those samples themselves)."""
    images = cast(ArrayDataset, dataset)   # a bare image batch is the `ArrayDataset` that `_from_arrays` made
    predictions = []
    for start in range(0, len(images), LABEL_BATCH):
        x, _ = images.batch(np.arange(start, min(start + LABEL_BATCH, len(images))))
        prediction, _ = classify(model(x.to(device)))
        predictions.append(prediction.clamp(min=0).cpu().numpy())
    images.labels = np.concatenate(predictions).astype(np.int64)


def description(dataset: Dataset) -> dict[str, Any]:
    """What was given, for the provenance: `data_type`, `data_shape`, `data_sha256` (tensors and
    arrays) and `data_labels` ('given' or 'model predictions')."""
    info = getattr(dataset, "info", None) or {}
    return dict(info.get("given", {}), data_labels=info.get("labels", GIVEN))
