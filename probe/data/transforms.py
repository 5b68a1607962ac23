"""Image transforms for the frequency experiments, selected by a short spec string."""
from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from probe.errors import ParameterError
from probe.spectral import frequency_flip, high_pass, low_pass

TRANSFORMS = ("dct-flip", "low-pass:B", "high-pass:B")


def parse_transform(spec: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """`dct-flip`, `low-pass:B` or `high-pass:B` (keep a B×B corner of the DCT)."""
    name, _, arg = spec.partition(":")
    if name == "dct-flip" and not arg:
        return frequency_flip
    if name in ("low-pass", "high-pass"):
        try:
            band = int(arg)
        except ValueError:
            raise ParameterError(f"transform '{spec}' needs an integer band, e.g. {name}:16") from None
        if band <= 0:
            raise ParameterError(f"transform '{spec}': band must be positive")
        return functools.partial(low_pass if name == "low-pass" else high_pass, band=band)
    raise ParameterError(f"unknown transform '{spec}' (expected one of {', '.join(TRANSFORMS)})")
