"""SparseFool's LinearSolver: the L1-sparsest move inside a box onto a linearised boundary.

Given a point `x`, a hyperplane `{z : w·(z − x_B) = 0}` and per-coordinate bounds, the solver of
Modas, Moosavi-Dezfooli and Frossard (2019, "SparseFool", §3.2, Algorithm 2) repeatedly takes the
unused coordinate with the largest `|w_j|` and moves it towards the plane (direction
`sign(w_j)`, by the remaining distance `|w·(x − x_B)| / |w_j|` plus a small `β / |w_j|`, clipped
to its bounds), and stops as soon as the sign of `w·(x − x_B)` changes.  `β` (0.001 in the
authors' code) only lengthens each step: a coordinate that saturates at its bound just past the
plane ends the loop, there is no further target to reach.  That is the greedy solution of a
fractional knapsack, so up to `β` it is also the minimum-L1 move.  Here it runs for a whole batch
at once: sort the coordinates by `|w_j|`, take a cumulative sum of the achievable increase
`|w_j| · room_j`; every coordinate taken before the plane is crossed moves (to its bound, or by
the remaining distance plus `β / |w_j|`), the rest stay.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class LinearSolverResult:
    """The solver's output for a batch of N points (shapes as the inputs)."""

    x: torch.Tensor           # the moved points, inside [lb, ub]
    wrong_side: torch.Tensor  # (N,) bool: w·(x − x_B) > 0, the solver would walk away; x left unchanged
    reached: torch.Tensor     # (N,) bool: the plane was reached (w·(x − x_B) ≥ 0) inside the box


def linear_solver(x: torch.Tensor, w: torch.Tensor, x_b: torch.Tensor, lb: torch.Tensor | float,
                  ub: torch.Tensor | float, beta: float = 0.0) -> LinearSolverResult:
    """Move each row of `x` (any shape (N, ...)) across `w·(z − x_B) = 0` with the least L1, greedily.

    Coordinates are taken in decreasing `|w_j|` (ties in index order) while `w·(z − x_B) < 0`; each
    moves by `(|w·(z − x_B)| + β) / |w_j|` in direction `sign(w_j)`, clipped to its bounds.  Only
    points on the negative side (`w·(x − x_B) ≤ 0`) are moved; the others are flagged `wrong_side`
    and returned unchanged (the published loop would saturate every coordinate).  Where the box
    does not reach the plane every coordinate with `w_j ≠ 0` ends at its bound and `reached` is
    False.  Coordinates with `w_j = 0` never move.
    """
    shape = x.shape
    n = shape[0]
    xf, wf, bf = x.reshape(n, -1), w.reshape(n, -1), x_b.reshape(n, -1)
    lbf = torch.as_tensor(lb, dtype=x.dtype, device=x.device).expand(shape).reshape(n, -1)
    ubf = torch.as_tensor(ub, dtype=x.dtype, device=x.device).expand(shape).reshape(n, -1)
    side = (wf * (xf - bf)).sum(1)
    wrong_side = side > 0
    need = (-side).clamp_min(0.0).masked_fill(wrong_side, 0.0)               # increase of w·z to the plane
    magnitude = wf.abs()
    room = torch.where(wf > 0, ubf - xf, xf - lbf).clamp_min(0.0).masked_fill(wf == 0, 0.0)
    order = torch.sort(magnitude, dim=1, descending=True, stable=True).indices
    mag_sorted = magnitude.gather(1, order)
    room_sorted = room.gather(1, order)
    gain = mag_sorted * room_sorted
    before = torch.cumsum(gain, dim=1).roll(1, dims=1)                         # increase from earlier coordinates
    before[:, 0] = 0.0
    taken = (before < need[:, None]) & (mag_sorted > 0)                       # the plane not yet crossed
    left = torch.where(taken, need[:, None] + beta - before, 0.0)
    step_sorted = torch.where(taken, left / mag_sorted.clamp_min(torch.finfo(x.dtype).tiny), 0.0)
    step_sorted = torch.minimum(step_sorted, room_sorted)
    step = torch.zeros_like(xf).scatter(1, order, step_sorted)
    full = torch.zeros_like(xf, dtype=torch.bool).scatter(1, order, (step_sorted >= room_sorted) & (step_sorted > 0))
    moved = torch.where(full, torch.where(wf > 0, ubf, lbf), xf + torch.sign(wf) * step)   # exact bounds
    moved = torch.minimum(torch.maximum(moved, lbf), ubf)
    reached = gain.sum(1) >= need
    return LinearSolverResult(x=moved.reshape(shape), wrong_side=wrong_side, reached=reached)


def greedy_linear_solver(x: torch.Tensor, w: torch.Tensor, x_b: torch.Tensor, lb: torch.Tensor | float,
                         ub: torch.Tensor | float, beta: float = 0.0) -> torch.Tensor:
    """The published one-coordinate-at-a-time loop for ONE point (any shape); the reference
    that `linear_solver` is checked against (tests, `analyses/bench_sparsefool.py`).

    While `w·(x − x_B) < 0` and a coordinate with `w_j ≠ 0` is unused: take the unused one with the
    largest `|w_j|`, move it by `(|w·(x − x_B)| + β) / |w_j|` in direction `sign(w_j)`, clip it to
    its bounds.  Wrong-side points (`w·(x − x_B) > 0`) are returned unchanged.
    """
    shape = x.shape
    xf, wf, bf = x.reshape(-1).clone(), w.reshape(-1), x_b.reshape(-1)
    lbf = torch.as_tensor(lb, dtype=x.dtype, device=x.device).expand(shape).reshape(-1)
    ubf = torch.as_tensor(ub, dtype=x.dtype, device=x.device).expand(shape).reshape(-1)
    side = float((wf * (xf - bf)).sum())
    if side > 0:
        return x.clone()
    unused = wf.abs().clone()
    while side < 0 and bool((unused > 0).any()):
        j = int(torch.argmax(unused))
        unused[j] = 0.0
        magnitude = float(wf[j].abs())
        bound = float(ubf[j]) if wf[j] > 0 else float(lbf[j])
        room = abs(bound - float(xf[j]))
        length = (-side + beta) / magnitude
        if length >= room:                                # saturates at its bound
            xf[j] = bound
            side += magnitude * room
        else:                                             # lands β past the plane
            xf[j] += float(torch.sign(wf[j])) * length
            side += magnitude * length
    return xf.reshape(shape)
