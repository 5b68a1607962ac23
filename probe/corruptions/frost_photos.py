"""The frost photographs of the reference, read from an installed `imagecorruptions` package.

The ImageNet-C frost corruption blends random crops of real frost photographs.  Six of them
ship as plain image files inside the `imagecorruptions` package on PyPI (Apache-2.0;
`pip install probe-robustness[photos]`).  They are located through the package's installed file list
(`importlib.metadata`) and read with Pillow: the package itself is never imported (its last
release breaks on NumPy 2 and on recent scikit-image).  As published, a crop comes from one of
the first five photographs (the sixth is never drawn), resized by 0.2 for CIFAR-sized images.
Without the package, `weather.frost` uses a synthetic texture; `frost_source()` says which
one a run uses.
"""
from __future__ import annotations

from functools import cache, lru_cache
from importlib import metadata
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from probe.corruptions.common import randint, uniform

DISTRIBUTION = "imagecorruptions"
NAMES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg")
DRAWN = 5       # the published scripts draw among the first five photographs only


@cache
def _load(distribution: str) -> tuple[torch.Tensor, ...] | None:
    """The photographs as uint8 (3, H, W) tensors in `NAMES` order, or None if any is missing."""
    try:
        files = metadata.distribution(distribution).files or []
    except metadata.PackageNotFoundError:
        return None
    found = {f.name: f for f in files if f.parent.name == "frost" and f.name in NAMES}
    if set(found) != set(NAMES):
        return None
    photos = []
    for name in NAMES:
        path = found[name].locate()
        try:
            with Image.open(path) as image:
                photos.append(torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1).contiguous())
        except OSError:
            return None
    return tuple(photos)


def photos() -> tuple[torch.Tensor, ...] | None:
    """The installed frost photographs (uint8, (3, H, W) each), or None when they are not installed."""
    return _load(DISTRIBUTION)


def frost_source() -> str:
    """'photos' when the frost photographs are installed, else 'synthetic'."""
    return "photos" if photos() is not None else "synthetic"


@lru_cache(maxsize=8)
def _scaled(distribution: str, scale: float, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `DRAWN` photographs resized by `scale` (bilinear without antialiasing and rounded
    to 8 bits, like OpenCV's default resize), and at least to (h + 1, w + 1) so that a crop fits;
    zero-padded to one uint8 tensor (DRAWN, 3, H', W'); and their sizes (DRAWN, 2)."""
    resized = []
    installed = cast(tuple[torch.Tensor, ...], _load(distribution))   # callers draw crops only when installed
    for photo in installed[:DRAWN]:
        ph, pw = photo.shape[-2:]
        factor = max(scale, (h + 1) / ph, (w + 1) / pw)
        size = (max(h + 1, round(ph * factor)), max(w + 1, round(pw * factor)))
        if size != (ph, pw):
            photo = F.interpolate(photo[None].double(), size=size, mode="bilinear", align_corners=False)[0]
            photo = photo.round().clamp(0, 255).to(torch.uint8)
        resized.append(photo)
    top = max(r.shape[1] for r in resized), max(r.shape[2] for r in resized)
    stack = torch.stack([F.pad(r, (0, top[1] - r.shape[2], 0, top[0] - r.shape[1])) for r in resized])
    return stack, torch.tensor([r.shape[1:] for r in resized])


def crops(n: int, h: int, w: int, scale: float, generator: torch.Generator | None,
          like: torch.Tensor) -> torch.Tensor:
    """(N, 3, h, w) random crops of the photographs resized by `scale`: per image, one of the first
    five photographs and a crop position uniform over the positions that fit (as published)."""
    stack, sizes = _scaled(DISTRIBUTION, float(scale), h, w)
    choice = randint(0, DRAWN, (n,), generator, torch.device("cpu"))
    room = (sizes[choice] - torch.tensor([h, w])).double()           # crop starts lie in [0, room)
    start = (uniform((n, 2), generator, room) * room).floor().long()
    rows = start[:, 0, None] + torch.arange(h)[None, :]
    cols = start[:, 1, None] + torch.arange(w)[None, :]
    picked = stack[choice[:, None, None, None], torch.arange(3)[None, :, None, None],
                   rows[:, None, :, None], cols[:, None, None, :]]
    return picked.to(device=like.device, dtype=like.dtype) / 255
