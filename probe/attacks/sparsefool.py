"""SparseFool: sparse adversarial perturbations through the L1 relaxation.

The algorithm of Modas, Moosavi-Dezfooli and Frossard (2019, "SparseFool: a few pixels make a
big difference", §3, Algorithm 1), with the semantics of the authors' code, for every sample at
once.  Outer loop from `x_i = x0`:

1. DeepFool from `x_i` (the "original" rule of `probe.attacks.deepfool`) **without any box**
   gives the accumulated `r` (raw, never clipped) and the class `adv` it reached; the boundary
   point is `x_B = x_i + λ r` and the normal `w = ∇(f_adv − f_label)` at `x_i + r`, normalised,
   where `label = F(x_i)` is that DeepFool's own starting class.
2. The LinearSolver (`probe.attacks.linear_solver`) moves `x_i` (not `x0`) across the plane
   through `x_B` with the least L1 inside the per-pixel bounds; it stops as soon as the sign of
   `w·(x − x_B)` changes (β = 0.001 only lengthens each step).
3. The candidate `x_f = clip(x0 + (1 + ε)(x_i − x0), lb, ub)` is classified with a fresh forward
   pass; the loop stops when `x_f` is adversarial (`F(x_f) ≠ F(x0)`), else runs to `max_iter`.

The box enters only steps 2 and 3.  A sample that ends (at the iteration limit, or stopped by a
flag) with `x_f` not adversarial although `x_i` is gets `x_i` itself, inside the bounds,
re-checked and flagged `overshoot_reverted`: a sample that was fooled is never reported as not
fooled.  A sample whose DeepFool step fails (no boundary found, or a zero or non-finite normal)
or that sits on the wrong side of its plane (the solver would walk away and saturate every
coordinate) is flagged and stops with its last good iterate: never NaN, never a saturated
image.  A sample whose logits are non-finite anywhere the attack looks (the clean image, a
DeepFool point, the point of the normal, a candidate `x_f`, the final image) is flagged
`non_finite`, stops with its last finite iterate and is never reported fooled.  Finished
samples leave the working batch.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from probe import ranges
from probe.attacks.deepfool import deepfool
from probe.attacks.linear_solver import linear_solver
from probe.errors import ParameterError, ShapeError
from probe.logits import classify
from probe.params import eval_mode

SOLVER_BETA = 1e-3          # β of the LinearSolver: lengthens each step past the plane (the authors' 0.001)
NORM_GUARD = 1e-12          # ‖w‖ at or below this: the normal is undefined
DEEPFOOL_OVERSHOOT = 0.02   # overshoot η of the inner DeepFool step
FLAGS = ("deepfool_failed", "wrong_side", "unreachable", "non_finite", "overshoot_reverted")


@dataclass
class SparseFoolResult:
    """Per-sample outcome of `sparsefool` (tensors on the input's device)."""

    perturbation: torch.Tensor     # (N,C,H,W) x_adv − x0, x_adv inside [lb, ub]
    iterations: torch.Tensor       # (N,) int64 outer iterations (DeepFool + solver) taken
    fooled: torch.Tensor           # (N,) bool: F(x_adv) ≠ F(x0), from a fresh forward pass, all logits finite
    label: torch.Tensor            # (N,) F(x0) (-1: logits not finite)
    adv_label: torch.Tensor        # (N,) F(x_adv) (-1: logits not finite)
    deepfool_failed: torch.Tensor  # (N,) bool: a DeepFool step found no boundary, or a zero or non-finite normal
    wrong_side: torch.Tensor       # (N,) bool: x_i was past its linearised plane; stopped
    unreachable: torch.Tensor      # (N,) bool: at some step the box did not reach the plane (solver saturated)
    non_finite: torch.Tensor       # (N,) bool: the logits were not finite somewhere the attack looked; stopped
    overshoot_reverted: torch.Tensor  # (N,) bool: the overshot image was not adversarial, x_i was: x_i returned

    @property
    def perturbed_pixels(self) -> torch.Tensor:
        """(N,) number of pixels with at least one changed channel."""
        return (self.perturbation != 0).any(dim=1).flatten(1).sum(1)

    @property
    def perturbed_coordinates(self) -> torch.Tensor:
        """(N,) number of changed coordinates (pixel × channel)."""
        return (self.perturbation != 0).flatten(1).sum(1)


def perceptibility_bounds(x: torch.Tensor, lb: float | torch.Tensor, ub: float | torch.Tensor,
                          delta: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel bounds `max(lb, x − δ)`, `min(ub, x + δ)` (δ on the [0, 1] scale; None: no δ)."""
    lower = torch.broadcast_to(torch.as_tensor(lb, dtype=x.dtype, device=x.device), x.shape)
    upper = torch.broadcast_to(torch.as_tensor(ub, dtype=x.dtype, device=x.device), x.shape)
    if delta is not None:
        lower, upper = torch.maximum(lower, x - delta), torch.minimum(upper, x + delta)
    return lower, upper


def check_options(lam: float, max_iter: int, overshoot: float, delta: float | None, candidates: int) -> None:
    """`ParameterError` unless λ ≥ 1, max_iter ≥ 1, overshoot ≥ 0, δ > 0 (or None) and candidates ≥ 2."""
    ranges.check(lam=(lam, ranges.at_least(1.0)), max_iter=(max_iter, ranges.integer(1)),
                 overshoot=(overshoot, ranges.NON_NEGATIVE), delta=(delta, ranges.POSITIVE),
                 candidates=(candidates, ranges.integer(2)))


def _bounds(x: torch.Tensor, lb: float | torch.Tensor, ub: float | torch.Tensor,
            delta: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    if x.ndim != 4:
        raise ShapeError(f"sparsefool expects images (N, C, H, W), got shape {tuple(x.shape)}")
    try:
        lower, upper = perceptibility_bounds(x, lb, ub, delta)
    except RuntimeError:
        raise ShapeError(f"bounds must broadcast to the input shape {tuple(x.shape)}") from None
    if bool((x < lower).any() or (x > upper).any()):
        raise ParameterError("the images must lie inside the bounds [lb, ub]")
    return lower, upper


def boundary_normal(model: nn.Module, point: torch.Tensor, orig: torch.Tensor,
                    adv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """∇(f_adv − f_orig) at `point` and the (N,) mask of rows whose logits there are finite;
    one batched forward and backward pass."""
    point = point.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(point)
        difference = logits.gather(1, adv[:, None]) - logits.gather(1, orig[:, None])
        (grad,) = torch.autograd.grad(difference.sum(), point)
    return grad, torch.isfinite(logits.detach()).all(dim=1)


@torch.no_grad()
def sparsefool(model: nn.Module, x: torch.Tensor, lb: float | torch.Tensor = 0.0, ub: float | torch.Tensor = 1.0,
               lam: float = 3.0, max_iter: int = 20, overshoot: float = 0.02, *, delta: float | None = None,
               candidates: int = 10, deepfool_overshoot: float = DEEPFOOL_OVERSHOOT, deepfool_iter: int = 50,
               gradients: str = "vjp", progress: Callable[[int], None] | None = None) -> SparseFoolResult:
    """SparseFool on every image of `x` (N, C, H, W) with pixel bounds `lb ≤ x + δ ≤ ub`.

    `lb`, `ub`: floats or tensors broadcastable to `x`; `delta` (pixel scale [0, 1]) adds the
    perceptibility bounds `x ± δ`.  `lam` (λ ≥ 1) places the boundary point, `overshoot` is
    the final overshoot ε; `candidates`, `deepfool_overshoot`, `deepfool_iter` and `gradients`
    configure the DeepFool step ('vjp' is about 5x faster than 'jacrev' on a CPU batch of
    LeNet images).  `progress(k)`, when given, hears after every outer iteration how many images
    finished in it.  The model runs in eval mode and its mode is restored.
    """
    check_options(lam, max_iter, overshoot, delta, candidates)
    lower, upper = _bounds(x, lb, ub, delta)
    with eval_mode(model):
        x0 = x.detach()
        n = len(x0)
        label, finite = classify(model(x0))
        xi = x0.clone()
        iterations = torch.zeros(n, dtype=torch.int64, device=x0.device)
        adv_label = label.clone()
        stopped = torch.zeros(n, dtype=torch.bool, device=x0.device)      # x_f adversarial: adv_label holds F(x_f)
        flags = {name: torch.zeros(n, dtype=torch.bool, device=x0.device) for name in FLAGS}
        flags["non_finite"] |= ~finite
        active = torch.arange(n, device=x0.device)[finite]

        def overshot(rows: torch.Tensor, point: torch.Tensor) -> torch.Tensor:
            return torch.minimum(torch.maximum(x0[rows] + (1.0 + overshoot) * (point - x0[rows]), lower[rows]),
                                 upper[rows])

        remaining = n                                                         # images not yet reported finished

        def report(still: int) -> None:
            nonlocal remaining
            if progress is not None and remaining > still:
                progress(remaining - still)
            remaining = still

        for _ in range(max_iter):
            report(len(active))
            if len(active) == 0:
                break
            x_a = xi[active]
            step = deepfool(model, x_a, candidates=candidates, overshoot=deepfool_overshoot, max_iter=deepfool_iter,
                            gradients=gradients, variant="original")                 # no box (the authors' rule)
            adv = torch.where(step.converged, step.adv_label, step.label.clamp_min(0))   # a valid class on every row
            w, normal_finite = boundary_normal(model, x_a + step.r, step.label.clamp_min(0), adv)
            broken = step.non_finite | ~normal_finite
            w_norm = w.flatten(1).norm(dim=1)
            failed = ~step.converged | broken | ~(w_norm > NORM_GUARD) | ~torch.isfinite(w_norm)
            flags["non_finite"][active[broken]] = True
            flags["deepfool_failed"][active[failed & ~broken]] = True
            go = ~failed
            active, x_a, r = active[go], x_a[go], step.r[go]
            if len(active) == 0:
                break
            solved = linear_solver(x_a, w[go] / w_norm[go].view(-1, 1, 1, 1), x_a + lam * r, lower[active],
                                   upper[active], beta=SOLVER_BETA)
            flags["wrong_side"][active[solved.wrong_side]] = True
            right = ~solved.wrong_side
            moving, candidate, reached = active[right], solved.x[right], solved.reached[right]
            prediction, finite = classify(model(overshot(moving, candidate)))        # the stop rule: x_f
            flags["non_finite"][moving[~finite]] = True                           # keep the last finite iterate
            moving, candidate = moving[finite], candidate[finite]
            prediction, reached = prediction[finite], reached[finite]
            xi[moving] = candidate
            flags["unreachable"][moving[~reached]] = True
            iterations[moving] += 1
            fooled_now = prediction != label[moving]
            stopped[moving[fooled_now]] = True
            adv_label[moving[fooled_now]] = prediction[fooled_now]
            active = moving[~fooled_now]
        report(0)
        x_adv = overshot(torch.arange(n, device=x0.device), xi)
        rest = torch.nonzero(~stopped).flatten()                                  # not stopped on an adversarial x_f
        if len(rest):
            rest_label, rest_finite = classify(model(x_adv[rest]))
            adv_label[rest] = rest_label
            flags["non_finite"][rest[~rest_finite]] = True
            back = rest[rest_finite & (rest_label == label[rest]) & ~flags["non_finite"][rest]
                        & (iterations[rest] > 0)]
            if len(back):
                back_label, back_finite = classify(model(xi[back]))
                keep = back_finite & (back_label != label[back])                   # x_i itself is adversarial
                back, back_label = back[keep], back_label[keep]
                x_adv[back], adv_label[back] = xi[back], back_label
                flags["overshoot_reverted"][back] = True
        fooled = (adv_label != label) & ~flags["non_finite"]
        return SparseFoolResult(perturbation=x_adv - x0, iterations=iterations, fooled=fooled, label=label,
                                adv_label=adv_label, **flags)
