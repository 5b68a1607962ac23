"""Training augmentations selected by `--augment NAME[:ARGS]` in `probe.train`.

Each entry of `AUGMENTATIONS` maps a name to a factory taking the text after the first
colon (possibly empty) and the training dataset's facts (a dict), returning an
`Augmentation`.  Several `--augment` options compose (`parse_augments`, `Pipeline`) in the
published order: DeepAugment, then AdA, then the others (AugMix last).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from probe.augment import esp, lp_noise
from probe.augment.ada import AdA
from probe.augment.adversarial import parse_adversarial
from probe.augment.augmix import AugMix
from probe.augment.base import Augmentation, random_crop_flip
from probe.augment.deepaugment import DeepAugment
from probe.augment.pipeline import Pipeline
from probe.augment.prime import PRIME
from probe.errors import ParameterError

AUGMENTATIONS: dict[str, Callable[[str, dict], Augmentation]] = {
    "none": lambda args, info: Augmentation(),
    "prime": PRIME.from_spec,
    "augmix": AugMix.from_spec,
    "lp": lambda args, info: lp_noise.from_spec(args, info),
    "esp": lambda args, info: esp.from_spec(args, info),
    "adversarial": lambda args, info: parse_adversarial(args),
    "deepaugment": DeepAugment.from_spec,
    "ada": AdA.from_spec,
}


def parse_augment(spec: str, info: dict | None = None) -> Augmentation:
    """Build the augmentation named by `spec` ('name' or 'name:args')."""
    name, _, args = spec.partition(":")
    if name not in AUGMENTATIONS:
        raise ParameterError(f"unknown augmentation '{name}' (known: {', '.join(sorted(AUGMENTATIONS))})")
    return AUGMENTATIONS[name](args, dict(info or {}))


def parse_augments(specs: Sequence[str], info: dict | None = None) -> Augmentation:
    """Build the augmentations named by several specs, composed in the published order (`Pipeline`)."""
    stages = [parse_augment(spec, info) for spec in specs]
    return stages[0] if len(stages) == 1 else Pipeline(stages)


__all__ = ["AUGMENTATIONS", "Augmentation", "Pipeline", "parse_augment", "parse_augments", "random_crop_flip"]
