"""CartesianMRI against numpy's FFT and a dense DFT, plus its bad-input errors."""

import numpy as np
import pytest
import torch

from discofold.errors import InputError, ShapeError
from discofold.operators import CartesianMRI, fft2c, ifft2c


def _np_fft2c(x):
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=(-2, -1)), norm="ortho"),
                           axes=(-2, -1))


def _dense_centred_dft(n):
    idx = np.arange(n) - n // 2
    return np.exp(-2j * np.pi * np.outer(idx, idx) / n) / np.sqrt(n)


@pytest.mark.parametrize("shape", [(8, 8), (37, 31), (30, 45)])
def test_fft2c_matches_numpy_and_dense_dft(shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    got = fft2c(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, _np_fft2c(x), rtol=1e-12, atol=1e-12)
    dense = _dense_centred_dft(shape[0]) @ x @ _dense_centred_dft(shape[1]).T
    np.testing.assert_allclose(got, dense, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ifft2c(torch.from_numpy(got)).numpy(), x, atol=1e-12)


def test_dc_sample_at_centre():
    x = torch.ones(37, 31, dtype=torch.complex128)
    k = fft2c(x)
    assert abs(k[18, 15] - np.sqrt(37 * 31)) < 1e-9
    assert k.abs().sum() - k[18, 15].abs() < 1e-8


def test_multicoil_matches_numpy_per_sample_masks():
    rng = np.random.default_rng(1)
    b, c, h, w = 3, 4, 37, 31
    x = rng.standard_normal((b, h, w)) + 1j * rng.standard_normal((b, h, w))
    s = rng.standard_normal((c, h, w)) + 1j * rng.standard_normal((c, h, w))
    mask = rng.random((b, 1, w)) > 0.5
    mask[:, :, w // 2] = True
    op = CartesianMRI(torch.from_numpy(mask), torch.from_numpy(s))
    y = op(torch.from_numpy(x)).numpy()
    ref = _np_fft2c(x[:, None] * s[None]) * mask[:, None]
    np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-10)
    assert y.shape == (b, c, h, w)
    # different mask per sample really used
    assert not np.allclose(y[0] != 0, y[1] != 0)


def test_single_coil_1d_mask_and_adjoint_is_masked_ifft():
    rng = np.random.default_rng(2)
    h, w = 20, 17
    mask = np.zeros(w, bool)
    mask[::3] = True
    op = CartesianMRI(torch.from_numpy(mask), image_shape=(h, w))
    k = rng.standard_normal((h, w)) + 1j * rng.standard_normal((h, w))
    got = op.A_adjoint(torch.from_numpy(k)).numpy()
    ref = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k * mask), norm="ortho"))
    np.testing.assert_allclose(got, ref, atol=1e-12)


def test_fully_sampled_normalised_maps_is_isometry():
    gen = torch.Generator().manual_seed(0)
    s = torch.randn(5, 12, 14, dtype=torch.complex128, generator=gen)
    s = s / s.abs().pow(2).sum(0, keepdim=True).sqrt()
    op = CartesianMRI(torch.ones(12, 14, dtype=torch.bool), s)
    x = torch.randn(12, 14, dtype=torch.complex128, generator=gen)
    assert torch.allclose(op.normal(x), x, atol=1e-12)
    assert abs(op.compute_norm(dtype=torch.complex128) - 1.0) < 1e-6


def test_bad_inputs_name_the_problem():
    mask = torch.ones(8, 8, dtype=torch.bool)
    op = CartesianMRI(mask)
    with pytest.raises(InputError, match="complex"):
        op(torch.randn(8, 8))
    with pytest.raises(ShapeError, match=r"\(\.\.\., 8, 8\).*\(8, 9\)"):
        op(torch.randn(8, 9, dtype=torch.complex64))
    bad = torch.randn(8, 8, dtype=torch.complex64)
    bad[1, 1] = float("nan")
    with pytest.raises(InputError, match="non-finite"):
        op(bad)
    with pytest.raises(InputError, match="empty"):
        CartesianMRI(torch.zeros(8, 8, dtype=torch.bool))
    with pytest.raises(ShapeError, match=r"\(7, 8\).*\(8, 8\)|does not broadcast"):
        CartesianMRI(torch.ones(7, 8), torch.ones(3, 8, 8, dtype=torch.complex64))
    with pytest.raises(ShapeError, match="image height"):
        CartesianMRI(torch.ones(8))
    with pytest.raises(InputError, match="0 and 1"):
        CartesianMRI(torch.full((8, 8), 0.5))
    with pytest.raises(InputError, match="complex"):
        CartesianMRI(mask, torch.ones(2, 8, 8))
    per_sample = CartesianMRI(torch.ones(3, 8, 8, dtype=torch.bool))
    with pytest.raises(ShapeError, match="batch shape"):
        per_sample(torch.ones(2, 8, 8, dtype=torch.complex64))
