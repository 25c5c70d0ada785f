"""``discofold recon``: every method on tiny MRI and radar files, checked against independent
references (numpy FFTs, the simulator's direct-sum reference image), plus the file-safety rules
(no overwrite, input untouched, output != input, atomic writes)."""

from __future__ import annotations

import math

import h5py
import numpy as np
import pytest
import torch

from discofold.cli import main
from discofold.data import (
    birdcage_maps,
    make_geometry,
    read_radar_image,
    read_reconstruction,
    reference_image,
    simulate_echo,
    write_mri_file,
    write_radar_h5,
)
from discofold.data.phantoms import rasterize_ellipses, shepp_logan_ellipses
from discofold.metrics import psnr, radar_nmse_db
from discofold.sampling import make_mask
from discofold.solvers.pipeline import calibration_box, estimate_coil_maps

SHAPE = (40, 36)  # non-square, k-space matrix
CROP = (36, 32)  # target smaller than the matrix


ONE_THREAD = True  # one torch thread per test (tests/conftest.py)


def _fft2c(x: np.ndarray) -> np.ndarray:
    ax = (-2, -1)
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=ax), norm="ortho"), axes=ax)


def _ifft2c(k: np.ndarray) -> np.ndarray:
    ax = (-2, -1)
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=ax), norm="ortho"), axes=ax)


def _crop(x: np.ndarray, shape) -> np.ndarray:
    h, w = x.shape[-2:]
    r0, c0 = h // 2 - shape[0] // 2, w // 2 - shape[1] // 2
    return x[..., r0:r0 + shape[0], c0:c0 + shape[1]]


def _phantom(shape, seed: int = 0) -> np.ndarray:
    img = rasterize_ellipses(shepp_logan_ellipses(), shape, 2).numpy().astype(np.float64)
    rng = np.random.default_rng(seed)
    return img * np.exp(1j * 0.3 * rng.standard_normal())  # piecewise constant, global phase


def _mri_file(path, coils: int, mask: np.ndarray, slices: int = 2, snr: float = 40.0):
    rng = np.random.default_rng(1)
    x = np.stack([_phantom(SHAPE, s) for s in range(slices)])
    if coils:
        maps = birdcage_maps(SHAPE, coils).numpy().astype(np.complex128)
        full = _fft2c(x[:, None] * maps[None])
        target = np.sqrt((np.abs(_ifft2c(full)) ** 2).sum(1))
    else:
        full = _fft2c(x)
        target = np.abs(x)
    sigma = np.abs(full).std() * 10 ** (-snr / 20)
    noisy = full + sigma * (rng.standard_normal(full.shape) + 1j * rng.standard_normal(full.shape))
    kmask = mask if mask.ndim == 2 else mask[None, :]
    write_mri_file(path, (noisy * kmask).astype(np.complex64), mask=mask,
                   target=_crop(target, CROP).astype(np.float32))
    return _crop(target, CROP)


def _recon(inp, out, method, *extra) -> int:
    return main(["recon", "--method", method, "--input", str(inp), "--output", str(out),
                 "--quiet", *extra])


# --------------------------------------------------------------------------- coil maps
def test_calibration_box_of_1d_and_2d_masks():
    m1 = torch.zeros(36, dtype=torch.bool)
    m1[15:22] = True
    m1[::4] = True  # touching lines extend the run: 12 and 24 are sampled, 14 and 22 are not
    assert calibration_box(m1, (40, 36)) == (slice(0, 40), slice(15, 22))
    m2 = torch.zeros(40, 36, dtype=torch.bool)
    m2[14:27, 12:25] = True
    m2[15, 13] = False  # a hole shrinks the box symmetrically until it is fully sampled
    rows, cols = calibration_box(m2, (40, 36))
    assert bool(m2[rows, cols].all()) and (rows.stop - rows.start) >= 4
    assert rows.start <= 20 < rows.stop and cols.start <= 18 < cols.stop


def test_coil_maps_fully_sampled_reproduce_coil_images():
    """Fully sampled k-space: maps = coil images / RSS, so RSS(maps) = 1 on the object and
    maps · RSS(images) gives the coil images back (where above the 5 % floor)."""
    x = _phantom(SHAPE)
    maps = birdcage_maps(SHAPE, 4).numpy()
    coil = x[None] * maps
    est = estimate_coil_maps(torch.from_numpy(_fft2c(coil)).to(torch.complex64), None).numpy()
    r = np.sqrt((np.abs(coil) ** 2).sum(0))
    obj = r > 0.2 * r.max()
    assert np.allclose(np.sqrt((np.abs(est) ** 2).sum(0))[obj], 1.0, atol=1e-4)
    # with a Hann taper the low-resolution estimate only matches in smooth parts: check the
    # relative phase between coils, which is what SENSE needs, against the true maps
    ratio_true = maps[1] * maps[0].conj() / np.abs(maps[1] * maps[0].conj())
    ratio_est = est[1] * est[0].conj() / np.abs(est[1] * est[0].conj())
    assert np.abs(ratio_true - ratio_est)[obj].max() < 0.05


