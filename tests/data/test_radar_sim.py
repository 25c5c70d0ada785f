"""Radar scenes and the exact echo simulator, checked against independent direct sums."""

import math

import numpy as np
import pytest
import torch

from discofold.data.radar_scenes import RadarScene, point_scene, satellite_scene
from discofold.data.radar_sim import (
    SPEED_OF_LIGHT,
    RadarGeometry,
    add_noise,
    density_weights,
    echo_from_image,
    echo_from_scatterers,
    list_presets,
    make_geometry,
    pixel_centres,
    preset,
    reference_image,
    simulate_echo,
)
from discofold.errors import InputError, ShapeError

C = 299_792_458.0


def _small_geometry(shape=(9, 7), p=7, f=5):
    ang = torch.linspace(-0.2, 0.25, p, dtype=torch.float64)
    freq = torch.linspace(9.3e9, 9.9e9, f, dtype=torch.float64)
    return RadarGeometry(ang, freq, shape, (3.1, 2.3), "tiny")


def _loop_echo(sc, ang, freq, gains=None):
    """Independent per-scatterer, per-sample loop in numpy float64."""
    out = np.zeros((len(ang), len(freq)), dtype=np.complex128)
    for k, (x, y, re, im) in enumerate(sc):
        for p, th in enumerate(ang):
            amp = (re + 1j * im) * (1.0 if gains is None else gains[k, p])
            for q, fq in enumerate(freq):
                out[p, q] += amp * np.exp(-1j * 4 * np.pi * fq / C * (x * np.cos(th)
                                                                    + y * np.sin(th)))
    return out


def test_speed_of_light():
    assert SPEED_OF_LIGHT == C


def test_echo_matches_per_scatterer_loop_with_gains():
    g = _small_geometry()
    gen = torch.Generator().manual_seed(3)
    sc = torch.randn(4, 4, generator=gen, dtype=torch.float64)
    gains = torch.rand(4, 7, generator=gen, dtype=torch.float64)
    got = echo_from_scatterers(sc, g.angles_rad, g.frequencies_hz, gains).numpy()
    ref = _loop_echo(sc.numpy(), g.angles_rad.numpy(), g.frequencies_hz.numpy(), gains.numpy())
    assert np.abs(got - ref).max() <= 1e-10 * np.abs(ref).max()


def test_aspect_scene_echo_uses_specular_lobes():
    g = _small_geometry()
    sc = torch.tensor([[0.3, -0.2, 1.0, 0.5], [-0.4, 0.1, -0.7, 0.2]], dtype=torch.float64)
    normal = torch.tensor([0.1, math.nan], dtype=torch.float64)
    width = torch.tensor([0.05, 0.05], dtype=torch.float64)
    scene = RadarScene(sc, normal, width)
    ang = g.angles_rad.numpy()
    u = np.sin(ang - 0.1) / 0.05
    lobe = np.where(u == 0, 1.0, np.sin(np.pi * u) / (np.pi * u + (u == 0)))
    gains = np.stack([lobe, np.ones_like(ang)])
    ref = _loop_echo(sc.numpy(), ang, g.frequencies_hz.numpy(), gains)
    got = simulate_echo(scene, g).numpy()
    assert np.abs(got - ref).max() <= 1e-10 * np.abs(ref).max()
    assert float(scene.gains(torch.tensor([0.1, 0.1 + math.pi]))[0].min()) == pytest.approx(1.0)


def test_scatterer_on_pixel_centre_equals_pixel_image_echo():
    g = _small_geometry((9, 7))
    x, y = pixel_centres(g.image_shape, g.extent_m)
    img = torch.zeros(9, 7, dtype=torch.complex128)
    rows = []
    for i, j, v in [(1, 5, 1 - 2j), (4, 3, 0.5j), (8, 0, -1.5)]:
        img[i, j] = v
        rows.append([float(x[i]), float(y[j]), v.real if isinstance(v, complex) else v,
                     v.imag if isinstance(v, complex) else 0.0])
    sc = torch.tensor(rows, dtype=torch.float64)
    a = echo_from_scatterers(sc, g.angles_rad, g.frequencies_hz)
    b = echo_from_image(img, g)
    assert torch.allclose(a, b, rtol=0, atol=1e-10 * float(a.abs().max()))


