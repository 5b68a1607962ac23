"""Lp geometry: uniform sampling in Lp balls, random Lp-norm corruptions, and the
Lp-corruption probe `python -m probe.lp` (accuracy over norms × radii, mCE_Lp, iCE).

Norms are floats: `p = 0` is L0 (its "radius" is a fraction of the coordinates) and
`p = inf` is L∞.  Sampling (REFERENCE.md §4) in the numerically stable form: with
`X ~ Gamma(1 + 1/p)` and `V ~ U(0, 1)`, `|g| = X^(1/p) · V` has the density ∝ exp(−|t|^p)
of `Gamma(1/p)^(1/p)` without drawing `Gamma(1/p)` (which underflows in float32 for large
p), and the normalisation `g / ‖g‖_p` is done in logs, so every p in (0, ∞] works in
float32.  (REFERENCE.md writes the factor as `V^(1/p)`; the exact identity
`Gamma(a) = Gamma(a + 1) · V^(1/a)` with a = 1/p gives `V^1`, which the moment test checks.)

L0 corruptions replace `round(ε·d)` coordinates chosen without replacement by random values:
`{0, 1}` ("binary", for testing) or uniform in [0, 1] ("uniform", for training).  Without an
image (`sample_ball`), an L0 sample has `round(ε·d)` nonzero coordinates uniform in [−1, 1],
the largest change the [0, 1] box allows.
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import xarray as xr
from scipy.special import gammaln
from torch import nn

from probe import cli, results
from probe.data import get_batch
from probe.errors import ParameterError
from probe.runner import run_chunked

L0_VALUES = ("binary", "uniform")
CIFAR_DIM = 3072
# Published imperceptible radii for CIFAR (d = 3072); other image sizes scale them by `scale_radius`.
IMPERCEPTIBLE_CIFAR = {math.inf: 0.01, 0.5: 25_000.0, 1.0: 25.0, 2.0: 0.5, 10.0: 0.03, 50.0: 0.02}
DEFAULT_NORMS = (0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 50.0, math.inf)
DEFAULT_LEVELS = 10
DEFAULT_MAX_STRENGTH = 0.2


# ----------------------------------------------------------------------------- norms

def parse_norm(text: str | float) -> float:
    """'L0', 'L0.5', 'L2', 'Linf' / 'inf' / 'L∞' (or a number) → p as a float (0: L0, inf: L∞)."""
    if isinstance(text, (int, float)):
        p = float(text)
    else:
        body = text.strip()
        body = body[1:] if body[:1] in ("L", "l") else body
        if body.lower() in ("inf", "∞", "max"):
            p = math.inf
        else:
            try:
                p = float(body)
            except ValueError:
                raise ParameterError(f"unknown norm '{text}' (expected L0, L0.5, L1, L2, ..., Linf)") from None
    if not p >= 0 or math.isnan(p):
        raise ParameterError(f"the norm exponent p must be in [0, inf], got {text}")
    return p


def norm_name(p: float) -> str:
    """The display name of a norm: 'L0', 'L0.5', 'L2', 'Linf'."""
    return "Linf" if math.isinf(p) else f"L{p:g}"


def _check_radius(p: float, eps: float) -> None:
    if not eps >= 0 or math.isinf(eps):
        raise ParameterError(f"the radius of a {norm_name(p)} ball must be finite and non-negative, got {eps}")
    if p == 0 and eps > 1:
        raise ParameterError(f"an L0 radius is a fraction of the coordinates in [0, 1], got {eps}")


def l0_count(eps: float | torch.Tensor, dim: int):
    """How many coordinates an L0 radius ε (a fraction) changes: round(ε·d), halves rounded up."""
    return torch.floor(eps * dim + 0.5).long() if isinstance(eps, torch.Tensor) else int(math.floor(eps * dim + 0.5))


def norm(v: torch.Tensor, p: float) -> torch.Tensor:
    """‖v‖_p over the last axis, overflow/underflow-safe; for p = 0 the *fraction* of nonzeros."""
    if p == 0:
        return (v != 0).sum(-1).to(v.dtype) / v.shape[-1]
    a = v.abs()
    top = a.amax(-1)
    if math.isinf(p):
        return top
    safe = torch.where(top > 0, top, torch.ones_like(top))
    total = ((a / safe[..., None]) ** p).sum(-1)
    return torch.where(top > 0, safe * torch.exp(torch.log(total) / p), torch.zeros_like(top))


# ----------------------------------------------------------------------------- sampling

@dataclass
class Draw:
    """The random numbers behind Lp samples, one row per (sample, norm).

    `unit` (…, d): a sample of the unit Lp ball (rows with p > 0); `rank` (…, d): the rank
    of each coordinate in a random order (L0 rows: ε changes the coordinates of rank
    < round(ε·d), so larger radii contain smaller ones); `value` (…, d): uniform [0, 1]
    numbers for the L0 replacement values.
    """

    unit: torch.Tensor
    rank: torch.Tensor
    value: torch.Tensor

    def to(self, device: torch.device) -> "Draw":
        return Draw(self.unit.to(device), self.rank.to(device), self.value.to(device))

    def row(self, j: int) -> "Draw":
        """The draws of norm j from draws shaped (n, norms, d)."""
        return Draw(self.unit[:, j], self.rank[:, j], self.value[:, j])


def draw(n: int, dim: int, ps: Sequence[float], generator: torch.Generator | None = None, *,
         sphere: bool = False, device: torch.device | str | None = None) -> Draw:
    """Random numbers for `n` samples of each norm in `ps`, shaped (n, len(ps), dim).

    Drawn on `generator.device` (else `device`, else CPU) in float32.
    """
    if n < 0 or dim <= 0:
        raise ParameterError(f"need n >= 0 samples and a positive dimension, got n={n}, dim={dim}")
    device = torch.device(generator.device if generator is not None else (device or "cpu"))
    ps = [float(q) for q in ps]
    shape = (n, len(ps), dim)
    finite = [j for j, q in enumerate(ps) if 0 < q < math.inf]
    cube = [j for j, q in enumerate(ps) if math.isinf(q)]
    l0 = [j for j, q in enumerate(ps) if q == 0]
    v = torch.rand(shape, generator=generator, device=device)
    w = torch.rand(shape, generator=generator, device=device)
    r = torch.rand((n, len(ps), 1), generator=generator, device=device)
    sign = torch.where(w < 0.5, -1.0, 1.0)
    unit = torch.zeros(shape, device=device)
    if finite:
        # |g| = X^(1/p) V with X ~ Gamma(1 + 1/p), normalised in logs; radius U^(1/d) unless on the sphere
        p = torch.tensor([ps[j] for j in finite], device=device)[None, :, None]
        x = torch._standard_gamma((1.0 + 1.0 / p).expand(n, len(finite), dim).contiguous(), generator=generator)
        log_g = torch.log(x) / p + torch.log(v[:, finite])
        log_norm = torch.logsumexp(p * log_g, dim=-1, keepdim=True) / p
        log_radius = 0.0 if sphere else torch.log(r[:, finite]) / dim
        unit[:, finite] = sign[:, finite] * torch.exp(log_g - log_norm + log_radius)
    if cube:
        # L∞: uniform in the cube; on its surface one uniformly chosen coordinate sits at ±1
        values = 2.0 * v[:, cube] - 1.0
        if sphere:
            face = torch.floor(r[:, cube] * dim).long().clamp_max(dim - 1)
            values = values.scatter(-1, face, torch.gather(sign[:, cube], -1, face))
        unit[:, cube] = values
    rank = torch.zeros(shape, dtype=torch.int32, device=device)
    if l0:
        order = torch.argsort(v[:, l0], dim=-1)
        positions = torch.arange(dim, dtype=torch.int32, device=device).expand(order.shape)
        rank[:, l0] = torch.empty_like(positions).scatter_(-1, order, positions)
    return Draw(unit, rank, w)


def _l0_mask(d: Draw, eps: float | torch.Tensor, dim: int) -> torch.Tensor:
    k = l0_count(eps if not isinstance(eps, torch.Tensor) else eps.to(d.rank.device), dim)
    if isinstance(k, torch.Tensor):
        k = k[..., None]
    return d.rank < k


def sample_ball(n: int, dim: int, p: float, eps: float, generator: torch.Generator | None = None,
                sphere: bool = False) -> torch.Tensor:
    """`n` points uniform in the Lp ball of radius `eps` in `dim` dimensions (on its sphere
    with `sphere=True`, for L0: exactly round(ε·d) nonzeros), as an (n, dim) float32 tensor
    on `generator.device` (CPU without a generator)."""
    _check_radius(p, eps)
    d = draw(n, dim, [p], generator, sphere=sphere).row(0)
    if p == 0:
        return torch.where(_l0_mask(d, eps, dim), 2.0 * d.value - 1.0, torch.zeros_like(d.value))
    return eps * d.unit


def sample_l0(n: int, dim: int, eps: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Boolean masks (n, dim), each with exactly round(ε·d) coordinates chosen without replacement."""
    _check_radius(0.0, eps)
    return _l0_mask(draw(n, dim, [0.0], generator).row(0), eps, dim)


