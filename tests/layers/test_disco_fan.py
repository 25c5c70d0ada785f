"""DiscoConvFan against a dense local-frame quadrature sum written here."""

from __future__ import annotations

import math

import pytest
import torch

from discofold.errors import InputError, ShapeError
from discofold.layers._basis import evaluate_basis
from discofold.layers.disco_fan import DiscoConvFan, fan_quadrature_weights
from discofold.layers.disco_points import DiscoConvPoints


def _trap(t: list[float], periodic: bool) -> list[float]:
    n = len(t)
    if periodic:
        return [((t[(i + 1) % n] + (2 * math.pi if i == n - 1 else 0)) -
                 (t[i - 1] - (2 * math.pi if i == 0 else 0))) / 2 for i in range(n)]  # fmt: skip
    w = [0.0] * n
    for i in range(n - 1):
        w[i] += (t[i + 1] - t[i]) / 2
        w[i + 1] += (t[i + 1] - t[i]) / 2
    return w


def _dense(x, weight, angles, radii, radius, kernel_shape, basis, periodic, mask=None):
    """out_o = S_o / S_o^m * sum_i kappa(R(-theta_o)(x_o - x_i)) x_i q_i m_i, all pairs."""
    P, F = len(angles), len(radii)
    th = torch.tensor(angles, dtype=torch.float64).repeat_interleave(F)
    rho = torch.tensor(radii, dtype=torch.float64).repeat(P)
    f64 = torch.float64
    w_rho = torch.tensor(radii, dtype=f64) * torch.tensor(_trap(radii, False), dtype=f64)
    q = torch.outer(torch.tensor(_trap(angles, periodic), dtype=f64), w_rho).reshape(-1)
    pts = torch.stack([rho * torch.cos(th), rho * torch.sin(th)], 1)
    rot = torch.stack([torch.stack([torch.cos(th), torch.sin(th)], -1),
                       torch.stack([-torch.sin(th), torch.cos(th)], -1)], 1)  # fmt: skip
    v = pts[:, None, :] - pts[None, :, :]  # (o, i, 2)
    loc = torch.einsum("oab,oib->oia", rot, v)
    r = loc.norm(dim=-1) / radius
    psi = evaluate_basis(basis, kernel_shape, r, torch.atan2(loc[..., 1], loc[..., 0]))
    m = (
        torch.ones(1, P * F, dtype=torch.float64)
        if mask is None
        else mask.reshape(-1, P * F).double()
    )
    xf = x.reshape(*x.shape[:2], P * F).double()
    y = torch.einsum("kni,bci,bi,i,ock->bon", psi, xf, m, q, weight.double())
    if mask is not None:
        chi = (r <= 1 + 1e-9).double()
        s_full, s_masked = chi @ q, (m * q) @ chi.T  # (N,), (B, N)
        factor = torch.where(s_masked > 0, s_full / s_masked.clamp(min=1e-300), 0.0)
        y = y * factor[:, None]
    return y.reshape(x.shape[0], -1, P, F)


def _layer(path, kernel_shape=(3, 4), radius=0.7, basis="piecewise_linear", seed=0):
    layer = DiscoConvFan(3, 2, kernel_shape, radius, basis=basis, path=path, bias=False).double()
    g = torch.Generator().manual_seed(seed)
    layer.weight.data = torch.randn(layer.weight.shape, generator=g, dtype=torch.float64)
    return layer


FULL = [2 * math.pi * p / 23 for p in range(23)]
ARC = [0.3 + 0.05 * p for p in range(17)]
RADII = [1.0 + 0.25 * f for f in range(9)]


