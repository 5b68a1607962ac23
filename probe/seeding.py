"""Seeded random numbers that do not depend on chunking, batch size, resumption or process count.

Every random draw of a probe comes from a generator whose seed is derived from the run's seed
and from *what* is being drawn (a dataset index, a corruption cell, a direction number), never
from how the work happens to be split.  One rule says where generators live: on a CUDA device
for CUDA work (drawing there is fast), on the CPU otherwise (CPU and MPS give the same numbers).
"""
from __future__ import annotations

import zlib

import numpy as np
import torch

SEED_MASK = (1 << 63) - 1


def derive_state(*keys: int | str) -> int:
    """The 64-bit state mixed from integer or string keys (strings through CRC-32) by SeedSequence.

    Probes turn it into a generator seed (`derive_seed`: its low 63 bits); a few keep the
    finalisation they had in version 0.1 (the whole state, or its top 63 bits) so that their
    numbers stay those of earlier results.
    """
    entropy = [zlib.crc32(k.encode()) if isinstance(k, str) else int(k) & 0xFFFFFFFFFFFFFFFF for k in keys]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0])


def derive_seed(*keys: int | str) -> int:
    """A 63-bit seed: the low 63 bits of `derive_state(*keys)`."""
    return derive_state(*keys) & SEED_MASK


def generator_device(device: torch.device | str | None) -> torch.device:
    """Where the generators of work on `device` live: that CUDA device, else the CPU."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    return device if device.type == "cuda" else torch.device("cpu")


def generator(*keys: int | str, device: torch.device | str | None = None) -> torch.Generator:
    """A generator seeded by `derive_seed(*keys)`, on `generator_device(device)`."""
    return torch.Generator(device=generator_device(device)).manual_seed(derive_seed(*keys))