def perturb(x: torch.Tensor | None, d: Draw, p: float, eps: float | torch.Tensor,
            l0_values: str = "binary") -> torch.Tensor:
    """The realised change of Lp noise of radius `eps` (scalar or one per row) from draws `d`.

    With images `x` (n, dim) in [0, 1], the noise is added and clipped (L0: coordinates
    replaced), and the change actually made is returned; without (`x=None`), the noise itself.
    """
    if l0_values not in L0_VALUES:
        raise ParameterError(f"L0 values must be one of {', '.join(L0_VALUES)}, got '{l0_values}'")
    eps_t = eps[..., None] if isinstance(eps, torch.Tensor) else eps
    if p == 0:
        mask = _l0_mask(d, eps, d.value.shape[-1])
        if x is None:
            return torch.where(mask, 2.0 * d.value - 1.0, torch.zeros_like(d.value))
        values = (d.value < 0.5).to(x.dtype) if l0_values == "binary" else d.value.to(x.dtype)
        return torch.where(mask, values, x) - x
    delta = eps_t * d.unit
    return delta if x is None else (x + delta).clamp(0.0, 1.0) - x


def corrupt(x: torch.Tensor, p: float, eps: float, generator: torch.Generator | None = None, *,
            l0_values: str = "binary") -> tuple[torch.Tensor, torch.Tensor]:
    """Independent random Lp corruptions of radius `eps` for every image of a batch.

    Returns the corrupted images (added, clipped to [0, 1]; L0 replaces round(ε·d) pixels
    by `l0_values`) and the realised norms of the changes (for L0: the changed fraction).
    Random numbers come from `generator` on its device and are moved to `x.device`.
    """
    _check_radius(p, eps)
    flat = x.reshape(len(x), -1)
    d = draw(len(x), flat.shape[1], [p], generator, device=x.device).row(0).to(x.device)
    change = perturb(flat, d, p, eps, l0_values)
    return (flat + change).clamp(0.0, 1.0).reshape(x.shape), norm(change, p)


