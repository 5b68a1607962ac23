"""AugMix (Hendrycks et al. 2020), batched on tensors, and the chain mixing it shares with PRIME.

Mixing: `width` chains, each of a per-image depth uniform in {1..depth} of randomly chosen
operations, combined with Dirichlet(1) weights, then blended with the clean image with a
Beta(1, 1) weight.  AugMix's operations (autocontrast, equalize, posterize, rotate,
solarize, shear, translate — none that overlaps the test corruptions) are drawn per image
with a level uniform in [0, severity] on AugMix's 0–10 scale; level 0 is the identity for
every operation (the magnitude-free autocontrast and equalize act at any positive level),
so `severity=0` makes AugMix the identity.  `--augment augmix[:severity=3,width=3,depth=3,jsd]`.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from probe import ranges
from probe.augment.jsd import ConsistencyAugmentation
from probe.errors import ParameterError

MAX_LEVEL = 10.0


# ----------------------------------------------------------------------------- shared helpers

def uniform(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """U(0, 1) drawn on the generator's device, moved to `device`."""
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


def integers(low: int, high: int, shape: tuple[int, ...], generator: torch.Generator,
             device: torch.device) -> torch.Tensor:
    """Integers uniform in [low, high) drawn on the generator's device, moved to `device`."""
    return torch.randint(low, high, shape, generator=generator, device=generator.device).to(device)


def apply_per_image(x: torch.Tensor, choice: torch.Tensor,
                    operations: list[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]) -> torch.Tensor:
    """`operations[choice[i]]` applied to image i: each operation runs once on its images.

    Every operation is called as `op(images, positions)` where `positions` are the images'
    rows in `x`, so it can pick its per-image parameters.
    """
    out = x.clone()
    for k, operation in enumerate(operations):
        rows = (choice == k).nonzero().squeeze(1)
        if len(rows):
            out[rows] = operation(x[rows], rows)
    return out


def mix_chains(x: torch.Tensor, step: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
               generator: torch.Generator, width: int = 3, depth: int = 3) -> torch.Tensor:
    """AugMix mixing: `width` chains of `step` (per-image depth U{1..depth}), Dirichlet(1) weights, Beta(1,1) blend."""
    n = x.shape[0]
    exponential = -torch.log(uniform((n, width), generator, x.device).clamp_min(1e-12))
    weights = (exponential / exponential.sum(1, keepdim=True)).to(x.dtype)   # Dirichlet(1, ..., 1)
    blend = uniform((n,), generator, x.device).to(x.dtype)[:, None, None, None]  # Beta(1, 1)
    mixed = torch.zeros_like(x)
    for chain_index in range(width):
        chain_depth = integers(1, depth + 1, (n,), generator, x.device)
        chain = x
        for level in range(depth):
            rows = (chain_depth > level).nonzero().squeeze(1)
            if len(rows):
                chain = chain.index_copy(0, rows, step(chain[rows], generator))
        mixed = mixed + weights[:, chain_index, None, None, None] * chain
    return (blend * x + (1.0 - blend) * mixed).clamp(0.0, 1.0)


def parse_options(args: str, defaults: dict, name: str) -> dict:
    """'key=value,flag,...' → a copy of `defaults` updated (values cast to the defaults' types;
    options whose default is None keep their text)."""
    options = dict(defaults)
    for token in filter(None, (t.strip() for t in args.split(","))):
        key, sep, value = token.partition("=")
        if key not in defaults:
            raise ParameterError(f"--augment {name}: unknown option '{key}' (known: {', '.join(defaults)})")
        kind = str if defaults[key] is None else type(defaults[key])
        if kind is bool:
            if sep and value.lower() not in ("true", "false", "1", "0"):
                raise ParameterError(f"--augment {name}: option '{key}' is a flag, got '{value}'")
            options[key] = not sep or value.lower() in ("true", "1")
            continue
        try:
            options[key] = kind(value)
        except ValueError:
            raise ParameterError(f"--augment {name}: option '{key}' needs a {kind.__name__}, got '{value}'") from None
    return options


# ----------------------------------------------------------------------------- AugMix operations

def _quantised(x: torch.Tensor) -> torch.Tensor:
    return (x * 255.0).round().clamp(0, 255)


def autocontrast(x: torch.Tensor) -> torch.Tensor:
    """Stretch each channel of each image to the full range [0, 1] (unchanged where flat)."""
    low = x.amin(dim=(-2, -1), keepdim=True)
    high = x.amax(dim=(-2, -1), keepdim=True)
    span = high - low
    return torch.where(span > 0, (x - low) / span.clamp_min(1e-12), x)


