"""PolarRadar against direct sums over pixels and over off-grid point scatterers."""

import math

import numpy as np
import pytest
import torch

from discofold.errors import InputError, ShapeError
from discofold.operators import PolarRadar
from discofold.operators._reference import radar_direct_sum
from discofold.operators.radar import SPEED_OF_LIGHT

C = SPEED_OF_LIGHT


def _geometry(p=24, f=20, fc=10e9, bw=0.5e9, span_deg=2.9):
    th = torch.linspace(-0.5, 0.5, p, dtype=torch.float64) * math.radians(span_deg)
    fr = fc + torch.linspace(-0.5, 0.5, f, dtype=torch.float64) * bw
    return th, fr


def _pixel_positions(h, w, lx, ly):
    xi = (np.arange(h) - h // 2) * lx / h
    yj = (np.arange(w) - w // 2) * ly / w
    return np.meshgrid(xi, yj, indexing="ij")


def _direct_echo(x_pos, y_pos, amp, th, fr):
    """s(θ, f) = Σ σ exp(−i 4π f/c (x cos θ + y sin θ)) by an explicit sum (numpy, float64)."""
    th = np.asarray(th)[:, None, None]
    fr = np.asarray(fr)[None, :, None]
    phase = -4j * np.pi * fr / C * (x_pos * np.cos(th) + y_pos * np.sin(th))
    return (amp * np.exp(phase)).sum(-1)


@pytest.mark.parametrize("shape,extent", [((32, 32), (19.2, 19.2)), ((21, 18), (12.0, 9.5))])
def test_forward_matches_direct_pixel_sum(shape, extent):
    th, fr = _geometry()
    h, w = shape
    op = PolarRadar(th, fr, shape, extent)
    rng = np.random.default_rng(0)
    img = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    xx, yy = _pixel_positions(h, w, *extent)
    ref = _direct_echo(xx.ravel(), yy.ravel(), img.ravel(), th.numpy(), fr.numpy())
    got = op(torch.from_numpy(img)).numpy()
    assert got.shape == (24, 20)
    assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < 1e-4
    # the library's slow reference agrees with the test's own sum
    lib = radar_direct_sum(torch.from_numpy(img), th, fr, extent).numpy()
    np.testing.assert_allclose(lib, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())


def test_off_grid_scatterers_against_adjoint_on_fine_grid():
    """Echo of continuous-position scatterers, back-projected by the operator's adjoint on a fine
    grid, equals the direct back-projection sum at those pixel positions."""
    th, fr = _geometry(p=30, f=26, bw=1e9, span_deg=5.7)
    rng = np.random.default_rng(1)
    pos = rng.uniform(-4, 4, size=(7, 2))
    amp = rng.standard_normal(7) + 1j * rng.standard_normal(7)
    echo = _direct_echo(pos[:, 0], pos[:, 1], amp, th.numpy(), fr.numpy())
    h, w, ext = 48, 40, (3.6, 3.6)  # inside the unambiguous window (3.75 m × 4.37 m)
    op = PolarRadar(th, fr, (h, w), ext)
    back = op.A_adjoint(torch.from_numpy(echo)).numpy()
    xx, yy = _pixel_positions(h, w, *ext)
    t = th.numpy()[:, None, None]
    f = fr.numpy()[None, :, None]
    phase = 4j * np.pi * f / C * (xx.ravel() * np.cos(t) + yy.ravel() * np.sin(t))
    ref = (echo[:, :, None] * np.exp(phase)).sum((0, 1)).reshape(h, w)
    assert np.linalg.norm(back - ref) / np.linalg.norm(ref) < 1e-4
    # a single scatterer inside the unambiguous window back-projects to a peak at its position
    one = _direct_echo(np.array([1.3]), np.array([-0.9]), np.array([1.0]), th.numpy(),
                       fr.numpy())
    img = op.A_adjoint(torch.from_numpy(one)).abs().numpy()
    i, j = np.unravel_index(np.argmax(img), img.shape)
    assert abs(xx[i, j] - 1.3) <= ext[0] / h and abs(yy[i, j] + 0.9) <= ext[1] / w


def test_reference_image_of_pixel_scatterer_is_exact_at_its_pixel():
    th, fr = _geometry()
    op = PolarRadar(th, fr, (33, 32), (19.2, 19.2))
    img = torch.zeros(33, 32, dtype=torch.complex128)
    img[20, 11] = 2.0 - 1.0j
    ref = op.reference_image(op(img))
    assert abs(ref[20, 11] - (2.0 - 1.0j)) < 1e-4
    assert ref.abs().argmax() == 20 * 32 + 11
    w = op.density_weights
    assert abs(float(w.sum()) - 1) < 1e-12
    # weights proportional to f for a uniform grid
    ratio = (w[:, -1] / w[:, 0]).numpy()
    np.testing.assert_allclose(ratio, float(fr[-1] / fr[0]), rtol=1e-12)


def test_mask_per_sample_and_dc_adjoint():
    th, fr = _geometry(p=16, f=12)
    gen = torch.Generator().manual_seed(0)
    mask = torch.rand(3, 16, 12, generator=gen) > 0.5
    op = PolarRadar(th, fr, (16, 16), (19.2, 19.2), mask=mask)
    x = torch.randn(3, 16, 16, dtype=torch.complex128, generator=gen)
    y = op(x)
    assert bool((y[~mask] == 0).all())
    full = PolarRadar(th, fr, (16, 16), (19.2, 19.2))
    torch.testing.assert_close(y, full(x) * mask)
    img = torch.zeros(16, 16, dtype=torch.complex128)
    img[8, 8] = 1
    z = op.dc_adjoint(op(img.expand(3, 16, 16)))
    torch.testing.assert_close(z[:, 8, 8], torch.ones(3, dtype=torch.complex128), atol=1e-4,
                               rtol=0)
    # a mask given to the call replaces the operator's own: the full-aperture operator with
    # ``mask=`` equals the masked operator, and differs from its own (unmasked) weights
    torch.testing.assert_close(full.dc_adjoint(y, mask=mask), op.dc_adjoint(y))
    torch.testing.assert_close(full.dc_adjoint(y, mask=mask.double()), op.dc_adjoint(y))
    assert not torch.allclose(full.dc_adjoint(y), op.dc_adjoint(y))


def test_non_uniform_angles_and_wide_angle_wrap():
    th = torch.sort(torch.rand(40, generator=torch.Generator().manual_seed(3),
                               dtype=torch.float64))[0] * 2 * math.pi
    fr = torch.linspace(9e9, 11e9, 9, dtype=torch.float64)
    op = PolarRadar(th, fr, (20, 20), (6.0, 6.0))
    rng = np.random.default_rng(4)
    img = rng.standard_normal((20, 20)) + 1j * rng.standard_normal((20, 20))
    xx, yy = _pixel_positions(20, 20, 6.0, 6.0)
    ref = _direct_echo(xx.ravel(), yy.ravel(), img.ravel(), th.numpy(), fr.numpy())
    got = op(torch.from_numpy(img)).numpy()
    assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < 1e-4


def test_gradcheck_double():
    th, fr = _geometry(p=5, f=4)
    op = PolarRadar(th, fr, (5, 4), (3.0, 3.0))
    x = torch.randn(5, 4, dtype=torch.complex128, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: op(z), (x,), atol=1e-6, rtol=1e-4)
    y = torch.randn(5, 4, dtype=torch.complex128, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: op.A_adjoint(z), (y,), atol=1e-6, rtol=1e-4)


def test_bad_inputs():
    th, fr = _geometry(p=8, f=6)
    with pytest.raises(InputError, match="frequencies_hz must all be > 0"):
        PolarRadar(th, -fr, (8, 8), (1.0, 1.0))
    with pytest.raises(InputError, match="frequencies_hz must all be > 0"):
        PolarRadar(th, fr * 0, (8, 8), (1.0, 1.0))
    with pytest.raises(InputError, match="extent_m"):
        PolarRadar(th, fr, (8, 8), (0.0, 1.0))
    with pytest.raises(InputError, match="extent_m"):
        PolarRadar(th, fr, (8, 8), (1.0, -2.0))
    with pytest.raises(ShapeError, match=r"\(8, 6\)"):
        PolarRadar(th, fr, (8, 8), (1.0, 1.0), mask=torch.ones(7, 6, dtype=torch.bool))
    with pytest.raises(InputError, match="empty"):
        PolarRadar(th, fr, (8, 8), (1.0, 1.0), mask=torch.zeros(8, 6, dtype=torch.bool))
    op = PolarRadar(th, fr, (8, 8), (1.0, 1.0))
    with pytest.raises(InputError, match="complex"):
        op(torch.ones(8, 8))
    with pytest.raises(InputError, match="non-finite"):
        PolarRadar(th * float("nan"), fr, (8, 8), (1.0, 1.0))