def __getattr__(name: str):
    """`probe.lp.overlap` is `probe.overlap.overlap` (imported lazily: that module builds on this one)."""
    if name == "overlap":
        from probe.overlap import overlap
        return overlap
    raise AttributeError(f"module 'probe.lp' has no attribute '{name}'")


# ----------------------------------------------------------------------------- radii

def unit_rms(p: float, dim: int) -> float:
    """Root-mean-square coordinate of a uniform sample of the unit Lp ball in `dim` dimensions
    (large-d law: ‖u‖₂² ≈ d/(d+2) · d·E g² / (d/p)^(2/p), E g² = Γ(3/p)/Γ(1/p); L∞: 1/√3;
    L0 at radius ε: √(ε/3), the RMS of replacing a fraction ε of uniform pixels by {0, 1})."""
    if math.isinf(p):
        return 1.0 / math.sqrt(3.0)
    if p == 0:
        raise ParameterError("L0 radii are fractions; use equivalent_radius")
    log_sq = (math.log(dim / (dim + 2.0)) + gammaln(3.0 / p) - gammaln(1.0 / p) - (2.0 / p) * math.log(dim / p))
    return math.exp(0.5 * log_sq)


def equivalent_radius(p: float, strength: float, dim: int) -> float:
    """The Lp radius whose uniform noise changes pixels by `strength` RMS (the default-grid rule).

    For CIFAR (d = 3072) the L2 ball of radius 4 has strength 4/√3072 ≈ 0.072, and this rule
    gives the published 50 %-overlap radii (L∞ 0.125, L1 157, L0.5 2.5e5, L10 0.228, L0 0.016).
    """
    if strength < 0:
        raise ParameterError(f"noise strength must be non-negative, got {strength}")
    if p == 0:
        return min(1.0, 3.0 * strength ** 2)
    return strength / unit_rms(p, dim)