def equalize(x: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation of each channel of each image on 256 levels (PIL's rule)."""
    values = _quantised(x).long().flatten(2)                                   # (n, c, hw)
    histogram = torch.zeros(*values.shape[:2], 256, device=x.device, dtype=torch.long)
    histogram.scatter_add_(2, values, torch.ones_like(values))
    last_bin = torch.where(histogram > 0, torch.arange(256, device=x.device), -1).amax(-1, keepdim=True)
    step = (histogram.sum(-1, keepdim=True) - histogram.gather(-1, last_bin)) // 255
    safe_step = step.clamp_min(1)
    lut = ((torch.cumsum(histogram, -1) - histogram + safe_step // 2) // safe_step).clamp(max=255)
    mapped = lut.gather(2, values).to(x.dtype) / 255.0
    return torch.where(step > 0, mapped, values.to(x.dtype) / 255.0).view_as(x)


def posterize(x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """Keep the `bits[i]` most significant bits of each 8-bit pixel of image i."""
    mask = (255 - (2 ** (8 - bits) - 1)).view(-1, 1, 1, 1)
    return torch.bitwise_and(_quantised(x).long(), mask).to(x.dtype) / 255.0


def solarize(x: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Invert the pixels at or above `threshold[i]` (on the 0–255 scale) of image i."""
    return torch.where(_quantised(x) >= threshold.view(-1, 1, 1, 1), 1.0 - x, x)


def affine(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Resample each image at `matrix[i] @ (u, v, 1)` for every output pixel centre (u, v) (pixel units, origin
    top-left); zero outside."""
    n, _, h, w = x.shape
    v, u = torch.meshgrid(torch.arange(h, device=x.device, dtype=x.dtype) + 0.5,
                          torch.arange(w, device=x.device, dtype=x.dtype) + 0.5, indexing="ij")
    points = torch.stack([u, v, torch.ones_like(u)], -1).view(1, h * w, 3)
    source = points @ matrix.transpose(1, 2)                                   # (n, hw, 2)
    grid = torch.stack([2.0 * source[..., 0] / w - 1.0, 2.0 * source[..., 1] / h - 1.0], -1).view(n, h, w, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _matrix(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, d: torch.Tensor, e: torch.Tensor,
            f: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.stack([a, b, c], -1), torch.stack([d, e, f], -1)], 1)


def rotate(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate each image about its centre by `degrees[i]`."""
    h, w = x.shape[-2:]
    theta = degrees * math.pi / 180.0
    cos, sin = torch.cos(theta), torch.sin(theta)
    cx, cy = w / 2.0, h / 2.0
    return affine(x, _matrix(cos, sin, cx - cos * cx - sin * cy, -sin, cos, cy + sin * cx - cos * cy))


def shear(x: torch.Tensor, amount: torch.Tensor, axis: str) -> torch.Tensor:
    """Shear each image along `axis` ('x' or 'y') by `amount[i]` (PIL's convention: about the top-left corner)."""
    one, zero = torch.ones_like(amount), torch.zeros_like(amount)
    if axis == "x":
        return affine(x, _matrix(one, amount, zero, zero, one, zero))
    return affine(x, _matrix(one, zero, zero, amount, one, zero))


def translate(x: torch.Tensor, pixels: torch.Tensor, axis: str) -> torch.Tensor:
    """Translate each image along `axis` by `pixels[i]`."""
    one, zero = torch.ones_like(pixels), torch.zeros_like(pixels)
    if axis == "x":
        return affine(x, _matrix(one, zero, pixels, zero, one, zero))
    return affine(x, _matrix(one, zero, zero, zero, one, pixels))


class AugMix(ConsistencyAugmentation):
    """AugMix with per-image operations; `augment(x, generator)` returns the mixed images."""

    name = "augmix"
    OPERATIONS = ("autocontrast", "equalize", "posterize", "rotate", "solarize",
                  "shear_x", "shear_y", "translate_x", "translate_y")

    def __init__(self, severity: float = 3.0, width: int = 3, depth: int = 3, jsd: bool = False) -> None:
        super().__init__(jsd)
        ranges.check(severity=(severity, ranges.in_range(0.0, MAX_LEVEL)), width=(width, ranges.integer(1)),
                     depth=(depth, ranges.integer(1)))
        self.severity, self.width, self.depth = float(severity), int(width), int(depth)

    def augment(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return mix_chains(x, self.step, generator, self.width, self.depth)

    def step(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One randomly chosen operation per image, each at a random level and sign."""
        n, device = x.shape[0], x.device
        choice = integers(0, len(self.OPERATIONS), (n,), generator, device)
        level = uniform((n,), generator, device).to(x.dtype) * self.severity
        sign = torch.where(uniform((n,), generator, device) < 0.5, -1.0, 1.0).to(x.dtype)
        active = (level > 0).view(-1, 1, 1, 1)
        side = float(min(x.shape[-2:]))

        def fraction(maximum: float) -> torch.Tensor:       # AugMix's float_parameter
            return level * maximum / MAX_LEVEL

        def whole(maximum: float) -> torch.Tensor:          # AugMix's int_parameter
            return torch.floor(level * maximum / MAX_LEVEL)

        operations = [
            lambda im, r: torch.where(active[r], autocontrast(im), im),
            lambda im, r: torch.where(active[r], equalize(im), im),
            lambda im, r: torch.where(active[r], posterize(im, (4 - whole(4)[r]).long()), im),
            lambda im, r: rotate(im, whole(30)[r] * sign[r]),
            lambda im, r: solarize(im, 256 - whole(256)[r]),
            lambda im, r: shear(im, fraction(0.3)[r] * sign[r], "x"),
            lambda im, r: shear(im, fraction(0.3)[r] * sign[r], "y"),
            lambda im, r: translate(im, whole(side / 3)[r] * sign[r], "x"),
            lambda im, r: translate(im, whole(side / 3)[r] * sign[r], "y"),
        ]
        return apply_per_image(x, choice, operations)

    @classmethod
    def from_spec(cls, args: str, info: dict) -> AugMix:
        """Build from the `--augment augmix:...` option text."""
        return cls(**parse_options(args, {"severity": 3.0, "width": 3, "depth": 3, "jsd": False}, "augmix"))
