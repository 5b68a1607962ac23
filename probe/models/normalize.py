"""Input normalisation inside the model, so that every probe works in pixel space [0, 1].

A model trained on normalised input `(x − mean) / std` is wrapped in `Normalized`; probes
then perturb and measure in pixel units whatever the normalisation.  `PRESETS` holds the
usual per-channel statistics: ImageNet (the torchvision reference recipes), CIFAR-10 and
CIFAR-100 (training-set statistics); `parse_normalization` reads the command line's
`--normalize imagenet|cifar10|cifar100|MEAN,STD` (2·C numbers: the C means, then the C
standard deviations).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from probe import ranges
from probe.errors import ParameterError
from probe.models.outputs import set_probe_info

PRESETS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}


class Normalized(nn.Module):
    """`model((x - mean) / std)` with per-channel `mean` and `std` stored as buffers (float32,
    applied in the dtype of the images)."""

    if TYPE_CHECKING:   # the buffers' types, for mypy only: TorchScript cannot read string class annotations
        mean: torch.Tensor
        std: torch.Tensor

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        ranges.check(mean=(list(mean), ranges.FINITE), std=(list(std), ranges.POSITIVE))
        self.model = model
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean.to(x.dtype)) / self.std.to(x.dtype))


def parse_normalization(text: str) -> tuple[list[float], list[float]]:
    """'imagenet', 'cifar10', 'cifar100', or 'MEAN,STD' as 2·C comma-separated numbers (the C
    means, then the C standard deviations; one channel: '0.5,0.25') → (mean, std)."""
    name = text.strip().lower()
    if name in PRESETS:
        preset_mean, preset_std = PRESETS[name]
        return list(preset_mean), list(preset_std)
    try:
        numbers = [float(part) for part in name.split(",")]
    except ValueError:
        raise ParameterError(f"--normalize takes {', '.join(PRESETS)} or MEAN,STD numbers (2 per channel: "
                             f"the means, then the standard deviations), got '{text}'") from None
    if len(numbers) % 2 or not numbers:
        raise ParameterError(f"--normalize MEAN,STD needs 2·C numbers (C means, then C standard deviations), "
                             f"got {len(numbers)}")
    half = len(numbers) // 2
    mean, std = numbers[:half], numbers[half:]
    if not all(map(_finite, numbers)) or any(s <= 0 for s in std):
        raise ParameterError(f"--normalize: means must be finite and standard deviations positive, got '{text}'")
    return mean, std


def _finite(value: float) -> bool:
    return value == value and abs(value) != float("inf")


def normalized(model: nn.Module, mean: Sequence[float] | str, std: Sequence[float] | None = None) -> Normalized:
    """`model` taking pixels in [0, 1]: it is fed `(x − mean) / std` per channel.  `mean` may
    also name a preset or be a 'MEAN,STD' string (`parse_normalization`), with `std` omitted.
    The checkpoint facts of `model` (`probe_info`) are kept."""
    if isinstance(mean, str):
        if std is not None:
            raise ParameterError("normalized(model, 'NAME') takes no std: the preset or string holds it")
        mean, std = parse_normalization(mean)
    elif std is None or len(std) != len(mean):
        raise ParameterError("normalized(model, mean, std) needs as many standard deviations as means")
    if any(s <= 0 for s in std):
        raise ParameterError(f"standard deviations must be positive, got {list(std)}")
    wrapped = Normalized(model, mean, std)
    if hasattr(model, "probe_info"):
        set_probe_info(wrapped, dict(cast(dict[str, Any], model.probe_info)))
    return wrapped


def normalization_of(model: nn.Module) -> tuple[list[float], list[float]] | None:
    """(mean, std) of the first `Normalized` layer met going into the model, or None."""
    layer: nn.Module | None = model
    while layer is not None:
        if isinstance(layer, Normalized):
            return layer.mean.flatten().tolist(), layer.std.flatten().tolist()
        layer = getattr(layer, "model", None) if isinstance(getattr(layer, "model", None), nn.Module) else None
    return None
