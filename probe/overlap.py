"""How much of one Lp ball lies inside another: Monte Carlo with binomial standard errors.

`overlap(...)` estimates, for one pair of balls, the fraction of uniform samples of ball A
(optionally added to an image and clipped to [0, 1]) whose realised change lies in ball B.
`sweep(...)` gives the whole curve against ε for a list of norms, in both directions
against a reference ball (REFERENCE.md §4, published: L2, ε = 4, d = 3072), from one set of
samples per norm: every sample has a threshold radius at which it crosses the boundary.
Without clipping the threshold is exact by rescaling (ε* = ε_B / ‖u‖_B for a unit-radius
sample u); with clipping the realised change grows monotonically with ε, so the threshold
is found by bisection (L0: by cumulative sums over the random order of the coordinates).

`python -m probe.overlap [--dim 3072] [--reference l2:4] [--norms ...] [--samples N]
[--image INDEX --data SPEC] --out overlap.nc [--plot overlap.png]`
"""
from __future__ import annotations

import argparse
import math
import time
from typing import Sequence

import numpy as np
import torch
import xarray as xr

from probe import cli, results
from probe.data import get_batch
from probe.errors import ParameterError
from probe.lp import Draw, _check_radius, draw, l0_count, norm, norm_name, parse_norm, perturb

PUBLISHED_NORMS = (math.inf, 1.0, 0.5, 10.0, 50.0, 0.0)
DIRECTIONS = ("lp_in_reference", "reference_in_lp")
MEMORY_BUDGET = 256 * 2**20  # bytes of float32 working tensors per chunk
BISECTION_STEPS = 32  # on log ε: relative precision below float32 resolution


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


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield min(size, n - start)


def _device(generator: torch.Generator | None) -> torch.device:
    return torch.device(generator.device) if generator is not None else torch.device("cpu")


def overlap(dim: int, p_a: float, eps_a: float, p_b: float, eps_b: float, n: int,
            clip_around: torch.Tensor | None = None, generator: torch.Generator | None = None,
            chunk: int | None = None) -> tuple[float, float]:
    """Fraction of `n` uniform samples of ball A (norm `p_a`, radius `eps_a`) inside ball B,
    and its binomial standard error, sampled directly in chunks.

    With `clip_around` (an image with `dim` values in [0, 1]) the samples are added to it and
    clipped (L0: pixels replaced by {0, 1}) and the realised change is tested.
    """
    _check_radius(p_a, eps_a)
    _check_radius(p_b, eps_b)
    if n <= 0:
        raise ParameterError(f"need a positive number of samples, got {n}")
    device = _device(generator)
    x = _image(clip_around, dim, device)
    inside = 0
    for m in _chunks(n, chunk or chunk_size(dim)):
        d = draw(m, dim, [p_a], generator).row(0)
        change = perturb(None if x is None else x.expand(m, dim), d, p_a, eps_a)
        inside += int((norm(change, p_b) <= eps_b).sum())
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


def thresholds_into(x: torch.Tensor | None, d: Draw, p: float, p_ref: float, eps_ref: float) -> torch.Tensor:
    """Per sample, the radius ε* of ball A (norm p, draws `d`) up to which the realised change
    stays inside the reference ball (+inf: inside for every ε).  For L0, ε* = (k* + ½)/d with
    k* the most coordinates that can change, so 'inside' means ε < ε*; otherwise ε <= ε*."""
    n, dim = d.value.shape
    if p == 0:
        order = torch.argsort(d.rank, dim=-1)
        full = perturb(x, d, 0.0, 1.0)  # every coordinate replaced: prefixes give every k
        k_star = (_prefix_norms(full, order, p_ref) <= eps_ref).sum(-1)
        return (k_star.to(torch.float64) + 0.5) / dim
    unit_norm = norm(d.unit, p_ref).to(torch.float64)
    lower = torch.where(unit_norm > 0, eps_ref / unit_norm, torch.full_like(unit_norm, math.inf))
    if x is None:
        return lower
    # clipped: the change saturates at the box once ε exceeds the largest distance/|u_i|
    bound = torch.where(d.unit > 0, 1.0 - x, x)
    safe_unit = torch.where(d.unit != 0, d.unit.abs(), torch.ones_like(d.unit))
    saturated = torch.where(d.unit != 0, bound / safe_unit, torch.zeros_like(bound)).amax(-1).to(torch.float64)
    limit_norm = norm(torch.where(d.unit > 0, 1.0 - x, torch.where(d.unit < 0, -x, torch.zeros_like(x))), p_ref)
    never = (limit_norm <= eps_ref) | torch.isinf(lower)
    lo = torch.where(never, torch.ones_like(lower), lower).log()
    hi = torch.maximum(saturated, lower.nan_to_num(posinf=1.0)).clamp_min(1e-30).log()
    hi = torch.where(never, lo, hi)
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        ok = norm(perturb(x, d, p, mid.exp().to(d.unit.dtype)), p_ref) <= eps_ref
        lo = torch.where(ok, mid, lo)
        hi = torch.where(ok, hi, mid)
    return torch.where(never, torch.full_like(lower, math.inf), lo.exp())


