"""Data-consistency steps against independent references, on every operator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from discofold.errors import ConfigError
from discofold.models.data_consistency import GradientDC, ProximalDC, SoftDC, operator_norm
from discofold.models.unrolled import StageContext
from discofold.operators import BlockCS, CartesianMRI, gaussian_block_matrix

from ._problems import mri_problem, noncartesian_problem, radar_problem


def _np_fft2c(x: np.ndarray) -> np.ndarray:
    ax = (-2, -1)
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=ax), norm="ortho"), axes=ax)


def _np_ifft2c(k: np.ndarray) -> np.ndarray:
    ax = (-2, -1)
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=ax), norm="ortho"), axes=ax)


def _ctx(op, y):
    return StageContext(op=op, aty=op.A_adjoint(y))


def test_soft_dc_on_coil_images_is_varnet_kspace_soft_dc():
    """z − λ A_cᴴ(A_c z − y) equals ifft(k − λ M (k − y)) with k = fft(z) (numpy reference)."""
    g = torch.Generator().manual_seed(0)
    h, w, c = 17, 14, 3
    mask = torch.rand(2, 1, 1, w, generator=g) < 0.4
    mask[..., w // 2] = True
    op = CartesianMRI(mask, image_shape=(h, w))
    z = torch.randn(2, c, h, w, dtype=torch.complex128, generator=g)
    y = op.A(torch.randn(2, c, h, w, dtype=torch.complex128, generator=g))
    r = torch.randn(2, c, h, w, dtype=torch.complex128, generator=g)
    dc = SoftDC(0.7).double()
    out = dc(z, r, _ctx(op, y)).detach().numpy()
    k = _np_fft2c(z.numpy())
    m = mask.numpy()
    lam = float(dc.weight.detach())  # 0.7 rounded to float32 before .double()
    ref = _np_ifft2c(k - lam * m * (k - y.numpy())) + r.numpy()
    np.testing.assert_allclose(out, ref, atol=1e-12)


def _dense(apply, n_in, shape, dtype):
    cols = [apply(torch.zeros(n_in, dtype=dtype).index_fill_(0, torch.tensor([i]), 1)
                  .reshape(shape)).reshape(-1) for i in range(n_in)]
    return torch.stack(cols, 1)


def test_gradient_dc_uses_one_over_the_largest_eigenvalue():
    g = torch.Generator().manual_seed(1)
    phi = gaussian_block_matrix(0.3, 5, generator=g, dtype=torch.float64) * 1.7
    op = BlockCS(phi, 5)
    normal = _dense(op.normal, 100, (10, 10), torch.float64)
    lam = float(torch.linalg.eigvalsh(normal).max())
    assert operator_norm(op) == pytest.approx(lam, rel=2e-2)
    z, x = torch.randn(1, 10, 10, dtype=torch.float64, generator=g), torch.randn(
        1, 10, 10, dtype=torch.float64, generator=g)
    y = op.A(x)
    dc = GradientDC(1.0).double()
    out = dc(z, torch.zeros_like(z), _ctx(op, y))
    alpha = float(torch.nn.functional.softplus(dc.step.detach())) / operator_norm(op)
    ref = z.reshape(-1) - alpha * (normal @ z.reshape(-1) - op.A_adjoint(y).reshape(-1))
    torch.testing.assert_close(out.detach().reshape(-1), ref, rtol=0, atol=1e-12)


def test_prox_dc_matches_the_closed_form_cartesian_solution():
    """(M + μ) k = M y + μ F v has the diagonal solution; CG reaches it (two eigenvalues)."""
    g = torch.Generator().manual_seed(2)
    h, w = 15, 12
    mask = torch.rand(h, w, generator=g) < 0.4
    op = CartesianMRI(mask)
    v = torch.randn(2, h, w, dtype=torch.complex128, generator=g)
    y = op.A(torch.randn(2, h, w, dtype=torch.complex128, generator=g))
    dc = ProximalDC(mu=0.3, n_iter=4).double()
    out = dc(v, torch.zeros_like(v), _ctx(op, y)).detach().numpy()
    m = mask.numpy()
    mu = float(torch.nn.functional.softplus(dc.mu.detach()))
    ref = _np_ifft2c((m * y.numpy() + mu * _np_fft2c(v.numpy())) / (m + mu))
    np.testing.assert_allclose(out, ref, atol=1e-10)


def test_prox_dc_matches_a_dense_solve_for_noncartesian_mri():
    pr = noncartesian_problem(shape=(8, 7), coils=2, spokes=5)
    op = pr.op
    y = pr.y.to(torch.complex64)
    v = torch.randn(1, 8, 7, dtype=torch.complex64, generator=torch.Generator().manual_seed(3))
    dc = ProximalDC(mu=0.5, n_iter=56)
    out = dc(v, torch.zeros_like(v), StageContext(op=op, aty=op.A_adjoint(y[:1])))
    normal = _dense(op.normal, 56, (1, 8, 7), torch.complex64).to(torch.complex128)
    mu = float(torch.nn.functional.softplus(dc.mu.detach()))
    b = op.A_adjoint(y[:1]).reshape(-1).to(torch.complex128) + mu * v.reshape(-1)
    ref = torch.linalg.solve(normal + mu * torch.eye(56, dtype=torch.complex128), b)
    torch.testing.assert_close(out.detach().reshape(-1).to(torch.complex128), ref, rtol=0,
                               atol=1e-4 * float(ref.abs().max()))


def _operators():
    mri = mri_problem(shape=(11, 9), coils=2)
    nc = noncartesian_problem(shape=(10, 9), coils=2, spokes=7)
    rad = radar_problem(size=12)
    phi = gaussian_block_matrix(0.4, 6, generator=0)
    x_b = torch.rand(2, 12, 6, generator=torch.Generator().manual_seed(0))
    bcs = BlockCS(phi, 6)
    return {"cartesian": (mri.op, mri.x), "noncartesian": (nc.op, nc.x),
            "radar": (rad.op, rad.x), "blockcs": (bcs, x_b)}


@pytest.mark.parametrize("kind", ["cartesian", "noncartesian", "radar", "blockcs"])
@pytest.mark.parametrize("dc_cls", [SoftDC, GradientDC, ProximalDC])
def test_every_dc_fixes_the_truth_on_every_operator(kind, dc_cls):
    """Noise-free data y = A x: x is a fixed point of every DC step (residual AᴴA x − Aᴴy = 0;
    the proximal problem is minimised at x).  A perturbed x moves towards the data."""
    op, x = _operators()[kind]
    y = op.A(x)
    ctx = StageContext(op=op, aty=op.A_adjoint(y))
    dc = dc_cls() if dc_cls is not ProximalDC else ProximalDC(mu=1.0, n_iter=30)
    with torch.no_grad():
        out = dc(x, torch.zeros_like(x), ctx)
        scale = float(x.abs().max())
        assert float((out - x).abs().max()) <= 2e-4 * scale
        z = x + 0.1 * scale * torch.randn(x.shape, dtype=x.dtype,
                                          generator=torch.Generator().manual_seed(4))
        before = float((op.A(z) - y).abs().pow(2).sum())
        moved = dc(z, torch.zeros_like(z), ctx)
        after = float((op.A(moved) - y).abs().pow(2).sum())
    if dc_cls is SoftDC and kind in ("noncartesian", "radar"):
        assert math.isfinite(after)  # λ = 1 is not a descent step unless ‖A‖ <= 1: learned
    else:
        assert after < before


def test_soft_dc_weight_stays_positive_under_any_update():
    """λ = softplus(raw): a gradient step that would drive λ negative only shrinks it."""
    dc = SoftDC(0.5)
    with torch.no_grad():
        dc.weight_raw.sub_(100.0)  # far past where an unconstrained λ would change sign
    assert 0.0 < float(dc.weight.detach()) < 1e-6
    with pytest.raises(ConfigError, match="SoftDC weight must be > 0"):
        SoftDC(-0.1)


def test_soft_dc_loads_the_former_unconstrained_weight():
    """Checkpoints of the unconstrained parametrisation load with the same λ (clamped at 1e-4
    where it had gone negative)."""
    dc = SoftDC()
    dc.load_state_dict({"weight": torch.tensor(0.37)})
    assert float(dc.weight.detach()) == pytest.approx(0.37, rel=1e-6)
    dc.load_state_dict({"weight": torch.tensor(-0.058)})
    assert float(dc.weight.detach()) == pytest.approx(1e-4, rel=1e-3)
    assert set(dc.state_dict()) == {"weight_raw"}
