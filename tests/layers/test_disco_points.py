"""DiscoConvPoints: dense quadrature on random clouds, grid equivalence, nodal, transpose."""

from __future__ import annotations

import pytest
import torch

from discofold.errors import InputError, ShapeError
from discofold.layers._basis import basis_integrals, basis_size, evaluate_basis
from discofold.layers._quadrature import grid_cell_areas, grid_points, voronoi_areas
from discofold.layers.disco2d import DiscoConv2d
from discofold.layers.disco_points import DiscoConvPoints

from ._neuralop_loader import load_neuralop_disco


def _cloud(n, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 2, generator=g, dtype=torch.float64) * 2 - 1) * scale


def _layer(cin, cout, seed=0, **kw):
    torch.manual_seed(seed)
    layer = DiscoConvPoints(cin, cout, **kw).double()
    if layer.bias is not None:
        with torch.no_grad():
            layer.bias.normal_()
    return layer


def _dense_kernel(layer, src, dst):
    """psi_k(dst_j - src_i): (K, N_dst, N_src), written from pairwise differences."""
    v = dst[:, None, :] - src[None, :, :]
    r = torch.linalg.norm(v, dim=-1) / layer.radius
    return evaluate_basis(layer.basis, layer.kernel_shape, r, torch.atan2(v[..., 1], v[..., 0]))


def _bias(layer):
    return 0 if layer.bias is None else layer.bias.detach().view(1, -1, 1)


@pytest.mark.parametrize("basis,ks", [("piecewise_linear", (3, 4)), ("harmonic", (2, 3)),
                                      ("piecewise_linear_nop", (3, 2))])
