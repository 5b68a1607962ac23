"""SparseFool's LinearSolver: vectorised form == greedy loop == linear program."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from probe.attacks.linear_solver import greedy_linear_solver, linear_solver


def _instance(seed: int, n: int = 6, d: int = 40, zeros: bool = True):
    """Random points in random boxes, a random plane that each point lies on the negative side of."""
    g = torch.Generator().manual_seed(seed)
    lb = torch.rand(n, d, generator=g, dtype=torch.float64) * 0.3
    ub = 1.0 - torch.rand(n, d, generator=g, dtype=torch.float64) * 0.3
    x = lb + (ub - lb) * torch.rand(n, d, generator=g, dtype=torch.float64)
    w = torch.randn(n, d, generator=g, dtype=torch.float64)
    if zeros:
        w[:, ::7] = 0.0                                                  # coordinates that cannot help
    w = w / w.norm(dim=1, keepdim=True)
    distance = 0.05 + torch.rand(n, 1, generator=g, dtype=torch.float64)
    x_b = x + distance * w                                               # plane at `distance` along +w
    return x, w, x_b, lb, ub


def _lp_l1(x: np.ndarray, w: np.ndarray, x_b: np.ndarray, lb: np.ndarray, ub: np.ndarray, margin: float) -> float:
    """min ‖δ‖₁ s.t. w·(x + δ − x_B) ≥ margin, lb ≤ x + δ ≤ ub, with δ = u − v, u, v ≥ 0."""
    d = len(x)
    need = margin - float(w @ (x - x_b))
    res = linprog(np.ones(2 * d), A_ub=-np.concatenate([w, -w])[None], b_ub=[-need],
                  bounds=list(zip(np.zeros(d), ub - x)) + list(zip(np.zeros(d), x - lb)), method="highs")
    assert res.status == 0
    return float(res.fun)


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_equals_greedy_loop(seed):
    x, w, x_b, lb, ub = _instance(seed)
    out = linear_solver(x, w, x_b, lb, ub, beta=1e-3)
    for i in range(len(x)):
        ref = greedy_linear_solver(x[i], w[i], x_b[i], lb[i], ub[i], beta=1e-3)
        assert torch.allclose(out.x[i], ref, rtol=0, atol=1e-12)
        assert torch.equal(out.x[i] != x[i], ref != x[i])              # same support
    assert not out.wrong_side.any()


def test_greedy_equality_with_ties_and_images():
    """Tied |w_j| are taken in index order by both; works on (N, C, H, W) shapes."""
    g = torch.Generator().manual_seed(7)
    x = torch.rand(3, 2, 4, 4, generator=g, dtype=torch.float64)
    w = torch.sign(torch.randn(3, 2, 4, 4, generator=g, dtype=torch.float64)) * 0.25  # all |w_j| tie
    x_b = x + 0.6 * w / w.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    out = linear_solver(x, w, x_b, 0.0, 1.0)
    for i in range(3):
        assert torch.allclose(out.x[i], greedy_linear_solver(x[i], w[i], x_b[i], 0.0, 1.0), rtol=0, atol=1e-12)
    assert out.reached.all()


@pytest.mark.parametrize("seed", range(4))
def test_l1_equals_linear_program_on_linear_binary_model(seed):
    """Linear binary model f(z) = v·z + b with a box: the solver's L1 move is the LP optimum."""
    rng = np.random.default_rng(seed)
    d = 60
    v = rng.normal(size=d)
    x = rng.uniform(0.1, 0.9, size=d)
    lb, ub = np.maximum(0.0, x - 0.3), np.minimum(1.0, x + 0.3)
    b = -float(v @ x) - rng.uniform(0.5, 2.0)                            # f(x) < 0: on the negative side
    w = v / np.linalg.norm(v)
    x_b = -b * v / float(v @ v)                                           # a point of the plane f = 0
    t = lambda a: torch.tensor(a)[None]                                   # noqa: E731
    out = linear_solver(t(x), t(w), t(x_b), t(lb), t(ub))
    moved = out.x[0].numpy()
    assert out.reached.item()
    assert np.isclose(float(v @ moved) + b, 0.0, atol=1e-9)              # on the boundary
    assert np.all(moved >= lb) and np.all(moved <= ub)
    assert np.isclose(np.abs(moved - x).sum(), _lp_l1(x, w, x_b, lb, ub, 0.0), rtol=1e-9, atol=1e-10)


def test_wrong_side_is_flagged_and_left_unchanged():
    x, w, x_b, lb, ub = _instance(11)
    x_b[:3] = x[:3] - 0.2 * w[:3]                                        # the first three start past the plane
    out = linear_solver(x, w, x_b, lb, ub)
    assert out.wrong_side.tolist() == [True] * 3 + [False] * 3
    assert torch.equal(out.x[:3], x[:3])
    assert torch.equal(greedy_linear_solver(x[0], w[0], x_b[0], lb[0], ub[0]), x[0])


def test_unreachable_plane_saturates_and_is_flagged():
    x, w, x_b, lb, ub = _instance(3)
    x_b = x + 100.0 * w                                                  # far outside the box
    out = linear_solver(x, w, x_b, lb, ub)
    assert not out.reached.any()
    at_bound = (out.x == torch.where(w > 0, ub, lb)) | (w == 0)
    assert at_bound.all()
    assert torch.equal(out.x[w == 0], x[w == 0])


def test_stays_in_box_and_finite_float32():
    x, w, x_b, lb, ub = (a.float() for a in _instance(5, n=16, d=500))
    out = linear_solver(x, w, x_b, lb, ub, beta=1e-3)
    assert torch.isfinite(out.x).all()
    assert (out.x >= lb).all() and (out.x <= ub).all()
    side = (w * (out.x - x_b)).sum(1)
    assert torch.all(side[out.reached] >= -1e-5) and torch.all(side <= 1e-3 + 1e-5)


@pytest.mark.parametrize("solver", ["vectorised", "greedy"])
def test_stops_when_the_sign_changes_beta_only_lengthens_a_step(solver):
    """The first coordinate saturates 5e-4 past the plane, short of a +1e-3 target: the solver stops
    there (the authors' rule); aiming at +1e-3 would move a second pixel.  Without saturation a step
    lands exactly β past the plane."""
    x = torch.tensor([[0.5, 0.5, 0.5]], dtype=torch.float64)
    w = torch.tensor([[0.8, 0.6, 0.0]], dtype=torch.float64)                  # ‖w‖ = 1
    solve = ((lambda *a, **k: linear_solver(*a, **k).x) if solver == "vectorised" else
             (lambda x, w, x_b, lb, ub, beta: greedy_linear_solver(x[0], w[0], x_b[0], lb, ub, beta=beta)[None]))
    saturating = x + 0.3995 * w                                               # the first coordinate gains at most 0.4
    out = solve(x, w, saturating, 0.0, 1.0, beta=1e-3)
    assert out.tolist() == [[1.0, 0.5, 0.5]]                                  # one pixel moved
    assert 0 < float((w * (out - saturating)).sum()) < 1e-3
    free = x + 0.2 * w                                                        # reached without saturation
    out = solve(x, w, free, 0.0, 1.0, beta=1e-3)
    assert (out != x).sum() == 1 and float((w * (out - free)).sum()) == pytest.approx(1e-3, rel=1e-9)
    two = x + 0.45 * w                                                        # needs the second coordinate
    out = solve(x, w, two, 0.0, 1.0, beta=1e-3)
    assert out[0, 0] == 1.0 and out[0, 2] == 0.5 and float((w * (out - two)).sum()) == pytest.approx(1e-3, rel=1e-9)
