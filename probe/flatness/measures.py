"""The flatness measures on fixed data (tensors in, `xr.Dataset` or arrays out).

- `sphere_flatness`: F(γ) = E_{‖Δ‖=γ} L(θ + Δ) − L(θ) from ± pairs of random directions;
- `landscape`: the loss on a 1-D or 2-D grid along given directions;
- `hessian_probes`: top eigenvalues, Hutchinson trace and SLQ density (`probe.hessian`).

Everything runs in eval mode with the data batched once on the device; perturbed weights
are written in place and restored by copying the saved tensors (`probe.params.preserved`),
so parameters and BN buffers are bit-identical afterwards.  (Evaluating several perturbed
copies at once with `torch.func.vmap` was about 3× slower on CPU, where it becomes grouped
convolutions; see `analyses/bench_flatness.py`.)

Non-finite losses: a perturbed model can overflow or return NaN.  Such a loss is stored as
`+inf` with a `False` flag beside it, and every mean that includes it is `+inf` too (with
its flag): a loss that blew up is not flat, so leaving it out would flatter the model.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import TypedDict

import numpy as np
import torch
import xarray as xr
from torch import nn

from probe import hessian as curvature
from probe import params as P
from probe.errors import ParameterError
from probe.flatness.directions import FLATNESS_STREAM, direction_generator, make_direction
from probe.results import variable

LossFn = curvature.LossFn
Progress = Callable[[int], None]


class DataLoss:
    """Mean loss over fixed data (batched once on the device) at parameter vectors written in place.

    Use inside `probe.params.preserved(model)`: calls overwrite the model's parameters.
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 256,
                 loss_fn: LossFn = curvature.cross_entropy) -> None:
        if batch_size <= 0:
            raise ParameterError(f"batch size must be positive, got {batch_size}")
        self.model = model
        self.params = [p for _, p in P.trainable(model)]
        self.theta = P.flatten(self.params).clone()
        self.batches = [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size)]
        self.n = len(x)
        self.loss_fn = loss_fn

    @torch.no_grad()
    def per_sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample losses at the model's current parameters, and whether each sample's logits
        and loss are finite."""
        losses, finite = [], []
        for xb, yb in self.batches:
            logits = self.model(xb)
            loss = self.loss_fn(logits, yb)
            losses.append(loss)
            finite.append(torch.isfinite(logits).flatten(1).all(1) & torch.isfinite(loss))
        return torch.cat(losses), torch.cat(finite)

    @torch.no_grad()
    def __call__(self, vector: torch.Tensor | None = None) -> float:
        """Mean loss at `vector` (written into the model), or at the current parameters; `+inf`
        when it is not finite (overflow or NaN)."""
        if vector is not None:
            P.assign(self.params, vector)
        value = float(sum(self.loss_fn(self.model(xb), yb).sum() for xb, yb in self.batches)) / self.n
        return value if math.isfinite(value) else math.inf


def sphere_flatness(model: nn.Module, x: torch.Tensor, y: torch.Tensor, radii: Sequence[float] | np.ndarray,
                    directions: int = 50, *, filter_norm: bool = False, include_bias_bn: bool = False,
                    seed: int = 0, batch_size: int = 256, loss_fn: LossFn = curvature.cross_entropy,
                    progress: Progress | None = None) -> xr.Dataset:
    """F(γ) over `radii` from `directions` ± pairs, with its standard error over directions.

    Plain: Δ = γu, u uniform on the unit sphere of all trainable parameters (γ in parameter
    units).  Filter-normalised: Δ = γd, d filter-normalised (γ relative to the weights).
    A direction whose + or − loss is not finite at a radius has `direction_finite = False`
    and loss change `+inf` there; F(γ) and its standard error are then `+inf`, and
    `non_finite_directions` counts such directions per radius.  `progress(k)` is called
    with the loss evaluations of each finished direction.
    """
    radii = np.asarray(radii, dtype=np.float64)
    if radii.ndim != 1 or len(radii) == 0 or np.any(radii <= 0):
        raise ParameterError("radii must be a non-empty list of positive numbers")
    if directions < 2:
        raise ParameterError(f"need at least 2 directions for a standard error, got {directions}")
    loss: np.ndarray = np.empty((len(radii), directions, 2))
    with P.preserved(model):
        evaluate = DataLoss(model, x, y, batch_size=batch_size, loss_fn=loss_fn)
        base = evaluate()
        for d in range(directions):
            generator = direction_generator(seed, FLATNESS_STREAM, d, evaluate.theta.device)
            u = make_direction(evaluate.params, generator, filter_norm, include_bias_bn)
            for r, gamma in enumerate(radii):
                loss[r, d, 0] = evaluate(evaluate.theta + gamma * u)
                loss[r, d, 1] = evaluate(evaluate.theta - gamma * u)
            if progress is not None:
                progress(2 * len(radii))
    finite = np.isfinite(loss).all(axis=2) & math.isfinite(base)
    change = np.where(finite, loss.mean(axis=2) - base, np.inf)
    every = finite.all(axis=1)
    with np.errstate(invalid="ignore"):
        flatness = np.where(every, change.mean(axis=1), np.inf)
        flatness_se = np.where(every, change.std(axis=1, ddof=1) / np.sqrt(directions), np.inf)
    units = "relative to filter norms" if filter_norm else "parameter-space L2 norm"
    return xr.Dataset(
        {"loss": variable(("radius", "direction", "sign"), loss, "loss at θ ± γu (+inf: not finite)", "nats"),
         "direction_finite": variable(("radius", "direction"), finite, "both losses of the ± pair are finite"),
         "loss_change": variable(("radius", "direction"), change,
                                 "(L(θ+γu) + L(θ−γu)) / 2 − L(θ) (+inf: a loss not finite)", "nats"),
         "flatness": variable("radius", flatness, "sphere flatness F(γ) (+inf: a loss not finite)", "nats"),
         "flatness_se": variable("radius", flatness_se, "standard error of F(γ) over directions", "nats"),
         "non_finite_directions": variable("radius", (~finite).sum(axis=1),
                                           "directions with a non-finite loss at this radius"),
         "base_loss": variable((), base, "loss at the trained weights L(θ)", "nats")},
        coords={"radius": ("radius", radii, {"long_name": "perturbation radius γ", "units": units}),
                "direction": np.arange(directions), "sign": [1, -1]})


def landscape(model: nn.Module, x: torch.Tensor, y: torch.Tensor, directions: Sequence[torch.Tensor],
              grids: Sequence[np.ndarray], *, batch_size: int = 256, loss_fn: LossFn = curvature.cross_entropy,
              progress: Progress | None = None) -> np.ndarray:
    """Loss at θ + Σ_i a_i d_i over the grid of coefficients (1-D or 2-D), shape of the grids;
    `+inf` where the loss is not finite.  `progress(1)` after each point."""
    if len(directions) not in (1, 2) or len(directions) != len(grids):
        raise ParameterError("a landscape needs one or two directions, each with its grid")
    mesh = np.meshgrid(*grids, indexing="ij")
    out = np.empty(mesh[0].shape)
    with P.preserved(model):
        evaluate = DataLoss(model, x, y, batch_size=batch_size, loss_fn=loss_fn)
        for idx in np.ndindex(out.shape):
            point = evaluate.theta.clone()
            for d, coefficients in zip(directions, mesh):
                point += float(coefficients[idx]) * d
            out[idx] = evaluate(point)
            if progress is not None:
                progress(1)
    return out


class _NonFiniteProduct(Exception):
    """A Hessian-vector product was not finite."""


class _Draw(TypedDict):
    """The seed and placement the eigenvalue, trace and density estimators share."""

    seed: int
    device: torch.device | str
    dtype: torch.dtype


def _checked(operator: curvature.HessianOperator) -> curvature.MatVec:
    def matvec(vector: torch.Tensor) -> torch.Tensor:
        product = operator(vector)
        if not bool(torch.isfinite(product).all()):
            raise _NonFiniteProduct
        return product
    return matvec


def hessian_probes(model: nn.Module, x: torch.Tensor, y: torch.Tensor, spec: dict[str, int], *,
                   method: str = "lanczos", max_iter: int = 100, tol: float = 1e-3, density_probes: int = 3,
                   seed: int = 0, batch_size: int = 256, loss_fn: LossFn = curvature.cross_entropy) -> xr.Dataset:
    """Top-k eigenvalues, Hutchinson trace and SLQ density of the loss Hessian (see `probe.hessian`).

    A non-finite Hessian-vector product ends the quantity it belongs to: its eigenvalues are
    `+inf` (not converged), its trace and standard error `+inf`, its density left out, and
    `hessian_finite` is False.
    """
    if method not in curvature.METHODS:
        raise ParameterError(f"unknown eigenvalue method '{method}' (expected {', '.join(curvature.METHODS)})")
    variables: dict[str, tuple] = {}
    coords: dict[str, np.ndarray] = {}
    finite = True
    with P.preserved(model):
        operator = curvature.HessianOperator(model, x, y, batch_size=batch_size, loss_fn=loss_fn)
        matvec = _checked(operator)
        common = _Draw(seed=seed, device=operator.device, dtype=operator.dtype)
        start = time.perf_counter()
        if "top" in spec:
            k = spec["top"]
            try:
                eig = curvature.METHODS[method](matvec, operator.dim, k, max_iter=max_iter, tol=tol, **common)
            except _NonFiniteProduct:
                finite = False
                eig = curvature.Eigenvalues(np.full(k, np.inf), np.zeros(k, bool), np.zeros(k, int), np.full(k, np.inf))
            coords["rank"] = np.arange(1, k + 1)
            variables["eigenvalue"] = variable("rank", eig.values, "Hessian eigenvalue (by decreasing |λ|, signed; "
                                               "+inf if not converged)", "nats")
            variables["eigenvalue_converged"] = variable("rank", eig.converged, "eigenvalue converged")
            variables["eigenvalue_residual"] = variable("rank", eig.residuals, "residual ‖Hv − λv‖ bound", "nats")
        if "trace" in spec:
            try:
                tr = curvature.hutchinson_trace(matvec, operator.dim, spec["trace"], **common)
                trace, trace_se = tr.trace, tr.standard_error
            except _NonFiniteProduct:
                finite, trace, trace_se = False, np.inf, np.inf
            variables["trace"] = variable((), trace, "Hessian trace (Hutchinson, Rademacher; +inf: not finite)", "nats")
            variables["trace_se"] = variable((), trace_se, "standard error of the trace", "nats")
        if "density" in spec:
            try:
                dens = curvature.slq_density(matvec, operator.dim, spec["density"], density_probes, **common)
                variables.update(_density_variables(dens, coords))
            except _NonFiniteProduct:
                finite = False
        elapsed = time.perf_counter() - start
    variables["hessian_finite"] = variable((), finite, "every Hessian-vector product was finite")
    variables["parameter_count"] = variable((), operator.dim, "number of parameters the Hessian is over")
    variables["hvp_count"] = variable((), operator.calls, "Hessian-vector products computed")
    variables["seconds_per_hvp"] = variable((), elapsed / max(operator.calls, 1), "time per Hessian-vector product",
                                            "s")
    return xr.Dataset(variables, coords=coords)


def _density_variables(dens: curvature.SpectralDensity, coords: dict[str, np.ndarray]) -> dict[str, tuple]:
    """The smoothed density on a grid over the Ritz values (the grid goes into `coords`)."""
    finite = dens.nodes[np.isfinite(dens.nodes)]
    low, high = float(finite.min()), float(finite.max())
    sigma = max(0.01 * (high - low), 1e-6 * max(abs(low), abs(high), 1e-30))
    grid = np.linspace(low - 5 * sigma, high + 5 * sigma, 400)
    coords["spectrum"] = grid
    return {"density": variable("spectrum", curvature.smooth_density(dens, grid, sigma),
                                f"spectral density (SLQ, Gaussian σ = {sigma:.3g})", "1/nats"),
            "slq_node": variable(("slq_vector", "node"), dens.nodes, "Lanczos Ritz value", "nats"),
            "slq_weight": variable(("slq_vector", "node"), dens.weights, "quadrature weight")}
