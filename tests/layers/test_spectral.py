"""SpectralConv2d / FNOBlock against an explicit-matrix DFT written here."""

from __future__ import annotations

import importlib.util
import math
import sys
import types

import pytest
import torch

from discofold.errors import InputError, ShapeError
from discofold.layers.spectral import FNOBlock, SpectralConv2d


def _kept(n: int, size: int) -> list[int]:
    return [k for k in range(-(n // 2), n - n // 2) if -(size // 2) <= k <= (size - 1) // 2]


def _dft_reference(x, weight, modes, complex_data, out_shape):
    """c_k = sum_n x_n exp(-2 pi i k.n/N) / (HW), y_m = sum_k (W c)_k exp(2 pi i k.m/M)."""
    x = x.to(torch.complex128)
    B, C, H, W = x.shape
    Ho, Wo = out_shape
    n1, n2 = modes
    k1s = [k for k in _kept(n1, H) if k in _kept(n1, Ho)]
    if complex_data:
        k2s = [k for k in _kept(n2, W) if k in _kept(n2, Wo)]
    else:
        k2s = [k for k in range(n2 // 2 + 1) if k <= W // 2 and k <= Wo // 2]
    n_h, n_w = torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64)
    m_h, m_w = torch.arange(Ho, dtype=torch.float64), torch.arange(Wo, dtype=torch.float64)
    y = torch.zeros(B, weight.shape[1], Ho, Wo, dtype=torch.complex128)
    for k1 in k1s:
        e1 = torch.exp(-2j * math.pi * k1 * n_h / H)
        o1 = torch.exp(2j * math.pi * k1 * m_h / Ho)
        for k2 in k2s:
            e2 = torch.exp(-2j * math.pi * k2 * n_w / W)
            o2 = torch.exp(2j * math.pi * k2 * m_w / Wo)
            c = torch.einsum("bchw,h,w->bc", x, e1, e2) / (H * W)
            i2 = k2 + n2 // 2 if complex_data else k2
            d = torch.einsum("bc,co->bo", c, weight[:, :, k1 + n1 // 2, i2].to(torch.complex128))
            a = 1.0
            if not complex_data and k2 > 0 and not (Wo % 2 == 0 and k2 == Wo // 2):
                a = 2.0
            y += a * d[:, :, None, None] * torch.outer(o1, o2)
    return y if complex_data else y.real


@pytest.mark.parametrize(
    "complex_data, shape, modes, out_shape",
    [
        (False, (17, 12), (6, 7), None),
        (False, (16, 15), (5, 4), (21, 19)),
        (True, (13, 10), (5, 6), None),
        (True, (12, 11), (8, 3), (9, 14)),
    ],
)
def test_matches_direct_dft(complex_data, shape, modes, out_shape):
    g = torch.Generator().manual_seed(0)
    layer = SpectralConv2d(3, 4, modes, complex_data=complex_data, out_shape=out_shape)
    dtype = torch.complex128 if complex_data else torch.float64
    x = torch.randn(2, 3, *shape, generator=g, dtype=dtype)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=g, dtype=torch.cfloat))
        y = layer(x)
    ref = _dft_reference(x, layer.weight.detach(), modes, complex_data, out_shape or shape)
    assert y.shape == ref.shape
    assert torch.allclose(y, ref.to(y.dtype), atol=1e-6, rtol=1e-5)


def _bandlimited(n: int, gen: torch.Generator, complex_data: bool, band: int = 3):
    """The same random trigonometric polynomial (|k| <= band) sampled on n x (n + 4)."""
    ks = range(-band, band + 1)
    coef = torch.randn(2, 2 * band + 1, 2 * band + 1, dtype=torch.complex128, generator=gen)
    t1 = torch.arange(n, dtype=torch.float64) / n
    t2 = torch.arange(n + 4, dtype=torch.float64) / (n + 4)
    x = torch.zeros(1, 2, n, n + 4, dtype=torch.complex128)
    for i, k1 in enumerate(ks):
        for j, k2 in enumerate(ks):
            ph = torch.exp(2j * math.pi * (k1 * t1[:, None] + k2 * t2[None, :]))
            x[0] += coef[:, i, j, None, None] * ph
    return x if complex_data else x.real


@pytest.mark.parametrize("complex_data", [False, True])
def test_same_weights_two_resolutions(complex_data):
    g = torch.Generator().manual_seed(1)
    layer = SpectralConv2d(2, 3, (8, 8), complex_data=complex_data).double()
    with torch.no_grad():
        layer.weight.data = layer.weight.data.to(torch.complex128)
    coarse = layer(_bandlimited(16, torch.Generator().manual_seed(5), complex_data))
    fine = layer(_bandlimited(32, torch.Generator().manual_seed(5), complex_data))
    del g
    # common points: the coarse grid t = i / 16 is every second fine point along H; along W the
    # grids are 20 and 36 points, compare through the continuous output via out_shape instead
    fine_on_coarse = layer(
        _bandlimited(32, torch.Generator().manual_seed(5), complex_data), out_shape=(16, 20)
    )
    assert torch.allclose(fine_on_coarse, coarse, atol=1e-10)
    assert torch.allclose(
        fine[..., ::2, :],
        layer(_bandlimited(16, torch.Generator().manual_seed(5), complex_data), out_shape=(16, 36)),
        atol=1e-10,
    )


def test_fno_block_and_gradcheck():
    g = torch.Generator().manual_seed(2)
    layer = SpectralConv2d(2, 2, (4, 4))
    layer.weight.data = layer.weight.data.to(torch.complex128)
    x = torch.randn(1, 2, 7, 6, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: layer(t), (x,))
    block = FNOBlock(3, (4, 4)).double()
    block.spectral.weight.data = block.spectral.weight.data.to(torch.complex128)
    xb = torch.randn(2, 3, 9, 8, dtype=torch.float64, generator=g)
    expected = torch.nn.functional.gelu(block.spectral(xb) + block.pointwise(xb))
    assert torch.allclose(block(xb), expected)
    cblock = FNOBlock(2, 4, activation=torch.nn.Tanh, complex_data=True)
    xc = torch.randn(1, 2, 6, 5, dtype=torch.cfloat, generator=g)
    lin = (
        torch.einsum("oc,bchw->bohw", cblock.pointwise_weight, xc)
        + cblock.pointwise_bias[None, :, None, None]
    )
    pre = cblock.spectral(xc) + lin
    assert torch.allclose(cblock(xc), torch.complex(pre.real.tanh(), pre.imag.tanh()))


def test_errors():
    layer = SpectralConv2d(2, 2, 4)
    with pytest.raises(ShapeError, match="x must be"):
        layer(torch.zeros(1, 3, 8, 8))
    with pytest.raises(InputError, match="complex"):
        layer(torch.zeros(1, 2, 8, 8, dtype=torch.cfloat))
    with pytest.raises(InputError, match="NaN or Inf"):
        layer(torch.full((1, 2, 8, 8), float("nan")))
    with pytest.raises(InputError, match="modes"):
        SpectralConv2d(2, 2, (0, 3))


def _load_neuralop_spectral():
    pytest.importorskip("tensorly")
    pytest.importorskip("tltorch")
    spec = importlib.util.find_spec("neuralop")
    if spec is None:
        pytest.skip("neuraloperator is not installed")
    saved = {k: v for k, v in sys.modules.items() if k == "neuralop" or k.startswith("neuralop.")}
    stub = types.ModuleType("neuralop")  # skip neuralop/__init__ (it imports its data loaders)
    stub.__path__ = list(spec.submodule_search_locations)
    sys.modules["neuralop"] = stub
    try:
        return importlib.import_module("neuralop.layers.spectral_convolution")
    finally:
        for k in [k for k in sys.modules if k == "neuralop" or k.startswith("neuralop.")]:
            del sys.modules[k]
        sys.modules.update(saved)


# Complex data is not cross-checked: neuraloperator 2.0 slices the first n2 entries of the
# *shifted* last axis and does not shift that axis back after the contraction, so its complex 2-D
# layer is not a symmetric-mode FNO; ours is checked against the direct DFT above.
@pytest.mark.parametrize("complex_data", [False])
def test_matches_neuralop(complex_data):
    mod = _load_neuralop_spectral()
    ref = mod.SpectralConv(3, 4, n_modes=(6, 8), complex_data=complex_data, bias=False)
    ours = SpectralConv2d(3, 4, (6, 8), complex_data=complex_data)
    with torch.no_grad():
        ours.weight.copy_(ref.weight.to_tensor())
    dtype = torch.cfloat if complex_data else torch.float32
    # even H: neuraloperator shifts back with fftshift (not ifftshift), exact only for even n
    x = torch.randn(2, 3, 16, 18, dtype=dtype, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.allclose(ours(x), ref(x), atol=1e-5)
    # output_shape is not compared: neuraloperator pads the (unshifted) full-FFT axis at its end,
    # which moves negative frequencies; our out_shape is checked against the direct DFT above.
