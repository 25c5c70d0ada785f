"""The battery every operator registered in ``_battery.FACTORIES`` must pass (sigpy style)."""

import pytest
import torch

from ._battery import FACTORIES, NORMAL_TOL


def _rand_like_op(op, which, dtype, gen, extra_batch=()):
    trailing = op._concrete(op.in_shape if which == "in" else op.out_shape)
    is_c = op.complex_input if which == "in" else op.complex_output
    shape = (*extra_batch, *op.batch_shape, *trailing)
    real = torch.float64 if dtype == torch.complex128 else torch.float32
    if is_c:
        return torch.complex(
            torch.randn(shape, generator=gen, dtype=real),
            torch.randn(shape, generator=gen, dtype=real),
        )
    return torch.randn(shape, generator=gen, dtype=real)


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("dtype,tol", [(torch.complex128, 1e-10), (torch.complex64, 1e-5)])
def test_adjointness(name, dtype, tol):
    gen = torch.Generator().manual_seed(1)
    op = FACTORIES[name](dtype, gen)
    assert op.adjointness_test(generator=gen, dtype=dtype) <= tol


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_linearity_and_normal(name):
    gen = torch.Generator().manual_seed(2)
    dtype = torch.complex128
    op = FACTORIES[name](dtype, gen)
    x1 = _rand_like_op(op, "in", dtype, gen)
    x2 = _rand_like_op(op, "in", dtype, gen)
    a, b = 0.7 - 0.2j, -1.3 + 0.5j
    if not op.complex_input:
        a, b = 0.7, -1.3
    lhs = op.A(a * x1 + b * x2)
    rhs = a * op.A(x1) + b * op.A(x2)
    assert torch.allclose(lhs, rhs, rtol=1e-10, atol=1e-10)
    n1 = op.normal(x1)
    n2 = op.A_adjoint(op.A(x1))
    assert (n1 - n2).abs().max() <= NORMAL_TOL[name] * n2.abs().max()


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_adjoint_operator_and_extra_batch(name):
    gen = torch.Generator().manual_seed(3)
    dtype = torch.complex128
    op = FACTORIES[name](dtype, gen)
    y = _rand_like_op(op, "out", dtype, gen)
    assert torch.allclose(op.H.A(y), op.A_adjoint(y))
    assert op.H.H is op
    # extra leading batch dimension broadcasts against the operator's batch shape
    x = _rand_like_op(op, "in", dtype, gen, extra_batch=(2,))
    out = op.A(x)
    ref = torch.stack([op.A(x[i]) for i in range(2)])
    assert torch.allclose(out, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_compute_norm_matches_dense_bound(name):
    gen = torch.Generator().manual_seed(4)
    op = FACTORIES[name](torch.complex128, gen)
    lam = op.compute_norm(max_iter=300, tol=1e-9, dtype=torch.complex128)
    # Rayleigh quotients of random vectors never exceed the largest eigenvalue
    for _ in range(3):
        x = _rand_like_op(op, "in", torch.complex128, gen)
        dims = tuple(range(x.ndim - len(op.in_shape), x.ndim))
        rq = (op.A(x).abs().pow(2).flatten(-len(op.out_shape)).sum(-1)
              / x.abs().pow(2).sum(dims))
        assert float(rq.max()) <= lam * (1 + 1e-6)
