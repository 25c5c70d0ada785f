"""Small inputs that ask for huge work: the cost is bounded from headers before work starts.

A few kilobytes of HDF5 (chunks never written read as zeros) declare k-space, NUFFT grids or
radar images whose reconstruction needs gigabytes, a million slices, one gzip chunk spanning
every slice, or thousands of attributes; a checkpoint of a few megabytes inflates to gigabytes
(a deflated zip member); a DISCO kernel covers a grid many times larger than the input.  Each is
refused by ``discofold recon`` / ``eval`` with exit 2 and one line naming the file, the key and
the limit, with the ``--limit KEY=VALUE`` flag that raises it (:mod:`discofold._limits`), in well
under a second and without allocating what was declared; raising the limit lets a trusted input
through."""

from __future__ import annotations

import shutil
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from discofold import _limits
from discofold.errors import InputError
from discofold.layers import DiscoConv2d, DiscoConvFan

from .._checkpoints import untrained_checkpoint
from .._cli import cli_lines as _cli
from ._files import memory_bound

ONE_THREAD = True  # one torch thread per test (tests/conftest.py)
MiB = 1 << 20


def _declared(f: h5py.File, key: str, shape: tuple, chunks: tuple | None = None,
              dtype: str = "complex64", **kw) -> None:
    """A chunked dataset of ``shape`` whose chunks are never written (no storage)."""
    chunks = chunks or (1,) * (len(shape) - 1) + (min(64, shape[-1]),)
    f.create_dataset(key, shape=shape, dtype=dtype, chunks=chunks, **kw)


def _mri(path: Path, shape: tuple, attrs: dict | None = None, trajectory: int | None = None,
         chunks: tuple | None = None, **kw) -> Path:
    with h5py.File(path, "w", libver="latest") as f:
        _declared(f, "kspace", shape, chunks, **kw)
        if trajectory is not None:
            f.create_dataset("trajectory", data=np.zeros((trajectory, 2), np.float32))
        for k, v in {"max": 1.0, "acquisition": "CORPD", **(attrs or {})}.items():
            f.attrs[k] = v
    return path


def _radar(path: Path, frames: int, pulses: int, freqs: int, image: tuple) -> Path:
    with h5py.File(path, "w") as f:
        _declared(f, "echo", (frames, pulses, freqs))
        f.create_dataset("angles_rad", data=np.linspace(0.2, 0.3, pulses))
        f.create_dataset("frequencies_hz", data=np.linspace(9.5e9, 10.5e9, freqs))
        f.attrs["extent_m"] = np.array([4.0, 4.0])
        f.attrs["image_shape"] = np.array(image)
    return path


def _refused(tmp_path: Path, path: Path, *needles: str, method: str = "zf",
             extra: tuple = (), traced: int = 16 * MiB) -> float:
    """``recon`` on ``path``: exit 2, one line naming the file and ``needles``, no output, with
    at most ``traced`` bytes allocated; returns the seconds it took."""
    out = tmp_path / "out.h5"
    start = time.perf_counter()
    with memory_bound(traced, 256 * MiB):
        rc, err = _cli("recon", "--method", method, "--input", str(path), "--output", str(out),
                       "--quiet", *extra)
    took = time.perf_counter() - start
    assert rc == 2 and len(err) == 1, (rc, err)
    for needle in (str(path), *needles):
        assert needle in err[0], (needle, err[0])
    assert not out.exists() and took < 5, took
    return took


MEMORY_BOMBS = {
    # 64 coils x 4096 x 1024 complex64 = 2 GiB per slice: inside the 2 GiB per-read guard,
    # and the coil images, FFTs and maps of a reconstruction multiply it (6.4 GB measured)
    "MRI: 2 GiB slice (64 coils 4096x1024)": lambda p: _mri(p, (1, 64, 4096, 1024)),
    # a 16384 x 16384 matrix (2 GiB image, inside the guard) on a 100-sample trajectory: the
    # oversampled NUFFT grid alone needs 8 GiB
    "non-Cartesian: 16384x16384 matrix": lambda p: _mri(
        p, (1, 1, 100), {"matrix": np.array([16384, 16384])}, trajectory=100),
    # a 16000 x 16000 image (1.9 GiB, inside the guard) from a 64 x 64 echo
    "radar: 16000x16000 image": lambda p: _radar(p, 1, 64, 64, (16000, 16000)),
}


