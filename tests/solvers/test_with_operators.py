"""The solvers with discofold's own operators (operator-agnostic, batched, per-sample masks)."""

from __future__ import annotations

import math

import pytest
import torch

from discofold.operators import BlockCS, CartesianMRI, NonCartesianMRI, gaussian_block_matrix
from discofold.solvers import cg_sense, fista, polar_format, radar_geometry, tv, zero_filled


def _crandn(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(shape, generator=g, dtype=torch.float64),
                         torch.randn(shape, generator=g, dtype=torch.float64))


def _maps(c, h, w, seed=1):
    i = torch.linspace(-1, 1, h, dtype=torch.float64)[:, None]
    j = torch.linspace(-1, 1, w, dtype=torch.float64)[None, :]
    maps = torch.stack([torch.exp(-((i - math.cos(a)) ** 2 + (j - math.sin(a)) ** 2))
                        * torch.exp(1j * (a + i * j)) for a in torch.arange(c) * 2.4 + seed])
    return maps / maps.abs().square().sum(0).sqrt()


def _cartesian(h=24, w=19):
    masks = torch.zeros(2, 1, w)
    masks[0, 0, ::2] = 1
    masks[1, 0, 1::3] = 1
    masks[:, :, w // 2 - 2: w // 2 + 3] = 1
    return CartesianMRI(masks, coil_maps=_maps(3, h, w).to(torch.complex128))


def test_cg_sense_on_multicoil_cartesian_solves_normal_equations():
    op = _cartesian()
    x = _crandn(2, 24, 19)
    y = op.A(x)
    lam = 1e-2
    xh = cg_sense(y, op, lam=lam, max_iter=200, tol=1e-12)
    resid = op.normal(xh) + lam * xh - op.A_adjoint(y)
    assert float(resid.abs().max()) < 1e-8
    # fully sampled, λ = 0: exact recovery (Σ|S|² = 1)
    full = CartesianMRI(torch.ones(19), coil_maps=_maps(3, 24, 19).to(torch.complex128))
    assert torch.allclose(cg_sense(full.A(x), full, lam=0.0, max_iter=5), x, atol=1e-10)


@pytest.mark.parametrize("solve", [
    lambda y, op: cg_sense(y, op, lam=0.05, max_iter=20, tol=0),
    lambda y, op: fista(y, op, 0.01, max_iter=15, tol=0, step=0.99),
    lambda y, op: tv(y, op, 0.01, max_iter=15, tol=0, L=1.0),
    lambda y, op: tv(y, op, 0.01, method="admm", max_iter=5, tol=0),
])
def test_batch_with_per_sample_masks_matches_single_runs(solve):
    # (step sizes are shared over a batch; fixed here so that single runs use the same)
    op = _cartesian()
    y = op.A(_crandn(2, 24, 19))
    both = solve(y, op)
    for b in range(2):
        single = CartesianMRI(op.mask[b], coil_maps=op.coil_maps)
        assert torch.allclose(both[b], solve(y[b], single), atol=1e-9)


def test_zero_filled_noncartesian_with_dcf_on_cartesian_grid_is_exact():
    h, w = 12, 10
    kh = 2 * math.pi * (torch.arange(h) - h // 2) / h
    kw = 2 * math.pi * (torch.arange(w) - w // 2) / w
    traj = torch.stack(torch.meshgrid(kh, kw, indexing="ij"), -1).reshape(-1, 2)
    op = NonCartesianMRI(traj.to(torch.float64), (h, w), dcf=3 * torch.ones(h * w))
    x = _crandn(h, w)
    assert torch.allclose(zero_filled(op.A(x), op), x, atol=1e-3)  # NUFFT accuracy


def test_real_block_cs_operator():
    phi = gaussian_block_matrix(0.5, block=8, generator=3, dtype=torch.float64)
    op = BlockCS(phi, block=8)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 24, generator=g, dtype=torch.float64)
    y = op.A(x)
    xh = cg_sense(y, op, lam=0.1, max_iter=100, tol=1e-12)
    assert not xh.is_complex()
    assert float((op.normal(xh) + 0.1 * xh - op.A_adjoint(y)).abs().max()) < 1e-9
    xf = fista(y, op, 1e-3, max_iter=30)
    assert not xf.is_complex() and xf.shape == x.shape
    assert float((op.A(xf) - y).norm()) < 0.5 * float(y.norm())


def test_polar_radar_if_available():
    radar = pytest.importorskip("discofold.operators.radar")
    th = (torch.arange(24, dtype=torch.float64) - 12) * math.radians(3.0) / 24
    f = 10e9 + (torch.arange(20, dtype=torch.float64) - 10) * 25e6
    op = radar.PolarRadar(th, f, (20, 18), (20 * 0.25, 18 * 0.25))
    x = torch.zeros(20, 18, dtype=torch.complex128)
    x[10, 9], x[13, 5] = 1.0, 0.5j
    echo = op.A(x)
    assert torch.allclose(zero_filled(echo, op), op.dc_adjoint(echo))
    img = polar_format(echo, **radar_geometry(op))
    assert divmod(int(img.abs().argmax()), 18) == (10, 9)
    assert abs(complex(img[10, 9]) - 1) < 0.05
    sparse = fista(echo, op, lam=1e-3 * float(op.A_adjoint(echo).abs().max()),
                   transform="identity", max_iter=300)
    assert float((sparse - x).norm() / x.norm()) < 0.05
