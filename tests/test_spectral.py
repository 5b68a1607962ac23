"""DCT transforms and subspace families against exact answers (orthonormality, Parseval, dense bases)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from probe.errors import ParameterError, ShapeError
from probe.spectral import (
    Bases,
    PerSampleBases,
    dct2,
    dct_diagonal_blocks,
    dct_matrix,
    dct_offdiagonal_blocks,
    default_block_stride,
    energy_spectrum,
    frequency_flip,
    high_pass,
    idct2,
    low_pass,
    random_subspaces,
)


@pytest.mark.parametrize("n", [1, 7, 28, 32])
def test_dct_matrix_is_orthonormal(n):
    c = dct_matrix(n, torch.float64)
    torch.testing.assert_close(c @ c.T, torch.eye(n, dtype=torch.float64))


def test_dct2_parseval_and_inverse_any_shape():
    x = torch.randn(4, 3, 5, 9, dtype=torch.float64)
    coefficients = dct2(x)
    torch.testing.assert_close(coefficients.square().sum((-2, -1)), x.square().sum((-2, -1)))
    torch.testing.assert_close(idct2(coefficients), x)
    # a constant image has all its energy in the DC coefficient
    torch.testing.assert_close(dct2(torch.ones(1, 4, 4, dtype=torch.float64))[0, 0, 0],
                               torch.tensor(4.0, dtype=torch.float64))


@pytest.mark.parametrize("size, block, stride, count", [(28, 8, 1, 21), (32, 8, 2, 13), (224, 16, 16, 14)])
def test_default_diagonal_blocks(size, block, stride, count):
    assert default_block_stride(size) == (block, stride)
    family = dct_diagonal_blocks((3, size, size))
    assert len(family) == count and (family.dimensions == 3 * block * block).all()
    assert family.starts[-1, 0] + block <= size < family.starts[-1, 0] + stride + block


def test_offdiagonal_blocks_cover_the_grid_without_the_diagonal():
    family = dct_offdiagonal_blocks((1, 8, 8), block=4, stride=2)
    starts = {tuple(s) for s in family.starts.tolist()}
    assert starts == {(a, b) for a in (0, 2, 4) for b in (0, 2, 4) if a != b}
    assert len(dct_offdiagonal_blocks((1, 8, 8), 4, 2, include_diagonal=True)) == 9


def dense_dct_block_basis(size: int, a: int, b: int, k: int) -> torch.Tensor:
    """Orthonormal basis (D, k²) of the DCT block [a,a+k)×[b,b+k), as outer products of DCT rows."""
    c = dct_matrix(size, torch.float64)
    return torch.stack([torch.outer(c[i], c[j]).flatten() for i in range(a, a + k) for j in range(b, b + k)], 1)


def test_dct_projection_equals_dense_basis_projection_row_by_row():
    family = dct_offdiagonal_blocks((1, 8, 8), block=3, stride=2, include_diagonal=True)
    g = torch.randn(len(family), 1, 8, 8, dtype=torch.float64)
    which = torch.arange(len(family)).flip(0)
    projected = family.project(g, which)
    for i, member in enumerate(which.tolist()):
        a, b = family.starts[member]
        u = dense_dct_block_basis(8, a, b, 3)
        torch.testing.assert_close(projected[i].flatten(), u @ (u.T @ g[i].flatten()))
    torch.testing.assert_close(family.project(projected, which), projected)  # idempotent


def test_random_and_user_bases():
    family = random_subspaces((1, 4, 4), dimension=3, count=2, seed=5)
    u = family.bases.double()
    torch.testing.assert_close(u.transpose(1, 2) @ u, torch.eye(3, dtype=torch.float64).expand(2, 3, 3),
                               atol=1e-6, rtol=0)
    assert torch.equal(family.bases, random_subspaces((1, 4, 4), 3, 2, seed=5).bases)
    assert not torch.equal(family.bases, random_subspaces((1, 4, 4), 3, 2, seed=6).bases)
    g = torch.randn(6, 1, 4, 4)
    which = torch.tensor([0, 1, 1, 0, 1, 0])
    p = family.project(g, which)
    for i, member in enumerate(which.tolist()):
        torch.testing.assert_close(p[i].flatten(), family.bases[member] @ (family.bases[member].T @ g[i].flatten()))
    with pytest.raises(ParameterError):
        Bases((1, 4, 4), torch.randn(16, 3))
    user = Bases((1, 4, 4), torch.randn(16, 3), orthonormalize=True)
    assert user.dimensions.tolist() == [3]
    with pytest.raises(ShapeError):
        Bases((1, 4, 4), torch.randn(15, 3))
    with pytest.raises(ShapeError):
        family.project(torch.randn(2, 1, 5, 5), torch.tensor([0, 1]))


def test_energy_spectrum_shares_and_flip_mirrors_blocks():
    grid = dct_offdiagonal_blocks((2, 8, 8), block=4, stride=4, include_diagonal=True)  # a partition
    delta = torch.randn(5, 2, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(energy_spectrum(delta, grid).sum(1), torch.ones(5, dtype=torch.float64))
    coefficient = torch.zeros(1, 1, 28, 28, dtype=torch.float64)
    coefficient[0, 0, 10, 11] = 1.0
    diagonal = dct_diagonal_blocks((1, 28, 28))
    energy = energy_spectrum(idct2(coefficient), diagonal)[0]
    expected = torch.tensor([1.0 if a <= 10 and 11 < a + 8 else 0.0 for a in range(21)], dtype=torch.float64)
    torch.testing.assert_close(energy, expected)
    # the flip maps block a to block N − K − a
    delta = torch.randn(3, 1, 28, 28, dtype=torch.float64)
    torch.testing.assert_close(energy_spectrum(frequency_flip(delta), diagonal),
                               energy_spectrum(delta, diagonal).flip(1))
    assert torch.equal(energy_spectrum(torch.zeros(1, 1, 28, 28), diagonal), torch.zeros(1, 21))


def test_flip_is_orthogonal_involution_and_passes_use_last_axes():
    x = torch.randn(2, 3, 12, 12, dtype=torch.float64)
    torch.testing.assert_close(frequency_flip(frequency_flip(x)), x)
    torch.testing.assert_close(frequency_flip(x).norm(), x.norm())
    low, high = low_pass(x, 4), high_pass(x, 4)
    assert dct2(low)[..., 4:, :].abs().max() < 1e-12 and dct2(low)[..., :, 4:].abs().max() < 1e-12
    assert dct2(high)[..., :8, :].abs().max() < 1e-12
    torch.testing.assert_close(dct2(low)[..., :4, :4], dct2(x)[..., :4, :4])


def test_bad_block_parameters():
    with pytest.raises(ParameterError):
        dct_diagonal_blocks((1, 8, 8), block=9)
    with pytest.raises(ParameterError):
        dct_diagonal_blocks((1, 8, 8), block=4, stride=0)
    with pytest.raises(ParameterError):
        dct_diagonal_blocks((1, 8, 8)).select(99)
    assert np.all(dct_diagonal_blocks((1, 8, 8), 4, 2).starts[:, 0] == [0, 2, 4])


def test_per_sample_bases_project_each_row_on_its_own_sample_basis():
    generator = torch.Generator().manual_seed(0)
    directions = torch.nn.functional.normalize(torch.randn(3, 12, generator=generator), dim=1)
    family = PerSampleBases((1, 3, 4), directions[:, :, None], [40, 7, 19])
    assert family.members([19, 40, 7, 19]).tolist() == [2, 0, 1, 2]
    g = torch.randn(4, 1, 3, 4, generator=generator)
    projected = family.project(g, family.members([19, 40, 7, 19])).flatten(1)
    for row, member in enumerate([2, 0, 1, 2]):   # (g·v) v with v the sample's own direction
        v = directions[member]
        torch.testing.assert_close(projected[row], (g[row].flatten() @ v) * v)
    with pytest.raises(ParameterError, match="no basis"):
        family.members([7, 8])
    with pytest.raises(ParameterError, match="one distinct sample index"):
        PerSampleBases((1, 3, 4), directions[:, :, None], [1, 2])