@pytest.mark.parametrize("case", sorted(MEMORY_BOMBS))
def test_memory_bombs_are_refused_from_the_header(fault_log, tmp_path, case):
    fault_log.describe("resource bounds: memory bomb inside the per-read guard",
                       "a few-KB HDF5 file (chunks never written) whose one slice / frame passes "
                       "the 2 GiB per-read guard but whose reconstruction needs far more (a 2 GiB "
                       "64-coil slice, a 16384² non-Cartesian matrix, a 16000² radar image): "
                       "`recon` exits 2 with one line naming "
                       "the file, the estimate and --limit memory=, under 16 MiB allocated")
    path = MEMORY_BOMBS[case](tmp_path / "bomb.h5")
    assert path.stat().st_size < 64 * 1024
    took = _refused(tmp_path, path, "key", "--limit memory=")
    fault_log.case("exit 2, one line naming --limit memory")
    fault_log.measure(f"{case}: refused in", f"{took:.2f} s")


def test_the_memory_limit_is_raised_by_the_flag(fault_log, tmp_path):
    fault_log.describe("resource bounds: --limit raises a bound",
                       "a 3-slice MRI file refused under --limit memory=64KiB / slices=2 and read "
                       "under the default and under --limit slices=3; an unknown or malformed "
                       "--limit is a usage error (exit 2 from argparse)")
    from discofold.data import write_mri_file

    g = np.random.default_rng(0)
    k = (g.standard_normal((3, 2, 32, 31)) + 1j * g.standard_normal((3, 2, 32, 31)))
    src = write_mri_file(tmp_path / "in.h5", k.astype(np.complex64))
    for limit, needles in (("memory=64KiB", ("--limit memory=",)),
                           ("slices=2", ("3 slices", "--limit slices=3"))):
        _refused(tmp_path, src, *needles, extra=("--limit", limit), traced=1 << 30)
    fault_log.case("lowered limit: refused")
    for extra in ((), ("--limit", "slices=3", "--limit", "memory=1GiB")):
        out = tmp_path / "out.h5"
        rc, err = _cli("recon", "--method", "zf", "--input", str(src), "--output", str(out),
                       "--quiet", "--overwrite", *extra)
        assert rc == 0 and out.exists(), err
        fault_log.case("default / raised limit: reconstructed")
    assert _limits.get("memory") == _limits.DEFAULTS["memory"]  # restored after the verb
    for bad in ("memory", "memory=", "bogus=3", "slices=2.5MiB", "memory=-1", "memory=nan"):
        with pytest.raises(SystemExit) as exc:
            _cli("recon", "--method", "zf", "--input", str(src), "--output",
                 str(tmp_path / "x.h5"), "--limit", bad)
        assert exc.value.code == 2, bad
        fault_log.case("bad --limit: usage error")


def test_tiny_files_that_would_take_hours(fault_log, tmp_path):
    fault_log.describe("resource bounds: tiny file, hours of work",
                       "one gzip chunk spanning all 400 slices (each slice read decompressed it "
                       "again), 10⁶ unallocated slices, 5000 attributes on the root and on "
                       "kspace: `recon` exits 2 with one line naming the file, the key and "
                       "--limit chunk= / slices= / attributes=, in under 5 s")
    cases = []
    p = tmp_path / "chunk.h5"
    _mri(p, (400, 2, 256, 256), chunks=(400, 2, 256, 256), compression="gzip")
    with h5py.File(p, "a") as f:
        f["kspace"][0] = 0  # one real (compressed) chunk: the file stays small
    cases.append((p, ("key 'kspace'", "--limit chunk=")))
    cases.append((_mri(tmp_path / "slices.h5", (10**6, 4, 4)), ("key 'kspace'", "1000000 slices",
                                                                "--limit slices=")))
    for where in ("/", "kspace"):
        p = _mri(tmp_path / f"attrs{len(cases)}.h5", (1, 8, 8))
        with h5py.File(p, "a", libver="latest") as f:
            obj = f if where == "/" else f["kspace"]
            for i in range(5000):
                obj.attrs[f"a{i}"] = i
        n = 5002 if where == "/" else 5000  # the root also holds max and acquisition
        cases.append((p, (f"key '{where}'", f"{n} attributes", "--limit attributes=")))
    for path, needles in cases:
        assert path.stat().st_size < 1 << 20
        took = _refused(tmp_path, path, *needles)
        fault_log.case(f"exit 2, one line naming {needles[-1]}")
        fault_log.measure(f"{path.name}: refused in", f"{took:.2f} s")


