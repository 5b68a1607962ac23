"""PRIME (Modas et al. 2022): mixtures of max-entropy spectral, spatial and colour primitives.

Batched on tensors, every draw per image, pixels clipped to [0, 1] after each primitive:

- spectral: a random 3×3 FIR filter `δ + σ N(0, 1)` shared over channels, δ at the centre
  (so σ = 0 is exactly the identity; the published code puts δ off-centre);
- spatial: the smooth diffeomorphism `τ(r) = Σ_{i²+j² ≤ K²} β_ij sin(π i r1) sin(π j r2)`,
  `β_ij ~ N(0, T/(i²+j²))`, zero at the borders, bilinear resampling; K from [cut_min,
  cut_max], T between `T1 = 1/(π n² ln K)` and `T2 = 4/(π³ K² ln K)` (capped by T2 so the
  map stays bijective);
- colour: per channel `x + Σ_k β_k sin(π k x)`, `β_k ~ N(0, σ_γ²)`, k up to a random cut
  (optionally a random band of consecutive frequencies, as for ImageNet).

Each application draws its strength from U(0, max): σ ≤ 4 · strength, T scaled by
strength, σ_γ² scaled by strength, so `strength=0` is the identity.  Chains are mixed as
in AugMix (`probe.augment.augmix.mix_chains`); `jsd` adds the JSD consistency loss.
`--augment prime[:strength=1,width=3,depth=3,preset=auto|cifar|imagenet,jsd]`; the preset
(CIFAR parameters for images up to 64 pixels, ImageNet parameters above) can be
overridden option by option.  For ablations (thesis §5.4): `primitives=spectral+colour` draws
from a subset of the primitives (the identity is always among the choices), and `mix=false`
applies one randomly chosen primitive per image, without chains or blending with the clean image.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from probe import ranges
from probe.augment.augmix import apply_per_image, integers, mix_chains, parse_options, uniform
from probe.augment.jsd import ConsistencyAugmentation
from probe.errors import ParameterError

PRESETS = {
    "cifar": {"kernel": 3, "spectral_sigma": 4.0, "cut_min": 2, "cut_max": 100,
              "color_cut_min": 10, "color_cut_max": 100, "color_variance": 0.01, "color_band": 0},
    "imagenet": {"kernel": 3, "spectral_sigma": 4.0, "cut_min": 2, "cut_max": 500,
                 "color_cut_min": 500, "color_cut_max": 500, "color_variance": 0.05, "color_band": 20},
}
SMALL_IMAGE = 64


def arcsine(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Beta(1/2, 1/2) samples (`sin²(πU/2)`)."""
    return torch.sin(0.5 * math.pi * uniform(shape, generator, device)) ** 2


