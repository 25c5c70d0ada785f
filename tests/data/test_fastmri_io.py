"""fastMRI-format HDF5: bit-exact round trips, image-space crop/pad, read-only, bad files."""

import os

import h5py
import numpy as np
import pytest
import torch

import discofold.data.fastmri as fm
from discofold import _limits
from discofold.data.fastmri import (
    FastMRIFile,
    center_crop_or_pad,
    read_mri_slice,
    read_reconstruction,
    resize_kspace,
    write_mri_file,
    write_reconstruction,
)
from discofold.errors import FormatError, InputError
from discofold.operators import fft2c, ifft2c


def _crandn(*shape, seed=0):
    g = np.random.default_rng(seed)
    return (g.standard_normal(shape) + 1j * g.standard_normal(shape)).astype(np.complex64)


def test_multicoil_round_trip_bit_exact(tmp_path):
    k = _crandn(3, 4, 37, 31)
    mask = np.zeros(31, bool)
    mask[::3] = True
    k = k * mask
    target = np.random.default_rng(1).random((3, 20, 18)).astype(np.float32)
    attrs = {"acquisition": "CORPD_FBK", "acceleration": 3.0, "num_low_frequencies": 4,
             "pattern": "equispaced"}
    p = write_mri_file(tmp_path / "a.h5", k, mask=mask, target=target, attrs=attrs)
    with FastMRIFile(p) as f:
        assert len(f) == 3 and f.multicoil and f.num_coils == 4 and f.matrix == (37, 31)
        for i in range(3):
            s = f.read_slice(i)
            assert s.kspace.dtype == torch.complex64
            assert np.array_equal(s.kspace.numpy(), k[i])
            assert np.array_equal(s.target.numpy(), target[i])
            assert np.array_equal(s.mask.numpy(), mask)
    assert s.attrs["pattern"] == "equispaced" and s.attrs["num_low_frequencies"] == 4
    assert s.attrs["max"] == pytest.approx(float(target.max()))
    assert s.attrs["norm"] == pytest.approx(float(np.linalg.norm(target.astype(np.float64))))
    with h5py.File(p, "r") as f:
        assert "reconstruction_rss" in f and f["kspace"].dtype == np.complex64


def test_singlecoil_2d_mask_and_noncartesian_round_trip(tmp_path):
    k = _crandn(2, 33, 40, seed=2)
    m2 = np.random.default_rng(3).random((33, 40)) < 0.3
    write_mri_file(tmp_path / "s.h5", k * m2, mask=m2.astype(np.uint8),
                   target=np.abs(k).astype(np.float32))
    s = read_mri_slice(tmp_path / "s.h5", 1)
    assert np.array_equal(s.kspace.numpy(), (k * m2)[1]) and s.mask.dtype == torch.bool
    assert np.array_equal(s.mask.numpy(), m2) and not s.multicoil
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert "reconstruction_esc" in f
    kn = _crandn(2, 3, 101, seed=4)
    traj = (np.random.default_rng(5).random((101, 2)) * 2 - 1).astype(np.float32) * 3.1
    write_mri_file(tmp_path / "n.h5", kn, trajectory=traj, matrix=(48, 40))
    with FastMRIFile(tmp_path / "n.h5") as f:
        assert f.noncartesian and f.matrix == (48, 40)
        s = f.read_slice(-1)
    assert np.array_equal(s.kspace.numpy(), kn[1]) and np.array_equal(s.trajectory.numpy(), traj)
    assert s.matrix == (48, 40)


