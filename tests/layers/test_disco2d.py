"""DiscoConv2d: dense quadrature references, resolution convergence, symmetries, gradients."""

from __future__ import annotations

import math

import pytest
import torch

from discofold.errors import InputError, ShapeError
from discofold.layers._basis import basis_size, evaluate_basis
from discofold.layers.disco2d import DiscoConv2d

from ._neuralop_loader import load_neuralop_disco

L = (2.0, 1.7)


def _layer(cin, cout, **kw):
    torch.manual_seed(kw.pop("seed", 0))
    return DiscoConv2d(cin, cout, **kw).double()


def _reflect(i: torch.Tensor, n: int) -> torch.Tensor:
    period = 2 * (n - 1)
    i = torch.remainder(i, period)
    return torch.where(i >= n, period - i, i)


def _kappa(layer, v0, v1):
    """kappa(v) for every (out, in/groups) pair: (O, Cg, *v0.shape)."""
    r = torch.sqrt(v0**2 + v1**2) / layer.radius
    psi = evaluate_basis(layer.basis, layer.kernel_shape, r, torch.atan2(v1, v0))
    return torch.einsum("ock,k...->oc...", layer.weight.detach(), psi)


def _dense_reference(layer, x, in_shape_pts, out_idx_scale, q, mode):
    """out(u) = sum_x kappa(u - x) f(x) q over an extended set of input points.

    Input pixel i sits at i * h; output pixel o at o * h * stride; out_idx_scale = (sh, sw, Ho, Wo).
    Points outside the grid take the value of the padding mode (zero, periodic, mirrored).
    """
    B, C, H, W = x.shape
    hh, hw = layer.domain_length[0] / in_shape_pts[0], layer.domain_length[1] / in_shape_pts[1]
    ext_h, ext_w = math.ceil(layer.radius / hh) + 1, math.ceil(layer.radius / hw) + 1
    ih = torch.arange(-ext_h, H + ext_h)
    iw = torch.arange(-ext_w, W + ext_w)
    if mode == "zeros":
        xe = torch.zeros(B, C, len(ih), len(iw), dtype=x.dtype)
        xe[..., ext_h:ext_h + H, ext_w:ext_w + W] = x
    elif mode == "circular":
        xe = x[..., torch.remainder(ih, H), :][..., torch.remainder(iw, W)]
    else:
        xe = x[..., _reflect(ih, H), :][..., _reflect(iw, W)]
    sh, sw, Ho, Wo = out_idx_scale
    uh = torch.arange(Ho, dtype=x.dtype) * hh * sh
    uw = torch.arange(Wo, dtype=x.dtype) * hw * sw
    v0 = uh[:, None, None, None] - ih.to(x.dtype)[None, None, :, None] * hh
    v1 = uw[None, :, None, None] - iw.to(x.dtype)[None, None, None, :] * hw
    full = (Ho, Wo, len(ih), len(iw))
    v0, v1 = torch.broadcast_to(v0, full), torch.broadcast_to(v1, full)
    kap = _kappa(layer, v0, v1)  # (O, Cg, Ho, Wo, Hi, Wi)
    G = layer.groups
    xg = xe.reshape(B, G, C // G, len(ih), len(iw))
    kg = kap.reshape(G, -1, C // G, Ho, Wo, len(ih), len(iw))
    out = torch.einsum("bgcij,gocuvij->bgouv", xg, kg).reshape(B, -1, Ho, Wo) * q
    return out + layer.bias.detach().view(1, -1, 1, 1)


@pytest.mark.parametrize("mode", ["zeros", "circular", "reflect"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("method", ["direct", "fft"])
def test_forward_matches_dense_quadrature(mode, stride, method):
    H, W = 13, 11
    layer = _layer(4, 6, kernel_shape=(3, 4), radius=0.45, domain_length=L, stride=stride,
                   groups=2, padding_mode=mode, method=method)
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(2, 4, H, W, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    Ho, Wo = -(-H // stride), -(-W // stride)
    q = L[0] * L[1] / (H * W)
    ref = _dense_reference(layer, x, (H, W), (stride, stride, Ho, Wo), q, mode)
    out = layer(x)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, atol=1e-10, rtol=1e-10)


def test_float32_matches_dense_quadrature_1e5():
    layer = DiscoConv2d(3, 2, (5, 3), radius=0.5, domain_length=L)
    x = torch.randn(1, 3, 15, 12, generator=torch.Generator().manual_seed(2))
    ref = _dense_reference(layer.double(), x.double(), (15, 12), (1, 1, 15, 12),
                           L[0] * L[1] / 180, "zeros")
    out = layer.float()(x)
    torch.testing.assert_close(out, ref.float(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["zeros", "circular"])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("method", ["direct", "fft"])
def test_transpose_matches_dense_quadrature(mode, stride, method):
    """Coarse pixel i sits at fine pixel stride * i; quadrature weight is the coarse cell area."""
    H, W = 7, 6
    layer = _layer(2, 3, kernel_shape=(4, 3), radius=0.5, domain_length=L, stride=stride,
                   transpose=True, padding_mode=mode, method=method)
    x = torch.randn(2, 2, H, W, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    # the coarse samples live on the fine grid's points stride * i; zero elsewhere
    z = torch.zeros(2, 2, H * stride, W * stride, dtype=torch.float64)
    z[..., ::stride, ::stride] = x
    q = L[0] * L[1] / (H * W)
    ref = _dense_reference(layer, z, (H * stride, W * stride), (1, 1, H * stride, W * stride),
                           q, mode)
    torch.testing.assert_close(layer(x), ref, atol=1e-10, rtol=1e-10)


def _continuous_reference(weight, radius, ks, f, u):
    """(kappa * f)(u) = int_{|v|<R} kappa(v) f(u - v) dv by polar Gauss-Legendre x midpoint rule."""
    import numpy as np

    gx, gw = np.polynomial.legendre.leggauss(12)
    edges = torch.linspace(0, 1, 9, dtype=torch.float64)
    rr = torch.cat([lo + (hi - lo) * (torch.from_numpy(gx) + 1) / 2 for lo, hi in
                    zip(edges[:-1], edges[1:])])
    wr = torch.cat([(hi - lo) / 2 * torch.from_numpy(gw) for lo, hi in zip(edges[:-1], edges[1:])])
    nphi = 384
    phi = (torch.arange(nphi, dtype=torch.float64) + 0.5) * 2 * math.pi / nphi - math.pi
    R, P = torch.meshgrid(rr, phi, indexing="ij")
    kap = torch.einsum("k,k...->...", weight, evaluate_basis("piecewise_linear", ks, R, P))
    dv = (wr[:, None] * rr[:, None] * radius**2 * 2 * math.pi / nphi) * kap
    v0, v1 = radius * R * torch.cos(P), radius * R * torch.sin(P)
    vals = f(u[:, 0, None, None] - v0, u[:, 1, None, None] - v1)
    return (vals * dv).sum(dim=(1, 2))


def test_resolution_convergence_to_continuous_convolution():
    ks, radius = (3, 4), 0.3125  # 10, 20, 40 cells: the lattice meets the kernel alike each time
    torch.manual_seed(5)
    weight = torch.randn(basis_size("piecewise_linear", ks), dtype=torch.float64)

    def f(a, b):
        return torch.exp(-((a - 0.1) ** 2 + (b + 0.05) ** 2) / (2 * 0.15**2)) * torch.cos(3 * a)

    coarse = (torch.arange(64, dtype=torch.float64) - 32) * (2.0 / 64)
    sub = coarse[(coarse.abs() < 0.6)][::3]
    U0, U1 = torch.meshgrid(sub, sub, indexing="ij")
    u = torch.stack([U0.reshape(-1), U1.reshape(-1)], dim=1)
    ref = _continuous_reference(weight, radius, ks, f, u)
    errors = []
    for n in (64, 128, 256):
        layer = DiscoConv2d(1, 1, ks, radius, bias=False).double()
        with torch.no_grad():
            layer.weight.copy_(weight.view(1, 1, -1))
        g = (torch.arange(n, dtype=torch.float64) - n // 2) * (2.0 / n)
        G0, G1 = torch.meshgrid(g, g, indexing="ij")
        out = layer(f(G0, G1)[None, None])[0, 0]
        idx = ((u + 1.0) * n / 2).round().long()  # common points are grid points at every level
        errors.append((out[idx[:, 0], idx[:, 1]] - ref).abs().max().item() / ref.abs().max().item())
    # second-order quadrature: each halving of the cell size cuts the error about four-fold
    assert errors[1] < 0.4 * errors[0] and errors[2] < 0.4 * errors[1], errors
    assert errors[2] < 5e-4, errors


@pytest.mark.parametrize("method", ["direct", "fft"])
def test_translation_equivariance_circular(method):
    layer = _layer(3, 2, kernel_shape=(3, 3), radius=0.4, domain_length=L, padding_mode="circular",
                   method=method)
    x = torch.randn(2, 3, 17, 14, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    for shift in [(1, 0), (0, 3), (-4, 5)]:
        a = layer(torch.roll(x, shift, dims=(-2, -1)))
        b = torch.roll(layer(x), shift, dims=(-2, -1))
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


def test_isotropic_basis_commutes_with_rot90_on_square_grid():
    x = torch.randn(1, 2, 21, 21, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    iso = _layer(2, 2, kernel_shape=4, radius=0.35, basis="isotropic")
    for k in (1, 2, 3):
        a = iso(torch.rot90(x, k, dims=(-2, -1)))
        torch.testing.assert_close(a, torch.rot90(iso(x), k, dims=(-2, -1)), atol=1e-12, rtol=0)
    aniso = _layer(2, 2, kernel_shape=(3, 3), radius=0.35)
    a = aniso(torch.rot90(x, 1, dims=(-2, -1)))
    assert (a - torch.rot90(aniso(x), 1, dims=(-2, -1))).abs().max() > 1e-3


def test_same_weights_any_resolution_and_cache():
    layer = DiscoConv2d(2, 3, (3, 4), radius=0.3)
    for n in (32, 48, 33):
        assert layer(torch.randn(1, 2, n, n + 3)).shape == (1, 3, n, n + 3)
    assert len(layer._psi_cache) == 3
    k = layer.psi((32, 35))
    assert k.shape == (basis_size("piecewise_linear", (3, 4)), 9, 11)  # 0.3 / (2/32), 0.3 / (2/35)
    layer(torch.randn(1, 2, 32, 35))
    assert len(layer._psi_cache) == 3 and layer.psi((32, 35)) is k
    assert layer.cached_psi_bytes() > 0
    assert "weight" in dict(layer.named_parameters()) and not list(layer.buffers())


@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("method", ["direct", "fft"])
def test_gradcheck(transpose, method):
    layer = _layer(2, 2, kernel_shape=(3, 2), radius=0.5, stride=2, transpose=transpose,
                   method=method, padding_mode="zeros" if transpose else "reflect")
    x = torch.randn(1, 2, 7, 6, dtype=torch.float64, requires_grad=True)
    w = layer.weight.detach().clone().requires_grad_(True)

    def fn(a, weight):
        return torch.func.functional_call(layer, {"weight": weight}, (a,))

    assert torch.autograd.gradcheck(fn, (x, w))


def test_bad_input():
    with pytest.raises(InputError, match="stencil\\s+would be 1x1|would be 1x1"):
        DiscoConv2d(1, 1, 3, radius=0.01)(torch.randn(1, 1, 32, 32))
    with pytest.raises(InputError, match="NaN or Inf"):
        DiscoConv2d(1, 1, 3, radius=0.3)(torch.full((1, 1, 16, 16), float("nan")))
    with pytest.raises(ShapeError, match="\\(B, 2, H, W\\)"):
        DiscoConv2d(2, 1, 3, radius=0.3)(torch.randn(1, 3, 16, 16))


def test_matches_neuralop_equidistant_layer():
    """neuralop normalises each basis function to a discrete integral of 1 and evaluates the kernel
    at the offset (x - u) with its two axes swapped; with an isotropic kernel the orientation
    does not matter, so rescaling our weights by 1 / sum_i psi_k q_i reproduces its output."""
    nop = load_neuralop_disco()
    H, rc = 32, 3.0 / 16.0
    torch.manual_seed(8)
    ref_layer = nop.EquidistantDiscreteContinuousConv2d(
        3, 4, in_shape=(H, H), out_shape=(H, H), kernel_shape=[5, 1], radius_cutoff=rc,
        domain_length=[2.0, 2.0])
    ours = DiscoConv2d(3, 4, (5, 1), radius=rc, method="direct")
    psi = ours.psi((H, H))
    K = psi.shape[0]
    norm = psi.sum(dim=(1, 2))
    with torch.no_grad():
        ours.weight.copy_(ref_layer.weight[..., :K] / norm)
        ours.bias.copy_(ref_layer.bias + 0.1)
        ref_layer.bias.add_(0.1)
    x = torch.randn(2, 3, H, H)
    torch.testing.assert_close(ours(x), ref_layer(x), atol=1e-5, rtol=1e-5)
    # anisotropic stencils agree up to that change of orientation
    ref_an = nop.EquidistantDiscreteContinuousConv2d(
        1, 1, in_shape=(H, H), out_shape=(H, H), kernel_shape=[3, 4], radius_cutoff=rc)
    ours_an = DiscoConv2d(1, 1, (3, 4), radius=rc)
    psi_an = ours_an.psi((H, H))
    psi_an = psi_an / psi_an.sum(dim=(1, 2), keepdim=True) / (4.0 / H**2)
    theirs = ref_an.get_local_filter_matrix()[: psi_an.shape[0]]
    torch.testing.assert_close(theirs, psi_an.flip(-1, -2).transpose(-1, -2), atol=1e-5, rtol=1e-5)