def normal(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """N(0, 1) drawn on the generator's device, moved to `device`."""
    return torch.randn(shape, generator=generator, device=generator.device).to(device)


def spectral_filter(x: torch.Tensor, sigma: torch.Tensor, kernel: int, generator: torch.Generator) -> torch.Tensor:
    """Convolve image i with `δ + sigma[i] N(0, 1)` (k×k, δ at the centre, same filter for all channels)."""
    n, c, h, w = x.shape
    filters = normal((n, kernel * kernel), generator, x.device).to(x.dtype) * sigma.view(-1, 1)
    filters[:, kernel * kernel // 2] += 1.0
    patches = F.unfold(x, kernel, padding=kernel // 2).view(n, c, kernel * kernel, h * w)
    return torch.einsum("nckp,nk->ncp", patches, filters).view(n, c, h, w).clamp(0.0, 1.0)


def temperature_range(size: int, cut: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(T1, T2): the temperature of a one-pixel displacement and the largest that keeps the map bijective."""
    log_cut = torch.log(cut)
    return 1.0 / (math.pi * size ** 2 * log_cut), 4.0 / (math.pi ** 3 * cut ** 2 * log_cut)


def diffeomorphism(x: torch.Tensor, temperature: torch.Tensor, cut: torch.Tensor,
                   generator: torch.Generator) -> torch.Tensor:
    """Warp image i by a random smooth field with temperature `temperature[i]` and cut-off `cut[i]`."""
    n, _, h, w = x.shape
    largest = int(cut.max())
    k = torch.arange(1, largest + 1, device=x.device, dtype=x.dtype)
    radius2 = k[:, None] ** 2 + k[None, :] ** 2                                          # (K, K)
    keep = radius2[None] <= cut.view(-1, 1, 1).to(x.dtype) ** 2                           # (n, K, K)
    scale = torch.sqrt(temperature.view(-1, 1, 1) / radius2) * keep
    coefficients = normal((n, 2, largest, largest), generator, x.device).to(x.dtype) * scale[:, None]
    rows = torch.sin(math.pi * torch.linspace(0, 1, h, device=x.device, dtype=x.dtype)[:, None] * k)  # (h, K)
    cols = torch.sin(math.pi * torch.linspace(0, 1, w, device=x.device, dtype=x.dtype)[:, None] * k)  # (w, K)
    # field[y, x] = Σ_ij β_ij sin(π i x) sin(π j y), in units of the image side
    fields = rows @ coefficients.transpose(-1, -2) @ cols.T                                # (n, 2, h, w)
    side = float(max(h, w))
    v, u = torch.meshgrid(torch.arange(h, device=x.device, dtype=x.dtype),
                          torch.arange(w, device=x.device, dtype=x.dtype), indexing="ij")
    source_x = u + side * fields[:, 0]
    source_y = v + side * fields[:, 1]
    grid = torch.stack([2.0 * source_x / max(w - 1, 1) - 1.0, 2.0 * source_y / max(h - 1, 1) - 1.0], -1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True).clamp(0.0, 1.0)


def color_shift(x: torch.Tensor, variance: torch.Tensor, low: torch.Tensor, high: torch.Tensor,
                generator: torch.Generator) -> torch.Tensor:
    """`x + Σ_{low[i] ≤ k ≤ high[i]} β_k sin(π k x)` per image and channel, `β_k ~ N(0, variance[i])`."""
    n, c = x.shape[:2]
    first, last = int(low.min()), int(high.max())
    frequencies = torch.arange(first, last + 1, device=x.device)
    inside = (frequencies >= low[:, None]) & (frequencies <= high[:, None])                # (n, F)
    beta = normal((n, c, len(frequencies)), generator, x.device).to(x.dtype)
    beta = beta * torch.sqrt(variance).view(-1, 1, 1) * inside[:, None]
    # Clenshaw: b_k = β_k + 2 cos(πx) b_{k+1} − b_{k+2};
    # the series is b_first sin(first·πx) − b_{first+1} sin((first−1)·πx)
    angle = math.pi * x
    twice_cos = 2.0 * torch.cos(angle)
    following, after = torch.zeros_like(x), torch.zeros_like(x)
    for index in range(len(frequencies) - 1, -1, -1):
        following, after = beta[:, :, index, None, None] + twice_cos * following - after, following
    series = following * torch.sin(first * angle) - after * torch.sin((first - 1) * angle)
    return (x + series).clamp(0.0, 1.0)


class PRIME(ConsistencyAugmentation):
    """PRIME mixing; `augment(x, generator)` returns the mixed images."""

    name = "prime"
    PRIMITIVES = ("identity", "spectral", "spatial", "colour")

    def __init__(self, strength: float = 1.0, width: int = 3, depth: int = 3, jsd: bool = False,
                 preset: str = "auto", primitives: str = "spectral+spatial+colour", mix: bool = True,
                 **overrides: float | None) -> None:
        super().__init__(jsd)
        ranges.check(strength=(strength, ranges.NON_NEGATIVE), width=(width, ranges.integer(1)),
                     depth=(depth, ranges.integer(1)))
        chosen = [name for name in primitives.split("+") if name]
        if not chosen or len(set(chosen)) != len(chosen) or not set(chosen) <= set(self.PRIMITIVES[1:]):
            raise ParameterError(f"prime: primitives must be distinct names among {', '.join(self.PRIMITIVES[1:])} "
                                 f"joined by '+', got '{primitives}'")
        self.primitives = tuple(name for name in self.PRIMITIVES[1:] if name in chosen)   # in the canonical order
        self.mix = bool(mix)
        if preset not in ("auto", *PRESETS):
            raise ParameterError(f"prime: preset must be auto, {' or '.join(PRESETS)}; got '{preset}'")
        unknown = set(overrides) - set(PRESETS["cifar"])
        if unknown:
            raise ParameterError(f"prime: unknown option(s) {', '.join(sorted(unknown))}")
        self.strength, self.width, self.depth, self.preset = float(strength), int(width), int(depth), preset
        try:
            self.overrides = {k: type(PRESETS["cifar"][k])(v) for k, v in overrides.items() if v is not None}
        except ValueError:
            raise ParameterError(f"prime: non-numeric option among {overrides}") from None

    def parameters_for(self, x: torch.Tensor) -> dict:
        """The preset for this image size (CIFAR up to 64 pixels, else ImageNet) with the overrides."""
        preset = self.preset if self.preset != "auto" else ("cifar" if max(x.shape[-2:]) <= SMALL_IMAGE else "imagenet")
        params = dict(PRESETS[preset], **self.overrides)
        if not (params["kernel"] % 2 == 1 and 2 <= params["cut_min"] <= params["cut_max"]
                and 1 <= params["color_cut_min"] <= params["color_cut_max"]
                and params["color_band"] <= params["color_cut_min"]):
            raise ParameterError(f"prime: inconsistent parameters {params} (odd kernel, 2 ≤ cut_min ≤ cut_max, "
                                 f"1 ≤ color_cut_min ≤ color_cut_max, color_band ≤ color_cut_min)")
        return params

    def augment(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        params = self.parameters_for(x)
        if not self.mix:
            return self.step(x, generator, params)
        return mix_chains(x, lambda images, g: self.step(images, g, params), generator, self.width, self.depth)

    def step(self, x: torch.Tensor, generator: torch.Generator, params: dict) -> torch.Tensor:
        """One randomly chosen primitive (or the identity) per image, each with its own strength from U(0, max)."""
        n, device = x.shape[0], x.device
        choice = integers(0, 1 + len(self.primitives), (n,), generator, device)
        strength = uniform((n,), generator, device).to(x.dtype) * self.strength
        size = max(x.shape[-2:])

        def spatial(images: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
            m = len(rows)
            span = params["cut_max"] + 1 - params["cut_min"]
            cut = torch.floor(arcsine((m,), generator, device) * span).clamp(max=span - 1) + params["cut_min"]
            t1, t2 = temperature_range(size, cut.to(x.dtype))
            low = torch.minimum(t1, t2)
            temperature = strength[rows] * (low + arcsine((m,), generator, device).to(x.dtype) * (t2 - low))
            return diffeomorphism(images, temperature, cut, generator)

        def colour(images: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
            m = len(rows)
            cut = integers(params["color_cut_min"], params["color_cut_max"] + 1, (m,), generator, device)
            band = params["color_band"]
            if band:
                low = 1 + torch.floor(uniform((m,), generator, device) * (cut - band + 1)).long()
                high = low + band - 1
            else:
                low, high = torch.ones_like(cut), cut
            return color_shift(images, strength[rows] * params["color_variance"], low, high, generator)

        operations = {
            "spectral": lambda images, rows: spectral_filter(images, strength[rows] * params["spectral_sigma"],
                                                             params["kernel"], generator),
            "spatial": spatial,
            "colour": colour,
        }
        return apply_per_image(x, choice, [lambda images, rows: images, *(operations[p] for p in self.primitives)])

    @classmethod
    def from_spec(cls, args: str, info: dict) -> PRIME:
        """Build from the `--augment prime:...` option text."""
        defaults = {"strength": 1.0, "width": 3, "depth": 3, "jsd": False, "preset": "auto",
                    "primitives": "spectral+spatial+colour", "mix": True, **dict.fromkeys(PRESETS["cifar"])}
        return cls(**parse_options(args, defaults, "prime"))