def test_a_zip_bomb_checkpoint_is_refused_before_torch_load(fault_log, tmp_path, monkeypatch):
    fault_log.describe("resource bounds: zip-bomb checkpoint",
                       "an untrained tiny_mri checkpoint with one extra deflated member of "
                       "256 MiB of zeros (the file stays ~0.5 MB): `recon --checkpoint` and "
                       "`eval` exit 2 with one line naming the file and "
                       "--limit checkpoint_inflation=, torch.load never called; with the limit "
                       "raised it loads")
    good = untrained_checkpoint(tmp_path / "tiny.pt", "tiny_mri")
    bomb = tmp_path / "bomb.pt"
    shutil.copy(good, bomb)
    with zipfile.ZipFile(bomb, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        prefix = z.namelist()[0].split("/")[0]  # torch reads members under the archive's folder
        z.writestr(f"{prefix}/data/999", bytes(256 * MiB))
    assert bomb.stat().st_size < 2 * MiB
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(a) or real_load(*a, **k))
    src = tmp_path / "in.h5"
    from discofold.data import write_mri_file

    write_mri_file(src, np.ones((1, 2, 16, 15), np.complex64))
    for verb in (["recon", "--input", str(src), "--output", str(tmp_path / "o.h5")],
                 ["eval", "--data", "sim:mri?n=1&size=32", "--out", str(tmp_path / "ev")]):
        rc, err = _cli(*verb, "--checkpoint", str(bomb), "--quiet")
        assert rc == 2 and len(err) == 1, err
        assert str(bomb) in err[0] and "--limit checkpoint_inflation=" in err[0], err[0]
        fault_log.case(f"{verb[0]}: refused")
    assert calls == []
    rc, err = _cli("recon", "--input", str(src), "--output", str(tmp_path / "o.h5"),
                   "--checkpoint", str(bomb), "--quiet", "--limit",
                   "checkpoint_inflation=300MiB")
    assert rc == 0, err
    fault_log.case("limit raised: loaded")


def test_disco_stencils_covering_huge_grids_are_refused(fault_log, tmp_path):
    fault_log.describe("resource bounds: DISCO stencil beyond the limit",
                       "a DiscoConv2d with 1800 basis functions over a 243x243 stencil (106 M "
                       "values, 850 MB in float64), a DiscoConvFan whose radius covers a "
                       "256x256 fan (uniform angles, an open arc: 33 M values per basis "
                       "function; scattered angles: 4·10⁹ neighbour pairs): InputError naming "
                       "--limit stencil= before the stencil is built (under 64 MiB allocated); "
                       "the same layers run with the limit raised or the radius small")
    conv = DiscoConv2d(1, 1, (60, 60), radius=1.9)
    x = torch.zeros(1, 1, 128, 128)
    with memory_bound(16 * MiB, 256 * MiB), pytest.raises(InputError, match="--limit stencil="):
        conv(x)
    fault_log.case("DiscoConv2d: refused")
    with _limits.raised({"stencil": 10**8}):
        assert DiscoConv2d(1, 1, (3, 4), radius=1.9)(x).shape == x.shape
    fault_log.case("DiscoConv2d, small kernel: ran")
    radii = torch.linspace(1.0, 2.0, 256)
    uniform = torch.linspace(0, 0.5, 256)
    scattered = torch.sort(torch.rand(256, generator=torch.Generator().manual_seed(0))).values
    for angles in (uniform, scattered):
        fan = DiscoConvFan(1, 1, (3, 4), radius=10.0)
        start = time.perf_counter()
        with memory_bound(64 * MiB, 256 * MiB), pytest.raises(InputError,
                                                              match="--limit stencil="):
            fan.plan(angles, radii)
        assert time.perf_counter() - start < 5
        fault_log.case("DiscoConvFan: refused")
    small = DiscoConvFan(1, 1, (3, 4), radius=0.02)
    small.plan(uniform[:32], radii[:32])
    fault_log.case("DiscoConvFan, small radius: planned")
