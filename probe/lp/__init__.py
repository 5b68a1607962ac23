"""Accuracy under random Lp-norm noise: norms × noise strengths, mCE_Lp and iCE.

The method (uniform noise in Lp balls, mCE_Lp over a grid of norms and radii, iCE at imperceptible
radii) follows Siedel, Shen, Vock and Morozov (2024, "Investigating the corruption robustness of image
classifiers with random Lp-norm corruptions").

    ds = probe.lp.run(model, data, n=500, norms=["L0", "L2", "Linf"], levels=10)
    probe.lp.summary(ds)          # clean_accuracy, mce_lp, ice, non_finite, ...

A noise *strength* is an RMS pixel change; the radius of norm p at strength s is the one whose
uniform noise has that RMS (`probe.balls.equivalent_radius`), so one strength axis serves every
norm.  Each (sample, norm) uses one unit-radius draw, seeded by the run seed and the sample's
dataset index only (never by chunk or batch), scaled to every radius.  iCE compares the error
under imperceptible noise (default: the published CIFAR radii moved to this image size) with
the clean error.  A (sample, norm, strength) cell whose logits are not finite is flagged
(`finite = False`) and left out of the accuracies; nothing is NaN.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import torch
import xarray as xr
from torch import nn

from probe import ranges, runner, seeding, stats
from probe.balls import (
    L0_VALUES,
    Draw,
    ball_name,
    check_radius,
    draw,
    equivalent_radius,
    norm,
    norm_name,
    parse_ball,
    parse_norm,
    parse_norms,
    perturb,
    scale_radius,
)
from probe.errors import ParameterError
from probe.execution import Execution, Unpack, check
from probe.logits import accuracy, classify
from probe.results import variable

PROBE = "lp"
CHUNK_SIZE = 128    # samples per stored chunk
BATCH_SIZE = 128    # images per forward pass
SEED_KEY = 0x4C50   # "LP": the noise of sample i comes from seeding.generator(seed, i, SEED_KEY)
DEFAULT_NORMS = ("L0", "L0.5", "L1", "L2", "L3", "L5", "L10", "L50", "Linf")
DEFAULT_LEVELS = 10
DEFAULT_MAX_STRENGTH = 0.2
# Published imperceptible radii for CIFAR (d = 3072); other image sizes scale them by `scale_radius`.
IMPERCEPTIBLE_CIFAR = {math.inf: 0.01, 0.5: 25_000.0, 1.0: 25.0, 2.0: 0.5, 10.0: 0.03, 50.0: 0.02}
RADIUS_UNITS = "Lp norm (L0: fraction of pixels)"


# ----------------------------------------------------------------------------- options

def noise_strengths(levels: int, max_strength: float, strengths: Sequence[float] | None = None) -> list[float]:
    """`strengths` as given, else `levels` equally spaced strengths up to `max_strength`."""
    if strengths is None:
        ranges.check(levels=(levels, ranges.integer(1)), max_strength=(max_strength, ranges.POSITIVE))
        return np.linspace(max_strength / levels, max_strength, int(levels)).tolist()
    ranges.check(strengths=(list(strengths), ranges.NON_NEGATIVE))
    values = [float(s) for s in strengths]
    if len(set(values)) != len(values):
        raise ParameterError(f"strengths must be distinct, got {values}")
    return values


def imperceptible_radii(spec: Sequence[str] | Mapping | str | None, dim: int) -> dict[float, float]:
    """Imperceptible balls {p: radius} for iCE, from 'NORM:RADIUS' texts (a list, or one string),
    a mapping {norm: radius}, or None: the published CIFAR radii moved to dimension `dim`."""
    if spec is None:
        return {p: scale_radius(p, radius, dim) for p, radius in IMPERCEPTIBLE_CIFAR.items()}
    if isinstance(spec, Mapping):
        pairs = [(parse_norm(p), float(radius)) for p, radius in spec.items()]
        for p, radius in pairs:
            check_radius(p, radius)
    else:
        pairs = [parse_ball(text) for text in (spec.replace(",", " ").split() if isinstance(spec, str) else spec)]
    balls = dict(pairs)
    if not balls or len(balls) != len(pairs):
        raise ParameterError("imperceptible noise needs at least one NORM:RADIUS and one radius per norm")
    return balls


# ----------------------------------------------------------------------------- noise

def sample_draws(indices: np.ndarray, dim: int, norms: Sequence[float], seed: int, device: torch.device) -> Draw:
    """Draws (n, norms, dim), each sample's from its own generator `seeding.generator(seed, index, SEED_KEY)`.

    Only the random-number calls run per sample (a generator cannot be batched); all the
    arithmetic on them is batched.
    """
    parts = [draw(1, dim, norms, seeding.generator(seed, int(i), SEED_KEY, device=device)) for i in indices]
    return Draw.cat(parts, device)


def _compute(model: nn.Module, norms: list[float], strengths: list[float], radius: np.ndarray,
             imperceptible: dict[float, float], l0_values: str, seed: int) -> runner.Compute:
    """The per-chunk computation: every sample under every noise cell, the imperceptible balls
    and clean, forward passes of at most `chunk.batch_size` images across cells."""
    rows = list(dict.fromkeys(norms + list(imperceptible)))   # norms of the draws, in a fixed order
    grid = [(p, float(r), rows.index(p)) for p, line in zip(norms, radius) for r in line]
    hidden = [(p, r, rows.index(p)) for p, r in imperceptible.items()]
    jobs = grid + hidden + [(None, 0.0, -1)]                   # None: the clean image

    @torch.no_grad()
    def compute(chunk: runner.Chunk) -> xr.Dataset:
        n = len(chunk.indices)
        flat = chunk.x.reshape(n, -1)
        draws = sample_draws(chunk.indices, flat.shape[1], rows, seed, chunk.device)
        total = len(jobs) * n                                   # row j·n + i: sample i in job j
        prediction = torch.empty(total, dtype=torch.long, device=chunk.device)
        finite_rows = torch.empty(total, dtype=torch.bool, device=chunk.device)
        realised_rows = torch.zeros(total, device=chunk.device)
        for start in range(0, total, chunk.batch_size):
            stop = min(start + chunk.batch_size, total)
            images = []
            for job in range(start // n, (stop - 1) // n + 1):
                lo, hi = max(start, job * n), min(stop, (job + 1) * n)
                x = flat[lo - job * n:hi - job * n]
                p, r, row = jobs[job]
                if p is None:
                    images.append(x)
                    continue
                change = perturb(x, draws.row(row).select(slice(lo - job * n, hi - job * n)), p, r, l0_values)
                realised_rows[lo:hi] = norm(change, p)
                images.append((x + change).clamp(0.0, 1.0))
            logits = model(torch.cat(images).reshape(stop - start, *chunk.x.shape[1:]))
            prediction[start:stop], finite_rows[start:stop] = classify(logits)
        correct = (prediction.view(len(jobs), n) == chunk.y[None]).cpu().numpy()
        finite = finite_rows.view(len(jobs), n).cpu().numpy()
        realised = realised_rows.view(len(jobs), n).cpu().numpy()
        cells, shape = len(grid), (len(norms), radius.shape[1], n)

        def on_grid(values: np.ndarray) -> np.ndarray:
            return values[:cells].reshape(shape).transpose(2, 0, 1)

        grid_dims, hidden_dims = ("sample", "p", "strength"), ("sample", "imperceptible")
        return xr.Dataset({
            "correct": variable(grid_dims, on_grid(correct),
                                "correctly classified under the noise (False where the logits are not finite)"),
            "finite": variable(grid_dims, on_grid(finite), "all logits finite under the noise"),
            "realised_norm": variable(grid_dims, on_grid(realised), "realised norm of the clipped noise",
                                      RADIUS_UNITS),
            "imperceptible_correct": variable(hidden_dims, correct[cells:-1].T,
                                              "correctly classified under imperceptible noise"),
            "imperceptible_finite": variable(hidden_dims, finite[cells:-1].T,
                                             "all logits finite under imperceptible noise"),
            "clean_correct": variable("sample", correct[-1], "correctly classified, clean"),
            "clean_finite": variable("sample", finite[-1], "all logits finite, clean"),
            "label": variable("sample", chunk.y.cpu().numpy(), "true class"),
        }, coords={
            "sample": chunk.indices,
            "p": variable("p", norms, "norm exponent (0: L0, inf: L∞)"),
            "strength": variable("strength", strengths, "noise strength (RMS pixel change of the unclipped noise)",
                                 "pixel value"),
            "radius": variable(("p", "strength"), radius, "radius of the Lp ball", RADIUS_UNITS),
            "imperceptible": variable("imperceptible", list(imperceptible), "norm exponent of imperceptible noise"),
            "imperceptible_radius": variable("imperceptible", list(imperceptible.values()),
                                             "radius of the imperceptible ball", RADIUS_UNITS),
        })

    return compute


def radii(norms: list[float], strengths: list[float], dim: int) -> np.ndarray:
    """radius[p, strength]: the radius of each norm at each strength (`equivalent_radius`), checked."""
    radius = np.array([[equivalent_radius(p, s, dim) for s in strengths] for p in norms])
    for p, line in zip(norms, radius):
        for r in line:
            check_radius(p, float(r))
    return radius


# ----------------------------------------------------------------------------- the probe

def run(model: nn.Module, data: Any, *, norms: Sequence[str | float] | str = DEFAULT_NORMS,
        levels: int = DEFAULT_LEVELS, max_strength: float = DEFAULT_MAX_STRENGTH,
        strengths: Sequence[float] | None = None, imperceptible: Sequence[str] | Mapping | str | None = None,
        l0_values: str = "binary", **execution: Unpack[Execution]) -> xr.Dataset:
    """Accuracy under random Lp noise of every norm at every strength: a (sample, p, strength) result.

    `norms`: names ('L0', 'L0.5', 'Linf') or exponents; `strengths`: the noise strengths (RMS
    pixel change), by default `levels` equally spaced up to `max_strength` (`levels` and
    `max_strength` are not used when `strengths` is given); `imperceptible`: the balls of iCE
    as 'NORM:RADIUS' texts or {norm: radius} (default: the published CIFAR radii at equal RMS
    for this image size); `l0_values`: what L0 noise writes into pixels, 'binary' {0, 1} or
    'uniform'.  `batch_size` caps the images of one forward pass; the shared options (`n`,
    `seed`, `device`, `out`, ...) are documented in `probe.execution.Execution`.
    """
    execution = check(run, execution)
    model = runner.classifier(model)
    if l0_values not in L0_VALUES:
        raise ParameterError(f"l0_values must be one of {', '.join(L0_VALUES)}, got '{l0_values}'")
    ps = parse_norms(norms)
    grid = noise_strengths(levels, max_strength, strengths)

    def prepare(context: runner.Context) -> runner.Plan:
        dim = int(np.prod(context.shape))
        hidden = imperceptible_radii(imperceptible, dim)
        radius = radii(ps, grid, dim)
        options = {"norms": [norm_name(p) for p in ps], "levels": levels, "max_strength": max_strength,
                   "strengths": grid, "imperceptible": [ball_name(p, r) for p, r in hidden.items()],
                   "l0_values": l0_values}
        return runner.Plan(_compute(model, ps, grid, radius, hidden, l0_values, context.seed), options,
                           finalize=finalize, chunk_size=CHUNK_SIZE, batch_size=BATCH_SIZE)

    return runner.run(PROBE, model, data, prepare, **execution)


def ice(clean_accuracy: npt.ArrayLike, imperceptible_accuracy: npt.ArrayLike) -> float | np.ndarray:
    """iCE (%): relative increase of the error under imperceptible noise over the clean error;
    +inf when the clean error is 0 and the imperceptible error is not, 0 when both are 0.
    Takes numbers or arrays (elementwise) and returns the same."""
    clean_error = 100.0 - np.asarray(clean_accuracy, dtype=np.float64)
    hidden_error = 100.0 - np.asarray(imperceptible_accuracy, dtype=np.float64)
    some = clean_error > 0
    relative = 100.0 * (hidden_error - clean_error) / np.where(some, clean_error, 1.0)
    value = np.where(some, relative, np.where(hidden_error > 0, math.inf, 0.0))
    return float(value) if value.ndim == 0 else value


def finalize(ds: xr.Dataset) -> xr.Dataset:
    """Add accuracy(p, strength), clean accuracy, mCE_Lp, imperceptible accuracy and iCE."""
    grid = cast(np.ndarray, accuracy(ds["correct"].values, ds["finite"].values))   # (p, strength)
    clean = float(accuracy(ds["clean_correct"].values, ds["clean_finite"].values))
    hidden = cast(np.ndarray, accuracy(ds["imperceptible_correct"].values, ds["imperceptible_finite"].values))
    ds["accuracy"] = variable(("p", "strength"), grid,
                              "accuracy under random Lp noise (over samples with finite logits)", "%")
    ds["clean_accuracy"] = variable((), clean, "clean accuracy (over samples with finite logits)", "%")
    ds["mce_lp"] = variable((), 100.0 - float(grid.mean()), "mCE_Lp: 100 - mean accuracy over the grid", "%")
    ds["imperceptible_accuracy"] = variable("imperceptible", hidden, "accuracy under imperceptible noise", "%")
    ds["ice"] = variable((), ice(clean, float(hidden.mean())),
                         "iCE: relative increase of the error under imperceptible noise "
                         "(+inf when the clean error is 0 and the imperceptible error is not)", "%")
    return ds


def derived(ds: xr.Dataset, counts: np.ndarray) -> np.ndarray:
    """Per bootstrap replicate (rows of resampling `counts`, see `probe.stats.bootstrap`): mCE_Lp,
    iCE and the mean imperceptible accuracy (%), as in `finalize`."""
    grid = 100.0 * stats.weighted_share(counts, ds["correct"].values, ds["finite"].values)
    clean = 100.0 * stats.weighted_share(counts, ds["clean_correct"].values, ds["clean_finite"].values)
    hidden = 100.0 * stats.weighted_share(counts, ds["imperceptible_correct"].values,
                                          ds["imperceptible_finite"].values).mean(axis=1)
    return np.stack([100.0 - grid.reshape(len(counts), -1).mean(axis=1), ice(clean, hidden), hidden], axis=1)


def summary(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> dict[str, float | int]:
    """Clean accuracy, mCE_Lp, iCE (+inf: zero clean error but some imperceptible error), mean
    imperceptible accuracy (all in %), the samples, the samples whose clean logits are not
    finite, and the noisy cells (grid and imperceptible) whose logits are not finite.  Each
    number has `_low` and `_high` at `confidence`: Wilson for the clean accuracy, a paired
    percentile bootstrap over samples for the others."""
    n = int(ds.sizes["sample"])
    numbers: dict[str, float | int] = {"samples": n, **stats.entries(
        "clean_accuracy", stats.percent(ds["clean_correct"].values, ds["clean_finite"].values, confidence))}
    low, high = stats.bootstrap(lambda counts: derived(ds, counts), n, confidence)
    values = (float(ds["mce_lp"]), float(ds["ice"]), float(ds["imperceptible_accuracy"].mean()))
    for i, name in enumerate(("mce_lp", "ice", "imperceptible_accuracy")):
        numbers.update(stats.entries(name, stats.Estimate(values[i], float(low[i]), float(high[i]), n)))
    numbers["non_finite"] = int((~ds["clean_finite"].values).sum())
    numbers["non_finite_cells"] = int((~ds["finite"].values).sum() + (~ds["imperceptible_finite"].values).sum())
    return numbers
