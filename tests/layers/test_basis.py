"""Basis functions: values against torch-harmonics / neuraloperator and independent formulas."""

from __future__ import annotations

import math

import pytest
import torch

from discofold.errors import InputError
from discofold.layers._basis import BASES, basis_integrals, basis_size, evaluate_basis

from ._neuralop_loader import load_neuralop_disco

SHAPES_2D = [(3, 4), (4, 4), (5, 3), (2, 6), (6, 5), (3, 1), (4, 1), (5, 1)]


def _offsets(n: int = 41, m: int = 37, seed: int = 0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, m, generator=g, dtype=dtype) * 2.4 - 1.2
    y = torch.rand(n, m, generator=g, dtype=dtype) * 2.4 - 1.2
    return torch.sqrt(x**2 + y**2), torch.atan2(y, x)


def _dense_th(kernel_shape, r, phi, r_cutoff=1.0):
    from torch_harmonics.filter_basis import PiecewiseLinearFilterBasis

    b = PiecewiseLinearFilterBasis(list(kernel_shape))
    idx, vals = b.compute_support_vals(r, phi, r_cutoff=r_cutoff)
    out = torch.zeros(b.kernel_size, *r.shape, dtype=vals.dtype)
    out[idx[:, 0], idx[:, 1], idx[:, 2]] = vals
    return out


@pytest.mark.parametrize("ks", SHAPES_2D)
def test_piecewise_linear_matches_torch_harmonics(ks):
    pytest.importorskip("torch_harmonics")
    r, phi = _offsets()
    ref = _dense_th(ks, r, phi)
    ours = evaluate_basis("piecewise_linear", ks, r, phi)
    assert ours.shape == ref.shape == (basis_size("piecewise_linear", ks), *r.shape)
    torch.testing.assert_close(ours, ref.to(ours.dtype), atol=1e-5, rtol=0)
    # physical radius: torch-harmonics with r_cutoff = 0.3 at r * 0.3
    ref_rc = _dense_th(ks, 0.3 * r, phi, r_cutoff=0.3)
    torch.testing.assert_close(ours, ref_rc.to(ours.dtype), atol=1e-5, rtol=0)


@pytest.mark.parametrize("ks", [(3, 4), (4, 3), (5, 2)])
def test_piecewise_linear_matches_neuralop_filter_matrix(ks):
    """neuraloperator evaluates torch-harmonics' basis at phi = atan2(dy, dx) + pi."""
    nop = load_neuralop_disco()
    g = torch.Generator().manual_seed(1)
    grid_in = torch.rand(2, 90, generator=g) * 2 - 1
    grid_out = torch.rand(2, 7, generator=g) * 2 - 1
    rc = 0.6
    idx, vals = nop._precompute_convolution_filter_matrix(
        grid_in, grid_out, list(ks), torch.ones(90), normalize=False, radius_cutoff=rc
    )
    K = basis_size("piecewise_linear", ks)
    dense = torch.zeros(K, 7, 90)
    dense[idx[0], idx[1], idx[2]] = vals
    d = grid_in[:, None, :] - grid_out[:, :, None]
    r = torch.sqrt(d[0] ** 2 + d[1] ** 2) / rc
    phi = torch.atan2(d[1], d[0]) + math.pi
    ours = evaluate_basis("piecewise_linear", ks, r, phi)
    torch.testing.assert_close(ours, dense, atol=1e-5, rtol=0)
    # neuraloperator's weight count follows the older convention
    assert (ks[0] - 1) * ks[1] + 1 == basis_size("piecewise_linear_nop", ks)


def _nop_scalar(nr, nphi, r, phi):
    """Unified-MRI / torch-harmonics < 0.7.4 piecewise-linear basis, one point at a time."""
    dr = 1.0 / nr
    hat = lambda d, w: max(0.0, 1.0 - abs(d) / w)  # noqa: E731
    if r > 1.0:
        return [0.0] * basis_size("piecewise_linear_nop", (nr, nphi))
    if nphi == 1:
        return [hat(r - k * dr, dr) for k in range(nr)]
    dphi = 2 * math.pi / nphi
    vals = [hat(r, dr)]
    for ring in range(1, nr):
        for j in range(nphi):
            dp = abs((phi - j * dphi + math.pi) % (2 * math.pi) - math.pi)
            vals.append(hat(r - ring * dr, dr) * hat(dp, dphi))
    return vals


