"""Radar HDF5 format: round trips, read-only access, validation, atomic writes, converter."""

import hashlib
import math

import h5py
import numpy as np
import pytest
import torch

from discofold.data import radar_io
from discofold.data.radar_io import (
    RadarH5Reader,
    convert_measured,
    load_echo_matrix,
    read_radar_image,
    write_radar_h5,
    write_radar_image,
)
from discofold.data.radar_scenes import satellite_scene
from discofold.data.radar_sim import make_geometry, reference_image, simulate_echo
from discofold.errors import FormatError, InputError, ShapeError

C = 299_792_458.0


def _example(frames=3, p=7, f=5, shape=(9, 6)):
    gen = torch.Generator().manual_seed(4)
    echo = torch.randn(frames, p, f, dtype=torch.complex64, generator=gen)
    mask = torch.rand(frames, p, f, generator=gen) < 0.5
    echo = echo * mask
    ang = torch.randn(frames, p, dtype=torch.float64, generator=gen)
    freq = 9e9 + torch.rand(f, dtype=torch.float64, generator=gen) * 1e9
    ref = torch.randn(frames, *shape, dtype=torch.complex64, generator=gen)
    sc = [torch.randn(n, 4, dtype=torch.float64, generator=gen) for n in (4, 2, 5)[:frames]]
    return dict(echo=echo, angles_rad=ang, frequencies_hz=freq, mask=mask,
                reference_image=ref, scatterers=sc)


def _write(path, ex, **kw):
    return write_radar_h5(path, ex["echo"], ex["angles_rad"], ex["frequencies_hz"],
                          extent_m=(3.5, 2.25), image_shape=(9, 6), mask=ex["mask"],
                          reference_image=ex["reference_image"], scatterers=ex["scatterers"],
                          snr_db=17.5, scenario="unit", **kw)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_round_trip_is_bit_exact(tmp_path):
    ex = _example()
    path = _write(tmp_path / "a.h5", ex)
    with RadarH5Reader(path) as rd:
        assert len(rd) == 3 and rd.data_shape == (7, 5)
        assert rd.attrs == {"extent_m": (3.5, 2.25), "image_shape": (9, 6), "snr_db": 17.5,
                            "scenario": "unit"}
        for i in range(3):
            fr = rd[i]
            assert torch.equal(fr.echo, ex["echo"][i]) and fr.echo.dtype == torch.complex64
            assert torch.equal(fr.angles_rad, ex["angles_rad"][i])
            assert torch.equal(fr.frequencies_hz, ex["frequencies_hz"])
            assert torch.equal(fr.mask, ex["mask"][i])
            assert torch.equal(fr.reference_image, ex["reference_image"][i])
            assert torch.equal(fr.scatterers, ex["scatterers"][i])  # padding rows dropped
        assert torch.equal(rd[-1].echo, ex["echo"][2])
        with pytest.raises(IndexError):
            rd[3]
    with h5py.File(path, "r") as fh:  # stored exactly as DESIGN.md says
        assert fh["echo"].dtype == np.complex64 and fh["echo"].shape == (3, 7, 5)
        assert fh["scatterers"].dtype == np.float64 and fh["scatterers"].shape == (3, 5, 4)
        assert fh["reference_image"].dtype == np.complex64
        assert fh["mask"].dtype == np.bool_
        assert fh["angles_rad"].dtype == np.float64 and fh["frequencies_hz"].dtype == np.float64


def test_simulated_file_reproduces_echo_and_reference(tmp_path):
    geo = make_geometry(10e9, 0.4e9, math.radians(3.0), (11, 10), extent_m=(6.0, 5.0))
    scene = satellite_scene(torch.Generator().manual_seed(2), aspect_dependent=True,
                            radius_m=2.4)
    echo = simulate_echo(scene, geo)
    ref = reference_image(echo, geo)
    path = write_radar_h5(tmp_path / "s.h5", echo, geo.angles_rad, geo.frequencies_hz,
                          extent_m=geo.extent_m, image_shape=geo.image_shape,
                          reference_image=ref, scatterers=scene.scatterers,
                          scatterer_lobes=scene.lobes())
    with RadarH5Reader(path) as rd:
        fr = rd[0]
    again = simulate_echo(fr.scene, fr.geometry)
    assert torch.allclose(again, echo, atol=1e-10 * float(echo.abs().max()), rtol=0)
    assert torch.equal(fr.echo, echo.to(torch.complex64))
    assert torch.equal(fr.reference_image, ref.to(torch.complex64))