def _inside(eps: np.ndarray, thresholds: np.ndarray, p: float, direction: str) -> np.ndarray:
    """Fraction of samples inside at each ε of `eps` from their thresholds."""
    e, t = eps[:, None], thresholds[None, :]
    if direction == DIRECTIONS[0]:
        return ((e < t) if p == 0 else (e <= t)).mean(1)
    return (t <= e).mean(1)


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


def sweep(dim: int, norms: Sequence[float], reference: tuple[float, float] = (2.0, 4.0), n: int = 1000,
          clip_around: torch.Tensor | None = None, generator: torch.Generator | None = None,
          radii: int = 41, chunk: int | None = None) -> xr.Dataset:
    """Overlap curves of Lp balls against a reference ball, both directions, every norm.

    Returns a dataset with dims (direction, p, radius): `fraction` inside with `stderr`,
    the radii `epsilon(p, radius)` and the 50 % radii `epsilon_50(direction, p)` (median of
    the per-sample thresholds).  'lp_in_reference': samples of the Lp ball of radius ε inside
    the reference ball; 'reference_in_lp': samples of the reference ball inside the Lp ball.
    """
    p_ref, eps_ref = reference
    _check_radius(p_ref, eps_ref)
    if n <= 0 or radii < 2:
        raise ParameterError(f"need n > 0 samples and at least 2 radii, got n={n}, radii={radii}")
    norms = [float(p) for p in norms]
    device = _device(generator)
    x = _image(clip_around, dim, device)
    into: dict[float, list[torch.Tensor]] = {p: [] for p in norms}
    out: dict[float, list[torch.Tensor]] = {p: [] for p in norms}
    for m in _chunks(n, chunk or chunk_size(dim)):
        xm = None if x is None else x.expand(m, dim)
        ref_change = perturb(xm, draw(m, dim, [p_ref], generator).row(0), p_ref, eps_ref)
        for p in norms:
            into[p].append(thresholds_into(xm, draw(m, dim, [p], generator).row(0), p, p_ref, eps_ref).cpu())
            out[p].append(norm(ref_change, p).to(torch.float64).cpu())
    fraction = np.zeros((len(DIRECTIONS), len(norms), radii))
    eps50 = np.zeros((len(DIRECTIONS), len(norms)))
    grid = np.zeros((len(norms), radii))
    for j, p in enumerate(norms):
        t = [torch.cat(into[p]).numpy(), torch.cat(out[p]).numpy()]
        grid[j] = radius_grid(t, p, radii)
        for i, direction in enumerate(DIRECTIONS):
            fraction[i, j] = _inside(grid[j], t[i], p, direction)
            eps50[i, j] = np.median(t[i])
    stderr = np.sqrt(fraction * (1.0 - fraction) / n)
    return xr.Dataset(
        {"fraction": (("direction", "p", "radius"), fraction,
                      {"long_name": "fraction of samples of ball A inside ball B", "units": "1"}),
         "stderr": (("direction", "p", "radius"), stderr,
                    {"long_name": "binomial standard error of the fraction", "units": "1"}),
         "epsilon_50": (("direction", "p"), eps50,
                        {"long_name": "radius of the Lp ball where half the samples are inside (median threshold)",
                         "units": "Lp norm (L0: fraction of coordinates)"})},
        coords={"direction": list(DIRECTIONS), "p": norms, "radius": np.arange(radii),
                "epsilon": (("p", "radius"), grid,
                            {"long_name": "radius of the Lp ball", "units": "Lp norm (L0: fraction of coordinates)"})},
        attrs={"reference": f"{norm_name(p_ref)}:{eps_ref:g}", "samples": int(n), "dim": int(dim),
               "clipped": x is not None})


