"""Corruption parameters per severity: the CIFAR-10-C and ImageNet-C tables, and the size rule.

The tables hold the published values (Hendrycks & Dietterich 2019, CIFAR-10-C; snow and spatter, which that paper does
not list, follow the public generation scripts).  Two tables, because the ImageNet values
destroy small images.

**Which table.**  `params="cifar"` or `"imagenet"` chooses one; `"auto"` picks ImageNet-C
for images whose shorter side is at least `IMAGENET_MIN_SIDE` (128) pixels and CIFAR-10-C
otherwise.  Asking for the ImageNet values on images smaller than 64 pixels is refused.

**Other image sizes.**  Each table belongs to a base size (32 for CIFAR, 224 for ImageNet).
Parameters measured in pixels (blur σ and radii, motion-blur length, glass-blur shuffle
distance, elastic amplitudes, spatter and snow blurs) are multiplied by
`scale = min(H, W) / base`; integer pixel counts are rounded, at least 1.  Within 25 % of the
base size (`size / base` in [0.8, 1.25]) the scale is 1: the published values are used as
they are, because pixel-scale parameters near one pixel are discrete (a defocus disk of
radius 0.875 holds only its centre pixel, so scaling CIFAR's radius 1 to 28 pixels would
remove the blur).  Intensity
parameters (noise σ, Poisson rate, impulse amount, weights, contrast, brightness,
saturation, JPEG quality, pixelation factor, zoom factors) do not depend on size.  The fog
map is the smallest power of two that covers the image (32 for CIFAR, 256 for ImageNet, as
published).  So a 28×28 Fashion-MNIST image gets exactly the CIFAR-10-C values.

**Derived values.**  Zoom blur averages the zooms `numpy.arange(1, max_zoom, step)` exactly as
published: its rounding includes `max_zoom` itself in some rows (12 zooms at ImageNet
severity 1, 7 at CIFAR severity 1).  Frost resizes its photographs by `photo_scale` (0.2 for
CIFAR, 1 for ImageNet, times the size scale) before cropping.

**Four tables are not monotone in severity**.  They are kept as published, so
that generated data matches the released CIFAR-10-C / ImageNet-C files, but a higher
severity is not always a stronger corruption for them: `elastic_transform` (the random affine
part shrinks with severity while the smooth displacement grows; at ImageNet sizes severities
1–2 have 10–20 times the affine jitter of 3–5), `glass_blur` (CIFAR severity 4 blurs less than
severity 3, with two scrambling passes instead of one), `spatter` (water drops at severities
1–3, opaque mud at 4–5) and `saturate` (severities 1–2 desaturate, 3–5 oversaturate).  The
tests check that every other corruption lowers SSIM monotonically with severity.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from probe.errors import ParameterError

IMAGENET_MIN_SIDE = 128
SEVERITIES = (1, 2, 3, 4, 5)

# name -> (field names, pixel-measured fields, integer pixel fields)
FIELDS: dict[str, tuple[tuple[str, ...], frozenset[str], frozenset[str]]] = {
    "gaussian_noise": (("sigma",), frozenset(), frozenset()),
    "shot_noise": (("rate",), frozenset(), frozenset()),
    "impulse_noise": (("amount",), frozenset(), frozenset()),
    "speckle_noise": (("sigma",), frozenset(), frozenset()),
    "defocus_blur": (("radius", "alias_sigma"), frozenset({"radius", "alias_sigma"}), frozenset()),
    "glass_blur": (("sigma", "delta", "iterations"), frozenset({"sigma", "delta"}), frozenset({"delta"})),
    "motion_blur": (("radius", "sigma"), frozenset({"radius", "sigma"}), frozenset({"radius"})),
    "zoom_blur": (("max_zoom", "step"), frozenset(), frozenset()),
    "gaussian_blur": (("sigma",), frozenset({"sigma"}), frozenset()),
    "snow": (("loc", "scale", "zoom", "threshold", "blur_radius", "blur_sigma", "blend"),
             frozenset({"blur_radius", "blur_sigma"}), frozenset({"blur_radius"})),
    "frost": (("image_weight", "frost_weight"), frozenset(), frozenset()),
    "fog": (("strength", "decay"), frozenset(), frozenset()),
    "brightness": (("delta",), frozenset(), frozenset()),
    "contrast": (("factor",), frozenset(), frozenset()),
    "saturate": (("scale", "shift"), frozenset(), frozenset()),
    "spatter": (("loc", "scale", "sigma", "threshold", "amount", "mud"), frozenset({"sigma"}), frozenset()),
    "elastic_transform": (("alpha", "sigma", "affine"), frozenset({"alpha", "sigma", "affine"}), frozenset()),
    "pixelate": (("factor",), frozenset(), frozenset()),
    "jpeg_compression": (("quality",), frozenset(), frozenset()),
}

CIFAR: dict[str, list[tuple]] = {
    "gaussian_noise": [(.04,), (.06,), (.08,), (.09,), (.10,)],
    "shot_noise": [(500,), (250,), (100,), (75,), (50,)],
    "impulse_noise": [(.01,), (.02,), (.03,), (.05,), (.07,)],
    "speckle_noise": [(.06,), (.10,), (.12,), (.16,), (.20,)],
    "defocus_blur": [(.3, .4), (.4, .5), (.5, .6), (1, .2), (1.5, .1)],
    "glass_blur": [(.05, 1, 1), (.25, 1, 1), (.4, 1, 1), (.25, 1, 2), (.4, 1, 2)],
    "motion_blur": [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)],
    "zoom_blur": [(1.06, .01), (1.11, .01), (1.16, .01), (1.21, .01), (1.26, .01)],
    "gaussian_blur": [(.4,), (.6,), (.7,), (.8,), (1,)],
    "snow": [(.1, .2, 1, .6, 8, 3, .95), (.1, .2, 1, .5, 10, 4, .9), (.15, .3, 1.75, .55, 10, 4, .9),
             (.25, .3, 2.25, .6, 12, 6, .85), (.3, .3, 1.25, .65, 14, 12, .8)],
    "frost": [(1, .2), (1, .3), (.9, .4), (.85, .4), (.75, .45)],
    "fog": [(.2, 3), (.5, 3), (.75, 2.5), (1, 2), (1.5, 1.75)],
    "brightness": [(.05,), (.1,), (.15,), (.2,), (.3,)],
    "contrast": [(.75,), (.5,), (.4,), (.3,), (.15,)],
    "saturate": [(.3, 0), (.1, 0), (1.5, 0), (2, .1), (2.5, .2)],
    "spatter": [(.62, .1, .7, .7, .5, 0), (.65, .1, .8, .7, .5, 0), (.65, .3, 1, .69, .5, 0),
                (.65, .1, .7, .69, .6, 1), (.65, .1, .5, .68, .6, 1)],
    "elastic_transform": [(32 * a, 32 * s, 32 * f) for a, s, f in
                          [(0, 0, .08), (.05, .2, .07), (.08, .06, .06), (.1, .04, .05), (.1, .03, .03)]],
    "pixelate": [(.95,), (.9,), (.85,), (.75,), (.65,)],
    "jpeg_compression": [(80,), (65,), (58,), (50,), (40,)],
}

# The published ImageNet-C script multiplies the elastic fractions by 244 (sic) on 224 images.
IMAGENET: dict[str, list[tuple]] = {
    "gaussian_noise": [(.08,), (.12,), (.18,), (.26,), (.38,)],
    "shot_noise": [(60,), (25,), (12,), (5,), (3,)],
    "impulse_noise": [(.03,), (.06,), (.09,), (.17,), (.27,)],
    "speckle_noise": [(.15,), (.2,), (.35,), (.45,), (.6,)],
    "defocus_blur": [(3, .1), (4, .5), (6, .5), (8, .5), (10, .5)],
    "glass_blur": [(.7, 1, 2), (.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)],
    "motion_blur": [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)],
    "zoom_blur": [(1.11, .01), (1.16, .01), (1.21, .02), (1.26, .02), (1.31, .03)],
    "gaussian_blur": [(1,), (2,), (3,), (4,), (6,)],
    "snow": [(.1, .3, 3, .5, 10, 4, .8), (.2, .3, 2, .5, 12, 4, .7), (.55, .3, 4, .9, 12, 8, .7),
             (.55, .3, 4.5, .85, 12, 8, .65), (.55, .3, 2.5, .85, 12, 12, .55)],
    "frost": [(1, .4), (.8, .6), (.7, .7), (.65, .7), (.6, .75)],
    "fog": [(1.5, 2), (2., 2), (2.5, 1.7), (2.5, 1.5), (3., 1.4)],
    "brightness": [(.1,), (.2,), (.3,), (.4,), (.5,)],
    "contrast": [(.4,), (.3,), (.2,), (.1,), (.05,)],
    "saturate": [(.3, 0), (.1, 0), (2, 0), (5, .1), (20, .2)],
    "spatter": [(.65, .3, 4, .69, .6, 0), (.65, .3, 3, .68, .6, 0), (.65, .3, 2, .68, .5, 0),
                (.65, .3, 1, .65, 1.5, 1), (.67, .4, 1, .65, 1.5, 1)],
    "elastic_transform": [(244 * a, 244 * s, 244 * f) for a, s, f in
                          [(2, .7, .1), (2, .08, .2), (.05, .01, .02), (.07, .01, .02), (.12, .01, .02)]],
    "pixelate": [(.6,), (.5,), (.4,), (.3,), (.25,)],
    "jpeg_compression": [(25,), (18,), (15,), (10,), (7,)],
}

TABLES = {"cifar": (CIFAR, 32), "imagenet": (IMAGENET, 224)}
# The published scripts shrink the frost photographs to 0.2 of their size for 32-pixel images
# and use them as they are for 224-pixel ones.
FROST_PHOTO_SCALE = {"cifar": 0.2, "imagenet": 1.0}


def resolve_family(image_size: tuple[int, int], params: str = "auto") -> str:
    """'cifar' or 'imagenet' for an image size; `params` 'auto' decides by the shorter side."""
    side = min(int(image_size[0]), int(image_size[1]))
    if params == "auto":
        return "imagenet" if side >= IMAGENET_MIN_SIDE else "cifar"
    if params not in TABLES:
        raise ParameterError(f"unknown corruption parameter set {params!r}; use 'cifar', 'imagenet' or 'auto'")
    if params == "imagenet" and side < 64:
        raise ParameterError(f"ImageNet-C parameters destroy {side}-pixel images; use params 'cifar' or 'auto'")
    return params


def size_scale(image_size: tuple[int, int], base: int) -> float:
    """Factor for pixel-measured parameters: min(H, W) / base, snapped to 1 within [0.8, 1.25]."""
    ratio = min(int(image_size[0]), int(image_size[1])) / base
    return 1.0 if 0.8 <= ratio <= 1.25 else ratio


def check_name_severity(name: str, severity: int) -> None:
    """Raise ParameterError for an unknown corruption or a severity outside 1..5."""
    if name not in FIELDS:
        raise ParameterError(f"unknown corruption {name!r}; known: {', '.join(FIELDS)}")
    if isinstance(severity, bool) or int(severity) != severity or severity not in SEVERITIES:
        raise ParameterError(f"corruption severity must be an integer in 1..5, got {severity!r}")


def severity_params(name: str, severity: int, image_size: tuple[int, int], params: str = "auto") -> dict[str, Any]:
    """The effective parameters of one corruption at one severity for images of `image_size`."""
    check_name_severity(name, severity)
    family = resolve_family(image_size, params)
    table, base = TABLES[family]
    names, spatial, integer = FIELDS[name]
    scale = size_scale(image_size, base)
    values: dict[str, Any] = {}
    for field, value in zip(names, table[name][int(severity) - 1]):
        if field in spatial:
            value = value * scale
            if field in integer:
                value = max(1, int(round(value)))
        values[field] = int(value) if field in ("iterations", "quality", "mud") else float(value)
    if name == "zoom_blur":  # exactly the published numpy.arange, whose rounding may include max_zoom itself
        values["zooms"] = [float(z) for z in np.arange(1, values["max_zoom"], values["step"])]
    if name == "frost":  # the frost photographs are resized by this before the random crop
        values["photo_scale"] = FROST_PHOTO_SCALE[family] * scale
    if name == "spatter":  # mud blurs its mask by `amount` pixels; water caps the drop shading distance
        values["mud_sigma"] = values["amount"] * scale
        values["distance_cap"] = max(1, int(round(20 * scale)))
    if name == "fog":
        values["map_size"] = 2 ** math.ceil(math.log2(max(int(image_size[0]), int(image_size[1]), 2)))
    return values


def parameter_set(name: str, image_size: tuple[int, int], params: str = "auto") -> dict[str, Any]:
    """Provenance record: the table, the size scale and the effective parameters of all 5 severities."""
    check_name_severity(name, 1)
    family = resolve_family(image_size, params)
    base = TABLES[family][1]
    return {
        "corruption": name,
        "params": family,
        "base_size": base,
        "image_size": [int(image_size[0]), int(image_size[1])],
        "scale": size_scale(image_size, base),
        "severity": [severity_params(name, s, image_size, family) for s in SEVERITIES],
    }
