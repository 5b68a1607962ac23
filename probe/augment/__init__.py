"""Training augmentations selected by `--augment NAME[:ARGS]` in `probe.train`.

Each entry of `AUGMENTATIONS` maps a name to a factory taking the text after the first
colon (possibly empty) and the training dataset's facts (a dict), returning an
`Augmentation`.
"""
from __future__ import annotations

from typing import Callable

from probe.augment import esp, lp_noise
from probe.augment.adversarial import parse_adversarial
from probe.augment.augmix import AugMix
from probe.augment.base import Augmentation, random_crop_flip
from probe.augment.prime import PRIME
from probe.errors import ParameterError

AUGMENTATIONS: dict[str, Callable[[str, dict], Augmentation]] = {
    "none": lambda args, info: Augmentation(),
    "prime": PRIME.from_spec,
    "augmix": AugMix.from_spec,
    "lp": lambda args, info: lp_noise.from_spec(args, info),
    "esp": lambda args, info: esp.from_spec(args, info),
    "adversarial": lambda args, info: parse_adversarial(args),
}


def parse_augment(spec: str, info: dict | None = None) -> Augmentation:
    """Build the augmentation named by `spec` ('name' or 'name:args')."""
    name, _, args = spec.partition(":")
    if name not in AUGMENTATIONS:
        raise ParameterError(f"unknown augmentation '{name}' (known: {', '.join(sorted(AUGMENTATIONS))})")
    return AUGMENTATIONS[name](args, dict(info or {}))


__all__ = ["AUGMENTATIONS", "Augmentation", "parse_augment", "random_crop_flip"]
