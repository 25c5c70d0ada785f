"""Ellipse phantoms: analytic k-space against the DFT of fine rasterisations."""

import math

import pytest
import torch

from discofold.data.phantoms import (
    ellipse_kspace,
    random_ellipses,
    random_phantom,
    rasterize_ellipses,
    shepp_logan,
    shepp_logan_ellipses,
    smooth_phase,
)
from discofold.errors import InputError, ShapeError
from discofold.operators import fft2c


def _low_freq_error(ell, n, supersample):
    """Relative error, analytic vs centred DFT, on the same continuous frequencies κ = π m."""
    h, w = n, n * 3 // 4 + 1  # non-square, odd W
    img = rasterize_ellipses(ell, (h, w), supersample).to(torch.complex128)
    dft = fft2c(img)
    m0 = torch.arange(-10, 11, dtype=torch.float64)
    m1 = torch.arange(-7, 8, dtype=torch.float64)
    sub = dft[h // 2 - 10 : h // 2 + 11, w // 2 - 7 : w // 2 + 8]
    k = torch.stack(torch.meshgrid(2 * math.pi * m0 / h, 2 * math.pi * m1 / w, indexing="ij"), -1)
    ana = ellipse_kspace(ell, k, (h, w), pixel_box=supersample > 1)
    return float((sub - ana).norm() / ana.norm())


@pytest.mark.parametrize("which", ["shepp_logan", "random"])
def test_analytic_kspace_matches_fine_rasterisation_and_converges(which):
    if which == "shepp_logan":
        ell = shepp_logan_ellipses()
    else:
        ell = random_ellipses(torch.Generator().manual_seed(3))
    errs = [_low_freq_error(ell, n, 4) for n in (48, 96, 192)]
    # error falls with resolution (edge aliasing ~ N^-1.5 or faster)
    assert errs[1] < 0.55 * errs[0] and errs[2] < 0.55 * errs[1], errs
    assert errs[2] < 0.01, errs
    # point sampling is worse than the box-averaged rasterisation at the same matrix
    assert _low_freq_error(ell, 48, 1) > errs[0]


def test_analytic_kspace_off_grid_against_dense_nudft():
    ell = random_ellipses(torch.Generator().manual_seed(7))
    h, w = 96, 71
    img = rasterize_ellipses(ell, (h, w), 6)
    g = torch.Generator().manual_seed(0)
    k = (torch.rand(40, 2, generator=g, dtype=torch.float64) - 0.5) * (math.pi / 3)
    n0 = torch.arange(h, dtype=torch.float64) - h // 2
    n1 = torch.arange(w, dtype=torch.float64) - w // 2
    phase = k[:, 0, None, None] * n0[:, None] + k[:, 1, None, None] * n1[None, :]
    dense = (img * torch.exp(-1j * phase)).sum(dim=(1, 2)) / math.sqrt(h * w)
    ana = ellipse_kspace(ell, k, (h, w), pixel_box=True)
    assert float((dense - ana).norm() / ana.norm()) < 5e-3


def test_dc_equals_area_sum():
    ell = shepp_logan_ellipses()
    h, w = 64, 50
    dc = ellipse_kspace(ell, torch.zeros(1, 2, dtype=torch.float64), (h, w))[0]
    area = sum(float(e[0]) * math.pi * float(e[1]) * float(e[2]) for e in ell)
    assert abs(dc.imag) < 1e-12
    assert dc.real == pytest.approx(area * math.sqrt(h * w) / 4, rel=1e-12)


def test_shepp_logan_values_and_orientation():
    img = shepp_logan((129, 129), supersample=1)
    # centre: 1 - 0.8 = 0.2 ; the three small bottom ellipses are in the lower half (rows > 64)
    assert float(img[64, 64]) == pytest.approx(0.2, abs=1e-6)
    assert float(img.min()) >= -1e-6 and float(img.max()) == pytest.approx(1.0)
    row_bottom = int(round(64 + 0.605 * 64.5))
    assert img[row_bottom, 64] > 0.25  # 0.2 + 0.1 inside the small bottom ellipses
    assert img[0, 64] == 0 and img[64, 0] == 0


def test_random_phantom_properties_and_seed():
    ell = random_ellipses(torch.Generator().manual_seed(11))
    img = rasterize_ellipses(ell, (65, 48), 1)
    assert float(img.min()) >= 0.0
    inside = img > 0
    assert float(img[inside].min()) >= 0.1 - 1e-9
    # everything inside the unit disc
    assert float((ell[:, 3] ** 2 + ell[:, 4] ** 2).sqrt().add(ell[:, 1:3].max(1).values).max()) < 1
    a = random_phantom((37, 31), torch.Generator().manual_seed(5))
    b = random_phantom((37, 31), torch.Generator().manual_seed(5))
    c = random_phantom((37, 31), torch.Generator().manual_seed(6))
    assert a.dtype == torch.complex64 and torch.equal(a, b) and not torch.equal(a, c)


def test_smooth_phase_is_smooth_and_bounded():
    for seed in range(3):
        ph = smooth_phase((64, 80), torch.Generator().manual_seed(seed), max_rad=2.0, order=3)
        assert float(ph.abs().max()) <= 2.0 + 1e-6
        # highest angular frequency per pixel is (pi/2) * order * 2/N: second differences are
        # tiny compared with the peak, unlike white noise (ratio ~ 1)
        for dim in (0, 1):
            d2 = ph.diff(dim=dim).diff(dim=dim).abs().max()
            assert float(d2 / ph.abs().max()) < 0.03
    assert not torch.equal(smooth_phase((8, 9), torch.Generator().manual_seed(0)),
                           smooth_phase((8, 9), torch.Generator().manual_seed(1)))


def test_bad_input():
    with pytest.raises(ShapeError, match=r"\(E, 6\)"):
        rasterize_ellipses(torch.zeros(3, 5), (8, 8))
    with pytest.raises(InputError, match="semi-axes"):
        rasterize_ellipses(torch.tensor([[1.0, 0.0, 0.1, 0, 0, 0]]), (8, 8))
    with pytest.raises(ShapeError, match=r"\(\.\.\., 2\)"):
        ellipse_kspace(shepp_logan_ellipses(), torch.zeros(4, 3), (8, 8))


def test_global_rng_is_never_touched():
    from discofold.data.coils import birdcage_maps
    from discofold.data.images import augment
    from discofold.data.mri_datasets import SimulatedMRIDataset
    from discofold.data.noise import add_noise

    state = torch.get_rng_state()
    random_phantom((17, 15))
    smooth_phase((9, 8))
    birdcage_maps((9, 8), 3)
    add_noise(torch.ones(5, dtype=torch.complex64), 10.0)
    augment(torch.rand(20, 20, generator=torch.Generator()), (7, 9))
    SimulatedMRIDataset(1, (16, 12), [("random", 2)], num_coils=2, snr_db=20)[0]
    assert torch.equal(torch.get_rng_state(), state)
