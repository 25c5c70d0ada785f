"""Coil maps (normalisation, smoothness, localisation) and SNR-controlled noise."""

import math

import pytest
import torch

from discofold.data.coils import birdcage_maps, normalize_maps, rss
from discofold.data.noise import add_noise, complex_randn, noise_sigma
from discofold.data.phantoms import rasterize_ellipses, shepp_logan_ellipses
from discofold.errors import InputError, ShapeError


@pytest.mark.parametrize("shape,c", [((37, 31), 8), ((64, 64), 1), ((20, 45), 3), ((33, 33), 12)])
def test_normalised_everywhere(shape, c):
    m = birdcage_maps(shape, c, torch.Generator().manual_seed(1))
    assert m.shape == (c, *shape) and m.dtype == torch.complex64
    s = (m.to(torch.complex128).abs() ** 2).sum(0)
    assert float((s - 1).abs().max()) < 1e-6


def test_normalised_on_support_zero_outside():
    ell = shepp_logan_ellipses()
    support = rasterize_ellipses(ell, (41, 36)) != 0
    m = birdcage_maps((41, 36), 6, torch.Generator().manual_seed(0), support=support,
                      dtype=torch.complex128)
    s = (m.abs() ** 2).sum(0)
    assert float((s[support] - 1).abs().max()) < 1e-12
    assert float(s[~support].abs().max()) == 0.0


def test_maps_are_smooth_and_localised():
    c = 8
    m = birdcage_maps((64, 64), c, jitter=0.0).to(torch.complex128)
    # smooth: second differences are small against the map size (white noise: ratio ~ 1)
    for dim in (-2, -1):
        d2 = m.diff(dim=dim).diff(dim=dim).abs().amax(dim=(-2, -1))
        assert float((d2 / m.abs().amax(dim=(-2, -1))).max()) < 0.03
    # coil c sits at angle 2 pi c / C (u0 = cos, u1 = sin): it is the strongest coil on the
    # image edge in that direction
    for k in range(c):
        a = 2 * math.pi * k / c
        i, j = int(round(32 + 28 * math.cos(a))), int(round(32 + 28 * math.sin(a)))
        assert int(m[:, i, j].abs().argmax()) == k
    # the maps differ from each other (not a single map repeated)
    assert float((m[0].abs() - m[1].abs()).abs().max()) > 0.1


def test_seeded_jitter_and_rss():
    a = birdcage_maps((16, 17), 4, torch.Generator().manual_seed(3))
    b = birdcage_maps((16, 17), 4, torch.Generator().manual_seed(3))
    c = birdcage_maps((16, 17), 4, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    x = torch.randn(16, 17, dtype=torch.complex128)
    assert torch.allclose(rss(a.to(torch.complex128) * x), x.abs(), atol=1e-6)


def test_coil_errors():
    with pytest.raises(InputError, match="num_coils"):
        birdcage_maps((8, 8), 0)
    with pytest.raises(ShapeError, match="support"):
        normalize_maps(torch.ones(2, 4, 4, dtype=torch.complex64), torch.ones(3, 4, dtype=bool))


def test_snr_achieved_over_many_samples():
    g = torch.Generator().manual_seed(0)
    y = complex_randn((4, 30, 29), g, dtype=torch.complex128) * torch.linspace(0.1, 3, 29)
    mask = torch.rand(29, generator=g) < 0.4
    y = y * mask
    for snr in (-5.0, 10.0, 30.0):
        snrs = []
        for _ in range(20):
            noisy, sigma = add_noise(y, snr, g, mask=mask)
            n = (noisy - y)[..., mask]
            assert torch.equal(noisy[..., ~mask], y[..., ~mask])  # unmeasured stay zero
            signal = (y[..., mask].abs() ** 2).mean()
            snrs.append(10 * math.log10(float(signal / (n.abs() ** 2).mean())))
        assert sum(snrs) / len(snrs) == pytest.approx(snr, abs=0.05)
        assert sigma == pytest.approx(math.sqrt(float(signal) / 10 ** (snr / 10)), rel=1e-9)


def test_noise_is_circular_and_seeded():
    y = torch.ones(200, 200, dtype=torch.complex64)
    a, _ = add_noise(y, 0.0, torch.Generator().manual_seed(1))
    b, _ = add_noise(y, 0.0, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    n = (a - y).to(torch.complex128)
    assert float(n.real.var()) == pytest.approx(0.5, rel=0.03)
    assert float(n.imag.var()) == pytest.approx(0.5, rel=0.03)
    assert abs(float((n.real * n.imag).mean())) < 0.01


def test_noise_errors():
    with pytest.raises(InputError, match="complex"):
        add_noise(torch.ones(3), 10.0)
    with pytest.raises(InputError, match="no measured"):
        noise_sigma(torch.ones(3, dtype=torch.complex64), 10.0, torch.zeros(3, dtype=bool))
    assert add_noise(torch.ones(3, dtype=torch.complex64), None)[1] == 0.0