def test_echo_from_image_and_reference_against_dense_matrix():
    g = _small_geometry((5, 8), p=6, f=3)
    x, y = (t.numpy() for t in pixel_centres(g.image_shape, g.extent_m))
    th, fr = g.angles_rad.numpy(), g.frequencies_hz.numpy()
    xx, yy = np.meshgrid(x, y, indexing="ij")
    phase = 4 * np.pi * fr[None, :, None] / C * (
        np.cos(th)[:, None, None] * xx.ravel()[None, None] +
        np.sin(th)[:, None, None] * yy.ravel()[None, None])
    mat = np.exp(-1j * phase).reshape(6 * 3, 40)  # (P*F, H*W)
    gen = torch.Generator().manual_seed(1)
    img = torch.randn(2, 5, 8, dtype=torch.complex128, generator=gen)
    got = echo_from_image(img, g).reshape(2, -1).numpy()
    ref = img.reshape(2, -1).numpy() @ mat.T
    assert np.abs(got - ref).max() <= 1e-10 * np.abs(ref).max()
    w = np.tile(fr, 6) / (fr.sum() * 6)
    echo = torch.randn(2, 6, 3, dtype=torch.complex128, generator=gen)
    ref_img = (echo.reshape(2, -1).numpy() * w) @ mat.conj()
    got_img = reference_image(echo, g).reshape(2, -1).numpy()
    assert np.abs(got_img - ref_img).max() <= 1e-10 * np.abs(ref_img).max()


def test_reference_of_centred_point_is_sigma_at_centre_pixel():
    g = make_geometry(10e9, 1e9, math.radians(5.0), (33, 26), extent_m=(9.6, 7.2))
    sigma = 2.0 - 0.75j
    sc = torch.tensor([[0.0, 0.0, sigma.real, sigma.imag]], dtype=torch.float64)
    ref = reference_image(simulate_echo(sc, g), g)
    assert divmod(int(ref.abs().argmax()), 26) == (16, 13)
    assert abs(complex(ref[16, 13]) - sigma) < 1e-12


