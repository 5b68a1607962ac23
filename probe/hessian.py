"""Curvature of the loss in parameter space through Hessian-vector products (HVPs).

`HessianOperator` gives v ↦ H v for the mean loss over fixed data by double backward,
over all trainable parameters, without forming H.  On any such symmetric operator:

- `power_iteration`: the k eigenvalues of largest *magnitude* with deflation; the
  dominant one can be negative and is returned with its sign;
- `lanczos` / `lanczos_eigenvalues`: Lanczos with full re-orthogonalisation; k steps
  reproduce the moments vᵀ Hᵐ v for m ≤ 2k − 1; Ritz values give the extreme eigenvalues;
- `hutchinson_trace`: tr H ≈ mean zᵀ H z over Rademacher z, with its standard error
  (exact for a diagonal H);
- `slq_density`: stochastic Lanczos quadrature nodes and weights, and `smooth_density`
  to turn them into a Gaussian-broadened spectral density.

Eigenvalue estimates that do not converge are returned as `+inf` with `converged=False`.
Random vectors come from a CPU `torch.Generator` and are moved to the operator's device,
so results are reproducible from a seed on every device.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from probe import params as P
from probe.errors import ParameterError

MatVec = Callable[[torch.Tensor], torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy (the default loss of every flatness and curvature probe)."""
    return F.cross_entropy(output, target, reduction="none")


class HessianOperator:
    """v ↦ H v, H the Hessian of the mean `loss_fn` over (x, y) w.r.t. the trainable parameters.

    The data are processed in chunks of `batch_size`; each chunk does one forward pass,
    one backward pass with `create_graph=True` and a second backward pass of ⟨∇L, v⟩.
    The model must be in eval mode (use `probe.params.preserved`), so BN statistics stay put.
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 256,
                 loss_fn: LossFn = cross_entropy) -> None:
        if batch_size <= 0:
            raise ParameterError(f"batch size must be positive, got {batch_size}")
        self.model = model
        self.params = [p for _, p in P.trainable(model)]
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.loss_fn = loss_fn
        self.dim = sum(p.numel() for p in self.params)
        self.device = self.params[0].device
        self.dtype = self.params[0].dtype
        self.calls = 0

    def __call__(self, vector: torch.Tensor) -> torch.Tensor:
        vs = P.unflatten(vector.to(self.dtype), self.params)
        total = [torch.zeros_like(p) for p in self.params]
        n = len(self.x)
        with torch.enable_grad():
            for start in range(0, n, self.batch_size):
                xb, yb = self.x[start:start + self.batch_size], self.y[start:start + self.batch_size]
                loss = self.loss_fn(self.model(xb), yb).sum() / n
                grads = torch.autograd.grad(loss, self.params, create_graph=True, materialize_grads=True)
                dot = cast(torch.Tensor, sum((g * v).sum() for g, v in zip(grads, vs)))   # params non-empty
                if not dot.requires_grad:   # the loss is linear in every parameter: H v = 0
                    continue
                for acc, hv in zip(total, torch.autograd.grad(dot, self.params, materialize_grads=True)):
                    acc.add_(hv)
        self.calls += 1
        return P.flatten(total).to(vector.dtype)


def _random_vector(dim: int, generator: torch.Generator, kind: str, device: torch.device | str,
                   dtype: torch.dtype) -> torch.Tensor:
    """A Gaussian or Rademacher vector drawn on the CPU generator, moved to the target device."""
    if kind == "rademacher":
        v = torch.randint(0, 2, (dim,), generator=generator, dtype=torch.float64).mul_(2).sub_(1)
    else:
        v = torch.randn(dim, generator=generator, dtype=torch.float64)
    return v.to(dtype).to(device)   # cast first: MPS has no float64


@dataclass
class Eigenvalues:
    """Eigenvalue estimates sorted by decreasing magnitude (signed), `+inf` where not converged."""

    values: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    residuals: np.ndarray


def power_iteration(matvec: MatVec, dim: int, k: int = 1, *, max_iter: int = 100, tol: float = 1e-3,
                    seed: int = 0, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
                    ) -> Eigenvalues:
    """The k eigenvalues of largest magnitude by power iteration with deflation.

    Power iteration converges to the eigenvalue of largest |λ|, which may be negative; the
    sign is kept.  Converged when the residual ‖Hv − λv‖ is below `tol`·|λ| (a stable
    Rayleigh quotient is not enough: with eigenvalues ±λ it stalls while v oscillates);
    otherwise the value is `+inf` with `converged=False`.
    """
    _check_k(k, dim)
    generator = torch.Generator().manual_seed(seed)
    found_values: list[float] = []
    found_vectors: list[torch.Tensor] = []
    out = Eigenvalues(np.full(k, np.inf), np.zeros(k, bool), np.zeros(k, int), np.full(k, np.inf))

    def deflated(v: torch.Tensor) -> torch.Tensor:
        w = matvec(v)
        for lam, u in zip(found_values, found_vectors):
            w = w - lam * torch.dot(u, v) * u
        return w

    for i in range(k):
        v = _random_vector(dim, generator, "gaussian", device, dtype)
        v = v / v.norm()
        for step in range(1, max_iter + 1):  # noqa: B007 (read after the loop: iterations taken)
            w = deflated(v)
            estimate = float(torch.dot(v, w))
            residual = float((w - estimate * v).norm())
            converged = residual <= tol * max(abs(estimate), 1e-30)
            if converged:
                break
            v = w / w.norm()
        found_values.append(estimate)
        found_vectors.append(v)
        out.iterations[i] = step
        out.residuals[i] = residual
        out.converged[i] = converged
        out.values[i] = estimate if converged else np.inf
    return out


def lanczos(matvec: MatVec, v0: torch.Tensor, steps: int,
            stop: Callable[[np.ndarray, np.ndarray], bool] | None = None
            ) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """`steps` Lanczos iterations from `v0` with full re-orthogonalisation.

    Returns the tridiagonal coefficients `alpha` (m,) and `beta` (m,) — `beta[j]` couples
    steps j and j+1, so `beta[m-1]` is the residual norm after the last step — and the
    orthonormal basis Q (m, dim).  Stops early on an invariant subspace (β ≈ 0) or when
    `stop(alpha, beta)` returns True after a step.
    """
    if steps <= 0:
        raise ParameterError(f"Lanczos needs at least one step, got {steps}")
    steps = min(steps, v0.numel())
    q = v0 / v0.norm()
    basis = torch.empty(steps, v0.numel(), device=v0.device, dtype=v0.dtype)
    alpha, beta = [], []
    for j in range(steps):
        basis[j] = q
        w = matvec(q)
        a = float(torch.dot(q, w))
        w = w - basis[:j + 1].T @ (basis[:j + 1] @ w)   # full re-orthogonalisation (twice is enough)
        w = w - basis[:j + 1].T @ (basis[:j + 1] @ w)
        b = float(w.norm())
        alpha.append(a)
        beta.append(b)
        scale = max(abs(a), *(abs(x) for x in beta), 1e-30)
        if b <= 1e-10 * scale or (stop is not None and stop(np.array(alpha), np.array(beta))):
            break
        q = w / b
    m = len(alpha)
    return np.array(alpha), np.array(beta), basis[:m]


def tridiagonal(alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """The Lanczos matrix T (m × m) from `alpha` (m,) and the first m − 1 entries of `beta`."""
    m = len(alpha)
    off = np.asarray(beta[:m - 1], dtype=np.float64)
    return np.diag(np.asarray(alpha, dtype=np.float64)) + np.diag(off, 1) + np.diag(off, -1)


def _ritz(alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ritz values, their residual bounds |β_m s_{m,i}| and first-component weights s_{1,i}²."""
    theta, s = np.linalg.eigh(tridiagonal(alpha, beta))
    return theta, np.abs(beta[len(alpha) - 1] * s[-1]), s[0] ** 2