def test_forward_matches_dense_quadrature(basis, ks):
    pin, pout = _cloud(150, 1), _cloud(37, 2, 0.9)
    q = torch.rand(150, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 0.02
    layer = _layer(3, 2, kernel_shape=ks, radius=0.35, basis=basis)
    x = torch.randn(2, 3, 150, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    psi = _dense_kernel(layer, pin, pout)
    ref = torch.einsum("ock,kji,bci,i->boj", layer.weight.detach(), psi, x, q) + _bias(layer)
    torch.testing.assert_close(layer(x, pin, q, pout), ref, atol=1e-12, rtol=1e-10)


def test_nodal_normalisation_matches_dense_reference():
    pin, pout = _cloud(200, 5), _cloud(30, 6, 0.8)
    q = voronoi_areas(pin)
    layer = _layer(2, 2, kernel_shape=(3, 3), radius=0.4, normalization="nodal")
    psi = _dense_kernel(layer, pin, pout) * q
    target = basis_integrals("piecewise_linear", (3, 3)) * 0.4**2
    psi = psi * (target / psi.sum(-1).T).T[:, :, None]
    # each basis function now integrates a constant exactly at every output point
    torch.testing.assert_close(psi.sum(-1), target[:, None].expand(-1, 30))
    x = torch.randn(1, 2, 200, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    ref = torch.einsum("ock,kji,bci->boj", layer.weight.detach(), psi, x) + _bias(layer)
    torch.testing.assert_close(layer(x, pin, q, pout), ref, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("stride_shape", [(13, 11), (16, 16)])
def test_regular_grid_equals_disco_conv2d(stride_shape):
    H, W = stride_shape
    L = (2.0, 1.7)
    torch.manual_seed(8)
    grid = DiscoConv2d(3, 4, (3, 4), radius=0.45, domain_length=L).double()
    pts = DiscoConvPoints(3, 4, (3, 4), radius=0.45).double()
    with torch.no_grad():
        pts.weight.copy_(grid.weight)
        pts.bias.copy_(grid.bias.normal_())
    x = torch.randn(2, 3, H, W, dtype=torch.float64)
    p = grid_points((H, W), L)
    out = pts(x.reshape(2, 3, -1), p, grid_cell_areas((H, W), L), p)
    torch.testing.assert_close(out, grid(x).reshape(2, 4, -1), atol=1e-12, rtol=1e-10)


def test_voronoi_areas_of_a_grid_are_cell_areas_and_cover_the_box():
    p = grid_points((9, 9), (2.0, 2.0))
    torch.testing.assert_close(voronoi_areas(p), grid_cell_areas((9, 9), (2.0, 2.0)))
    cloud = _cloud(300, 9)
    a = voronoi_areas(cloud)
    from scipy.spatial import cKDTree

    pad = 0.5 * torch.tensor(cKDTree(cloud.numpy()).query(cloud.numpy(), k=2)[0][:, 1]).median()
    box = (cloud.max(0).values - cloud.min(0).values + 2 * pad).prod()
    assert torch.all(a > 0)
    torch.testing.assert_close(a.sum(), box.to(a.dtype))


@pytest.mark.parametrize("normalization", ["none", "nodal"])
def test_transpose_is_adjoint_of_forward(normalization):
    """<T f, g> = <f, A g> with A: points_out -> points_in and T its transpose layer."""
    pin, pout = _cloud(60, 10), _cloud(90, 11)
    w_out = voronoi_areas(pout)
    fwd = _layer(1, 1, kernel_shape=(3, 4), radius=0.5, normalization=normalization, bias=False)
    tr = DiscoConvPoints(1, 1, (3, 4), 0.5, normalization=normalization, transpose=True,
                         bias=False).double()
    with torch.no_grad():
        tr.weight.copy_(fwd.weight)
    f = torch.randn(1, 1, 60, dtype=torch.float64)
    g = torch.randn(1, 1, 90, dtype=torch.float64)
    lhs = (tr(f, pin, None, pout, w_out) * g).sum()
    rhs = (f * fwd(g, pout, w_out, pin)).sum()
    torch.testing.assert_close(lhs, rhs, atol=1e-12, rtol=1e-10)


def test_gradcheck():
    pin, pout = _cloud(25, 12), _cloud(9, 13, 0.7)
    layer = _layer(2, 2, kernel_shape=(3, 2), radius=0.8)
    x = torch.randn(1, 2, 25, dtype=torch.float64, requires_grad=True)
    w = layer.weight.detach().clone().requires_grad_(True)

    def fn(a, weight):
        return torch.func.functional_call(layer, {"weight": weight}, (a, pin, None, pout))

    assert torch.autograd.gradcheck(fn, (x, w))


def test_cache_is_keyed_by_point_content():
    layer = DiscoConvPoints(1, 1, (3, 4), 0.3)
    p = grid_points((16, 16)).float()
    x = torch.randn(1, 1, 256)
    layer(x, p, None, p)
    layer(x, p.clone(), None, p.clone())
    assert len(layer._psi_cache) == 1
    layer(x, p + 0.01, None, p)
    assert len(layer._psi_cache) == 2 and layer.cached_psi_bytes() > 0


def test_bad_input():
    p = _cloud(50, 14)
    layer = DiscoConvPoints(1, 1, (3, 4), 0.4)
    x = torch.randn(1, 1, 50, dtype=torch.float64)
    with pytest.raises(ShapeError, match="50 points"):
        layer(x, p, torch.ones(49, dtype=torch.float64), p)
    with pytest.raises(InputError, match="too few input points"):
        DiscoConvPoints(1, 1, (3, 4), 0.001)(x, p, None, p)
    with pytest.raises(InputError, match="too few input points"):
        layer(torch.randn(1, 1, 3), p[:3], None, p)
    with pytest.raises(InputError, match="NaN or Inf"):
        layer(x * float("nan"), p, None, p)
    with pytest.raises(ShapeError, match="points_in"):
        layer(x, p[:, :1], None, p)


def test_matches_neuralop_point_cloud_layer():
    """neuralop normalises each basis function to a discrete integral of 1 at every output point:
    our 'nodal' layer with weights divided by the continuous integrals gives the same output."""
    nop = load_neuralop_disco()
    pin, pout = _cloud(300, 15).float(), _cloud(40, 16, 0.8).float()
    q = voronoi_areas(pin)
    ks, rc = (3, 4), 0.35
    torch.manual_seed(17)
    ref = nop.DiscreteContinuousConv2d(2, 3, pin.T.contiguous(), pout.T.contiguous(), list(ks),
                                       quadrature_weights=q, radius_cutoff=rc)
    ours = DiscoConvPoints(2, 3, ks, rc, normalization="nodal")
    K = basis_size("piecewise_linear", ks)
    target = (basis_integrals("piecewise_linear", ks) * rc**2).float()
    with torch.no_grad():
        ours.weight.copy_(ref.weight[..., :K] / target)
        ours.bias.copy_(ref.bias)
    x = torch.randn(2, 2, 300)
    torch.testing.assert_close(ours(x, pin, q, pout), ref(x), atol=1e-5, rtol=1e-5)
