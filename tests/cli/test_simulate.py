"""``discofold simulate``: files readable by the library readers, and mathematically right.

References are independent of the code under test: numpy FFTs for the Cartesian targets, a
direct sum over the stored scatterers for the radar echo, the NUFFT of the rasterised target
for the analytic non-Cartesian k-space, ``extract_patches`` for block-CS patches.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from discofold.cli import main
from discofold.commands._common import derive_seed
from discofold.commands.simulate import coil_fourier_modes
from discofold.data import (
    FastMRIFile,
    RadarH5Reader,
    birdcage_maps,
    ellipse_kspace,
    random_ellipses,
)
from discofold.data.blockcs import extract_patches, luminance
from discofold.data.phantoms import rasterize_ellipses
from discofold.operators import NonCartesianMRI
from discofold.sampling import make_trajectory

C_LIGHT = 299_792_458.0


def _sim(tmp_path: Path, name: str, *args: str) -> tuple[int, Path]:
    out = tmp_path / name
    return main(["simulate", *args, "--out", str(out), "--quiet"]), out


def _mri(tmp_path, name, *args):
    base = ["mri", "--n", "1", "--size", "21x18", "--slices", "2", "--seed", "5"]
    rc, out = _sim(tmp_path, name, *base, *args)
    assert rc == 0
    with FastMRIFile(out / "mri_00000.h5") as f:
        slices = [f.read_slice(i) for i in range(len(f))]
        return f, slices


def _np_ifft2c(k: np.ndarray) -> np.ndarray:
    ax = (-2, -1)
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=ax), norm="ortho"), axes=ax)


@pytest.mark.parametrize(("coils", "pattern", "accel"), [
    ("3", "poisson_2d", "3"), ("0", "equispaced_fraction", "4"), ("1", "random", "2.5")])
def test_mri_cartesian_is_mask_times_full_kspace(tmp_path, coils, pattern, accel):
    common = ("--coils", coils, "--snr-db", "inf")
    f_full, full = _mri(tmp_path, "full", *common, "--pattern", "equispaced",
                        "--acceleration", "1")
    f_und, und = _mri(tmp_path, "und", *common, "--pattern", pattern, "--acceleration", accel)
    multi = coils == "3"
    assert f_full.multicoil == f_und.multicoil == multi
    assert f_und.target_key == ("reconstruction_rss" if multi else "reconstruction_esc")
    for a, b in zip(full, und, strict=True):
        assert a.kspace.shape == ((3, 21, 18) if multi else (21, 18))
        assert bool(a.mask.all())
        # target = RSS of the inverse FFT of the fully sampled, noise-free data (numpy FFT)
        img = _np_ifft2c(a.kspace.numpy().astype(np.complex128))
        ref = np.sqrt((np.abs(img) ** 2).sum(0)) if multi else np.abs(img)
        np.testing.assert_allclose(a.target.numpy(), ref, rtol=1e-4, atol=1e-6 * ref.max())
        # same (seed, file): same images; undersampled file = mask ⊙ full k-space exactly
        mask = b.mask if b.mask.ndim == 2 else b.mask.expand(21, 18)
        assert torch.equal(b.kspace, a.kspace * mask)
        assert torch.equal(a.target, b.target)
    m = und[0].mask
    assert m.shape == ((21, 18) if pattern.endswith("_2d") else (18,))
    true_r = m.numel() / float(m.sum())
    assert f_und.attrs["acceleration"] == pytest.approx(true_r, rel=1e-12)
    assert f_und.attrs["pattern"] == pattern
    assert f_und.attrs["max"] == pytest.approx(max(float(s.target.max()) for s in und))
    assert f_und.attrs["num_low_frequencies"] >= 1


def test_mri_noise_matches_snr_and_stays_on_mask(tmp_path):
    args = ("--coils", "3", "--pattern", "gaussian_2d", "--acceleration", "2")
    _, clean = _mri(tmp_path, "clean", *args, "--snr-db", "none")
    f, noisy = _mri(tmp_path, "noisy", *args, "--snr-db", "10")
    y0 = torch.stack([s.kspace for s in clean]).to(torch.complex128)
    y1 = torch.stack([s.kspace for s in noisy]).to(torch.complex128)
    mask = clean[0].mask.expand_as(y0)
    assert bool((y1[~mask] == 0).all())
    noise_power = float(((y1 - y0)[mask].abs() ** 2).mean())
    signal_power = float((y0[mask].abs() ** 2).mean())
    assert 10 * math.log10(signal_power / noise_power) == pytest.approx(10.0, abs=0.6)
    assert f.attrs["noise_sigma"] ** 2 == pytest.approx(noise_power, rel=0.15)


def test_mri_noncartesian_single_coil_is_analytic_kspace_of_target(tmp_path):
    f, sl = _mri(tmp_path, "nc", "--coils", "0", "--pattern", "radial_traj",
                 "--acceleration", "2", "--snr-db", "inf", "--size", "24x20")
    traj = f.trajectory
    assert f.noncartesian and f.matrix == (24, 20)
    assert traj.shape == (24 * round(24 * 20 / 2 / 24), 2)
    assert f.attrs["acceleration"] == pytest.approx(24 * 20 / traj.shape[0])
    op = NonCartesianMRI(traj.to(torch.float64), (24, 20))
    for s in sl:
        assert s.kspace.shape == (1, traj.shape[0])
        ref = op.A(s.target.to(torch.complex128))
        err = (s.kspace[0].to(torch.complex128) - ref).norm() / ref.norm()
        assert err < 0.02  # analytic vs rasterised: no inverse crime, but same object


def test_mri_spiral_multicoil_shapes_and_true_acceleration(tmp_path):
    f, sl = _mri(tmp_path, "sp", "--coils", "3", "--pattern", "spiral_traj",
                 "--acceleration", "3")
    k = f.trajectory.shape[0]
    assert f.multicoil and f.target_key == "reconstruction_rss"
    assert sl[0].kspace.shape == (3, k) and sl[0].target.shape == (21, 18)
    assert f.attrs["acceleration"] == pytest.approx(21 * 18 / k)
    assert abs(f.attrs["acceleration"] - 3) / 3 < 0.05


def test_coil_fourier_modes_make_multicoil_kspace_analytic():
    h, w = 37, 31
    g = torch.Generator().manual_seed(3)
    ell = random_ellipses(g)
    traj, _, _ = make_trajectory("radial", 20, 37, generator=1)
    k = traj.to(torch.float64)
    maps = birdcage_maps((h, w), 4, g, dtype=torch.complex128)
    coef, omega, fitted = coil_fourier_modes(maps)
    y = coef @ ellipse_kspace(ell, k[None] - omega[:, None], (h, w), pixel_box=True)
    y = y / math.sqrt(h * w)
    img = rasterize_ellipses(ell, (h, w), supersample=8).to(torch.complex128)
    ref = NonCartesianMRI(k, (h, w), coil_maps=fitted).A(img)
    assert float((y - ref).norm() / ref.norm()) < 0.02
    # the fit is exact on the grid: fitted = Σ_m coef e^{i ω·(n - N//2)} / sqrt(HW)
    n0, n1 = torch.arange(h) - h // 2, torch.arange(w) - w // 2
    m = 7
    direct = sum(coef[:, j, None, None] * torch.exp(1j * (omega[j, 0] * n0[:, None]
                                                           + omega[j, 1] * n1[None, :]))
                 for j in range(coef.shape[1]))
    torch.testing.assert_close(fitted, direct / math.sqrt(h * w))
    assert m * m == coef.shape[1]


def test_radar_echo_is_direct_sum_over_stored_scatterers(tmp_path):
    rc, out = _sim(tmp_path, "r", "radar", "--n", "1", "--frames", "2", "--pattern", "gaps",
                   "--ratio", "0.5", "--scene", "points", "--image-size", "24",
                   "--snr-db", "none", "--seed", "2")
    assert rc == 0
    with RadarH5Reader(out / "radar_00000.h5") as rd:
        assert len(rd) == 2 and rd.attrs["scenario"] == "S0"
        for i in range(2):
            fr = rd[i]
            p, f = fr.echo.shape
            assert fr.reference_image.shape == (24, 24)
            rows = fr.mask.all(1)
            assert torch.equal(fr.mask, rows[:, None].expand(p, f))  # gaps drop whole pulses
            assert int(rows.sum()) == round(0.5 * p)  # exact ratio in pulses
            sc = fr.scatterers.numpy()
            sc = sc[np.abs(sc[:, 2:]).sum(1) > 0]  # drop zero padding
            th, fq = fr.angles_rad.numpy()[:, None, None], fr.frequencies_hz.numpy()[None, :, None]
            phase = -4j * np.pi * fq / C_LIGHT * (sc[:, 0] * np.cos(th) + sc[:, 1] * np.sin(th))
            ref = (np.exp(phase) * (sc[:, 2] + 1j * sc[:, 3])).sum(-1) * fr.mask.numpy()
            np.testing.assert_allclose(fr.echo.numpy(), ref, rtol=0,
                                       atol=2e-6 * np.abs(ref).max())


def test_blockcs_split_by_image_and_orthonormal_matrix(tmp_path):
    pil = pytest.importorskip("PIL.Image")
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    images = {}
    for i, shape in enumerate([(20, 17, 3), (25, 16), (9, 30), (16, 16, 3)]):
        arr = rng.integers(0, 256, shape, dtype=np.uint8)
        pil.fromarray(arr).save(folder / f"im{i}.png")
        images[f"im{i}.png"] = luminance(arr)
    args = ("blockcs", "--image-dir", str(folder), "--block", "8", "--ratio", "0.25",
            "--test-fraction", "0.5", "--seed", "4")
    rc, out = _sim(tmp_path, "b", *args)
    assert rc == 0
    with h5py.File(out / "blockcs.h5", "r") as fh:
        train_names = [n.decode() for n in fh["train_images"][()]]
        test_names = [n.decode() for n in fh["test_images"][()]]
        assert set(train_names).isdisjoint(test_names)
        assert set(train_names) | set(test_names) == set(images)
        for split, names in (("train", train_names), ("test", test_names)):
            ref = np.concatenate([extract_patches(images[n], 8) for n in names])
            np.testing.assert_allclose(fh[split][()], ref, rtol=1e-6)
            src = fh[f"{split}_source"][()]
            assert src.shape == (ref.shape[0],)
        phi = fh["phi"][()]
        assert phi.shape == (16, 64) and fh.attrs["measurements"] == 16
        np.testing.assert_allclose(phi @ phi.T, np.eye(16), atol=1e-5)
    rc, out2 = _sim(tmp_path, "b2", *args)
    assert (out2 / "blockcs.h5").read_bytes() == (out / "blockcs.h5").read_bytes()


def test_reruns_reproduce_files_bit_exactly(tmp_path):
    args = ("mri", "--n", "2", "--size", "16", "--slices", "1", "--coils", "2", "--seed", "9")
    _sim(tmp_path, "a", *args)
    _sim(tmp_path, "b", *args)
    _sim(tmp_path, "c", *args[:-1], "10")
    for i in range(2):
        name = f"mri_{i:05d}.h5"
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    with h5py.File(tmp_path / "a" / "mri_00000.h5") as fa, \
            h5py.File(tmp_path / "a" / "mri_00001.h5") as fb, \
            h5py.File(tmp_path / "c" / "mri_00000.h5") as fc:
        assert not np.array_equal(fa["kspace"][()], fb["kspace"][()])
        assert not np.array_equal(fa["kspace"][()], fc["kspace"][()])
    rargs = ("radar", "--n", "1", "--scene", "satellite", "--image-size", "16", "--seed", "1")
    _sim(tmp_path, "ra", *rargs)
    _sim(tmp_path, "rb", *rargs)
    assert (tmp_path / "ra" / "radar_00000.h5").read_bytes() == \
        (tmp_path / "rb" / "radar_00000.h5").read_bytes()
    assert derive_seed(0, 1) != derive_seed(1, 0)


def test_existing_files_are_refused_and_left_intact(tmp_path, capsys):
    args = ("mri", "--n", "2", "--size", "12", "--slices", "1", "--coils", "0")
    _sim(tmp_path, "o", *args)
    first = (tmp_path / "o" / "mri_00001.h5").read_bytes()
    (tmp_path / "o" / "mri_00000.h5").unlink()
    capsys.readouterr()
    rc, _ = _sim(tmp_path, "o", *args, "--seed", "3")
    err = capsys.readouterr().err
    assert rc == 2 and "already exists" in err and "--overwrite" in err
    assert not (tmp_path / "o" / "mri_00000.h5").exists()  # nothing written at all
    assert (tmp_path / "o" / "mri_00001.h5").read_bytes() == first
    rc, _ = _sim(tmp_path, "o", *args, "--seed", "3", "--overwrite")
    assert rc == 0 and (tmp_path / "o" / "mri_00001.h5").read_bytes() != first


@pytest.mark.parametrize(("args", "needles"), [
    (("mri", "--n", "1", "--pattern", "poison_2d"),
     ("did you mean 'poisson_2d'", "radial_traj", "magic")),
    (("radar", "--n", "1", "--pattern", "gapz"), ("random_pulses", "gaps", "full")),
    (("mri", "--n", "1", "--acceleration", "0.5"), ("acceleration", ">= 1")),
    (("mri", "--n", "1", "--pattern", "equispaced", "--acceleration", "4", "--size", "32",
      "--center-fraction", "0.6"), ("budget",)),
    (("radar", "--n", "1", "--ratio", "1.5"), ("ratio", "(0, 1]")),
    (("mri", "--n", "1", "--pattern", "radial_traj", "--source", "images"), ("phantom",)),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, args, needles):
    rc, out = _sim(tmp_path, "bad", *args)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("discofold simulate: error:") and "\n" not in err
    assert all(n in err for n in needles), err
    assert list(out.iterdir()) == []


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "file.h5"
    target.write_bytes(b"keep")
    rc = main(["simulate", "mri", "--n", "1", "--out", str(target)])
    assert rc == 2 and "is an existing file" in capsys.readouterr().err
    assert target.read_bytes() == b"keep"


def test_out_not_writable_is_refused(tmp_path, capsys, monkeypatch):
    import discofold.commands._common as common

    monkeypatch.setattr(common.os, "access", lambda *a, **k: False)
    rc = main(["simulate", "mri", "--n", "1", "--out", str(tmp_path / "ro")])
    assert rc == 2 and "not writable" in capsys.readouterr().err


def test_interrupted_run_leaves_no_partial_file(tmp_path, monkeypatch, capsys):
    import discofold.data.fastmri as fm

    calls = {"n": 0}
    real = fm._write_attrs

    def interrupt_second(f, attrs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        real(f, attrs)

    monkeypatch.setattr(fm, "_write_attrs", interrupt_second)
    rc, out = _sim(tmp_path, "int", "mri", "--n", "3", "--size", "12", "--slices", "1")
    assert rc == 130 and "interrupted" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["mri_00000.h5"]  # no temp, no partial
    with FastMRIFile(out / "mri_00000.h5") as f:
        assert len(f) == 1


class _FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal(tmp_path, capsys, monkeypatch):
    args = ["simulate", "mri", "--n", "2", "--size", "12", "--slices", "1", "--coils", "0"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    cap = capsys.readouterr()
    assert cap.err == "" and cap.out.count("\n") == 1 and "wrote 2 MRI file(s)" in cap.out
    assert main([*args, "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")
    fake = _FakeTTY()
    monkeypatch.setattr("sys.stderr", fake)
    assert main([*args, "--out", str(tmp_path / "c")]) == 0
    assert "simulate mri" in fake.getvalue()  # the tqdm bar went to the terminal
    assert capsys.readouterr().out.startswith("wrote 2 MRI file(s)")