def test_reader_is_read_only(tmp_path):
    path = _write(tmp_path / "a.h5", _example())
    before = _digest(path)
    path.chmod(0o444)
    with RadarH5Reader(path) as rd:
        assert rd._file.mode == "r"
        _ = [rd[i] for i in range(len(rd))]
        with pytest.raises((OSError, ValueError, KeyError)):
            rd._file.create_dataset("x", data=np.zeros(2))
    assert _digest(path) == before


def test_refuses_overwrite_and_writes_atomically(tmp_path, monkeypatch):
    ex = _example()
    path = _write(tmp_path / "a.h5", ex)
    before = _digest(path)
    with pytest.raises(InputError, match="overwrite"):
        _write(path, ex)
    assert _digest(path) == before
    calls = {"n": 0}
    original = h5py.Group.create_dataset

    def failing(self, name, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full (simulated)")
        return original(self, name, *a, **k)

    monkeypatch.setattr(h5py.Group, "create_dataset", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        _write(tmp_path / "b.h5", ex)
    calls["n"] = 0
    with pytest.raises(RuntimeError, match="disk full"):
        _write(path, ex, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5"]  # no partial, no temp file
    assert _digest(path) == before
    monkeypatch.undo()
    _write(path, _example(frames=2), overwrite=True)
    with RadarH5Reader(path) as rd:
        assert len(rd) == 2


def _corrupt(tmp_path, name, edit):
    path = _write(tmp_path / f"{name}.h5", _example())
    with h5py.File(path, "a") as fh:
        edit(fh)
    return path


@pytest.mark.parametrize(
    "edit, key, exc",
    [
        (lambda fh: fh.__delitem__("echo"), "echo", FormatError),
        (lambda fh: fh.__delitem__("angles_rad"), "angles_rad", FormatError),
        (lambda fh: (fh.__delitem__("echo"), fh.create_dataset("echo", data=np.zeros((3, 7, 5),
                                                                                   "f4"))),
         "echo", FormatError),
        (lambda fh: (fh.__delitem__("angles_rad"), fh.create_dataset("angles_rad",
                                                                     data=np.zeros(6))),
         "angles_rad", FormatError),
        (lambda fh: (fh.__delitem__("mask"), fh.create_dataset("mask", data=np.ones((7, 4)))),
         "mask", FormatError),
        (lambda fh: (fh.__delitem__("reference_image"),
                     fh.create_dataset("reference_image", data=np.zeros((3, 6, 9), "c8"))),
         "reference_image", FormatError),
        (lambda fh: (fh.__delitem__("scatterers"),
                     fh.create_dataset("scatterers", data=np.zeros((3, 5, 3)))),
         "scatterers", FormatError),
        (lambda fh: fh.attrs.__delitem__("extent_m"), "extent_m", FormatError),
        (lambda fh: fh.attrs.__setitem__("image_shape", [9, 6, 1]), "image_shape", FormatError),
        (lambda fh: fh.attrs.__setitem__("extent_m", [3.5, -1.0]), "extent_m", InputError),
        (lambda fh: fh["frequencies_hz"].__setitem__(0, -5.0), "frequencies_hz", InputError),
    ],
)
def test_bad_files_name_file_and_key(tmp_path, edit, key, exc):
    path = _corrupt(tmp_path, "bad", edit)
    with pytest.raises(exc) as info:
        RadarH5Reader(path)
    msg = str(info.value)
    assert str(path) in msg and f"'{key}'" in msg and "expected" in msg


def test_truncated_and_non_hdf5_files(tmp_path):
    path = _write(tmp_path / "a.h5", _example())
    data = path.read_bytes()
    (tmp_path / "t.h5").write_bytes(data[: len(data) // 3])
    for bad in (tmp_path / "t.h5", tmp_path / "missing.h5"):
        with pytest.raises(FormatError, match=str(bad.name)):
            RadarH5Reader(bad)
    with pytest.raises(FormatError, match="'mask'"):
        with RadarH5Reader(_corrupt(tmp_path, "m", lambda fh: (
                fh.__delitem__("mask"), fh.create_dataset("mask", data=np.full((7, 5), 2))))) \
                as rd:
            rd[0]


def test_size_guard_before_allocation(tmp_path):
    path = _write(tmp_path / "a.h5", _example())
    with RadarH5Reader(path, max_frame_bytes=100) as rd:
        with pytest.raises(FormatError, match="'echo'.*max_frame_bytes"):
            rd[0]


def test_single_frame_layout_and_writer_checks(tmp_path):
    echo = torch.ones(4, 3, dtype=torch.complex64)
    ref = torch.zeros(5, 2, dtype=torch.complex64)
    path = write_radar_h5(tmp_path / "one.h5", echo, torch.zeros(4), torch.full((3,), 1e9),
                          extent_m=(1, 1), image_shape=(5, 2), reference_image=ref,
                          scatterers=torch.tensor([[0.1, 0.2, 1.0, 0.0]]))
    with RadarH5Reader(path) as rd:
        assert len(rd) == 1 and rd[0].echo.shape == (4, 3) and rd[0].mask is None
        assert rd[0].reference_image.shape == (5, 2)
    with pytest.raises(InputError, match="frequencies_hz must be > 0"):
        write_radar_h5(tmp_path / "x.h5", echo, torch.zeros(4), torch.zeros(3),
                       extent_m=(1, 1), image_shape=(5, 2))
    with pytest.raises(ShapeError, match="reference_image"):
        write_radar_h5(tmp_path / "x.h5", echo, torch.zeros(4), torch.ones(3),
                       extent_m=(1, 1), image_shape=(5, 2), reference_image=ref.T)
    assert not (tmp_path / "x.h5").exists()


def test_image_output_round_trip(tmp_path):
    img = torch.randn(2, 9, 6, dtype=torch.complex64, generator=torch.Generator().manual_seed(0))
    path = write_radar_image(tmp_path / "out.h5", img, extent_m=(3.5, 2.25), scenario="S0")
    got, attrs = read_radar_image(path)
    assert torch.equal(got, img) and attrs["image_shape"] == (9, 6)
    with pytest.raises(InputError, match="exists"):
        write_radar_image(path, img, extent_m=(3.5, 2.25))


def _yak_like(p=12, f=10):
    gen = np.random.default_rng(0)
    return (gen.standard_normal((f, p)) + 1j * gen.standard_normal((f, p)))  # (freq, pulse)


def test_convert_measured_npy_and_mat(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    m = _yak_like()
    np.save(tmp_path / "yak.npy", m)
    scipy_io.savemat(tmp_path / "yak.mat", {"echo": m, "other": "text"})
    for src in ("yak.npy", "yak.mat"):
        out = convert_measured(tmp_path / src, tmp_path / f"{src}.h5", carrier_hz=5.52e9,
                               bandwidth_hz=400e6, prf_hz=100.0, rotation_rate_rad_s=0.05)
        with RadarH5Reader(out) as rd:
            fr = rd[0]
        assert torch.equal(fr.echo, torch.from_numpy(m.T.astype(np.complex64)))
        df, dth = 400e6 / 10, 0.05 / 100.0
        assert torch.allclose(fr.frequencies_hz,
                              5.52e9 + (torch.arange(10, dtype=torch.float64) - 5) * df)
        assert torch.allclose(fr.angles_rad, (torch.arange(12, dtype=torch.float64) - 6) * dth)
        assert rd.attrs["image_shape"] == (10, 12)
        assert rd.attrs["extent_m"] == pytest.approx((C / (2 * df), C / (2 * 5.52e9 * dth)))
    out = convert_measured(tmp_path / "yak.npy", tmp_path / "pf.h5", carrier_hz=1e10,
                           bandwidth_hz=1e9, angle_span_rad=0.1, layout="pulse_frequency")
    with RadarH5Reader(out) as rd:
        assert torch.equal(rd[0].echo, torch.from_numpy(m.astype(np.complex64)))
        assert float(rd[0].angles_rad[1] - rd[0].angles_rad[0]) == pytest.approx(0.1 / 10)
    with pytest.raises(InputError, match="angle_span_rad"):
        convert_measured(tmp_path / "yak.npy", tmp_path / "z.h5", carrier_hz=1e10,
                         bandwidth_hz=1e9)


def test_matlab_v73_reader(tmp_path):
    m = _yak_like(p=5, f=3)
    path = tmp_path / "v73.mat"
    with h5py.File(path, "w", userblock_size=512) as fh:  # MATLAB v7.3 layout
        comp = np.empty(m.T.shape, dtype=[("real", "<f8"), ("imag", "<f8")])
        comp["real"], comp["imag"] = m.T.real, m.T.imag
        fh.create_dataset("data", data=comp)
        fh.create_dataset("scale", data=np.ones((1, 1)))
    np.testing.assert_array_equal(load_echo_matrix(path, key="data"), m)
    with pytest.raises(FormatError, match=r"\['data', 'scale'\]"):
        load_echo_matrix(path)


def test_module_surface():
    assert set(radar_io.__all__) >= {"RadarH5Reader", "write_radar_h5", "convert_measured"}