# ----------------------------------------------------------------------------- command line

def parse_ball(text: str) -> tuple[float, float]:
    """'l2:4' → (2.0, 4.0)."""
    name, sep, radius = text.partition(":")
    if not sep:
        raise ParameterError(f"a ball is NORM:RADIUS (e.g. l2:4), got '{text}'")
    try:
        eps = float(radius)
    except ValueError:
        raise ParameterError(f"bad radius in '{text}'") from None
    p = parse_norm(name)
    _check_radius(p, eps)
    return p, eps


def build_parser() -> argparse.ArgumentParser:
    parser = cli.make_parser("python -m probe.overlap",
                             "Monte Carlo overlap of Lp balls (published defaults: d=3072, reference L2 ε=4, "
                             "both directions, Linf L1 L0.5 L10 L50 L0).", checkpoint=False)
    parser.add_argument("--dim", type=int, default=3072, help="dimension without --image (default: %(default)s)")
    parser.add_argument("--reference", default="l2:4", help="reference ball NORM:RADIUS (default: %(default)s)")
    parser.add_argument("--norms", nargs="+", default=[norm_name(p) for p in PUBLISHED_NORMS],
                        help="norms of the other ball (default: %(default)s)")
    parser.add_argument("--samples", type=int, default=1000, help="Monte Carlo samples per norm (default: %(default)s)")
    parser.add_argument("--radii", type=int, default=41, help="radii per norm on the curve (default: %(default)s)")
    parser.add_argument("--image", type=int, help="clip around image INDEX of --data/--split (dimension from the image)")
    return parser


def run(args: argparse.Namespace) -> xr.Dataset:
    device = cli.resolve_device(args.device)
    generator_device = device if device.type == "cuda" else torch.device("cpu")
    generator = torch.Generator(device=generator_device).manual_seed(args.seed)
    reference = parse_ball(args.reference)
    norms = [parse_norm(name) for name in args.norms]
    image, dim = None, args.dim
    if args.image is not None:
        dataset = cli.load_data(args)
        if not 0 <= args.image < len(dataset):
            raise ParameterError(f"--image {args.image} is outside the dataset (0..{len(dataset) - 1})")
        image = get_batch(dataset, [args.image])[0][0]
        dim = image.numel()
    if dim <= 0:
        raise ParameterError(f"--dim must be positive, got {dim}")
    start = time.perf_counter()
    ds = sweep(dim, norms, reference, args.samples, image, generator, radii=args.radii)
    parameters = {"dim": dim, "reference": args.reference, "norms": args.norms, "samples": args.samples,
                  "radii": args.radii, "image": args.image}
    ds.attrs = dict(ds.attrs, **results.provenance(
        "overlap", parameters, data=args.data if image is not None else None,
        split=args.split if image is not None else None, seed=args.seed, device=generator_device,
        elapsed=time.perf_counter() - start))
    if args.out:
        results.save(ds, args.out)
    if not args.quiet:
        rows = [[norm_name(p)] + [ds["epsilon_50"].sel(direction=k, p=p).item() for k in DIRECTIONS] for p in norms]
        print(format_header(ds))
        print(cli.format_table(["norm", "ε50 (Lp in ref)", "ε50 (ref in Lp)"], rows))
    cli.save_outputs(ds, args)
    return ds


def format_header(ds: xr.Dataset) -> str:
    where = f"clipped around image {ds.attrs['parameters']['image']}" if ds.attrs["clipped"] else "unclipped"
    return f"reference {ds.attrs['reference']}, d = {ds.attrs['dim']}, {ds.attrs['samples']} samples, {where}"


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_command(build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
