"""DiscoConvS2 / DiscoConvTransposeS2 against a dense sum over the sphere written here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from discofold.errors import InputError, ShapeError
from discofold.layers._basis import evaluate_basis
from discofold.layers.disco_s2 import DiscoConvS2, DiscoConvTransposeS2

EPS = 1e-3  # support margin of the layer: radius = theta_cutoff * (1 + EPS)


def _grid(n: int, grid: str):
    """Colatitudes and weights in cos(theta), built independently of the library."""
    if grid == "legendre-gauss":
        x, w = np.polynomial.legendre.leggauss(n)
        return np.arccos(x)[::-1].copy(), w[::-1].copy()
    theta = np.pi * np.arange(n) / (n - 1)  # equiangular: weights exact on cos^m, m < n
    x = np.cos(theta)
    moments = np.array([(1 - (-1) ** (m + 1)) / (m + 1) for m in range(n)])
    return theta, np.linalg.solve(np.vander(x, n, increasing=True).T, moments)


def _points(nlat: int, nlon: int, grid: str):
    theta, w = _grid(nlat, grid)
    lon = 2 * np.pi * np.arange(nlon) / nlon
    th, la = np.meshgrid(theta, lon, indexing="ij")
    xyz = np.stack([np.sin(th) * np.cos(la), np.sin(th) * np.sin(la), np.cos(th)], -1)
    e_t = np.stack([np.cos(th) * np.cos(la), np.cos(th) * np.sin(la), -np.sin(th)], -1)
    e_l = np.stack([-np.sin(la), np.cos(la), np.zeros_like(la)], -1)
    return xyz, e_t, e_l, w


def _dense_psi(centres, others, kernel_shape, radius):
    """psi[k, centre, other]: kernel centred at each centre, evaluated at each other point.

    Local frame at a centre: distance = geodesic angle, angle measured from e_theta (south)
    towards e_lambda (east).
    """
    c, e_t, e_l = (a.reshape(-1, 3) for a in centres[:3])
    o = others[0].reshape(-1, 3)
    cos_g = c @ o.T
    sin_g = np.linalg.norm(np.cross(c[:, None, :], o[None, :, :]), axis=-1)
    gamma = np.arctan2(sin_g, cos_g)
    phi = np.arctan2(o @ e_l.T, o @ e_t.T).T
    r = torch.from_numpy(gamma / radius)
    return evaluate_basis("piecewise_linear", kernel_shape, r, torch.from_numpy(phi))


def _reference(x, weight, in_shape, out_shape, kernel_shape, grid, cutoff, mode):
    inp, out = _points(*in_shape, grid), _points(*out_shape, grid)
    psi = _dense_psi(out, inp, kernel_shape, cutoff * (1 + EPS))  # (K, N_out, N_in)
    q = torch.from_numpy(np.repeat(inp[3], in_shape[1]) / (2 * in_shape[1]))
    if mode == "mean":  # per basis function: mean over output latitudes of sum |psi| q
        mass = (psi.abs() * q).sum(-1).reshape(psi.shape[0], *out_shape)[:, :, 0]
        psi = psi / mass.mean(1)[:, None, None]
    psi = psi * q
    xf = x.reshape(*x.shape[:2], -1).double()
    y = torch.einsum("kni,bci,ock->bon", psi, xf, weight.double())
    return y.reshape(x.shape[0], -1, *out_shape)


def _reference_transpose(x, weight, in_shape, out_shape, kernel_shape, grid, cutoff):
    """Scatter form: each input sample spreads its kernel times its own quadrature weight."""
    inp, out = _points(*in_shape, grid), _points(*out_shape, grid)
    psi = _dense_psi(inp, out, kernel_shape, cutoff * (1 + EPS))  # (K, N_in, N_out)
    q = torch.from_numpy(np.repeat(inp[3], in_shape[1]) / (2 * in_shape[1]))
    v = torch.einsum("bci,ock->boki", x.reshape(*x.shape[:2], -1).double(), weight.double())
    y = torch.einsum("kin,boki,i->bon", psi, v, q)
    return y.reshape(x.shape[0], -1, *out_shape)


CASES = [
    ((9, 16), (9, 16), (3, 4), "equiangular"),
    ((11, 20), (6, 10), (4, 3), "legendre-gauss"),
    ((10, 18), (10, 6), 3, "equiangular"),
]


@pytest.mark.parametrize("in_shape, out_shape, kernel_shape, grid", CASES)
@pytest.mark.parametrize("mode", ["none", "mean"])
def test_matches_dense_sum(in_shape, out_shape, kernel_shape, grid, mode):
    g = torch.Generator().manual_seed(0)
    layer = DiscoConvS2(
        2, 3, in_shape, out_shape, kernel_shape, grid=grid, normalization=mode, bias=False
    ).double()
    x = torch.randn(2, 2, *in_shape, dtype=torch.float64, generator=g)
    cutoff = math.pi / (out_shape[0] - 1)
    ref = _reference(
        x, layer.weight.detach(), in_shape, out_shape, kernel_shape, grid, cutoff, mode
    )
    assert torch.allclose(layer(x), ref, atol=1e-10, rtol=1e-9)


@pytest.mark.parametrize("in_shape, out_shape, kernel_shape, grid", CASES[:2])
def test_transpose_matches_dense_sum(in_shape, out_shape, kernel_shape, grid):
    g = torch.Generator().manual_seed(1)
    layer = DiscoConvTransposeS2(
        2, 3, out_shape, in_shape, kernel_shape, grid=grid, normalization="none", bias=False
    ).double()
    x = torch.randn(1, 2, *out_shape, dtype=torch.float64, generator=g)
    cutoff = math.pi / (out_shape[0] - 1)
    ref = _reference_transpose(
        x, layer.weight.detach(), out_shape, in_shape, kernel_shape, grid, cutoff
    )
    assert torch.allclose(layer(x), ref, atol=1e-10, rtol=1e-9)


def test_longitude_shift_equivariance():
    g = torch.Generator().manual_seed(2)
    layer = DiscoConvS2(3, 2, (13, 24), (7, 12), (3, 4)).double()
    x = torch.randn(2, 3, 13, 24, dtype=torch.float64, generator=g)
    for k in (1, 5):
        shifted = layer(torch.roll(x, 2 * k, dims=-1))
        assert torch.allclose(shifted, torch.roll(layer(x), k, dims=-1), atol=1e-12)
    up = DiscoConvTransposeS2(3, 2, (7, 12), (13, 24), (3, 4)).double()
    xc = torch.randn(1, 3, 7, 12, dtype=torch.float64, generator=g)
    assert torch.allclose(up(torch.roll(xc, 3, -1)), torch.roll(up(xc), 6, -1), atol=1e-12)


def test_gradcheck():
    g = torch.Generator().manual_seed(3)
    for cls, shapes in ((DiscoConvS2, ((6, 8), (6, 4))), (DiscoConvTransposeS2, ((4, 4), (6, 8)))):
        layer = cls(2, 2, *shapes, (3, 2)).double()
        x = torch.randn(1, 2, *shapes[0], dtype=torch.float64, generator=g, requires_grad=True)
        w = layer.weight

        def fn(t, w=w, layer=layer):
            return layer(t)

        assert torch.autograd.gradcheck(fn, (x, w))


@pytest.mark.parametrize("grid", ["equiangular", "legendre-gauss"])
@pytest.mark.parametrize("kernel_shape", [(3, 4), (4, 3), 3])
def test_matches_torch_harmonics(grid, kernel_shape):
    th = pytest.importorskip("torch_harmonics")
    g = torch.Generator().manual_seed(4)
    for fwd, (a, b) in ((True, ((15, 30), (8, 15))), (False, ((8, 15), (15, 30)))):
        ours_cls = DiscoConvS2 if fwd else DiscoConvTransposeS2
        ref_cls = th.DiscreteContinuousConvS2 if fwd else th.DiscreteContinuousConvTransposeS2
        ref = ref_cls(3, 4, a, b, kernel_shape, basis_type="piecewise linear", grid_in=grid,
                      grid_out=grid)  # fmt: skip
        ours = ours_cls(3, 4, a, b, kernel_shape, grid=grid)
        with torch.no_grad():
            ours.weight.copy_(ref.weight)
            ours.bias.copy_(torch.randn(4, generator=g))
            ref.bias.copy_(ours.bias)
        x = torch.randn(2, 3, *a, generator=g)
        with torch.no_grad():
            y, y_ref = ours(x), ref(x)
        assert (y - y_ref).abs().max() <= 1e-5 * y_ref.abs().max()


def test_errors():
    with pytest.raises(ShapeError, match="multiple of out_shape nlon"):
        DiscoConvS2(1, 1, (9, 16), (9, 12), 3)
    with pytest.raises(ShapeError, match="multiple of in_shape nlon"):
        DiscoConvTransposeS2(1, 1, (9, 12), (9, 16), 3)
    with pytest.raises(ShapeError, match="in_shape"):
        DiscoConvS2(1, 1, (9,), (9, 16), 3)
    with pytest.raises(InputError, match="smaller than the grid spacing"):
        DiscoConvS2(1, 1, (9, 16), (9, 16), 3, theta_cutoff=0.05)
    with pytest.raises(InputError, match="grid must be"):
        DiscoConvS2(1, 1, (9, 16), (9, 16), 3, grid="healpix")
    layer = DiscoConvS2(2, 1, (9, 16), (9, 16), 3)
    with pytest.raises(ShapeError, match=r"x must be \(B, 2, 9, 16\)"):
        layer(torch.zeros(1, 2, 9, 15))
    with pytest.raises(InputError, match="NaN or Inf"):
        layer(torch.full((1, 2, 9, 16), float("inf")))