def test_presets_satisfy_unambiguity_inequalities():
    for name in list_presets():
        g = preset(name)
        fr, th = g.frequencies_hz, g.angles_rad
        lx, ly = g.extent_m
        assert (lx, ly) == (19.2, 19.2)
        df = float(fr[1] - fr[0])
        dth = float(th[1] - th[0])
        assert df <= C / (2 * lx) * (1 + 1e-12)
        assert dth <= C / (2 * float(fr.max()) * ly)
        assert float(th[th.numel() // 2]) == 0.0  # centred on 0
        assert torch.allclose(torch.diff(fr), torch.full_like(fr[1:], df))
    bw = {"S0": 0.5e9, "S1": 1e9, "S2": 2e9, "S3": 2e9, "S4": 2e9}
    for name, b in bw.items():
        g = preset(name)
        f_n = g.frequencies_hz.numel()
        assert abs(f_n * float(g.frequencies_hz[1] - g.frequencies_hz[0]) - b) <= C / (2 * 19.2)
    assert preset("S4", total_angle_deg=90).angles_rad.numel() > preset("S4").angles_rad.numel()
    assert float(preset("S3").frequencies_hz[preset("S3").frequencies_hz.numel() // 2]) == 16.7e9
    with pytest.raises(InputError, match="S0"):
        preset("S9")


def _peak(ref):
    w = ref.shape[-1]
    return divmod(int(ref.abs().argmax()), w)


@pytest.mark.parametrize("name", ["S0", "S1"])
def test_edge_scatterers_image_at_true_position(name):
    g = preset(name)
    h, w = g.image_shape
    x, y = pixel_centres(g.image_shape, g.extent_m)
    for i, j in [(0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1), (1, w // 2), (h // 2, 1)]:
        sc = torch.tensor([[float(x[i]), float(y[j]), 1.0, 0.0]], dtype=torch.float64)
        ref = reference_image(simulate_echo(sc, g), g)
        assert _peak(ref) == (i, j)
        assert abs(complex(ref[i, j]) - 1) < 1e-10
        # no ghost: everything more than 3 pixels away stays well below the peak
        far = ref.abs().clone()
        far[max(0, i - 3): i + 4, max(0, j - 3): j + 4] = 0
        assert float(far.max()) < 0.25


def test_undersampled_geometry_shows_a_ghost_inside_the_window():
    good = preset("S0")
    fr = good.frequencies_hz
    df = float(fr[1] - fr[0]) * 1.25  # violates Δf ≤ c / (2 L)
    bad_f = fr[fr.numel() // 2] + (torch.arange(52, dtype=torch.float64) - 26) * df
    bad = RadarGeometry(good.angles_rad, bad_f, good.image_shape, good.extent_m)
    x, y = pixel_centres(bad.image_shape, bad.extent_m)
    sc = torch.tensor([[float(x[2]), 0.0, 1.0, 0.0]], dtype=torch.float64)
    ref = reference_image(simulate_echo(sc, bad), bad).abs()
    alias_x = float(x[2]) + C / (2 * df)  # lands inside the window
    i_alias = round(alias_x / (19.2 / 64)) + 32
    assert 0 <= i_alias < 64
    assert float(ref[i_alias - 1: i_alias + 2, 31:34].max()) > 0.5 * float(ref.max())


def test_noise_achieves_requested_snr_and_is_seeded():
    g = preset("S0")
    scene = point_scene(torch.Generator().manual_seed(5))
    clean = simulate_echo(scene, g)
    mask = torch.rand(g.data_shape, generator=torch.Generator().manual_seed(2)) < 0.6
    for snr in (0.0, 12.5, 30.0):
        noisy = simulate_echo(scene, g, snr_db=snr, mask=mask,
                              generator=torch.Generator().manual_seed(9))
        assert bool((noisy[~mask] == 0).all())
        n = (noisy - clean)[mask]
        achieved = 10 * math.log10(float((clean[mask].abs() ** 2).mean() /
                                         (n.abs() ** 2).mean()))
        assert abs(achieved - snr) < 0.15
        again = add_noise(clean, snr, torch.Generator().manual_seed(9), mask)
        assert torch.equal(noisy, again)
        # circular: real and imaginary parts carry equal power
        ratio = float((n.real ** 2).mean() / (n.imag ** 2).mean())
        assert abs(ratio - 1) < 0.1


def test_point_scene_statistics():
    for seed in range(5):
        s = point_scene(torch.Generator().manual_seed(seed), radius_m=4.0)
        assert 5 <= s.scatterers.shape[0] <= 200
        assert float(s.scatterers[:, :2].norm(dim=1).max()) <= 4.0
    ks = {point_scene(torch.Generator().manual_seed(s)).scatterers.shape[0] for s in range(8)}
    assert len(ks) > 1


def test_satellite_seeded_reproducible_and_varied():
    a = satellite_scene(torch.Generator().manual_seed(11), aspect_dependent=True)
    b = satellite_scene(torch.Generator().manual_seed(11), aspect_dependent=True)
    c = satellite_scene(torch.Generator().manual_seed(12), aspect_dependent=True)
    assert torch.equal(a.scatterers, b.scatterers)
    assert torch.equal(a.lobe_normal_rad.nan_to_num(7.0), b.lobe_normal_rad.nan_to_num(7.0))
    assert a.scatterers.shape == c.scatterers.shape
    assert not torch.allclose(a.scatterers, c.scatterers)
    small = satellite_scene(torch.Generator().manual_seed(11), radius_m=3.0)
    assert float(small.scatterers[:, :2].norm(dim=1).max()) <= 3.0 + 1e-12
    # the structure is rigid: pairwise distances scale by one factor between two seeds
    pa, pc = a.scatterers[:, :2], c.scatterers[:, :2]
    da = (pa[:, None] - pa[None]).norm(dim=-1)
    dc = (pc[:, None] - pc[None]).norm(dim=-1)
    ratio = dc[da > 1e-6] / da[da > 1e-6]
    assert float(ratio.max() - ratio.min()) < 1e-9
    assert 0.8 / 1.2 - 1e-9 <= float(ratio[0]) <= 1.2 / 0.8 + 1e-9


def test_bad_inputs_name_the_problem():
    with pytest.raises(InputError, match="frequencies_hz must be > 0"):
        RadarGeometry(torch.zeros(3), torch.tensor([1.0, -2.0]), (4, 4), (1.0, 1.0))
    with pytest.raises(InputError, match="extent_m"):
        RadarGeometry(torch.zeros(3), torch.tensor([1.0, 2.0]), (4, 4), (1.0, 0.0))
    with pytest.raises(ShapeError, match=r"\(N, 4\)"):
        echo_from_scatterers(torch.zeros(3, 3), torch.zeros(2), torch.ones(2))
    g = _small_geometry()
    with pytest.raises(ShapeError, match="mask"):
        simulate_echo(torch.zeros(1, 4), g, mask=torch.ones(3, 3, dtype=torch.bool))


def test_density_weights_nonuniform_and_polar_radar_agreement():
    ang = torch.tensor([0.05, -0.1, 0.0, 0.2, -0.04], dtype=torch.float64)
    freq = torch.tensor([9.0e9, 9.2e9, 9.5e9, 9.6e9], dtype=torch.float64)
    w = density_weights(ang, freq)
    # midpoint-rule widths by hand (sorted: -0.1, -0.04, 0, 0.05, 0.2), in the given order
    dth = torch.tensor([0.1, 0.06, 0.045, 0.15, 0.05], dtype=torch.float64)
    df = torch.tensor([0.2e9, 0.25e9, 0.2e9, 0.1e9], dtype=torch.float64)
    ref = dth[:, None] * (freq * df)[None]
    assert torch.allclose(w, ref / ref.sum(), rtol=1e-13, atol=0)
    radar = pytest.importorskip("discofold.operators.radar")
    g = RadarGeometry(ang, freq, (7, 6), (2.0, 1.5))
    op = radar.PolarRadar(g.angles_rad, g.frequencies_hz, g.image_shape, g.extent_m)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(7, 6, dtype=torch.complex128, generator=gen)
    e = torch.randn(5, 4, dtype=torch.complex128, generator=gen)
    a, b = op.A(x), echo_from_image(x, g)
    assert float((a - b).abs().max() / b.abs().max()) < 1e-4  # NUFFT accuracy
    r1, r2 = op.reference_image(e), reference_image(e, g)
    assert float((r1 - r2).abs().max() / r2.abs().max()) < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("name", ["S2", "S3", "S4"])
def test_edge_scatterers_large_presets(name):
    g = preset(name)
    h, w = g.image_shape
    x, y = pixel_centres(g.image_shape, g.extent_m)
    spots = [(0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1), (h // 2, w // 2)]
    sc = torch.tensor([[float(x[i]), float(y[j]), 1.0, 0.0] for i, j in spots],
                      dtype=torch.float64)
    ref = reference_image(simulate_echo(sc, g), g)
    rest = ref.abs().clone()
    for i, j in spots:
        assert abs(complex(ref[i, j]) - 1) < 0.05
        rest[max(0, i - 3): i + 4, max(0, j - 3): j + 4] = 0
    assert float(rest.max()) < 0.3