def scale_radius(p: float, eps: float, dim: int, from_dim: int = CIFAR_DIM) -> float:
    """A radius for `from_dim` moved to `dim` at equal RMS pixel change (L0 fractions unchanged)."""
    if p == 0:
        return eps
    return eps * unit_rms(p, from_dim) / unit_rms(p, dim)


# ----------------------------------------------------------------------------- the probe

def sample_seed(seed: int, index: int) -> int:
    """The seed of sample `index`'s noise: independent of chunking, batch size and resumption."""
    return int(np.random.SeedSequence([int(seed), int(index), 0x4C50]).generate_state(1, np.uint64)[0])


def sample_draws(indices: np.ndarray, dim: int, norms: Sequence[float], seed: int, device: torch.device) -> Draw:
    """Draws (n, norms, dim) with each sample's random numbers from its own seeded generator.

    Only the random-number calls run per sample (a generator cannot be batched); all the
    arithmetic on them is batched.
    """
    generator_device = device if device.type == "cuda" else torch.device("cpu")
    parts = [draw(1, dim, norms, torch.Generator(device=generator_device).manual_seed(sample_seed(seed, i)))
             for i in indices]
    return Draw(*(torch.cat([getattr(q, f) for q in parts]).to(device) for f in ("unit", "rank", "value")))


