"""Radar imaging against echoes of point scatterers computed by the direct sum of the
conventions (s = Σ σ exp(−i4πf/c (x cos θ + y sin θ)))."""

from __future__ import annotations

import math

import pytest
import torch

from discofold.errors import InputError, ShapeError
from discofold.solvers.radar import (
    SPEED_OF_LIGHT,
    omp_range_cells,
    polar_format,
    radar_geometry,
    range_doppler,
)


def _geometry(fc, bw, angle_deg, n, pixel=0.075, oversampling=1.2, shift=0.0, w=None):
    w = n if w is None else w
    lx, ly = n * pixel, w * pixel
    df = SPEED_OF_LIGHT / (2 * lx * oversampling)
    n_f = round(bw / df)
    f = fc + (torch.arange(n_f, dtype=torch.float64) - n_f // 2) * df
    total = math.radians(angle_deg)
    n_p = math.ceil(total * 2 * float(f.max()) * ly * oversampling / SPEED_OF_LIGHT)
    th = (torch.arange(n_p, dtype=torch.float64) - n_p // 2) * (total / n_p) + shift
    return th, f, (n, w), (lx, ly)


def _echo(points, th, f):
    s = torch.zeros(th.numel(), f.numel(), dtype=torch.complex128)
    for x, y, amp in points:
        phase = x * torch.cos(th)[:, None] + y * torch.sin(th)[:, None]
        s += amp * torch.exp(-4j * math.pi * f[None, :] / SPEED_OF_LIGHT * phase)
    return s


def _peak(img):
    w = img.shape[-1]
    return divmod(int(img.abs().argmax()), w), float(img.abs().max())


@pytest.mark.parametrize("window", ["hann", "taylor", None])
def test_range_doppler_centred_point_peaks_at_centre_with_unit_amplitude(window):
    th, f, shape, ext = _geometry(10e9, 0.5e9, 3.0, 33, w=28)
    img = range_doppler(_echo([(0.0, 0.0, 2 - 1j)], th, f), th, f, shape, ext, window=window)
    (i, j), _ = _peak(img)
    assert (i, j) == (33 // 2, 28 // 2)
    assert abs(complex(img[i, j]) - (2 - 1j)) < 1e-12


@pytest.mark.parametrize("method", [range_doppler, polar_format])
def test_narrow_angle_off_centre_point_at_right_pixel(method):
    th, f, shape, ext = _geometry(10e9, 0.5e9, 2.0, 41, w=36)
    dx, dy = ext[0] / shape[0], ext[1] / shape[1]
    for di, dj in [(5, -7), (-9, 4)]:
        img = method(_echo([(di * dx, dj * dy, 1.0)], th, f), th, f, shape, ext)
        (i, j), peak = _peak(img)
        assert (i, j) == (41 // 2 + di, 36 // 2 + dj)
        assert peak > 0.9


def test_wide_angle_pfa_keeps_peak_and_range_doppler_loses_it():
    # S2-like fan (2 GHz at 10 GHz, 11.5°) on a 128-pixel grid, point 53 pixels off in cross-range
    th, f, shape, ext = _geometry(10e9, 2e9, 11.5, 128, w=128)
    off = 53 * ext[1] / 128
    centre, side = _echo([(0.0, 0.0, 1.0)], th, f), _echo([(0.0, off, 1.0)], th, f)
    batch = torch.stack([centre, side])  # batched call
    drop = {}
    for method in (range_doppler, polar_format):
        imgs = method(batch, th, f, shape, ext)
        (_, p0), ((i1, j1), p1) = _peak(imgs[0]), _peak(imgs[1])
        if method is polar_format:
            assert (i1, j1) == (64, 64 + 53)
        drop[method.__name__] = 20 * math.log10(p1 / p0)
    assert drop["polar_format"] >= -1.0
    assert drop["range_doppler"] <= -6.0


def test_aperture_not_containing_zero_uses_rotated_frame():
    th, f, shape, ext = _geometry(10e9, 0.5e9, 2.0, 25, w=22, shift=math.radians(20))
    dx, dy = ext[0] / 25, ext[1] / 22
    for method in (range_doppler, polar_format):
        img = method(_echo([(3 * dx, -4 * dy, 1.0)], th, f), th, f, shape, ext)
        assert _peak(img)[0] == (25 // 2 + 3, 22 // 2 - 4)
        img0 = method(_echo([(0.0, 0.0, 1.0)], th, f), th, f, shape, ext)
        assert abs(complex(img0[12, 11]) - 1) < 1e-6


def test_omp_recovers_sparse_scene_positions_and_amplitudes():
    # unit oversampling: range cells c/(2B) = 0.3 m = every 4th pixel row
    th, f, shape, ext = _geometry(10e9, 0.5e9, 3.0, 20, w=24, oversampling=1.0)
    dx, dy = ext[0] / 20, ext[1] / 24
    truth = [(-4, 3, 1.0), (4, -5, 0.6j), (4, 2, -0.8), (0, 0, 0.5)]
    pts = [(di * dx, dj * dy, a) for di, dj, a in truth]
    echo = _echo(pts, th, f)
    mask = torch.ones(th.numel(), f.numel())
    mask[::4] = 0  # missing pulses
    img = omp_range_cells(echo * mask, th, f, shape, ext, n_atoms=2, tol=0.1, mask=mask)
    found = {(int(i), int(j)) for i, j in (img.abs() > 0.3).nonzero()}
    assert found == {(10 + di, 12 + dj) for di, dj, _ in truth}
    for di, dj, a in truth:
        assert abs(complex(img[10 + di, 12 + dj]) - a) < 0.15 * abs(a)


def test_geometry_from_object_and_bad_input():
    th, f, shape, ext = _geometry(10e9, 0.5e9, 2.0, 16)

    class Dummy:
        angles_rad, frequencies_hz, image_shape, extent_m, mask = th, f, shape, ext, None

    geom = radar_geometry(Dummy())
    echo = _echo([(0.0, 0.0, 1.0)], th, f)
    assert torch.allclose(range_doppler(echo, **geom), range_doppler(echo, th, f, shape, ext))
    with pytest.raises(ShapeError, match="P="):
        range_doppler(echo[:-1], th, f, shape, ext)
    bad = echo.clone()
    bad[0, 0] = float("inf")
    with pytest.raises(InputError, match="non-finite"):
        polar_format(bad, th, f, shape, ext)
    with pytest.raises(InputError, match="uniformly"):
        polar_format(echo, th ** 3, f, shape, ext)
    with pytest.raises(InputError, match="window"):
        range_doppler(echo, th, f, shape, ext, window="kaiser")
    with pytest.raises(InputError, match="radar geometry"):
        radar_geometry(object())
