"""The corruption registry and `corrupt`, the one entry point of the corruption operations."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import torch

from probe.corruptions import blur, digital, noise, weather
from probe.corruptions.params import check_name_severity, severity_params
from probe.errors import DataError, ShapeError

Corruption = Callable[[torch.Tensor, dict[str, Any], "torch.Generator | None"], torch.Tensor]

# The 15 benchmark corruptions in the standard order (noise, blur, weather, digital), then the 4 extras.
CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness",
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)
EXTRA_CORRUPTIONS: tuple[str, ...] = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
ALL_CORRUPTIONS: tuple[str, ...] = CORRUPTIONS + EXTRA_CORRUPTIONS

FAMILIES: dict[str, tuple[str, ...]] = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "gaussian_blur"),
    "weather": ("snow", "frost", "fog", "brightness", "spatter"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression", "saturate"),
}

FUNCTIONS: dict[str, Corruption] = {
    name: getattr(module, name)
    for module, names in ((noise, FAMILIES["noise"]), (blur, FAMILIES["blur"]),
                          (weather, FAMILIES["weather"]), (digital, FAMILIES["digital"]))
    for name in names
}


def check_images(x: torch.Tensor) -> None:
    """Raise ShapeError/DataError unless `x` is a float batch (N, C, H, W), C in {1, 3}."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ShapeError(f"corruptions take a batch (N, C, H, W); got shape {tuple(getattr(x, 'shape', ()))}")
    if x.shape[1] not in (1, 3):
        raise ShapeError(f"corruptions take 1 or 3 channels; got {x.shape[1]}")
    if not x.is_floating_point():
        raise DataError(f"corruptions take float images in [0, 1]; got dtype {x.dtype}")
    if min(x.shape[-2:]) < 8:
        raise ShapeError(f"corruptions need images of at least 8×8 pixels; got {tuple(x.shape[-2:])}")


def corrupt(x: torch.Tensor, name: str, severity: int, *, params: str = "auto",
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Corrupt a batch `x` (N, C, H, W) in [0, 1] with corruption `name` at `severity` 1..5.

    `params` chooses the parameter table ('cifar', 'imagenet', or 'auto' from the image size;
    see `params.py`).  Random numbers come from `generator` (its device), so the same seed gives
    the same output.  Returns a new batch of the same shape, dtype and device, in [0, 1].
    """
    check_name_severity(name, severity)
    check_images(x)
    p = severity_params(name, int(severity), cast(tuple[int, int], tuple(x.shape[-2:])), params)
    if x.shape[0] == 0:
        return x.clone()
    return FUNCTIONS[name](x.clamp(0, 1), p, generator)
