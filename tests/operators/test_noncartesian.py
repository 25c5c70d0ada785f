"""NonCartesianMRI against per-coil dense NDFTs; density compensation (radial, Pipe–Menon)."""

import math

import pytest
import torch

from discofold.errors import InputError, ShapeError
from discofold.operators import NUFFT, NonCartesianMRI, pipe_menon_dcf, radial_dcf
from discofold.operators._reference import ndft, ndft_adjoint


def _cplx(shape, gen, dtype=torch.complex128):
    real = torch.float64 if dtype == torch.complex128 else torch.float32
    return torch.complex(torch.randn(shape, generator=gen, dtype=real),
                         torch.randn(shape, generator=gen, dtype=real))


def _maps(shape, gen):
    s = _cplx(shape, gen)
    return s / s.abs().square().sum(-3, keepdim=True).sqrt()


def _radial(spokes, samples):
    ang = torch.arange(spokes, dtype=torch.float64) * math.pi / spokes
    r = 2 * math.pi * (torch.arange(samples, dtype=torch.float64) - samples // 2) / samples
    k = torch.stack([r[None] * torch.cos(ang[:, None]), r[None] * torch.sin(ang[:, None])], -1)
    return k.reshape(-1, 2)


def _rel(a, b):
    return float((a.to(torch.complex128) - b.to(torch.complex128)).norm() / b.norm())


def _smooth_image(h, w):
    yy, xx = torch.meshgrid(torch.arange(h) - h // 2, torch.arange(w) - w // 2, indexing="ij")
    g = torch.exp(-(yy.double() ** 2 / (2 * 6.0**2) + xx.double() ** 2 / (2 * 5.0**2)))
    return g * torch.exp(1j * 0.05 * xx.double())


@pytest.mark.parametrize("shape", [(37, 31), (24, 32)])
def test_multicoil_forward_matches_per_coil_ndft(shape):
    gen = torch.Generator().manual_seed(0)
    traj = (torch.rand(400, 2, generator=gen, dtype=torch.float64) * 2 - 1) * math.pi
    maps = _maps((4, *shape), gen)
    op = NonCartesianMRI(traj, shape, coil_maps=maps)
    x = _cplx((2, *shape), gen)
    y = op.A(x)
    assert y.shape == (2, 4, 400)
    assert _rel(y, ndft(x.unsqueeze(-3) * maps, traj)) <= 1e-4
    v = _cplx((2, 4, 400), gen)
    ref = (ndft_adjoint(v, traj, shape) * maps.conj()).sum(-3)
    assert _rel(op.A_adjoint(v), ref) <= 1e-4
    single = NonCartesianMRI(traj, shape)
    assert single.out_shape == (400,) and _rel(single.A(x), ndft(x, traj)) <= 1e-4


@pytest.mark.parametrize("dtype,tol", [(torch.complex128, 1e-10), (torch.complex64, 1e-5)])
def test_adjointness_batched_maps(dtype, tol):
    gen = torch.Generator().manual_seed(1)
    traj = (torch.rand(250, 2, generator=gen, dtype=torch.float64) * 2 - 1) * math.pi
    op = NonCartesianMRI(traj, (15, 12), coil_maps=_maps((2, 3, 15, 12), gen))
    assert op.batch_shape == (2,)
    assert op.adjointness_test(generator=gen, dtype=dtype) <= tol
    x1, x2 = _cplx((2, 15, 12), gen), _cplx((2, 15, 12), gen)
    assert torch.allclose(op.A(2j * x1 - x2), 2j * op.A(x1) - op.A(x2), atol=1e-12)


def test_toeplitz_normal_and_weighted_normal():
    gen = torch.Generator().manual_seed(2)
    traj = _radial(40, 48)
    shape = (33, 28)
    maps = _maps((3, *shape), gen)
    dcf = radial_dcf(traj, shape)
    op = NonCartesianMRI(traj, shape, coil_maps=maps, dcf=dcf)
    x = _cplx(shape, gen)
    assert _rel(op.normal(x), op.A_adjoint(op.A(x))) <= 1e-4
    assert _rel(op.weighted_normal(x), op.A_adjoint(dcf * op.A(x))) <= 1e-4
    assert _rel(op.A_dagger(op.A(x)), op.A_adjoint(dcf * op.A(x))) <= 1e-12
    x32 = x.to(torch.complex64)
    assert _rel(op.normal(x32), op.A_adjoint(op.A(x))) <= 1e-4


def test_gradcheck_multicoil():
    gen = torch.Generator().manual_seed(3)
    traj = (torch.rand(9, 2, generator=gen, dtype=torch.float64) * 2 - 1) * math.pi
    op = NonCartesianMRI(traj, (4, 5), coil_maps=_maps((2, 4, 5), gen))
    x = _cplx((4, 5), gen).requires_grad_()
    assert torch.autograd.gradcheck(op.A, (x,))
    assert torch.autograd.gradcheck(op.normal, (x,))


def test_radial_dcf_is_ring_area():
    shape = (48, 40)
    traj = _radial(80, 64)
    w = radial_dcf(traj, shape)
    dk = 2 * math.pi / 64
    cell = (2 * math.pi / 48) * (2 * math.pi / 40)
    r = traj.norm(dim=1)
    # away from the centre, a ring of 2 × 80 samples shares the annulus 2π r dk
    mid = (r > 3 * dk) & (r < math.pi - 2 * dk)
    assert torch.allclose(w[mid], (2 * math.pi * r[mid] * dk / 160) / cell, rtol=1e-9)
    # the DC sample (80 copies) shares the disc of radius dk / 2 (the DC fix)
    dc = math.pi * (dk / 2) ** 2 / 80 / cell
    assert torch.allclose(w[r == 0], torch.full_like(w[r == 0], dc))
    with pytest.raises(InputError, match="radial"):
        radial_dcf((torch.rand(100, 2, dtype=torch.float64) - 0.5) * 6, shape)


def test_dcf_weighted_adjoint_reconstructs_smooth_image():
    shape = (48, 40)
    traj = _radial(80, 64)
    x = _smooth_image(*shape)
    op = NonCartesianMRI(traj, shape, dcf=radial_dcf(traj, shape))
    assert _rel(op.A_dagger(op.A(x)), x) <= 0.06
    assert _rel(op.A_adjoint(op.A(x)), x) >= 0.5  # without compensation it is far off
    pm = NonCartesianMRI(traj, shape, dcf=pipe_menon_dcf(traj, shape))
    assert _rel(pm.A_dagger(pm.A(x)), x) <= 0.03


def test_pipe_menon_converges_to_flat_density():
    shape = (48, 40)
    traj = _radial(80, 64)
    w = pipe_menon_dcf(traj, shape, n_iter=30)
    r = traj.norm(dim=1)
    inner = r < 0.7 * math.pi
    ratio = w[inner] / radial_dcf(traj, shape)[inner]
    assert abs(float(ratio.median()) - 1) <= 1e-3
    psf = NUFFT(traj, shape).A(NUFFT(traj, shape).A_adjoint(w.to(torch.complex128)))
    centre = psf[r < 0.5 * math.pi].real
    assert abs(float(centre.mean()) - 1) <= 0.01 and float(centre.std()) <= 0.03
    w1 = pipe_menon_dcf(traj, shape, n_iter=1)
    assert float((w1 / w).std()) > 0.1  # a single iteration is not converged


def test_bad_input():
    gen = torch.Generator().manual_seed(4)
    traj = _radial(8, 16)
    with pytest.raises(ShapeError, match=r"\(2, 3, 10\).*\(12, 10\)|\(12, 10\).*\(2, 3, 10\)"):
        NonCartesianMRI(traj, (12, 10), coil_maps=_cplx((2, 3, 10), gen))
    with pytest.raises(InputError, match="complex"):
        NonCartesianMRI(traj, (12, 10), coil_maps=torch.ones(2, 12, 10))
    with pytest.raises(ShapeError, match=r"\(128,\).*\(127,\)"):
        NonCartesianMRI(traj, (12, 10), dcf=torch.ones(127))
    with pytest.raises(InputError, match="non-negative"):
        NonCartesianMRI(traj, (12, 10), dcf=-torch.ones(128))
    op = NonCartesianMRI(traj, (12, 10))
    with pytest.raises(InputError, match="dcf"):
        op.A_dagger(_cplx((128,), gen))
    with pytest.raises(InputError, match="complex"):
        op.A(torch.ones(12, 10))
    with pytest.raises(InputError, match=r"min -4\.08.*max 3\.77"):
        NonCartesianMRI(traj * 1.3, (12, 10))