@pytest.mark.parametrize("path", ["direct", "conv1d", "fft", "points"])
@pytest.mark.parametrize("angles, periodic", [(FULL, True), (ARC, False)])
def test_matches_dense_reference(path, angles, periodic):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, len(angles), len(RADII), dtype=torch.float64, generator=g)
    layer = _layer(path, radius=0.45 if periodic else 0.3)
    y = layer(
        x, torch.tensor(angles, dtype=torch.float64), torch.tensor(RADII, dtype=torch.float64)
    )
    ref = _dense(x, layer.weight, angles, RADII, layer.radius, (3, 4), "piecewise_linear", periodic)
    assert torch.allclose(y, ref, atol=1e-11, rtol=1e-9)


@pytest.mark.parametrize("path", ["auto", "direct", "conv1d", "fft", "points"])
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_theta_shift_commutes(path, dtype, tol):
    """Rolling the data along theta rolls the output (tolerance relative to max |y|)."""
    g = torch.Generator().manual_seed(2)
    angles, radii = torch.tensor(FULL, dtype=dtype), torch.tensor(RADII, dtype=dtype)
    layer = _layer(path).to(dtype)
    x = torch.randn(2, 3, 23, 9, generator=g, dtype=dtype)
    y = layer(x, angles, radii)
    for s in (1, 7):
        shifted = layer(torch.roll(x, s, dims=2), angles, radii)
        assert (shifted - torch.roll(y, s, dims=2)).abs().max() <= tol * y.abs().max()
    # rotating the geometry alone leaves the output unchanged (the kernel turns with theta)
    rotated = layer(x, angles + 0.37, radii)
    assert (rotated - y).abs().max() <= 100 * tol * y.abs().max()


