"""How much of one Lp ball lies inside another: Monte Carlo with binomial standard errors.

The ball-overlap experiment of Siedel, Shen, Vock and Morozov (2024, "Investigating the corruption robustness of image
classifiers with random Lp-norm corruptions").

    ds = probe.overlap.run(reference="l2:4", norms=["Linf", "L1", "L0"], samples=1000)
    probe.overlap.summary(ds)      # radius_50_linf_in_reference, radius_50_reference_in_linf, ...

`overlap(...)` estimates, for one pair of balls, the fraction of uniform samples of ball A
(optionally added to an image and clipped to [0, 1]) whose realised change lies in ball B.
`overlap_curves(...)` gives the whole curve against the radius for a list of norms, in both
directions against a reference ball (published: L2 of radius 4, d = 3072),
from one set of samples per norm: every sample has a threshold radius at which it crosses the
boundary.  Without clipping the threshold is exact by rescaling (r* = r_B / ‖u‖_B for a
unit-radius sample u); with clipping the realised change grows monotonically with the radius,
so the threshold is found by bisection (L0: by cumulative sums over the random order of the
coordinates).  The probe needs no model; data only to clip around one of its images.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from probe import data as datasets
from probe import ranges, runner, seeding, stats
from probe.balls import (
    Draw,
    ball_name,
    check_radius,
    draw,
    norm,
    norm_name,
    parse_ball,
    parse_norm,
    parse_norms,
    perturb,
)
from probe.data import dataset_size
from probe.errors import ParameterError
from probe.execution import PER_SAMPLE, Execution, Unpack, check
from probe.results import variable

PROBE = "overlap"
PUBLISHED_NORMS = ("Linf", "L1", "L0.5", "L10", "L50", "L0")
DIRECTIONS = ("lp_in_reference", "reference_in_lp")
MEMORY_BUDGET = 256 * 2**20  # bytes of float32 working tensors per chunk of Monte Carlo samples
BISECTION_STEPS = 32  # on log radius: relative precision below float32 resolution
RADIUS_UNITS = "Lp norm (L0: fraction of coordinates)"


def chunk_size(dim: int, budget: int = MEMORY_BUDGET) -> int:
    """Samples per chunk so that the working tensors (about a dozen n×d float32) fit `budget`."""
    return max(1, budget // (dim * 4 * 12))


def _image(clip_around: torch.Tensor | None, dim: int, device: torch.device) -> torch.Tensor | None:
    if clip_around is None:
        return None
    x = clip_around.reshape(-1).to(device=device, dtype=torch.float32)
    if x.numel() != dim:
        raise ParameterError(f"the image has {x.numel()} values but the dimension is {dim}")
    if x.min() < 0 or x.max() > 1:
        raise ParameterError("the image to clip around must have values in [0, 1]")
    return x


def _chunks(n: int, size: int) -> Iterator[int]:
    for start in range(0, n, size):
        yield min(size, n - start)


def _device(generator: torch.Generator | None) -> torch.device:
    return torch.device(generator.device) if generator is not None else torch.device("cpu")


def overlap(dim: int, p_a: float, radius_a: float, p_b: float, radius_b: float, n: int,
            clip_around: torch.Tensor | None = None, generator: torch.Generator | None = None,
            chunk: int | None = None) -> tuple[float, float]:
    """Fraction of `n` uniform samples of ball A (norm `p_a`, `radius_a`) inside ball B, and its
    binomial standard error, sampled directly in chunks.

    With `clip_around` (an image with `dim` values in [0, 1]) the samples are added to it and
    clipped (L0: pixels replaced by {0, 1}) and the realised change is tested.
    """
    check_radius(p_a, radius_a)
    check_radius(p_b, radius_b)
    if n <= 0:
        raise ParameterError(f"need a positive number of samples, got {n}")
    device = _device(generator)
    x = _image(clip_around, dim, device)
    inside = 0
    for m in _chunks(n, chunk or chunk_size(dim)):
        d = draw(m, dim, [p_a], generator).row(0)
        change = perturb(None if x is None else x.expand(m, dim), d, p_a, radius_a)
        inside += int((norm(change, p_b) <= radius_b).sum())
    fraction = inside / n
    return fraction, math.sqrt(fraction * (1.0 - fraction) / n)


# ----------------------------------------------------------------------------- thresholds

def _prefix_norms(change: torch.Tensor, order: torch.Tensor, p: float) -> torch.Tensor:
    """Norm of the first k coordinates (in `order`) of `change`, for every k = 1..d."""
    a = torch.gather(change, -1, order).abs()
    if p == 0:
        return torch.cumsum((a > 0).to(a.dtype), -1) / a.shape[-1]
    if math.isinf(p):
        return torch.cummax(a, -1).values
    top = a.amax(-1, keepdim=True)
    safe = torch.where(top > 0, top, torch.ones_like(top))
    return safe * torch.exp(torch.log(torch.cumsum((a / safe) ** p, -1)) / p)


def thresholds_into(x: torch.Tensor | None, d: Draw, p: float, p_ref: float, radius_ref: float) -> torch.Tensor:
    """Per sample, the radius r* of ball A (norm p, draws `d`) up to which the realised change
    stays inside the reference ball (+inf: inside for every radius).  For L0, r* = (k* + ½)/d
    with k* the most coordinates that can change, so 'inside' means r < r*; otherwise r <= r*."""
    n, dim = d.value.shape
    if p == 0:
        order = torch.argsort(d.rank, dim=-1)
        full = perturb(x, d, 0.0, 1.0)  # every coordinate replaced: prefixes give every k
        k_star = (_prefix_norms(full, order, p_ref) <= radius_ref).sum(-1)
        return (k_star.to(torch.float64) + 0.5) / dim
    unit_norm = norm(d.unit, p_ref).to(torch.float64)
    lower = torch.where(unit_norm > 0, radius_ref / unit_norm, torch.full_like(unit_norm, math.inf))
    if x is None:
        return lower
    # clipped: the change saturates at the box once the radius exceeds the largest distance/|u_i|
    bound = torch.where(d.unit > 0, 1.0 - x, x)
    safe_unit = torch.where(d.unit != 0, d.unit.abs(), torch.ones_like(d.unit))
    saturated = torch.where(d.unit != 0, bound / safe_unit, torch.zeros_like(bound)).amax(-1).to(torch.float64)
    limit_norm = norm(torch.where(d.unit > 0, 1.0 - x, torch.where(d.unit < 0, -x, torch.zeros_like(x))), p_ref)
    never = (limit_norm <= radius_ref) | torch.isinf(lower)
    lo = torch.where(never, torch.ones_like(lower), lower).log()
    hi = torch.maximum(saturated, lower.nan_to_num(posinf=1.0)).clamp_min(1e-30).log()
    hi = torch.where(never, lo, hi)
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        ok = norm(perturb(x, d, p, mid.exp().to(d.unit.dtype)), p_ref) <= radius_ref
        lo = torch.where(ok, mid, lo)
        hi = torch.where(ok, hi, mid)
    return torch.where(never, torch.full_like(lower, math.inf), lo.exp())


def _inside(radius: np.ndarray, thresholds: np.ndarray, p: float, direction: str) -> np.ndarray:
    """Fraction of samples inside at each radius of `radius` from their thresholds."""
    r, t = radius[:, None], thresholds[None, :]
    if direction == DIRECTIONS[0]:
        return ((r < t) if p == 0 else (r <= t)).mean(1)
    return (t <= r).mean(1)


def radius_grid(thresholds: Sequence[np.ndarray], p: float, size: int) -> np.ndarray:
    """Log-spaced radii covering the transitions (0.5 %–99.5 % quantiles, widened 1.5×) of all
    finite thresholds; L0 radii stay in (0, 1]."""
    finite = np.concatenate([t[np.isfinite(t) & (t > 0)] for t in thresholds])
    if finite.size == 0:
        raise ParameterError(f"{norm_name(p)}: no sample crosses the boundary; cannot choose radii")
    lo, hi = np.quantile(finite, 0.005) / 1.5, np.quantile(finite, 0.995) * 1.5
    if p == 0:
        hi = min(hi, 1.0)
        lo = min(lo, hi / 2)
    return np.geomspace(lo, hi, size)


def overlap_curves(dim: int, norms: Sequence[float], reference: tuple[float, float] = (2.0, 4.0), n: int = 1000,
                   clip_around: torch.Tensor | None = None, generator: torch.Generator | None = None,
                   radii: int = 41, chunk: int | None = None) -> xr.Dataset:
    """Overlap curves of Lp balls against a reference ball, both directions, every norm.

    Returns a dataset with dims (direction, p, point): `fraction` inside with `stderr`, the
    radii `radius(p, point)`, every Monte Carlo draw's threshold radius `threshold(direction,
    p, draw)` and the 50 % radii `radius_50(direction, p)` (median of the thresholds; +inf when
    most samples never cross).  'lp_in_reference': samples of
    the Lp ball of that radius inside the reference ball; 'reference_in_lp': samples of the
    reference ball inside the Lp ball of that radius.
    """
    p_ref, radius_ref = reference
    check_radius(p_ref, radius_ref)
    if n <= 0 or radii < 2:
        raise ParameterError(f"need n > 0 samples and at least 2 radii, got n={n}, radii={radii}")
    norms = [float(p) for p in norms]
    device = _device(generator)
    x = _image(clip_around, dim, device)
    into: dict[float, list[torch.Tensor]] = {p: [] for p in norms}
    out: dict[float, list[torch.Tensor]] = {p: [] for p in norms}
    for m in _chunks(n, chunk or chunk_size(dim)):
        xm = None if x is None else x.expand(m, dim)
        ref_change = perturb(xm, draw(m, dim, [p_ref], generator).row(0), p_ref, radius_ref)
        for p in norms:
            into[p].append(thresholds_into(xm, draw(m, dim, [p], generator).row(0), p, p_ref, radius_ref).cpu())
            out[p].append(norm(ref_change, p).to(torch.float64).cpu())
    fraction = np.zeros((len(DIRECTIONS), len(norms), radii))
    radius_50 = np.zeros((len(DIRECTIONS), len(norms)))
    threshold = np.zeros((len(DIRECTIONS), len(norms), n))
    grid = np.zeros((len(norms), radii))
    for j, p in enumerate(norms):
        t = [torch.cat(into[p]).numpy(), torch.cat(out[p]).numpy()]
        grid[j] = radius_grid(t, p, radii)
        for i, direction in enumerate(DIRECTIONS):
            fraction[i, j] = _inside(grid[j], t[i], p, direction)
            radius_50[i, j] = np.median(t[i])
            threshold[i, j] = t[i]
    stderr = np.sqrt(fraction * (1.0 - fraction) / n)
    dims = ("direction", "p", "point")
    return xr.Dataset(
        {"fraction": variable(dims, fraction, "fraction of samples of ball A inside ball B", "1"),
         "stderr": variable(dims, stderr, "binomial standard error of the fraction", "1"),
         "radius_50": variable(("direction", "p"), radius_50,
                               "radius of the Lp ball where half the samples are inside (median threshold)",
                               RADIUS_UNITS),
         "threshold": variable(("direction", "p", "draw"), threshold,
                               "radius at which the Monte Carlo draw crosses into (or out of) ball B "
                               "(+inf: never)", RADIUS_UNITS)},
        coords={"direction": list(DIRECTIONS), "p": variable("p", norms, "norm exponent (0: L0, inf: L∞)"),
                "point": np.arange(radii),
                "radius": variable(("p", "point"), grid, "radius of the Lp ball", RADIUS_UNITS)},
        attrs={"reference": ball_name(p_ref, radius_ref), "dim": int(dim), "clipped": x is not None})


# ----------------------------------------------------------------------------- the probe

def _reference(reference: str | tuple[float, float]) -> tuple[float, float]:
    if isinstance(reference, str):
        return parse_ball(reference)
    p, radius = parse_norm(reference[0]), float(reference[1])
    check_radius(p, radius)
    return p, radius


def run(model: nn.Module | None = None, data: Any = None, *, dim: int = 3072,
        reference: str | tuple[float, float] = "l2:4", norms: Sequence[str | float] = PUBLISHED_NORMS,
        samples: int = 1000, radii: int = 41,
        image: int | None = None, **execution: Unpack[Execution]) -> xr.Dataset:
    """Overlap curves of every norm in `norms` against the `reference` ball ('NORM:RADIUS'),
    both directions: a (direction, p, point) result (see `overlap_curves`).

    `samples` Monte Carlo samples per norm in dimension `dim`, or, with `image=INDEX`, added to
    that image of `data` (a dataset or a spec) and clipped to [0, 1] (the dimension is then the
    image's).  The probe takes no model (`model` must be None).  All draws come from one
    generator seeded with `seed`, in chunks fixed by the dimension, on `device`'s generator
    device (`probe.seeding.generator_device`; CPU by default).  Of the shared options
    (`probe.execution.Execution`) the probe takes `seed`, `device` and `out`.
    """
    execution = check(run, execution, excluded=PER_SAMPLE)
    seed = execution["seed"]
    if model is not None:
        raise ParameterError("the overlap probe takes no model (pass model=None)")
    ranges.check(samples=(samples, ranges.integer(1)), radii=(radii, ranges.integer(2)), dim=(dim, ranges.integer(1)),
                 image=(image, ranges.integer(0)))
    ball = _reference(reference)
    ps = parse_norms(norms)
    clip_around, data_identity = None, None
    if image is not None:
        if data is None:
            raise ParameterError("image=INDEX needs data to take the image from")
        dataset = runner.resolve_data(data)
        size = dataset_size(dataset)
        if not 0 <= int(image) < size:
            raise ParameterError(f"image {image} is outside the dataset (0..{size - 1})")
        x, y = datasets.get_batch(dataset, [int(image)])
        clip_around, dim = x[0], x[0].numel()
        data_identity = dict(datasets.identity(dataset), data_fingerprint=datasets.fingerprint(x, y))
    elif data is not None:
        raise ParameterError("data is only used to clip around one of its images: pass image=INDEX too")
    where = seeding.generator_device(execution["device"])
    execution["device"] = where
    generator = torch.Generator(device=where).manual_seed(int(seed))
    options = {"dim": int(dim), "reference": ball_name(*ball), "norms": [norm_name(p) for p in ps],
               "samples": int(samples), "radii": int(radii), "image": image}
    return runner.run_once(PROBE, lambda: overlap_curves(int(dim), ps, ball, int(samples), clip_around, generator,
                                                         radii=int(radii)),
                           options=options, data_identity=data_identity, **execution)


def norm_key(p: float) -> str:
    """A norm's name as a snake_case key part: 'linf', 'l2', 'l0_5'."""
    return norm_name(p).lower().replace(".", "_")


def summary(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> dict[str, float | int]:
    """The 50 % radius of every norm in both directions (`radius_50_<norm>_in_reference`: the Lp
    ball inside the reference; `radius_50_reference_in_<norm>`), the Monte Carlo samples per
    norm and the dimension.  Each radius has `_low` and `_high` at `confidence`: the
    order-statistic interval of the median of the draws' threshold radii (+inf when the
    interval reaches draws that never cross)."""
    numbers: dict[str, float | int] = {"samples": int(ds.sizes["draw"]), "dim": int(ds.attrs["dim"])}
    for p in ds["p"].values:
        key = norm_key(float(p))
        for direction, name in zip(DIRECTIONS, (f"radius_50_{key}_in_reference", f"radius_50_reference_in_{key}")):
            numbers.update(stats.entries(name, stats.median(ds["threshold"].sel(direction=direction, p=p).values,
                                                            confidence)))
    return numbers
