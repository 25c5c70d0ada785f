"""Hypothesis property tests: adjointness and normal = AᴴA over random shapes and masks."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from discofold.operators import BlockCS, CartesianMRI, gaussian_block_matrix


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(2, 24),
    w=st.integers(2, 24),
    coils=st.integers(0, 3),
    batch=st.integers(1, 3),
    two_d=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_cartesian_adjoint_and_normal(h, w, coils, batch, two_d, seed):
    gen = torch.Generator().manual_seed(seed)
    shape = (batch, h, w) if two_d else (batch, 1, w)
    mask = torch.rand(shape, generator=gen) > 0.5
    mask[..., 0] = True  # never empty
    maps = None
    if coils:
        maps = torch.randn(coils, h, w, dtype=torch.complex128, generator=gen)
    op = CartesianMRI(mask, maps, image_shape=(h, w))
    assert op.adjointness_test(generator=gen) < 1e-10
    x = torch.randn(batch, h, w, dtype=torch.complex128, generator=gen)
    torch.testing.assert_close(op.normal(x), op.A_adjoint(op.A(x)), rtol=1e-12, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(block=st.integers(2, 9), ratio=st.floats(0.05, 1.0), nh=st.integers(1, 3),
       nw=st.integers(1, 3), seed=st.integers(0, 2**31 - 1))
def test_blockcs_adjoint(block, ratio, nh, nw, seed):
    gen = torch.Generator().manual_seed(seed)
    op = BlockCS(gaussian_block_matrix(ratio, block=block, generator=gen, dtype=torch.float64),
                 block=block)
    x = torch.randn(nh * block, nw * block, dtype=torch.float64, generator=gen)
    y = torch.randn(nh, nw, op.phi.shape[0], dtype=torch.float64, generator=gen)
    lhs = (op.A(x) * y).sum()
    rhs = (x * op.A_adjoint(y)).sum()
    assert abs(float(lhs - rhs)) <= 1e-10 * max(1.0, abs(float(lhs)))