@pytest.mark.parametrize("ks", [(3, 4), (4, 3), (2, 5), (5, 1)])
def test_piecewise_linear_nop_matches_scalar_formula(ks):
    r, phi = _offsets(9, 11, seed=3)
    ours = evaluate_basis("piecewise_linear_nop", ks, r, phi)
    ref = torch.tensor([[_nop_scalar(*ks, a, b) for a, b in zip(rr, pp)] for rr, pp in
                        zip(r.tolist(), phi.tolist())], dtype=torch.float64).permute(2, 0, 1)
    torch.testing.assert_close(ours, ref, atol=1e-12, rtol=0)


def test_harmonic_matches_scalar_formula():
    nr, nphi = 3, 5
    r, phi = _offsets(7, 6, seed=4)
    ours = evaluate_basis("harmonic", (nr, nphi), r, phi)
    assert ours.shape[0] == basis_size("harmonic", (nr, nphi)) == 15
    for i in range(7):
        for j in range(6):
            a, b = r[i, j].item(), phi[i, j].item()
            win = math.cos(math.pi * a / 2) ** 2 if a <= 1 else 0.0
            ang = [1.0, a * math.cos(b), a * math.sin(b)]
            ang += [a**2 * math.cos(2 * b), a**2 * math.sin(2 * b)]
            ref = [win * math.cos(math.pi * n * a) * t for n in range(nr) for t in ang]
            torch.testing.assert_close(ours[:, i, j], torch.tensor(ref, dtype=torch.float64))


@pytest.mark.parametrize("basis,ks", [("piecewise_linear", (5, 4)), ("piecewise_linear", (4, 3)),
                                      ("piecewise_linear_nop", (4, 6)), ("isotropic", 5)])
def test_partition_of_unity_inside_last_ring(basis, ks):
    r, phi = _offsets(30, 30, seed=5)
    nr = ks if isinstance(ks, int) else ks[0]
    last = (nr - 1) / (nr + 1) if basis == "piecewise_linear" else (nr - 1) / nr
    total = evaluate_basis(basis, ks, r, phi).sum(0)
    inner = r <= last
    if basis == "piecewise_linear" and nr % 2 == 0:
        inner &= r >= 1.0 / (nr + 1)  # the folded centre sums to 1 as well, checked on the annulus
    torch.testing.assert_close(total[inner], torch.ones_like(total[inner]))
    assert torch.all(total[r > 1] == 0)


@pytest.mark.parametrize("basis,ks", [("piecewise_linear", (5, 4)), ("isotropic", 4),
                                      ("harmonic", (2, 3)), ("piecewise_linear_nop", (3, 3))])
def test_integrals_match_fine_cartesian_quadrature(basis, ks):
    n = 1601
    x = torch.linspace(-1, 1, n, dtype=torch.float64)
    X, Y = torch.meshgrid(x, x, indexing="ij")
    vals = evaluate_basis(basis, ks, torch.sqrt(X**2 + Y**2), torch.atan2(Y, X))
    ref = vals.sum(dim=(1, 2)) * (2 / (n - 1)) ** 2
    torch.testing.assert_close(basis_integrals(basis, ks), ref, atol=2e-5, rtol=0)


def test_isotropic_integrals_analytic():
    nr = 4
    dr = 1 / nr
    ints = basis_integrals("isotropic", nr)
    assert abs(ints[0].item() - 2 * math.pi * dr**2 / 6) < 1e-10
    for k in range(1, nr):  # hat of half-width dr centred at k dr: 2 pi k dr * dr (exact)
        assert abs(ints[k].item() - 2 * math.pi * k * dr * dr) < 1e-10


def test_isotropic_is_rotation_invariant():
    r, phi = _offsets(seed=6)
    a = evaluate_basis("isotropic", 5, r, phi)
    b = evaluate_basis("isotropic", 5, r, phi + 1.234)
    assert torch.equal(a, b)


def test_float32_and_broadcast_phi():
    r, phi = _offsets(dtype=torch.float32)
    for basis in BASES:
        ks = 3 if basis == "isotropic" else (3, 4)
        out = evaluate_basis(basis, ks, r, phi[:1])
        assert out.dtype == torch.float32
        ref = evaluate_basis(basis, ks, r.double(), phi[:1].double().expand_as(r))
        torch.testing.assert_close(out, ref.float(), atol=1e-6, rtol=0)


def test_bad_arguments():
    with pytest.raises(InputError, match="basis must be one of"):
        basis_size("gaussian", 3)
    with pytest.raises(InputError, match="kernel_shape"):
        basis_size("piecewise_linear", (3, 0))
    with pytest.raises(InputError, match="isotropic"):
        basis_size("isotropic", (3, 4))
    with pytest.raises(InputError, match="real floating"):
        evaluate_basis("isotropic", 3, torch.ones(3, dtype=torch.int64), torch.zeros(3))