@pytest.mark.parametrize("path", ["auto", "fft", "points"])
@pytest.mark.parametrize("shift", [1, 5, 12])
def test_antipodal_neighbour_on_an_even_circle(path, shift):
    """A stencil reaching across the centre includes the antipodal angle whatever the rounding
    of the step: with rotated angles (step 2*pi/32 rounded up) it was once dropped, and the
    layer stopped commuting with those shifts (error 17 %)."""
    P = 32
    radii = torch.linspace(1.0, 3.0, 4, dtype=torch.float64)
    layer = _layer(path, kernel_shape=(5, 4), radius=3.2)
    x = torch.randn(1, 3, P, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    a0 = torch.arange(P, dtype=torch.float64) * (2 * math.pi / P)
    y = layer(x, a0, radii)
    got = layer(torch.roll(x, shift, dims=2), a0 + shift * (2 * math.pi / P), radii)
    ref = _dense(x, layer.weight, a0.tolist(), radii.tolist(), 3.2, (5, 4), "piecewise_linear",
                 True)
    assert torch.allclose(y, ref, atol=1e-11, rtol=1e-9)
    assert (got - torch.roll(y, shift, dims=2)).abs().max() <= 1e-12 * y.abs().max()


@pytest.mark.parametrize("path", ["direct", "conv1d", "fft", "points"])
@pytest.mark.parametrize("angles, periodic", [(FULL, True), (ARC, False)])
def test_masked_renormalisation(path, angles, periodic):
    g = torch.Generator().manual_seed(3)
    P, F = len(angles), len(RADII)
    x = torch.randn(2, 3, P, F, dtype=torch.float64, generator=g)
    mask = torch.rand(2, P, F, generator=g) > 0.35
    layer = _layer(path, radius=0.5)
    a, r = torch.tensor(angles, dtype=torch.float64), torch.tensor(RADII, dtype=torch.float64)
    y = layer(x, a, r, mask=mask)
    ref = _dense(x, layer.weight, angles, RADII, 0.5, (3, 4), "piecewise_linear", periodic, mask)
    assert torch.allclose(y, ref, atol=1e-11, rtol=1e-9)
    full = layer(x, a, r, mask=torch.ones(P, F))  # an all-ones mask changes nothing
    assert torch.allclose(full, layer(x, a, r), atol=1e-12)


def test_non_uniform_angles_use_points_path():
    g = torch.Generator().manual_seed(4)
    angles = [0.1 * p + 0.02 * math.sin(3.0 * p) for p in range(15)]
    layer = _layer("auto", radius=0.4)
    a, r = torch.tensor(angles, dtype=torch.float64), torch.tensor(RADII, dtype=torch.float64)
    assert layer.plan(a, r, torch.float64)["geometry"] == "points"
    x = torch.randn(1, 3, 15, 9, dtype=torch.float64, generator=g)
    ref = _dense(x, layer.weight, angles, RADII, 0.4, (3, 4), "piecewise_linear", False)
    assert torch.allclose(layer(x, a, r), ref, atol=1e-11, rtol=1e-9)
    assert torch.allclose(layer(x, a - 1.1, r), ref, atol=1e-10)  # rotation invariance


@pytest.mark.parametrize("angles", [FULL, ARC])
def test_matches_disco_points_isotropic(angles):
    """With an isotropic kernel the local frame is irrelevant: equal to the point-cloud layer."""
    g = torch.Generator().manual_seed(5)
    a, r = torch.tensor(angles, dtype=torch.float64), torch.tensor(RADII, dtype=torch.float64)
    fan = _layer("auto", kernel_shape=4, radius=0.45, basis="isotropic")
    pts = DiscoConvPoints(3, 2, 4, 0.45, basis="isotropic", bias=False).double()
    pts.weight.data = fan.weight.data.clone()
    th, rho = a.repeat_interleave(len(RADII)), r.repeat(len(angles))
    xy = torch.stack([rho * torch.cos(th), rho * torch.sin(th)], 1)
    x = torch.randn(2, 3, len(angles), len(RADII), dtype=torch.float64, generator=g)
    q = fan_quadrature_weights(a, r).reshape(-1)
    ref = pts(x.reshape(2, 3, -1), xy, q).reshape_as(fan(x, a, r))
    assert torch.allclose(fan(x, a, r), ref, atol=1e-11, rtol=1e-9)


@pytest.mark.parametrize("path", ["direct", "conv1d", "fft", "points"])
def test_gradcheck(path):
    g = torch.Generator().manual_seed(6)
    layer = DiscoConvFan(2, 2, (3, 2), 0.5, path=path).double()
    a = torch.arange(6, dtype=torch.float64) * (2 * math.pi / 6)
    r = torch.tensor([0.6, 0.9, 1.2, 1.5], dtype=torch.float64)
    x = torch.randn(2, 2, 6, 4, dtype=torch.float64, generator=g, requires_grad=True)
    mask = torch.rand(2, 6, 4, generator=g) > 0.3

    def fn(t, w):
        return layer(t, a, r, mask=mask)

    assert torch.autograd.gradcheck(fn, (x, layer.weight))


def test_errors():
    layer = DiscoConvFan(1, 1, (3, 4), 0.01)
    a, r = torch.tensor(FULL), torch.tensor(RADII)
    with pytest.raises(InputError, match="smaller than one grid cell"):
        layer(torch.zeros(1, 1, 23, 9), a, r)
    big = DiscoConvFan(1, 1, (5, 4), 0.5)
    with pytest.raises(ShapeError, match="at least 2 angles"):
        big(torch.zeros(1, 1, 1, 9), a[:1], r)
    with pytest.raises(InputError, match="NaN or Inf"):
        big(torch.full((1, 1, 23, 9), float("nan")), a, r)
    with pytest.raises(InputError, match="angles_rad contains NaN"):
        big(torch.zeros(1, 1, 23, 9), torch.full((23,), float("inf")), r)
    with pytest.raises(ShapeError, match=r"radii must have shape \(9,\)"):
        big(torch.zeros(1, 1, 23, 9), a, r[:5])
    with pytest.raises(InputError, match="strictly increasing"):
        big(torch.zeros(1, 1, 23, 9), a, r.flip(0))
    with pytest.raises(ShapeError, match="mask must be"):
        big(torch.zeros(2, 1, 23, 9), a, r, mask=torch.ones(3, 23, 9))
    with pytest.raises(InputError, match="radius must be positive"):
        DiscoConvFan(1, 1, 3, 0.0)
