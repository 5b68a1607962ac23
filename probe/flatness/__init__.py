"""Loss flatness around trained weights: sphere Monte Carlo, Hessian spectrum, landscape slices.

Sphere flatness as in Cha et al. (2021, "SWAD: domain generalization by seeking flat minima"); filter
normalisation and landscape slices as in Li et al. (2018, "Visualizing the loss landscape of neural
nets", §4); the Hessian probes as in Yao et al. (2020, "PyHessian", §3).

- **Sphere flatness** F(γ) = E_{‖Δ‖=γ} L(θ + Δ) − L(θ): Δ = γu with u a normalised
  Gaussian over all trainable parameters (or a filter-normalised direction), each u used
  as a ± pair (the pair mean cancels the gradient term), averaged over directions with a
  standard error, on one fixed seeded data subset.
- **Filter-normalised directions**: each filter (first axis of a weight) of a Gaussian
  direction is rescaled to the norm of the matching weight filter, so scale-invariant
  (BN) networks compare fairly; biases and BN parameters are not moved unless asked.
- **Landscape slices** in 1-D and 2-D along filter-normalised directions or towards a
  second model.
- **Hessian probes** (`probe.hessian`): top eigenvalues, Hutchinson trace, SLQ density.

    ds = probe.flatness.run(model, data, n=500, directions=20, filter_norm=True, hessian="top:3,trace")
    probe.flatness.summary(ds)        # {"loss": ..., "flatness": ..., "top_eigenvalue": ..., ...}

The helpers work on tensors directly: `sphere_flatness`, `landscape`, `hessian_probes`
(`probe.flatness.measures`) and the directions (`probe.flatness.directions`).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from probe import hessian as curvature
from probe import params as P
from probe import progress as progress_sinks
from probe import ranges, runner, stats
from probe.errors import ParameterError
from probe.execution import Execution, Unpack, check
from probe.flatness.directions import (
    FLATNESS_STREAM,
    LANDSCAPE_STREAM,
    check_same_shapes,
    direction_generator,
    direction_towards,
    filter_normalized_direction,
    make_direction,
    sphere_direction,
)
from probe.flatness.measures import DataLoss, hessian_probes, landscape, sphere_flatness
from probe.models import weights_sha256
from probe.results import variable

PROBE = "flatness"
BATCH_SIZE = 256    # images per forward pass (the working batch cap)
HVP_ROW_COST = 5.0  # a Hessian-vector product (double backward) keeps about four activation-sized tensors per image
DEFAULT_RADII = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0)
DEFAULT_RELATIVE_RADII = (0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2)
LANDSCAPES = ("1d", "2d")


def resolved_radii(radii: Sequence[float] | None, filter_norm: bool) -> tuple[float, ...]:
    """The radii as given, else the defaults (relative ones for filter-normalised directions)."""
    if radii:
        return tuple(float(r) for r in radii)
    return DEFAULT_RELATIVE_RADII if filter_norm else DEFAULT_RADII


def loss_evaluations(*, radii: Sequence[float] | None = None, directions: int = 50, filter_norm: bool = False,
                     landscape: str | None = None, points: int = 21) -> int:
    """Loss evaluations a run makes (what its `progress` counts): ± pairs over radii and
    directions, plus the landscape grid (Hessian-vector products are not counted)."""
    count = 2 * len(resolved_radii(radii, filter_norm)) * directions if directions else 0
    if landscape:
        count += points ** (2 if landscape == "2d" else 1)
    return count


def _pair(value: Sequence[float], name: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be two numbers (low, high), got {value!r}") from None
    ranges.check(**{name: ([low, high], ranges.FINITE)})
    return low, high


def _options(model: nn.Module, *, radii: Sequence[float] | None, directions: int, filter_norm: bool,
             include_bias_bn: bool, hessian: str, eig_method: str, max_iter: int, tol: float, density_probes: int,
             landscape: str | None, towards: nn.Module | None, alpha_range: Sequence[float] | None,
             beta_range: Sequence[float], points: int) -> dict[str, Any]:
    """Check every option before any work; return them resolved, as the result records them."""
    radii = resolved_radii(radii, filter_norm)
    ranges.check(directions=(directions, ranges.integer(0)), radii=(radii, ranges.POSITIVE),
                 max_iter=(max_iter, ranges.integer(1)), tol=(tol, ranges.POSITIVE),
                 density_probes=(density_probes, ranges.integer(1)), points=(points, ranges.integer(2)))
    if directions == 1:
        raise ParameterError("directions must be 0 or at least 2, got 1")
    spec = curvature.parse_hessian_spec(hessian)
    if eig_method not in curvature.METHODS:
        raise ParameterError(f"unknown eigenvalue method '{eig_method}' (expected {', '.join(curvature.METHODS)})")
    if landscape not in (None, *LANDSCAPES):
        raise ParameterError(f"landscape must be 1d or 2d, got '{landscape}'")
    if not directions and not spec and not landscape:
        raise ParameterError("nothing to compute: directions 0 without hessian or landscape")
    if towards is not None:
        if not landscape:
            raise ParameterError("towards needs landscape 1d or 2d")
        if not isinstance(towards, nn.Module):
            raise ParameterError(f"towards must be a model (nn.Module), got {type(towards).__name__}")
        check_same_shapes(model, towards)
    default_alpha = (-0.5, 1.5) if towards is not None else (-1.0, 1.0)
    return dict(radii=list(radii), directions=int(directions), filter_norm=bool(filter_norm),
                include_bias_bn=bool(include_bias_bn), hessian=",".join(f"{k}:{v}" for k, v in spec.items()),
                eig_method=eig_method, max_iter=int(max_iter), tol=float(tol), density_probes=int(density_probes),
                landscape=landscape, towards=weights_sha256(towards) if towards is not None else None,
                alpha_range=list(_pair(alpha_range, "alpha_range") if alpha_range is not None else default_alpha),
                beta_range=list(_pair(beta_range, "beta_range")), points=int(points))


def run(model: nn.Module, data: Any, *, radii: Sequence[float] | None = None, directions: int = 50,
        filter_norm: bool = False, include_bias_bn: bool = False, hessian: str = "", eig_method: str = "lanczos",
        max_iter: int = 100, tol: float = 1e-3, density_probes: int = 3, landscape: str | None = None,
        towards: nn.Module | None = None, alpha_range: Sequence[float] | None = None,
        beta_range: Sequence[float] = (-1.0, 1.0), points: int = 21, **execution: Unpack[Execution]) -> xr.Dataset:
    """Flatness, Hessian and landscape results on one fixed subset of the data.

    Every selected sample goes into one loss (a single chunk).  `radii` default to
    1..10 (plain, parameter units) or 0.02..0.2 (`filter_norm`, relative to the filter
    norms); `directions` ± pairs (0: no sweep); `include_bias_bn` also moves biases and BN
    parameters in filter-normalised directions; `hessian` is 'top:K,trace[:M],density[:STEPS]'
    (eigenvalues by `eig_method` 'lanczos' or 'power' with `max_iter`, `tol`; SLQ with
    `density_probes` vectors); `landscape` '1d' or '2d' slices of `points` per axis over
    `alpha_range` (default (-1, 1); towards a second model (-0.5, 1.5)) and `beta_range`
    along filter-normalised directions, the first one towards the weights of `towards` (a
    model of the same architecture) when given; it is recorded by its SHA-256.
    `batch_size` caps the images per forward pass (default 256).

    `progress` (True, False/None, a callable or a `probe.progress` sink) counts loss evaluations,
    not samples, as the sweep and the landscape go (the total is `loss_evaluations(...)`); the
    phases (directions, Hessian-vector products, landscape) are named as they start.

    Non-finite values: a sample whose logits or loss at the trained weights are not finite
    gets `finite = False` and `sample_loss = +inf` and is left out of every loss (sweep,
    Hessian, landscape); a non-finite loss at a perturbed point is `+inf` with a flag
    (`direction_finite`, `<landscape>_finite`), and F(γ) is `+inf` where any of its
    directions is (see `sphere_flatness`); a non-finite Hessian-vector product gives `+inf`
    eigenvalues and trace with `hessian_finite = False`.

    The shared options (`n`, `seed`, `device`, `out`, `resume`, ...) are documented in
    `probe.execution.Execution`; the single chunk takes no `shard`.
    """
    execution = check(run, execution, excluded=("shard",))
    model = runner.classifier(model)
    options = _options(model, radii=radii, directions=directions, filter_norm=filter_norm,
                       include_bias_bn=include_bias_bn, hessian=hessian, eig_method=eig_method, max_iter=max_iter,
                       tol=tol, density_probes=density_probes, landscape=landscape, towards=towards,
                       alpha_range=alpha_range, beta_range=beta_range, points=points)
    progress = execution["progress"]
    execution["progress"] = None   # the sink counts loss evaluations, not samples: the runner gets none
    sink = progress_sinks.resolve(progress, PROBE, loss_evaluations(
        radii=radii, directions=directions, filter_norm=filter_norm, landscape=landscape, points=points), "evaluation")
    plan = runner.Plan(_compute(model, towards, options, execution["seed"], sink), options, row_cost=HVP_ROW_COST,
                       chunk_size=None, batch_size=BATCH_SIZE)
    try:
        return runner.run(PROBE, model, data, plan, **execution)
    finally:
        if sink is not progress:
            sink.close()


def _compute(model: nn.Module, towards: nn.Module | None, o: dict, seed: int,
             progress: progress_sinks.Sink) -> runner.Compute:
    def compute(chunk: runner.Chunk) -> xr.Dataset:
        with P.preserved(model):
            losses, finite_rows = DataLoss(model, chunk.x, chunk.y, batch_size=chunk.batch_size).per_sample()
        x, y = (chunk.x, chunk.y) if bool(finite_rows.all()) else (chunk.x[finite_rows], chunk.y[finite_rows])
        finite = finite_rows.cpu().numpy()
        parts = []
        if o["directions"]:
            progress.phase("directions")
            parts.append(sphere_flatness(model, x, y, o["radii"], o["directions"], filter_norm=o["filter_norm"],
                                         include_bias_bn=o["include_bias_bn"], seed=seed,
                                         batch_size=chunk.batch_size, progress=progress))
        spec = curvature.parse_hessian_spec(o["hessian"])
        if spec:
            progress.phase("Hessian-vector products")
            parts.append(hessian_probes(model, x, y, spec, method=o["eig_method"], max_iter=o["max_iter"],
                                        tol=o["tol"], density_probes=o["density_probes"], seed=seed,
                                        batch_size=chunk.batch_size))
        if o["landscape"]:
            progress.phase("landscape")
            parts.append(_landscape(model, x, y, o, towards, seed, chunk.batch_size, progress))
        sample_loss = losses.double().cpu().numpy()
        parts.append(xr.Dataset(
            {"sample_loss": variable("sample", np.where(finite, sample_loss, np.inf),
                                     "loss at the trained weights (+inf: not finite)", "nats"),
             "finite": variable("sample", finite, "logits and loss at the trained weights are finite"),
             "label": variable("sample", chunk.y.cpu().numpy(), "true class")},
            coords={"sample": chunk.indices}))
        return xr.merge(parts, combine_attrs="override")
    return compute


def _landscape(model: nn.Module, x: torch.Tensor, y: torch.Tensor, o: dict, towards: nn.Module | None, seed: int,
               batch_size: int, progress: Callable[[int], None] | None) -> xr.Dataset:
    params = [p for _, p in P.trainable(model)]
    device = params[0].device
    random = [filter_normalized_direction(params, direction_generator(seed, LANDSCAPE_STREAM, i, device),
                                          o["include_bias_bn"]) for i in range(2)]
    first = direction_towards(model, towards) if towards is not None else random[0]
    (alpha_low, alpha_high), (beta_low, beta_high) = o["alpha_range"], o["beta_range"]
    grids = [np.linspace(alpha_low, alpha_high, o["points"])]
    directions = [first]
    if o["landscape"] == "2d":
        directions.append(random[1])
        grids.append(np.linspace(beta_low, beta_high, o["points"]))
    values = landscape(model, x, y, directions, grids, batch_size=batch_size, progress=progress)
    name = "towards a second model (parameters only)" if towards is not None else "filter-normalised"
    coords = {"alpha": ("alpha", grids[0], {"long_name": f"step along direction 1 ({name})"})}
    dims: tuple[str, ...] = ("alpha",)
    if o["landscape"] == "2d":
        coords["beta"] = ("beta", grids[1], {"long_name": "step along direction 2 (filter-normalised)"})
        dims = ("alpha", "beta")
    key = f"landscape_{o['landscape']}"
    return xr.Dataset({key: variable(dims, values, f"loss on a {o['landscape'][0]}-D slice (+inf: not finite)",
                                     "nats"),
                       f"{key}_finite": variable(dims, np.isfinite(values), "the loss at this point is finite")},
                      coords)


def flatness_estimate(ds: xr.Dataset, radius: int = -1, confidence: float = stats.CONFIDENCE) -> stats.Estimate:
    """F(γ) at the `radius`-th radius with its percentile bootstrap interval over the random
    directions (the Monte Carlo draws it averages); n is the number of directions."""
    change = ds["loss_change"].values[radius]
    low, high = stats.bootstrap(lambda counts: counts @ change / len(change), len(change), confidence)
    return stats.Estimate(float(ds["flatness"].values[radius]), float(low), float(high), len(change))


def summary(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> dict[str, float | int]:
    """Samples and non-finite samples, the loss at the trained weights (finite samples); with a
    sweep, F(γ) at the largest radius, its standard error and the directions that met a
    non-finite loss; with the Hessian, the top eigenvalue (largest `|λ|`, signed; +inf if not
    converged) and the trace with its standard error; with a landscape, its non-finite points.
    At `confidence`: the loss has a t interval over samples, F(γ) a percentile bootstrap over
    the random directions (its Monte Carlo draws), the trace a normal interval from its
    standard error (`_low`, `_high`); the top eigenvalue is computed, not sampled, and has none."""
    finite = ds["finite"].values.astype(bool)
    loss = stats.mean(ds["sample_loss"].values[finite], confidence) if finite.any() else \
        stats.Estimate(math.inf, math.inf, math.inf, 0)
    numbers: dict[str, float | int] = {
        "samples": int(ds.sizes["sample"]),
        "non_finite": int((~finite).sum()),
        **stats.entries("loss", loss),
    }
    if "flatness" in ds:
        numbers.update(radius=float(ds["radius"].values[-1]),
                       **stats.entries("flatness", flatness_estimate(ds, -1, confidence)),
                       flatness_se=float(ds["flatness_se"].values[-1]),
                       non_finite_directions=int((~ds["direction_finite"].values).any(axis=0).sum()))
    if "eigenvalue" in ds:
        numbers["top_eigenvalue"] = float(ds["eigenvalue"].values[0])
    if "trace" in ds:
        trace, se = float(ds["trace"]), float(ds["trace_se"])
        half = stats.normal_quantile(confidence) * se if math.isfinite(trace) else 0.0
        numbers.update(stats.entries("trace", stats.Estimate(trace, trace - half, trace + half, 0)), trace_se=se)
    for key in ("landscape_1d", "landscape_2d"):
        if key in ds:
            numbers["non_finite_points"] = int((~ds[f"{key}_finite"].values).sum())
    return numbers


__all__ = ["BATCH_SIZE", "DEFAULT_RADII", "DEFAULT_RELATIVE_RADII", "DataLoss", "FLATNESS_STREAM", "LANDSCAPES",
           "LANDSCAPE_STREAM", "direction_generator", "direction_towards", "filter_normalized_direction",
           "flatness_estimate", "hessian_probes", "landscape", "loss_evaluations", "make_direction", "resolved_radii",
           "run", "sphere_direction", "sphere_flatness", "summary"]