@torch.no_grad()
def evaluate(model: nn.Module, dataset, indices: np.ndarray, *, norms: Sequence[float] = DEFAULT_NORMS,
             strengths: Sequence[float] | None = None, imperceptible: dict[float, float] | None = None,
             seed: int = 0, batch_size: int = 128, device: torch.device | str = "cpu", l0_values: str = "binary",
             out=None, resume: bool = False, progress=None, attrs: dict | None = None) -> xr.Dataset:
    """Accuracy under random Lp corruptions over norms × noise strengths, mCE_Lp and iCE.

    The radius of norm p at strength s (RMS pixel change) is `equivalent_radius(p, s, d)`;
    `imperceptible` maps norms to radii for iCE (default: the published CIFAR radii moved to
    this image size by `scale_radius`).  Every (sample, norm) uses one unit-radius draw scaled
    to each radius.  Runs in chunks of `batch_size` samples through `probe.runner.run_chunked`.
    """
    device = torch.device(device)
    norms = [float(p) for p in norms]
    strengths = [float(s) for s in (strengths if strengths is not None else
                                    np.linspace(DEFAULT_MAX_STRENGTH / DEFAULT_LEVELS, DEFAULT_MAX_STRENGTH, DEFAULT_LEVELS))]
    if not norms or not strengths:
        raise ParameterError("need at least one norm and one strength")
    x0, _ = get_batch(dataset, [int(indices[0])])
    dim = x0[0].numel()
    if imperceptible is None:
        imperceptible = {p: scale_radius(p, eps, dim) for p, eps in IMPERCEPTIBLE_CIFAR.items()}
    imperceptible = {float(p): float(eps) for p, eps in imperceptible.items()}
    radius = np.array([[equivalent_radius(p, s, dim) for s in strengths] for p in norms])
    for p, row in zip(norms, radius):
        for eps in row:
            _check_radius(p, eps)
    for p, eps in imperceptible.items():
        _check_radius(p, eps)
    rows = list(dict.fromkeys(norms + list(imperceptible)))
    model.eval()

    def compute(chunk: np.ndarray) -> xr.Dataset:
        x, y = get_batch(dataset, chunk)
        x, y = x.to(device), y.to(device)
        flat = x.reshape(len(x), -1)
        draws = sample_draws(chunk, dim, rows, seed, device)

        def correct(p: float, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
            change = perturb(flat, draws.row(rows.index(p)), p, eps, l0_values)
            images = (flat + change).clamp(0.0, 1.0).reshape(x.shape)
            return model(images).argmax(1) == y, norm(change, p)

        hits = torch.zeros(len(chunk), len(norms), len(strengths), dtype=torch.bool, device=device)
        realised = torch.zeros(len(chunk), len(norms), len(strengths), device=device)
        for j, p in enumerate(norms):
            for k, eps in enumerate(radius[j]):
                hits[:, j, k], realised[:, j, k] = correct(p, float(eps))
        hidden = torch.stack([correct(p, eps)[0] for p, eps in imperceptible.items()], 1)
        clean = model(x).argmax(1) == y
        return xr.Dataset(
            {"correct": (("sample", "p", "epsilon"), hits.cpu().numpy(),
                         {"long_name": "correctly classified under the corruption"}),
             "realised_norm": (("sample", "p", "epsilon"), realised.cpu().numpy(),
                               {"long_name": "realised norm of the clipped corruption",
                                "units": "Lp norm (L0: fraction of pixels)"}),
             "clean_correct": ("sample", clean.cpu().numpy(), {"long_name": "correctly classified, clean"}),
             "imperceptible_correct": (("sample", "imperceptible"), hidden.cpu().numpy(),
                                       {"long_name": "correctly classified under imperceptible noise"}),
             "label": ("sample", y.cpu().numpy(), {"long_name": "true class"})},
            coords={"sample": chunk, "p": norms, "epsilon": strengths, "imperceptible": list(imperceptible),
                    "radius": (("p", "epsilon"), radius, {"long_name": "radius of the Lp ball",
                                                           "units": "Lp norm (L0: fraction of pixels)"}),
                    "imperceptible_radius": ("imperceptible", list(imperceptible.values()),
                                             {"long_name": "imperceptible radius", "units": "Lp norm"})})

    parameters = {"norms": norms, "strengths": strengths, "imperceptible": {norm_name(p): e for p, e in imperceptible.items()},
                  "l0_values": l0_values, "seed": seed}
    attrs = dict(attrs or results.provenance("lp", parameters, model=model, seed=seed, device=device))
    ds = run_chunked(compute, indices, attrs, chunk_size=batch_size, out=out, resume=resume, progress=progress)
    ds = summarise(ds)
    if out is not None:
        results.save(ds, out)
    return ds


def summarise(ds: xr.Dataset) -> xr.Dataset:
    """Add accuracy(p, epsilon), clean accuracy, mCE_Lp and iCE to a per-sample result."""
    ds = ds.drop_vars([v for v in ("accuracy", "clean_accuracy", "mce_lp", "imperceptible_accuracy", "ice")
                       if v in ds], errors="ignore")
    acc = 100.0 * ds["correct"].astype(float).mean("sample")
    clean = float(100.0 * ds["clean_correct"].astype(float).mean())
    hidden = 100.0 * ds["imperceptible_correct"].astype(float).mean("sample")
    clean_error, hidden_error = 100.0 - clean, float(100.0 - hidden.mean())
    if clean_error > 0:
        ice = 100.0 * (hidden_error - clean_error) / clean_error
    else:
        ice = math.inf if hidden_error > 0 else 0.0
    ds["accuracy"] = acc.assign_attrs(long_name="accuracy under random Lp corruption", units="%")
    ds["clean_accuracy"] = xr.DataArray(clean, attrs={"long_name": "clean accuracy", "units": "%"})
    ds["mce_lp"] = xr.DataArray(100.0 - float(acc.mean()),
                                attrs={"long_name": "mCE_Lp: 100 - mean accuracy over the grid", "units": "%"})
    ds["imperceptible_accuracy"] = hidden.assign_attrs(long_name="accuracy under imperceptible noise", units="%")
    ds["ice"] = xr.DataArray(ice, attrs={"long_name": "iCE: relative increase of the error under imperceptible "
                                                      "noise (+inf when the clean error is 0)", "units": "%"})
    ds["epsilon"].attrs.update(long_name="noise strength (RMS pixel change of the unclipped noise)", units="pixel value")
    return ds


# ----------------------------------------------------------------------------- command line

def parse_radius_spec(text: str) -> tuple[float, float]:
    """'L2:0.25' → (2.0, 0.25)."""
    name, sep, value = text.partition(":")
    try:
        eps = float(value) if sep else None
    except ValueError:
        eps = None
    if eps is None:
        raise ParameterError(f"expected NORM:RADIUS (e.g. L2:0.25), got '{text}'")
    p = parse_norm(name)
    _check_radius(p, eps)
    return p, eps


def build_parser() -> argparse.ArgumentParser:
    parser = cli.make_parser("python -m probe.lp", "Accuracy under random Lp-norm corruptions: norms × radii, "
                             "mCE_Lp and iCE.")
    parser.add_argument("--norms", nargs="+", default=[norm_name(p) for p in DEFAULT_NORMS],
                        help="norms of the grid (default: %(default)s)")
    parser.add_argument("--levels", type=int, default=DEFAULT_LEVELS, help="radii per norm (default: %(default)s)")
    parser.add_argument("--max-strength", type=float, default=DEFAULT_MAX_STRENGTH,
                        help="largest noise strength, as RMS pixel change; the levels are equally spaced up to it, "
                             "and each norm's radius is the one with that RMS (default: %(default)s)")
    parser.add_argument("--imperceptible", nargs="+", metavar="NORM:RADIUS",
                        help="imperceptible radii for iCE, for this image size (default: the published CIFAR "
                             "radii Linf:0.01 L0.5:25000 L1:25 L2:0.5 L10:0.03 L50:0.02 scaled to equal RMS)")
    parser.add_argument("--l0-values", choices=L0_VALUES, default="binary",
                        help="values that L0 noise writes into pixels (default: %(default)s)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run from --out")
    return parser


def run(args: argparse.Namespace) -> xr.Dataset:
    if args.levels <= 0 or not args.max_strength > 0:
        raise ParameterError("--levels and --max-strength must be positive")
    device, model, dataset, indices = cli.setup(args)
    norms = [parse_norm(name) for name in args.norms]
    strengths = np.linspace(args.max_strength / args.levels, args.max_strength, args.levels).tolist()
    imperceptible = dict(parse_radius_spec(s) for s in args.imperceptible) if args.imperceptible else None
    parameters = {"norms": args.norms, "levels": args.levels, "max_strength": args.max_strength,
                  "imperceptible": args.imperceptible, "l0_values": args.l0_values, "n": args.n}
    attrs = results.provenance("lp", parameters, model=model, data=args.data, split=args.split, seed=args.seed,
                               device=device)
    bar = cli.progress_bar(len(indices), "lp", args.quiet)
    ds = evaluate(model, dataset, indices, norms=norms, strengths=strengths, imperceptible=imperceptible,
                  seed=args.seed, batch_size=args.batch_size, device=device, l0_values=args.l0_values,
                  out=args.out, resume=args.resume, progress=bar.update, attrs=attrs)
    bar.close()
    if not args.quiet:
        rows = [[norm_name(p), float(ds["radius"].sel(p=p)[-1]), float(ds["accuracy"].sel(p=p).mean()),
                 float(ds["accuracy"].sel(p=p)[-1])] for p in norms]
        print(cli.format_table(["norm", "largest radius", "mean acc (%)", "acc at largest (%)"], rows))
        print(f"clean accuracy {float(ds['clean_accuracy']):.2f}%   mCE_Lp {float(ds['mce_lp']):.2f}   "
              f"iCE {float(ds['ice']):.2f}%")
    cli.save_outputs(ds, args)
    return ds


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_command(build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
