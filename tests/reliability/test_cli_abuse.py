"""CLI abuse: bad paths, unwritable folders, output = input, a full disk.

Every case must end with exit code 2 and exactly one line on stderr, leave no partial or
temporary file, and keep an existing output byte for byte.  Tests run in-process through
``discofold.cli.main``; two cases also run the real ``discofold`` executable in a subprocess.
Tests run as root here, where permission bits do not apply: the permission cases then simulate
the ``PermissionError`` by monkeypatching, and the real ``chmod`` variants are skipped.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from discofold.cli import main
from discofold.data import read_reconstruction, write_mri_file
from discofold.errors import FormatError

from .._cli import cli as _cli

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


ONE_THREAD = True  # one torch thread per test (tests/conftest.py)


def _one_line_error(rc: int, stderr: str, *needles: str) -> None:
    assert rc == 2, (rc, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0], stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def _no_leftovers(folder: Path) -> None:
    assert sorted(p.name for p in folder.rglob("*.tmp")) == []


@pytest.fixture
def mri_input(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    k = (rng.standard_normal((3, 11, 9)) + 1j * rng.standard_normal((3, 11, 9))).astype(
        np.complex64)
    src = tmp_path / "in"
    src.mkdir()
    return write_mri_file(src / "scan.h5", k, target=rng.random((3, 11, 9)).astype(np.float32))


@pytest.fixture
def old_output(tmp_path) -> tuple[Path, bytes]:
    out = tmp_path / "out"
    out.mkdir()
    path = out / "scan.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("reconstruction", data=np.full((3, 11, 9), 7.0, np.float32))
    return path, path.read_bytes()


def _recon(inp, out, *extra) -> tuple[int, str]:
    return _cli("recon", "--method", "zf", "--input", str(inp), "--output", str(out), "--quiet",
                *extra)


# --------------------------------------------------------------------------- paths
def test_nonexistent_paths(fault_log, mri_input, tmp_path):
    fault_log.describe("CLI abuse: nonexistent paths",
                       "recon with a missing input file, a missing input folder, an output in a "
                       "missing folder; simulate with --out naming an existing file")
    cases = [
        (_recon(tmp_path / "nope.h5", tmp_path / "o.h5"), "nope.h5"),
        (_recon(mri_input, tmp_path / "no_dir" / "o.h5"), "no_dir"),
        (_recon(tmp_path / "empty_dir_missing" / "x.h5", tmp_path / "o.h5"), "x.h5"),
        (_cli("recon", "--method", "zf", "--input", str(mri_input.parent), "--output",
              str(mri_input), "--quiet"), "scan.h5"),
        (_cli("simulate", "mri", "--n", "1", "--size", "8", "--out", str(mri_input),
              "--quiet"), "scan.h5"),
    ]
    for (rc, err), needle in cases:
        _one_line_error(rc, err, needle)
        fault_log.case("exit 2, one line")
    assert not (tmp_path / "o.h5").exists() and not (tmp_path / "no_dir").exists()
    _no_leftovers(tmp_path)


def test_unreadable_input_simulated(fault_log, mri_input, tmp_path, monkeypatch):
    fault_log.describe("CLI abuse: unreadable input",
                       "h5py.File raising PermissionError on the input (root ignores chmod); "
                       "also an unreadable --params file")
    real = h5py.File

    def denied(name, *a, **k):
        if Path(name) == mri_input:
            raise PermissionError(errno.EACCES, "Permission denied", str(name))
        return real(name, *a, **k)

    monkeypatch.setattr(h5py, "File", denied)
    rc, err = _recon(mri_input, tmp_path / "o.h5")
    _one_line_error(rc, err, "scan.h5", "Permission denied")
    fault_log.case("exit 2, one line")
    monkeypatch.undo()
    rc, err = _cli("recon", "--method", "cg", "--input", str(mri_input), "--output",
                   str(tmp_path / "o.h5"), "--params", str(tmp_path), "--quiet")
    _one_line_error(rc, err)
    fault_log.case("exit 2, one line")
    assert not (tmp_path / "o.h5").exists()


@pytest.mark.skipif(IS_ROOT, reason="root ignores permission bits")
def test_unreadable_input_chmod(fault_log, mri_input, tmp_path):
    fault_log.describe("CLI abuse: unreadable input", "chmod 000 on the input (non-root only)")
    mri_input.chmod(0)
    try:
        rc, err = _recon(mri_input, tmp_path / "o.h5")
    finally:
        mri_input.chmod(0o644)
    _one_line_error(rc, err, "scan.h5")
    fault_log.case("exit 2, one line")


def test_output_folder_not_writable_simulated(fault_log, mri_input, old_output, tmp_path,
                                              monkeypatch):
    fault_log.describe("CLI abuse: output folder not writable",
                       "the temporary file cannot be created (PermissionError from mkstemp) for "
                       "recon, recon folder mode and simulate; os.access reports no write access")
    out, before = old_output
    import discofold.data._atomic as atomic

    def no_tmp(*a, dir=None, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(dir))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", no_tmp)
    rc, err = _recon(mri_input, out, "--overwrite")
    _one_line_error(rc, err, "Permission denied", str(out.parent))
    assert out.read_bytes() == before
    fault_log.case("exit 2, one line, old output intact")
    rc, err = _cli("simulate", "mri", "--n", "2", "--size", "8", "--slices", "1", "--coils", "1",
                   "--out", str(tmp_path / "sim"), "--quiet")
    _one_line_error(rc, err, "Permission denied")
    assert list((tmp_path / "sim").iterdir()) == []
    fault_log.case("exit 2, one line, nothing written")
    monkeypatch.undo()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m, **k: False if Path(p).name in ("ro", "sim2")
                        else real_access(p, m, **k))
    rc, err = _cli("recon", "--method", "zf", "--input", str(mri_input.parent), "--output",
                   str(tmp_path / "ro"), "--quiet")
    _one_line_error(rc, err, "not writable")
    rc2, err2 = _cli("simulate", "radar", "--n", "1", "--out", str(tmp_path / "sim2"), "--quiet")
    _one_line_error(rc2, err2, "not writable")
    fault_log.case("exit 2, one line")
    fault_log.case("exit 2, one line")
    _no_leftovers(tmp_path)


@pytest.mark.skipif(IS_ROOT, reason="root ignores permission bits")
def test_output_folder_not_writable_chmod(fault_log, mri_input, tmp_path):
    fault_log.describe("CLI abuse: output folder not writable", "chmod 555 on the output folder")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        rc, err = _recon(mri_input, ro / "o.h5")
    finally:
        ro.chmod(0o755)
    _one_line_error(rc, err)
    assert list(ro.iterdir()) == []
    fault_log.case("exit 2, one line")


def test_output_equal_to_input(fault_log, mri_input, tmp_path):
    fault_log.describe("CLI abuse: output equal to input",
                       "recon --output = --input (same path, with --overwrite, through a "
                       "symlink, through a hard link, ./-relative spelling, folder = folder)")
    before = mri_input.read_bytes()
    link, hard = tmp_path / "link.h5", tmp_path / "hard.h5"
    link.symlink_to(mri_input)
    os.link(mri_input, hard)
    spelled = mri_input.parent / "." / mri_input.name
    cases = [(mri_input, mri_input), (mri_input, mri_input, "--overwrite"),
             (mri_input, link, "--overwrite"), (hard, mri_input, "--overwrite"),
             (mri_input, spelled, "--overwrite"),
             (mri_input.parent, mri_input.parent, "--overwrite")]
    for inp, out, *extra in cases:
        rc, err = _recon(inp, out, *extra)
        _one_line_error(rc, err, "input")
        assert mri_input.read_bytes() == before
        fault_log.case("exit 2, one line, input intact")
    _no_leftovers(tmp_path)


def _linked_folders(root: Path, how: str, scan: Path, other: Path) -> tuple[Path, Path, Path]:
    """``src/`` and ``dst/`` where ``src/scan.h5`` and ``dst/scan.h5`` are one file, linked
    as ``how`` says, next to a plain input ``b.h5``; returns ``(src, dst, the data file)``."""
    src, dst = root / "src", root / "dst"
    src.mkdir()
    dst.mkdir()
    (src / "b.h5").symlink_to(other)
    if how == "output links to input":
        (src / "scan.h5").symlink_to(scan)
        (dst / "scan.h5").symlink_to(scan)
        return src, dst, scan
    (dst / "scan.h5").write_bytes(scan.read_bytes())
    if how == "input links to output":
        (src / "scan.h5").symlink_to(dst / "scan.h5")
    else:
        os.link(dst / "scan.h5", src / "scan.h5")
    return src, dst, dst / "scan.h5"


@pytest.mark.parametrize("how", ["input links to output", "hard link", "output links to input"])
def test_folder_input_linked_to_its_own_output(fault_log, mri_input, tmp_path, how):
    fault_log.describe("CLI abuse: output equal to input",
                       "folder-mode recon --overwrite where one input is a symlink (or hard "
                       "link) to its own output path, or the output a symlink to its input: "
                       "refused up front naming the file, the data intact, nothing written")
    other = write_mri_file(tmp_path / "b.h5", np.ones((1, 5, 4), np.complex64))
    src, dst, data = _linked_folders(tmp_path, how, mri_input, other)
    before = data.read_bytes()
    rc, err = _recon(src, dst, "--overwrite")
    _one_line_error(rc, err, "scan.h5", "own output")
    assert data.read_bytes() == before and not (dst / "b.h5").exists()
    fault_log.case("exit 2, one line naming the file, input intact")
    _no_leftovers(tmp_path)


# --------------------------------------------------------------------------- disk full
def _enospc_after(n_ok: int, monkeypatch) -> None:
    """``create_dataset`` writes its data, then raises ENOSPC, from call ``n_ok + 1`` on."""
    real = h5py.Group.create_dataset
    calls = {"n": 0}

    def full(self, *a, **k):
        calls["n"] += 1
        out = real(self, *a, **k)
        if calls["n"] > n_ok:
            raise OSError(errno.ENOSPC, "No space left on device", self.file.filename)
        return out

    monkeypatch.setattr(h5py.Group, "create_dataset", full)


def test_disk_full_during_recon(fault_log, mri_input, old_output, monkeypatch):
    fault_log.describe("CLI abuse: disk full",
                       "the HDF5 write raises OSError(ENOSPC) after the data went into the "
                       "temporary file: recon (replacing an old output), recon folder mode")
    out, before = old_output
    _enospc_after(0, monkeypatch)
    rc, err = _recon(mri_input, out, "--overwrite")
    _one_line_error(rc, err, "No space left on device")
    assert out.read_bytes() == before
    _no_leftovers(out.parent)
    fault_log.case("exit 2, one line, old output intact")
    rc, err = _cli("recon", "--method", "zf", "--input", str(mri_input.parent), "--output",
                   str(out.parent), "--overwrite", "--quiet")
    _one_line_error(rc, err, "No space left on device")
    assert out.read_bytes() == before
    _no_leftovers(out.parent)
    fault_log.case("exit 2, one line, old output intact")


def test_disk_full_midway_through_simulate(fault_log, tmp_path, monkeypatch):
    fault_log.describe("CLI abuse: disk full",
                       "simulate --n 3 --overwrite over 3 old files; the second file's write "
                       "raises ENOSPC: file 1 new and complete, files 2-3 old and intact")
    out = tmp_path / "sim"
    args = ["simulate", "mri", "--n", "3", "--size", "12x10", "--slices", "1", "--coils", "2",
            "--pattern", "equispaced", "--out", str(out), "--quiet"]
    assert _cli(*args, "--seed", "1")[0] == 0
    old = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    assert len(old) == 3
    per_file = 4  # kspace, ismrmrd_header, mask, target datasets per file
    _enospc_after(per_file, monkeypatch)
    rc, err = _cli(*args, "--seed", "2", "--overwrite")
    _one_line_error(rc, err, "No space left on device")
    monkeypatch.undo()
    names = sorted(old)
    assert out.joinpath(names[0]).read_bytes() != old[names[0]]  # replaced, complete
    with h5py.File(out / names[0], "r") as f:
        assert f["kspace"].shape[-2:] == (12, 10)
    for name in names[1:]:
        assert out.joinpath(name).read_bytes() == old[name]
    _no_leftovers(out)
    fault_log.case("exit 2, one line, old files intact")


def _limit_file_size(nbytes: int):
    def pre():
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

    return pre


def _exe() -> list[str]:
    return [sys.executable, "-m", "discofold"]


def test_real_file_size_limit_subprocess(fault_log, tmp_path):
    fault_log.describe("CLI abuse: disk full",
                       "real subprocess under RLIMIT_FSIZE (the kernel refuses writes past "
                       "64 KiB, inside HDF5's C code); exit 2, one line, no output, no temp")
    rng = np.random.default_rng(1)
    k = (rng.standard_normal((8, 48, 48)) + 0j).astype(np.complex64)
    inp = write_mri_file(tmp_path / "big_in.h5", k)
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run([*_exe(), "recon", "--method", "zf", "--input", str(inp),
                           "--output", str(out / "r.h5"), "--quiet"],
                          capture_output=True, text=True, timeout=120,
                          preexec_fn=_limit_file_size(64 << 10))
    _one_line_error(proc.returncode, proc.stderr, "File too large", "r.h5")
    assert list(out.iterdir()) == []
    fault_log.case("exit 2, one line, nothing written")


def test_real_subprocess_bad_input_and_debug(fault_log, tmp_path):
    fault_log.describe("errors: one line, exit 2, --debug traceback",
                       "a non-HDF5 input to python -m discofold in a subprocess: one line and "
                       "exit 2; with --debug the exception propagates (traceback)")
    fake = tmp_path / "fake.h5"
    fake.write_text("not hdf5")
    cmd = [*_exe(), "recon", "--method", "zf", "--input", str(fake), "--output",
           str(tmp_path / "o.h5")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    _one_line_error(proc.returncode, proc.stderr, "fake.h5")
    fault_log.case("exit 2, one line")
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(FormatError, match="fake.h5"):
        main(["--debug", *cmd[3:]])  # --debug: the exception (and traceback) comes through
    fault_log.case("traceback with --debug")
    assert not (tmp_path / "o.h5").exists()


def test_read_back_of_successful_run(fault_log, mri_input, tmp_path):
    fault_log.describe("CLI abuse: control (valid run)",
                       "the same command on good paths succeeds and writes a readable file")
    rc, err = _recon(mri_input, tmp_path / "ok.h5")
    assert rc == 0, err
    rec, _ = read_reconstruction(tmp_path / "ok.h5")
    with h5py.File(mri_input, "r") as f:  # independent reference: |centred inverse DFT|
        k = f["kspace"][()].astype(np.complex128)
    ref = np.abs(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), norm="ortho"),
                                 axes=(-2, -1)))
    np.testing.assert_allclose(rec.numpy(), ref, rtol=1e-4, atol=1e-5)
    fault_log.case("exit 0")


# --------------------------------------------------------------------------- --params
def _memory_cap(nbytes: int):
    def pre():
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (nbytes, nbytes))

    return pre


def test_params_special_files_subprocess(fault_log, mri_input, tmp_path):
    fault_log.describe("CLI abuse: special files",
                       "recon --params FIFO (opening one waits for a writer) and --params "
                       "/dev/zero (endless), real subprocess under a 4 GiB address-space cap and "
                       "a time-out: exit 2 at once, one line naming the path, nothing written")
    fifo = tmp_path / "weights.json"
    os.mkfifo(fifo)
    for params in (fifo, Path("/dev/zero")):
        proc = subprocess.run([*_exe(), "recon", "--method", "cg", "--input", str(mri_input),
                               "--output", str(tmp_path / "o.h5"), "--params", str(params)],
                              capture_output=True, text=True, timeout=120,
                              preexec_fn=_memory_cap(4 << 30))
        _one_line_error(proc.returncode, proc.stderr, str(params), "not a regular file")
        fault_log.case("exit 2, one line")
    assert not (tmp_path / "o.h5").exists()


BAD_PARAMS = {
    "over 1 MiB": (b" " * (1 << 20) + b"{}", "more than the limit of 1048576 bytes"),
    "not UTF-8": (b'{"mri": "\xff"}', "not UTF-8"),
    "not JSON": (b"{mri", "cannot read"),
    "a list": (b"[1, 2]", "expected a JSON object"),
    "kind not an object": (b'{"mri": 5}', "expected a JSON object"),
    "NaN weight": (b'{"mri": {"cg": {"params": {"lam": NaN}}}}', "mri.cg.params.lam"),
    "string weight": (b'{"mri": {"cg": {"params": {"lam": "big"}}}}', "mri.cg.params.lam"),
    "integer beyond float": (b'{"mri": {"cg": {"params": {"lam": 1' + b"0" * 400 + b"}}}}",
                             "mri.cg.params.lam"),
    "infinite max_iter": (b'{"mri": {"cg": {"params": {}, "max_iter": 1e999}}}', "max_iter"),
    "fractional max_iter": (b'{"mri": {"cg": {"params": {}, "max_iter": 2.5}}}', "max_iter"),
}


@pytest.mark.parametrize("case", sorted(BAD_PARAMS))
def test_params_file_contents(fault_log, mri_input, tmp_path, case):
    fault_log.describe("CLI abuse: bad --params file",
                       "recon --params with a file over 1 MiB, not UTF-8, not JSON, not an "
                       "object, NaN / string / huge weights, bad max_iter: exit 2, one line "
                       "naming the file (and the key), nothing written")
    body, needle = BAD_PARAMS[case]
    params = tmp_path / "weights.json"
    params.write_bytes(body)
    rc, err = _cli("recon", "--method", "cg", "--input", str(mri_input), "--output",
                   str(tmp_path / "o.h5"), "--params", str(params), "--quiet")
    _one_line_error(rc, err, "weights.json", needle)
    assert not (tmp_path / "o.h5").exists()
    fault_log.case("exit 2, one line")
