"""NUFFT against the dense non-uniform DFT, its adjoint, Toeplitz normal, autograd, backends."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from discofold.errors import InputError, ShapeError
from discofold.operators import NUFFT, fft2c
from discofold.operators._reference import dft2c_dense, ndft, ndft_adjoint

SHAPES = [(37, 31), (32, 48), (16, 17)]


def _traj(k, gen, dtype=torch.float64):
    return (torch.rand(k, 2, generator=gen, dtype=torch.float64) * 2 - 1).mul(math.pi).to(dtype)


def _cplx(shape, gen, dtype=torch.complex128):
    real = torch.float64 if dtype == torch.complex128 else torch.float32
    return torch.complex(torch.randn(shape, generator=gen, dtype=real),
                         torch.randn(shape, generator=gen, dtype=real))


def _rel(a, b):
    return float((a.to(torch.complex128) - b.to(torch.complex128)).norm() / b.norm())


def _cartesian_traj(h, w):
    kh = 2 * math.pi * (torch.arange(h, dtype=torch.float64) - h // 2) / h
    kw = 2 * math.pi * (torch.arange(w, dtype=torch.float64) - w // 2) / w
    return torch.stack(torch.meshgrid(kh, kw, indexing="ij"), -1).reshape(-1, 2)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [torch.complex128, torch.complex64])
def test_default_matches_ndft(shape, dtype):
    gen = torch.Generator().manual_seed(0)
    traj = _traj(700, gen)
    op = NUFFT(traj.to(torch.float32 if dtype == torch.complex64 else torch.float64), shape)
    x = _cplx((2, *shape), gen, dtype)
    y = op.A(x)
    assert y.dtype == dtype and y.shape == (2, 700)
    assert _rel(y, ndft(x, traj)) <= 1e-4
    v = _cplx((2, 700), gen, dtype)
    assert _rel(op.A_adjoint(v), ndft_adjoint(v, traj, shape)) <= 1e-4


@pytest.mark.parametrize("shape", SHAPES)
def test_high_accuracy_matches_ndft(shape):
    gen = torch.Generator().manual_seed(1)
    traj = _traj(600, gen)
    op = NUFFT(traj, shape, accuracy="high")
    x = _cplx(shape, gen)
    err = _rel(op.A(x), ndft(x, traj))
    assert err <= 1e-6
    assert _rel(NUFFT(traj, shape, width=3).A(x), ndft(x, traj)) > 1e-3  # the test can fail


@pytest.mark.parametrize("shape", SHAPES)
def test_cartesian_trajectory_equals_fft2c(shape):
    gen = torch.Generator().manual_seed(2)
    x = _cplx((3, *shape), gen)
    ref = fft2c(x)
    assert float((dft2c_dense(x) - ref).abs().max()) <= 1e-12 * float(ref.abs().max())
    op = NUFFT(_cartesian_traj(*shape), shape)
    assert _rel(op.A(x).reshape(3, *shape), ref) <= 1e-4


@pytest.mark.parametrize("shape", SHAPES + [(1, 9)])
@pytest.mark.parametrize("dtype,tol", [(torch.complex128, 1e-10), (torch.complex64, 1e-5)])
def test_adjointness_with_batches(shape, dtype, tol):
    gen = torch.Generator().manual_seed(3)
    op = NUFFT(_traj(300, gen), shape)
    assert op.adjointness_test(generator=gen, dtype=dtype) <= tol
    x = _cplx((2, 3, *shape), gen, dtype)
    y = _cplx((2, 3, 300), gen, dtype)
    lhs = torch.vdot(op.A(x).reshape(-1), y.reshape(-1))
    rhs = torch.vdot(x.reshape(-1), op.A_adjoint(y).reshape(-1))
    assert abs(complex(lhs - rhs)) <= tol * abs(complex(lhs))
    assert torch.allclose(op.A(x)[1, 2], op.A(x[1, 2]), rtol=1e-5, atol=1e-6)


def test_linearity():
    gen = torch.Generator().manual_seed(4)
    op = NUFFT(_traj(200, gen), (13, 10))
    x1, x2 = _cplx((13, 10), gen), _cplx((13, 10), gen)
    a, b = 0.7 - 0.2j, -1.3 + 0.5j
    assert torch.allclose(op.A(a * x1 + b * x2), a * op.A(x1) + b * op.A(x2), atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [torch.complex128, torch.complex64])
def test_toeplitz_normal(shape, dtype):
    gen = torch.Generator().manual_seed(5)
    traj = _traj(900, gen)
    op = NUFFT(traj, shape)
    x = _cplx((2, *shape), gen, dtype)
    n = op.normal(x)
    assert n.dtype == dtype
    assert _rel(n, op.A_adjoint(op.A(x))) <= 1e-4
    assert _rel(n, ndft_adjoint(ndft(x, traj), traj, shape)) <= 1e-4
    exact = NUFFT(traj, shape, toeplitz=False)
    assert torch.allclose(exact.normal(x), exact.A_adjoint(exact.A(x)), rtol=0, atol=0)


def test_gradcheck_forward_and_adjoint():
    gen = torch.Generator().manual_seed(6)
    op = NUFFT(_traj(11, gen), (5, 4))
    x = _cplx((5, 4), gen).requires_grad_()
    y = _cplx((2, 11), gen).requires_grad_()
    assert torch.autograd.gradcheck(op.A, (x,))
    assert torch.autograd.gradcheck(op.A_adjoint, (y,))
    assert torch.autograd.gradgradcheck(op.A, (x,))


def test_gradient_of_data_fidelity():
    """∇_x ½‖Ax − y‖² = Aᴴ(Ax − y) (PyTorch's conjugate-Wirtinger convention)."""
    gen = torch.Generator().manual_seed(7)
    op = NUFFT(_traj(100, gen), (9, 8))
    x = _cplx((9, 8), gen).requires_grad_()
    y = _cplx((100,), gen)
    (0.5 * (op.A(x) - y).abs().square().sum()).backward()
    assert torch.allclose(x.grad, op.A_adjoint(op.A(x.detach()) - y), atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(h=st.integers(1, 14), w=st.integers(1, 14), k=st.integers(1, 40),
       batch=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_property_random_shapes(h, w, k, batch, seed):
    gen = torch.Generator().manual_seed(seed)
    traj = _traj(k, gen)
    op = NUFFT(traj, (h, w))
    x = _cplx((batch, h, w), gen)
    assert _rel(op.A(x), ndft(x, traj)) <= 1e-4
    assert op.adjointness_test(generator=gen) <= 1e-10


def test_finufft_backend_agrees():
    pytest.importorskip("finufft")
    gen = torch.Generator().manual_seed(8)
    traj = _traj(500, gen)
    shape = (21, 16)
    opf = NUFFT(traj, shape, backend="finufft")
    opt = NUFFT(traj, shape)
    x = _cplx((2, *shape), gen)
    ref = ndft(x, traj)
    assert _rel(opf.A(x), ref) <= 1e-4
    assert _rel(opf.A(x), opt.A(x)) <= 1e-4
    y = _cplx((2, 500), gen)
    assert _rel(opf.A_adjoint(y), ndft_adjoint(y, traj, shape)) <= 1e-4
    assert opf.adjointness_test(generator=gen) <= 1e-6  # finufft's own tolerance
    high = NUFFT(traj, shape, backend="finufft", accuracy="high")
    assert _rel(high.A(x), ref) <= 1e-6
    x64 = x[0].to(torch.complex64)
    assert _rel(opf.A(x64), ref[0]) <= 1e-4
    xg = x[0].clone().requires_grad_()
    opf.A(xg).abs().square().sum().backward()
    assert _rel(xg.grad, 2 * opf.A_adjoint(opf.A(x[0]))) <= 1e-10
    assert _rel(opf.normal(x), opf.A_adjoint(opf.A(x))) <= 1e-4


def test_to_device_and_plan_memory():
    gen = torch.Generator().manual_seed(9)
    op = NUFFT(_traj(50, gen), (8, 6))
    x = _cplx((8, 6), gen)
    moved = op.to("cpu")
    assert torch.equal(moved.A(x), op.A(x))
    assert op.plan_nbytes() > op.plan_nbytes(include_toeplitz=False) > 0
    if torch.cuda.is_available():
        opc = NUFFT(op.traj.cuda(), (8, 6))
        assert _rel(opc.A(x.cuda()).cpu(), op.A(x)) <= 1e-6
        assert _rel(op.to("cuda").normal(x.cuda()).cpu(), op.normal(x)) <= 1e-6


def test_bad_input():
    gen = torch.Generator().manual_seed(10)
    traj = _traj(20, gen)
    op = NUFFT(traj, (6, 5))
    with pytest.raises(InputError, match="complex"):
        op.A(torch.randn(6, 5))
    with pytest.raises(ShapeError, match=r"\(\.\.\., 6, 5\)"):
        op.A(_cplx((5, 6), gen))
    with pytest.raises(InputError, match=r"max 3\.5"):
        NUFFT(traj.clone().index_fill_(0, torch.tensor([3]), 3.5), (6, 5))
    with pytest.raises(InputError, match=r"min -4"):
        NUFFT(traj.clone().index_fill_(0, torch.tensor([3]), -4.0), (6, 5))
    with pytest.raises(InputError, match=r"max 3\.14159"):
        NUFFT(torch.full((3, 2), math.pi), (6, 5))
    with pytest.raises(ShapeError, match=r"\(K, 2\).*\(20, 3\)"):
        NUFFT(torch.zeros(20, 3), (6, 5))
    bad = traj.clone()
    bad[2, 1] = float("nan")
    with pytest.raises(InputError, match="NaN or Inf in 1 of 20"):
        NUFFT(bad, (6, 5))
    with pytest.raises(InputError, match="NaN"):
        op.A(torch.full((6, 5), float("nan"), dtype=torch.complex64))
    with pytest.raises(InputError, match="accuracy"):
        NUFFT(traj, (6, 5), accuracy="best")
    with pytest.raises(InputError, match="backend"):
        NUFFT(traj, (6, 5), backend="cufinufft")
    with pytest.raises(ShapeError, match="image_shape"):
        NUFFT(traj, (6,))
