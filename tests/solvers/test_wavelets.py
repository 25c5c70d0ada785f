"""Orthogonal Daubechies DWT: filter tables, perfect reconstruction, Parseval, adjointness."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from discofold.errors import InputError
from discofold.solvers.wavelets import WaveletTransform, daubechies

# standard tables (Daubechies 1992, Table 6.1), to the digits printed there
_DB2 = [0.482962913145, 0.836516303738, 0.224143868042, -0.129409522551]
_DB4 = [0.230377813309, 0.714846570553, 0.630880767930, -0.027983769417,
        -0.187034811719, 0.030841381836, 0.032883011667, -0.010597401785]


def test_filters_match_tables_and_are_orthonormal():
    assert np.allclose(daubechies(1), [1 / math.sqrt(2)] * 2, atol=1e-15)
    assert np.allclose(daubechies(2), _DB2, atol=1e-12)
    assert np.allclose(daubechies(4), _DB4, atol=1e-12)
    for order in range(1, 9):
        h = np.array(daubechies(order))
        assert h.size == 2 * order and abs(h.sum() - math.sqrt(2)) < 1e-13
        for shift in range(order):  # Σ h[k] h[k + 2m] = δ_m
            dot = float(np.dot(h[: h.size - 2 * shift], h[2 * shift:]))
            assert abs(dot - (shift == 0)) < 1e-13
        k = np.arange(h.size)  # vanishing moments of the high-pass filter
        g = (-1.0) ** k * h[::-1]
        for p in range(order):
            assert abs(float(np.sum(g * k**p))) < 1e-9 * max(1, h.size ** p)


@pytest.mark.parametrize("wavelet, levels, shape", [
    ("db1", 1, (8, 6)), ("db4", 3, (37, 31)), ("db8", 2, (20, 36)), ("db3", 4, (33, 64)),
])
def test_perfect_reconstruction_and_parseval(wavelet, levels, shape):
    gen = torch.Generator().manual_seed(1)
    x = torch.complex(torch.randn(2, *shape, generator=gen, dtype=torch.float64),
                      torch.randn(2, *shape, generator=gen, dtype=torch.float64))
    wt = WaveletTransform(wavelet, levels)
    c = wt.forward(x)
    assert c.shape[-2:] == wt.padded_shape(shape)
    assert all(s % 2**levels == 0 for s in c.shape[-2:])
    assert (wt.inverse(c, shape) - x).abs().max() <= 1e-12
    assert abs(float(c.abs().square().sum() / x.abs().square().sum()) - 1) <= 1e-12
    # the synthesis is the adjoint of the analysis: ⟨Wx, d⟩ = ⟨x, Wᵀd⟩ (orthogonal, square)
    d = torch.randn(c.shape, generator=gen, dtype=torch.float64).to(c.dtype)
    xr = x[..., : c.shape[-2], : c.shape[-1]] if c.shape[-2:] == shape else None
    if xr is not None:
        lhs = torch.vdot(c.reshape(-1), d.reshape(-1))
        rhs = torch.vdot(x.reshape(-1), wt.inverse(d).reshape(-1))
        assert abs(complex(lhs - rhs)) < 1e-10


def test_haar_one_level_by_hand():
    x = torch.tensor([[1.0, 3.0], [5.0, 7.0]], dtype=torch.float64)
    c = WaveletTransform("haar", 1).forward(x)
    # LL = (1+3+5+7)/2; the detail bands are signed half-differences
    assert torch.allclose(c.abs(), torch.tensor([[8.0, 2.0], [4.0, 0.0]], dtype=torch.float64))


def test_float32_and_bad_names():
    x = torch.randn(16, 16, generator=torch.Generator().manual_seed(0))
    wt = WaveletTransform("db4", 2)
    assert (wt.inverse(wt.forward(x)) - x).abs().max() < 1e-5
    with pytest.raises(InputError, match="wavelet"):
        WaveletTransform("sym4")
    with pytest.raises(InputError, match="levels"):
        WaveletTransform("db2", 0)


def test_matches_pywavelets_up_to_circular_shift():
    pywt = pytest.importorskip("pywt")
    x = np.random.default_rng(0).standard_normal((16, 24))
    for order in (2, 4):
        approx, (ch, cv, cd) = pywt.dwt2(x, f"db{order}", mode="periodization")
        # PyWavelets' periodization keeps the odd samples of the filtered signal, ours the even
        # ones: the same transform of the image shifted by one pixel along each axis
        shifted = np.roll(x, (1, 1), axis=(0, 1))
        ours = WaveletTransform(f"db{order}", 1).forward(torch.from_numpy(shifted)).numpy()
        bands = [ours[:8, :12], ours[8:, :12], ours[:8, 12:], ours[8:, 12:]]
        # same bands up to one circular shift and the sign convention of the high-pass filter
        for band, ref in zip(bands, (approx, ch, cv, cd)):
            best = min(np.abs(sign * np.roll(band, (sh, sw), axis=(0, 1)) - ref).max()
                       for sh in range(8) for sw in range(12) for sign in (1, -1))
            assert best < 1e-10