def lanczos_eigenvalues(matvec: MatVec, dim: int, k: int = 1, *, max_iter: int = 100, tol: float = 1e-3,
                        seed: int = 0, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
                        ) -> Eigenvalues:
    """The k eigenvalues of largest magnitude (signed) from the Ritz values of Lanczos.

    Iterates until the k largest-magnitude Ritz values have residual bounds below `tol`
    relative (eigenvalue error ≲ residual² / gap) (or `max_iter` steps); non-converged ones are `+inf`.
    """
    _check_k(k, dim)
    v0 = _random_vector(dim, torch.Generator().manual_seed(seed), "gaussian", device, dtype)

    def top(alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        theta, residual, _ = _ritz(alpha, beta)
        order = np.argsort(-np.abs(theta), kind="stable")[:k]
        return theta[order], residual[order]

    def done(alpha: np.ndarray, beta: np.ndarray) -> bool:
        return len(alpha) >= k and bool(np.all(_converged(*top(alpha, beta), tol)))

    alpha, beta, _ = lanczos(matvec, v0, max_iter, stop=done)
    theta, residual = top(alpha, beta)
    converged = _converged(theta, residual, tol)
    values = np.full(k, np.inf)
    conv = np.zeros(k, bool)
    res = np.full(k, np.inf)
    values[:len(theta)] = np.where(converged, theta, np.inf)
    conv[:len(theta)] = converged
    res[:len(theta)] = residual
    return Eigenvalues(values, conv, np.full(k, len(alpha)), res)


@dataclass
class TraceEstimate:
    """Hutchinson estimate of tr H with its standard error and the per-vector samples zᵀHz."""

    trace: float
    standard_error: float
    samples: np.ndarray


def hutchinson_trace(matvec: MatVec, dim: int, samples: int = 100, *, seed: int = 0,
                     device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> TraceEstimate:
    """tr H ≈ mean over Rademacher z of zᵀ H z; standard error = std / √samples (needs ≥ 2)."""
    if samples < 2:
        raise ParameterError(f"Hutchinson needs at least 2 vectors for a standard error, got {samples}")
    generator = torch.Generator().manual_seed(seed)
    values = np.empty(samples)
    for i in range(samples):
        z = _random_vector(dim, generator, "rademacher", device, dtype)
        values[i] = float(torch.dot(z, matvec(z)))
    return TraceEstimate(float(values.mean()), float(values.std(ddof=1) / math.sqrt(samples)), values)


@dataclass
class SpectralDensity:
    """Stochastic Lanczos quadrature: per probe vector, Ritz nodes and weights (weights sum to 1)."""

    nodes: np.ndarray     # (probes, steps), padded with +inf where a run stopped early
    weights: np.ndarray   # (probes, steps), padded with 0


def slq_density(matvec: MatVec, dim: int, steps: int = 40, probes: int = 3, *, seed: int = 0,
                device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> SpectralDensity:
    """Nodes θ and weights τ = (first Ritz-vector component)² of `steps`-step Lanczos runs from
    `probes` normalised Rademacher vectors: E Σ τ g(θ) ≈ tr g(H) / dim for smooth g."""
    if probes < 1:
        raise ParameterError(f"spectral density needs at least one probe vector, got {probes}")
    generator = torch.Generator().manual_seed(seed)
    steps = min(steps, dim)
    nodes = np.full((probes, steps), np.inf)
    weights = np.zeros((probes, steps))
    for i in range(probes):
        v = _random_vector(dim, generator, "rademacher", device, dtype)
        alpha, beta, _ = lanczos(matvec, v, steps)
        theta, _, tau = _ritz(alpha, beta)
        nodes[i, :len(theta)] = theta
        weights[i, :len(theta)] = tau
    return SpectralDensity(nodes, weights)


def smooth_density(density: SpectralDensity, grid: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-broadened density ρ(λ) = mean over probes of Σ τ N(λ; θ, σ²) on `grid`."""
    if sigma <= 0:
        raise ParameterError(f"density bandwidth must be positive, got {sigma}")
    finite = np.isfinite(density.nodes)
    nodes = np.where(finite, density.nodes, 0.0)
    kernel = np.exp(-0.5 * ((grid[:, None, None] - nodes[None]) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    return (kernel * density.weights[None]).sum(axis=2).mean(axis=1)


def _converged(theta: np.ndarray, residual: np.ndarray, tol: float) -> np.ndarray:
    """Ritz pairs whose residual bound is below `tol` relative (floor: 1e-6 of the largest |θ|)."""
    scale = np.maximum(np.abs(theta), 1e-6 * max(float(np.abs(theta).max(initial=0.0)), 1e-30))
    return residual <= tol * scale


def _check_k(k: int, dim: int) -> None:
    if not 1 <= k <= dim:
        raise ParameterError(f"number of eigenvalues must be between 1 and {dim}, got {k}")


def parse_hessian_spec(spec: str | None) -> dict[str, int]:
    """'top:K,trace[:M],density[:STEPS]' → {'top': K, 'trace': M, 'density': STEPS} (defaults 5, 100, 40)."""
    defaults = {"top": 5, "trace": 100, "density": 40}
    chosen: dict[str, int] = {}
    for item in (spec or "").split(","):
        item = item.strip()
        if not item:
            continue
        name, _, value = item.partition(":")
        if name not in defaults:
            raise ParameterError(f"unknown Hessian probe '{name}' in --hessian "
                                 f"(expected top:K, trace[:M], density[:STEPS])")
        try:
            number = int(value) if value else defaults[name]
        except ValueError:
            raise ParameterError(f"--hessian {name}: '{value}' is not an integer") from None
        if number < (2 if name == "trace" else 1):
            raise ParameterError(f"--hessian {name}: {number} is too small")
        chosen[name] = number
    return chosen


METHODS: dict[str, Callable[..., Eigenvalues]] = {"lanczos": lanczos_eigenvalues, "power": power_iteration}


__all__ = ["Eigenvalues", "HessianOperator", "METHODS", "SpectralDensity", "TraceEstimate", "cross_entropy",
           "hutchinson_trace", "lanczos", "lanczos_eigenvalues", "parse_hessian_spec", "power_iteration",
           "slq_density", "smooth_density", "tridiagonal"]
