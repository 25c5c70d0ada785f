"""BlockCS against an explicit block loop, and its sampling matrices."""

import pytest
import torch

from discofold.errors import InputError, ShapeError
from discofold.operators import (
    BlockCS,
    gaussian_block_matrix,
    measurements_for_ratio,
    pad_to_blocks,
)


def test_forward_matches_explicit_block_loop():
    gen = torch.Generator().manual_seed(0)
    phi = gaussian_block_matrix(0.1, generator=gen, dtype=torch.float64)
    x = torch.randn(2, 66, 99, generator=gen, dtype=torch.float64)
    y = BlockCS(phi)(x)
    assert y.shape == (2, 2, 3, 109)
    for b in range(2):
        for i in range(2):
            for j in range(3):
                blk = x[b, 33 * i:33 * (i + 1), 33 * j:33 * (j + 1)].reshape(-1)
                torch.testing.assert_close(y[b, i, j], phi @ blk, rtol=1e-12, atol=1e-12)


def test_rows_orthonormal_and_reproducible():
    for ratio in (0.01, 0.1, 0.25, 0.5, 0.37):
        phi = gaussian_block_matrix(ratio, generator=3, dtype=torch.float64)
        m = measurements_for_ratio(ratio)
        assert phi.shape == (m, 1089)
        torch.testing.assert_close(phi @ phi.T, torch.eye(m, dtype=torch.float64), atol=1e-12,
                                   rtol=0)
    assert torch.equal(gaussian_block_matrix(0.25, generator=7), gaussian_block_matrix(0.25,
                                                                                      generator=7))
    assert not torch.equal(gaussian_block_matrix(0.25, generator=7),
                           gaussian_block_matrix(0.25, generator=8))
    assert measurements_for_ratio(0.25) == 272 and measurements_for_ratio(0.10) == 109


def test_adjoint_of_orthonormal_rows_is_projection():
    gen = torch.Generator().manual_seed(1)
    op = BlockCS(gaussian_block_matrix(0.5, generator=gen, dtype=torch.float64))
    x = torch.randn(33, 66, generator=gen, dtype=torch.float64)
    p = op.normal(x)
    torch.testing.assert_close(op.normal(p), p)  # idempotent: Φᵀ Φ is a projection


def test_errors_and_padding():
    op = BlockCS(gaussian_block_matrix(0.25))
    with pytest.raises(ShapeError, match="multiples of block=33"):
        op(torch.randn(40, 33))
    with pytest.raises(InputError, match="real"):
        op(torch.randn(33, 33, dtype=torch.complex64))
    with pytest.raises(ShapeError, match=r"\(M, block²\)"):
        BlockCS(torch.randn(10, 100))
    with pytest.raises(InputError, match="ratio"):
        gaussian_block_matrix(1.5)
    xp, hw = pad_to_blocks(torch.randn(40, 50))
    assert xp.shape == (66, 66) and hw == (40, 50)
