"""Training batches: seeded order, `DataLoader` workers, per-image transforms seeded by what they are.

Each epoch visits the training set in an order drawn from (seed, epoch); under torchrun rank r
takes every `world`-th image of it (DistributedSampler's rule).  Batches are fetched through a
`torch.utils.data.DataLoader` whose items are keyed by (epoch, index): a per-image random
transform (ImageNet-style random resized crop and flip of image folders) draws from a generator
seeded by (seed, epoch, index), so a batch is the same whatever the number of workers that
decoded it.  In-memory arrays are gathered a batch at a time (`__getitems__`), as fast as before.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import SupportsInt, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from probe import seeding
from probe.data import dataset_size, get_batch
from probe.data.formats import ImageFolder

CROP_SCALE = (0.08, 1.0)          # random resized crop: area fraction ...
CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)  # ... and aspect ratio (the ImageNet recipe)
CROP_TRIES = 10

Batch = TypeVar("Batch")


def random_resized_crop_flip(image: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """A random crop of 8–100 % of the area and aspect 3/4–4/3, resized to size×size, flipped
    horizontally with probability ½ (falls back to a centre crop when no box fits)."""
    _, height, width = image.shape
    area = height * width
    for _ in range(CROP_TRIES):
        u = torch.rand(4, generator=generator, dtype=torch.float64).tolist()
        target = area * (CROP_SCALE[0] + u[0] * (CROP_SCALE[1] - CROP_SCALE[0]))
        ratio = math.exp(math.log(CROP_RATIO[0]) + u[1] * (math.log(CROP_RATIO[1]) - math.log(CROP_RATIO[0])))
        w, h = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < w <= width and 0 < h <= height:
            top, left = int(u[2] * (height - h + 1)), int(u[3] * (width - w + 1))
            break
    else:
        h = w = min(height, width)
        top, left = (height - h) // 2, (width - w) // 2
    crop = image[None, :, top:top + h, left:left + w]
    out = F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]
    return out.flip(-1) if float(torch.rand(1, generator=generator)) < 0.5 else out


class RandomResizedCrops(Dataset):
    """An image folder read as stored and cropped at random for training (`transform_item`)."""

    def __init__(self, folder: ImageFolder, size: int) -> None:
        self.folder, self.size = folder, int(size)
        self.info = dict(getattr(folder, "info", {}))

    def __len__(self) -> int:
        return len(self.folder)

    @property
    def num_classes(self) -> int:
        return self.folder.num_classes

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (3 if self.folder.mode == "RGB" else 1, self.size, self.size)

    @property
    def labels(self) -> np.ndarray:
        return self.folder.labels

    def transform_item(self, index: int, generator: torch.Generator) -> tuple[torch.Tensor, int]:
        image, label = self.folder.read(index)
        return random_resized_crop_flip(image, self.size, generator), label

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.folder.read(index, self.size)   # deterministic: resize and centre crop

    def batch(self, indices: Iterable[SupportsInt]) -> tuple[torch.Tensor, torch.Tensor]:
        items = [self[int(i)] for i in indices]
        return torch.stack([x for x, _ in items]), torch.as_tensor([y for _, y in items])


class KeyedItems(Dataset):
    """Training items addressed by (epoch, index) keys; batches come whole from `__getitems__`."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed = dataset, int(seed)

    def __len__(self) -> int:
        return dataset_size(self.dataset)

    def __getitems__(self, keys: list[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        if not hasattr(self.dataset, "transform_item"):
            return get_batch(self.dataset, [index for _, index in keys])
        items = [self.dataset.transform_item(index, seeding.generator(self.seed, epoch, index))
                 for epoch, index in keys]
        return torch.stack([x for x, _ in items]), torch.as_tensor([y for _, y in items])

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, int]:
        x, y = self.__getitems__([key])
        return x[0], int(y[0])


class EpochBatches(Sampler):
    """Batches of (epoch, index) keys: the epoch's order, this rank's share, `batch_size` at a time.

    `order(epoch)` is the seeded permutation; set `epoch` before iterating.
    """

    def __init__(self, size: int, batch_size: int, seed: int, rank: int = 0, world: int = 1,
                 shuffle: bool = True) -> None:
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.rank, self.world, self.shuffle = rank, world, shuffle
        self.epoch = 0

    def order(self, epoch: int) -> np.ndarray:
        """The images of `epoch` for this rank (the same seeded permutation on every rank)."""
        if not self.shuffle:
            return np.arange(self.size)[self.rank::self.world]
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        return torch.randperm(self.size, generator=generator).numpy()[self.rank::self.world]

    def __len__(self) -> int:
        return math.ceil(len(range(self.rank, self.size, self.world)) / self.batch_size)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        order = self.order(self.epoch)
        for start in range(0, len(order), self.batch_size):
            yield [(self.epoch, int(i)) for i in order[start:start + self.batch_size]]


def whole_batch(batch: Batch) -> Batch:
    """`collate_fn` for `KeyedItems`: its `__getitems__` already returns the batch."""
    return batch


def loader(dataset: Dataset, batch_size: int, seed: int, *, workers: int = 0, rank: int = 0, world: int = 1,
           shuffle: bool = True, pin_memory: bool = False) -> tuple[DataLoader, EpochBatches]:
    """A DataLoader over `dataset` and its batch sampler (set `.epoch` on it each epoch)."""
    batches = EpochBatches(dataset_size(dataset), batch_size, seed, rank, world, shuffle)
    return DataLoader(KeyedItems(dataset, seed), batch_sampler=batches, collate_fn=whole_batch, num_workers=workers,
                      pin_memory=pin_memory, persistent_workers=workers > 0), batches