def test_center_crop_or_pad_against_manual_indexing():
    x = torch.arange(7 * 6).reshape(7, 6).to(torch.float64)
    c = center_crop_or_pad(x, (4, 3))
    # crop start = N//2 - n//2: rows 3-2=1.., cols 3-1=2..
    assert torch.equal(c, x[1:5, 2:5])
    p = center_crop_or_pad(x, (10, 9))
    assert torch.equal(p[5 - 3 : 5 - 3 + 7, 4 - 3 : 4 - 3 + 6], x)
    assert float(p.abs().sum()) == float(x.abs().sum())
    assert p[10 // 2, 9 // 2] == x[7 // 2, 6 // 2]  # the centre pixel stays the centre
    mixed = center_crop_or_pad(x, (5, 8))
    assert torch.equal(mixed[:, 1:7], x[1:6])


@pytest.mark.parametrize("matrix", [(20, 18), (45, 40), (20, 40)])
def test_resize_kspace_is_image_space_crop_pad(tmp_path, matrix):
    img = torch.from_numpy(_crandn(3, 37, 31, seed=7)).to(torch.complex64)
    k = fft2c(img)
    write_mri_file(tmp_path / "r.h5", k[None].numpy())
    s = read_mri_slice(tmp_path / "r.h5", 0, matrix=matrix)
    manual = center_crop_or_pad(img, matrix)
    assert s.kspace.shape == (3, *matrix) and s.matrix == matrix
    assert torch.allclose(ifft2c(s.kspace), manual, atol=1e-5)


def test_resize_keeps_column_mask_along_h_and_refuses_w():
    k = torch.from_numpy(_crandn(2, 30, 24, seed=8))
    mask = torch.zeros(24, dtype=torch.bool)
    mask[::4] = True
    k = k * mask
    out, m = resize_kspace(k, (16, 24), mask)
    assert torch.equal(m, mask) and float(out[..., ~mask].abs().max()) == 0.0
    with pytest.raises(InputError, match="along W"):
        resize_kspace(k, (30, 20), mask)
    with pytest.raises(InputError, match="along H"):
        resize_kspace(k, (20, 24), torch.rand(30, 24) < 0.5)


def test_reader_never_opens_for_write(tmp_path, monkeypatch):
    p = write_mri_file(tmp_path / "ro.h5", _crandn(2, 2, 9, 8), target=np.ones((2, 9, 8), "f4"))
    before_bytes, before_mtime = p.read_bytes(), os.stat(p).st_mtime_ns
    os.chmod(p, 0o444)  # a write-mode open would fail on a read-only file
    modes = []
    real = h5py.File

    def spy(name, mode="r", *a, **kw):
        modes.append(mode)
        return real(name, mode, *a, **kw)

    monkeypatch.setattr(fm.h5py, "File", spy)
    with FastMRIFile(p) as f:
        f.read_slice(0, matrix=(5, 4))
        f.read_slice(1)
    read_mri_slice(p, 0)
    assert modes and set(modes) == {"r"}
    assert p.read_bytes() == before_bytes and os.stat(p).st_mtime_ns == before_mtime


def test_writer_refuses_overwrite_and_is_atomic(tmp_path, monkeypatch):
    p = tmp_path / "w.h5"
    write_mri_file(p, _crandn(1, 5, 6))
    original = p.read_bytes()
    with pytest.raises(InputError, match="already exists"):
        write_mri_file(p, _crandn(1, 5, 6, seed=1))
    assert p.read_bytes() == original

    def boom(f, attrs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fm, "_write_attrs", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_mri_file(p, _crandn(1, 5, 6, seed=2), overwrite=True)
    with pytest.raises(RuntimeError, match="disk full"):
        write_mri_file(tmp_path / "new.h5", _crandn(1, 5, 6, seed=2))
    assert sorted(os.listdir(tmp_path)) == ["w.h5"]  # no partial or temporary file
    assert p.read_bytes() == original
    monkeypatch.undo()
    write_mri_file(p, _crandn(1, 5, 6, seed=3), overwrite=True)
    assert np.array_equal(read_mri_slice(p, 0).kspace.numpy(), _crandn(1, 5, 6, seed=3)[0])


def test_reconstruction_output_round_trip(tmp_path):
    r = np.random.default_rng(0).random((2, 11, 13)).astype(np.float32)
    write_reconstruction(tmp_path / "o.h5", r, attrs={"model": "e2e"})
    back, attrs = read_reconstruction(tmp_path / "o.h5")
    assert np.array_equal(back.numpy(), r) and attrs["model"] == "e2e"
    with pytest.raises(InputError, match="magnitude"):
        write_reconstruction(tmp_path / "c.h5", r.astype(np.complex64))
    with pytest.raises(InputError, match="already exists"):
        write_reconstruction(tmp_path / "o.h5", r)


def _h5(path, **datasets):
    with h5py.File(path, "w") as f:
        for k, v in datasets.items():
            f.create_dataset(k, data=v)
    return path


def test_bad_files_name_file_and_key(tmp_path):
    cases = {
        "missing.h5": ("kspace", dict(reconstruction_rss=np.ones((1, 4, 4), "f4"))),
        "dtype.h5": ("kspace", dict(kspace=np.ones((1, 4, 4), "f4"))),
        "ndim.h5": ("kspace", dict(kspace=_crandn(4, 4))),
        "mask.h5": ("mask", dict(kspace=_crandn(1, 4, 5), mask=np.ones(4, bool))),
        "maskval.h5": ("mask", dict(kspace=_crandn(1, 4, 5), mask=np.full(5, 2, "i4"))),
        "target.h5": ("reconstruction_esc",
                      dict(kspace=_crandn(2, 4, 5), reconstruction_esc=np.ones((3, 4, 4), "f4"))),
        "traj.h5": ("trajectory", dict(kspace=_crandn(1, 2, 7), trajectory=np.ones((6, 2), "f4"))),
        "nomatrix.h5": ("matrix", dict(kspace=_crandn(1, 2, 7), trajectory=np.ones((7, 2), "f4"))),
    }
    for name, (key, data) in cases.items():
        p = _h5(tmp_path / name, **data)
        with pytest.raises(FormatError) as err:
            read_mri_slice(p, 0)
        assert name in str(err.value) and f"'{key}'" in str(err.value), str(err.value)
    (tmp_path / "text.h5").write_text("not hdf5")
    good = write_mri_file(tmp_path / "good.h5", _crandn(4, 2, 64, 64))
    (tmp_path / "trunc.h5").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    for name in ("text.h5", "trunc.h5", "absent.h5"):
        with pytest.raises(FormatError, match=name):
            read_mri_slice(tmp_path / name, 0)


def test_size_guard_refuses_huge_declared_dataset(tmp_path):
    p = tmp_path / "huge.h5"
    with h5py.File(p, "w") as f:  # declared 2 x 8 x 40000 x 40000 complex64, nothing allocated
        f.create_dataset("kspace", shape=(2, 8, 40000, 40000), dtype=np.complex64,
                         chunks=(1, 1, 64, 64))
    assert p.stat().st_size < 1e6
    # the whole-file memory estimate refuses it on opening; with that limit raised, the
    # per-read guard still refuses to allocate the slice
    with pytest.raises(FormatError, match="'kspace'.*--limit memory="):
        FastMRIFile(p)
    with _limits.raised({"memory": 1 << 62}), FastMRIFile(p) as f:
        with pytest.raises(FormatError, match="'kspace'.*max_bytes"):
            f.read_slice(0)
    with pytest.raises(FormatError, match="max_bytes"):
        read_mri_slice(write_mri_file(tmp_path / "s.h5", _crandn(1, 8, 8)), 0, max_bytes=100)