def test_coil_maps_need_a_calibration_region():
    mask = torch.zeros(36, dtype=torch.bool)
    mask[::4] = True
    with pytest.raises(Exception, match="calibration region"):
        estimate_coil_maps(torch.ones(2, *SHAPE, dtype=torch.complex64), mask)


# --------------------------------------------------------------------------- MRI
@pytest.fixture(scope="module")
def mri_mc(tmp_path_factory):
    d = tmp_path_factory.mktemp("mri")
    mask = np.zeros(SHAPE[1], dtype=bool)
    mask[::3] = True
    mask[SHAPE[1] // 2 - 4:SHAPE[1] // 2 + 4] = True
    target = _mri_file(d / "mc.h5", 4, mask)
    return d / "mc.h5", target


def test_mri_zero_filled_matches_numpy_rss(mri_mc, tmp_path):
    inp, target = mri_mc
    assert _recon(inp, tmp_path / "zf.h5", "zf") == 0
    rec, attrs = read_reconstruction(tmp_path / "zf.h5")
    assert rec.dtype == torch.float32
    rec = rec.numpy()
    with h5py.File(inp, "r") as f:
        ks = f["kspace"][()]
        assert attrs["max"] == pytest.approx(float(f.attrs["max"]))
    ref = _crop(np.sqrt((np.abs(_ifft2c(ks.astype(np.complex128))) ** 2).sum(1)), CROP)
    assert rec.shape == (2, *CROP)
    np.testing.assert_allclose(rec, ref, rtol=1e-4, atol=1e-5 * ref.max())
    assert attrs["recon_method"] == "zf"


def test_mri_iterative_methods_beat_zero_filled(mri_mc, tmp_path):
    inp, target = mri_mc
    scores = {}
    for method, extra in (("zf", []), ("cg", ["--iters", "20"]), ("tv", ["--iters", "60"]),
                          ("fista", ["--iters", "40"])):
        assert _recon(inp, tmp_path / f"{method}.h5", method, *extra) == 0
        rec, _ = read_reconstruction(tmp_path / f"{method}.h5")
        assert bool(torch.isfinite(rec).all())
        scores[method] = psnr(target, rec)
    assert scores["cg"] > scores["zf"] + 2.0
    assert scores["tv"] > scores["zf"] + 2.0
    assert scores["fista"] >= scores["zf"]


def test_mri_cg_with_espirit_maps(mri_mc, radar, tmp_path, capsys):
    """``--maps espirit``: CG-SENSE with ESPIRiT maps, recorded in ``recon_maps``; refused on
    radar files and with ``--checkpoint``."""
    inp, target = mri_mc
    scores = {}
    for maps in ("acs", "espirit"):
        assert _recon(inp, tmp_path / f"{maps}.h5", "cg", "--iters", "20", "--maps", maps) == 0
        rec, attrs = read_reconstruction(tmp_path / f"{maps}.h5")
        assert attrs["recon_maps"] == maps and bool(torch.isfinite(rec).all())
        scores[maps] = psnr(target, rec)
    assert scores["espirit"] > scores["acs"]
    assert _recon(radar[0] / "sparse.h5", tmp_path / "r.h5", "zf", "--maps", "espirit") == 2
    assert "--maps applies to multi-coil MRI files" in capsys.readouterr().err
    assert main(["recon", "--checkpoint", "mri-unified", "--maps", "espirit", "--input",
                 str(inp), "--output", str(tmp_path / "c.h5"), "--quiet"]) == 2
    assert "--maps only applies with --method" in capsys.readouterr().err


def test_mri_single_coil_poisson_tv(tmp_path):
    mask = make_mask("poisson_2d", SHAPE, 3.0, generator=3).mask.numpy()
    target = _mri_file(tmp_path / "sc.h5", 0, mask, slices=1)
    scores = {}
    for method in ("zf", "tv"):
        assert _recon(tmp_path / "sc.h5", tmp_path / f"{method}.h5", method, "--lam", "0.01",
                      "--iters", "80") == 0
        scores[method] = psnr(target, read_reconstruction(tmp_path / f"{method}.h5")[0])
    assert scores["tv"] > scores["zf"] + 3.0


def test_mri_non_cartesian_zero_filled_and_cg(tmp_path):
    from discofold.operators import NonCartesianMRI
    from discofold.sampling import make_trajectory

    traj = make_trajectory("radial", 30, 40)[0].float()
    x = torch.from_numpy(_phantom(SHAPE)).to(torch.complex64)
    y = NonCartesianMRI(traj, SHAPE).A(x)
    write_mri_file(tmp_path / "nc.h5", y[None, None], trajectory=traj, matrix=SHAPE,
                   target=x.abs()[None])
    for method in ("zf", "cg"):
        assert _recon(tmp_path / "nc.h5", tmp_path / f"{method}.h5", method, "--lam", "0.01") == 0
    zf = read_reconstruction(tmp_path / "zf.h5")[0]
    cg = read_reconstruction(tmp_path / "cg.h5")[0]
    assert psnr(x.abs()[None], cg) > psnr(x.abs()[None], zf)


# --------------------------------------------------------------------------- radar
@pytest.fixture(scope="module")
def radar(tmp_path_factory):
    d = tmp_path_factory.mktemp("radar")
    geo = make_geometry(10e9, 0.5e9, math.radians(2.9), (32, 30), (9.6, 9.0))
    px = (9.6 / 32, 9.0 / 30)
    sc = torch.tensor([[0.0, 0.0, 1.0, 0.0], [3 * px[0], -5 * px[1], 0.0, 0.7],
                       [-6 * px[0], 4 * px[1], -0.5, 0.2]], dtype=torch.float64)
    mask = torch.zeros(geo.data_shape, dtype=torch.bool)
    mask[torch.randperm(geo.data_shape[0], generator=torch.Generator().manual_seed(0))[
        : geo.data_shape[0] // 2]] = True
    full = simulate_echo(sc, geo)
    ref = reference_image(full, geo)
    write_radar_h5(d / "full.h5", full, geo.angles_rad, geo.frequencies_hz, extent_m=geo.extent_m,
                   image_shape=geo.image_shape, scenario="tiny", reference_image=ref)
    write_radar_h5(d / "sparse.h5", full * mask, geo.angles_rad, geo.frequencies_hz, mask=mask,
                   extent_m=geo.extent_m, image_shape=geo.image_shape, reference_image=ref)
    return d, ref.to(torch.complex64)


def test_radar_zero_filled_equals_direct_sum_reference(radar, tmp_path):
    d, ref = radar
    assert _recon(d / "full.h5", tmp_path / "zf.h5", "zf") == 0
    img, attrs = read_radar_image(tmp_path / "zf.h5")
    assert img.dtype == torch.complex64 and img.shape == (1, 32, 30)
    assert attrs["scenario"] == "tiny" and tuple(attrs["image_shape"]) == (32, 30)
    assert float((img[0] - ref).abs().max()) < 1e-4 * float(ref.abs().max())


@pytest.mark.parametrize("method", ["rd", "pfa", "omp"])
def test_radar_imaging_methods_find_the_scatterers(radar, tmp_path, method):
    d, ref = radar
    assert _recon(d / "full.h5", tmp_path / "o.h5", method) == 0
    img = read_radar_image(tmp_path / "o.h5")[0][0].abs()
    # the three strongest pixels sit at the three scatterers (centre, (+3, -5), (-6, +4))
    top = {divmod(int(i), 30) for i in torch.topk(img.flatten(), 3).indices}
    assert top == {(16, 15), (19, 10), (10, 19)}
    assert float(img[16, 15]) == pytest.approx(1.0, rel=0.1)


def test_radar_sparse_aperture_fista_beats_zero_filled(radar, tmp_path):
    d, ref = radar
    err = {}
    for method in ("zf", "fista", "cg", "tv"):
        assert _recon(d / "sparse.h5", tmp_path / f"{method}.h5", method, "--iters", "60") == 0
        err[method] = float(radar_nmse_db(ref, read_radar_image(tmp_path / f"{method}.h5")[0][0]))
    assert err["fista"] < err["zf"] - 3.0
    assert all(np.isfinite(v) for v in err.values())


def test_wrong_method_for_data_type(mri_mc, radar, tmp_path, capsys):
    inp, _ = mri_mc
    assert _recon(inp, tmp_path / "o.h5", "rd") == 2
    err = capsys.readouterr().err.strip()
    assert "does not apply to mri data" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o.h5").exists()


# --------------------------------------------------------------------------- file safety
def test_overwrite_refused_keeps_old_file(radar, tmp_path, capsys):
    d, _ = radar
    out = tmp_path / "o.h5"
    out.write_bytes(b"precious")
    assert _recon(d / "full.h5", out, "zf") == 2
    assert out.read_bytes() == b"precious"
    assert "already exists" in capsys.readouterr().err
    assert _recon(d / "full.h5", out, "zf", "--overwrite") == 0
    assert read_radar_image(out)[0].shape == (1, 32, 30)


def test_input_never_modified_and_output_equal_input_refused(mri_mc, tmp_path, capsys):
    inp, _ = mri_mc
    before, mtime = inp.read_bytes(), inp.stat().st_mtime_ns
    assert _recon(inp, tmp_path / "o.h5", "cg", "--iters", "3") == 0
    assert _recon(inp, inp, "zf", "--overwrite") == 2
    assert "is the input file" in capsys.readouterr().err
    assert inp.read_bytes() == before and inp.stat().st_mtime_ns == mtime


@pytest.mark.parametrize("kind", ["mri", "radar"])
def test_failed_write_leaves_no_partial_file(mri_mc, radar, tmp_path, monkeypatch, kind):
    inp = mri_mc[0] if kind == "mri" else radar[0] / "full.h5"
    original = h5py.Group.create_dataset

    def write_then_fail(self, *args, **kw):
        original(self, *args, **kw)
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(h5py.Group, "create_dataset", write_then_fail)
    assert _recon(inp, tmp_path / "o.h5", "zf") == 2  # the CLI reports OSError on one line
    assert list(tmp_path.iterdir()) == []
