"""Load: ``discofold recon --input DIR --output DIR`` streams a folder one file at a time with flat
memory; a bad file stops the run (outputs so far kept) or, with ``--keep-going``, is reported and
skipped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import discofold.commands.recon as recon_cmd
from discofold.data import FastMRIFile, read_reconstruction, write_mri_file

from .._cli import cli as _cli

ONE_THREAD = True  # one torch thread per test (tests/conftest.py)


def _ifft2c(k: np.ndarray) -> np.ndarray:
    ax = (-2, -1)
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=ax), norm="ortho"), axes=ax)


def make_folder(folder: Path, n: int, bad: tuple[int, ...] = ()) -> list[Path]:
    """``n`` single-coil files ``f_000.h5 …`` (1 slice, 12×10); files in ``bad`` hold a NaN."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        rng = np.random.default_rng(i)
        k = (rng.standard_normal((1, 12, 10)) + 1j * rng.standard_normal((1, 12, 10)))
        k = k.astype(np.complex64)
        if i in bad:
            k[0, 5, 5] = np.nan
        out.append(write_mri_file(folder / f"f_{i:03d}.h5", k))
    return out


def _folder_recon(inp: Path, out: Path, *extra: str) -> tuple[int, str]:
    return _cli("recon", "--method", "zf", "--input", str(inp), "--output", str(out), "--quiet",
                *extra)


def _check_output(src: Path, out: Path) -> None:
    """The output equals the independent reference |centred inverse DFT| of the input."""
    import h5py

    with h5py.File(src, "r") as f:
        ref = np.abs(_ifft2c(f["kspace"][()].astype(np.complex128)))
    rec, _ = read_reconstruction(out)
    np.testing.assert_allclose(rec.numpy(), ref, rtol=1e-4, atol=1e-5)


class _CountingFile(FastMRIFile):
    """FastMRIFile that tracks how many instances are open at once."""

    open_now = 0
    most = 0

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        type(self).open_now += 1
        type(self).most = max(type(self).most, type(self).open_now)

    def close(self):
        type(self).open_now -= 1
        super().close()


def _fds() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0


def test_folder_streams_one_file_at_a_time_with_flat_memory(fault_log, tmp_path, monkeypatch):
    fault_log.describe("load: recon over a folder",
                       "in-process folder recon of 10 and 30 files: at most one input open at "
                       "once, no file descriptor leak, tracemalloc peak of the 30-file run within "
                       "10 % (+64 KiB) of the 10-file run, every output equal to |IDFT|")
    monkeypatch.setattr(recon_cmd, "FastMRIFile", _CountingFile)
    peaks = {}
    for n in (10, 30):
        inp = tmp_path / f"in{n}"
        srcs = make_folder(inp, n)
        fds = _fds()
        tracemalloc.start()
        rc, err = _folder_recon(inp, tmp_path / f"out{n}")
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert rc == 0, err
        assert _fds() == fds
        for src in srcs[:: max(1, n // 5)]:
            _check_output(src, tmp_path / f"out{n}" / src.name)
        assert len(list((tmp_path / f"out{n}").iterdir())) == n
        for _ in range(n):
            fault_log.case("reconstructed")
    assert _CountingFile.most == 1 and _CountingFile.open_now == 0
    fault_log.measure("tracemalloc peak, 10 files (KiB)", round(peaks[10] / 1024, 1))
    fault_log.measure("tracemalloc peak, 30 files (KiB)", round(peaks[30] / 1024, 1))
    assert peaks[30] <= 1.10 * peaks[10] + (64 << 10), peaks


@pytest.mark.parametrize("keep_going", [False, True])
def test_bad_file_stops_or_is_skipped_and_good_outputs_are_kept(fault_log, tmp_path, keep_going):
    fault_log.describe("load: one bad file in a folder",
                       "8 files, the 4th holds a NaN: by default exit 2 naming it, outputs 1-3 "
                       "kept and valid; with --keep-going exit 1, one 'skipped' line, 7 outputs")
    srcs = make_folder(tmp_path / "in", 8, bad=(3,))
    out = tmp_path / "out"
    rc, err = _folder_recon(tmp_path / "in", out, *(["--keep-going"] if keep_going else []))
    lines = err.strip().splitlines()
    written = sorted(p.name for p in out.iterdir())
    if keep_going:
        assert rc == 1, err
        assert [ln for ln in lines if "skipped 'f_003.h5'" in ln or "skipped '" in ln][0]
        assert any("f_003.h5" in ln and "kspace" in ln for ln in lines)
        assert written == [s.name for i, s in enumerate(srcs) if i != 3]
    else:
        assert rc == 2 and len(lines) == 1 and "f_003.h5" in lines[0] and "kept" in lines[0], err
        assert written == [s.name for s in srcs[:3]]
    for name in written:
        _check_output(tmp_path / "in" / name, out / name)
    assert not any(p.name.endswith(".tmp") for p in out.iterdir())
    fault_log.case("skipped, others kept" if keep_going else "stopped, earlier outputs kept")


def test_existing_outputs_refused_before_any_work(fault_log, tmp_path):
    fault_log.describe("load: one bad file in a folder",
                       "a re-run into a folder holding one old output is refused up front "
                       "without --overwrite; nothing is written and the old file is intact")
    make_folder(tmp_path / "in", 4)
    out = tmp_path / "out"
    out.mkdir()
    (out / "f_002.h5").write_bytes(b"old")
    rc, err = _folder_recon(tmp_path / "in", out)
    assert rc == 2 and "f_002.h5" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["f_002.h5"]
    assert (out / "f_002.h5").read_bytes() == b"old"
    fault_log.case("refused, nothing written")


_RSS_SCRIPT = """
import json, resource, sys, torch
torch.set_num_threads(1)
from discofold.cli import main
rc = main(["recon", "--method", "zf", "--input", sys.argv[1], "--output", sys.argv[2],
           "--quiet"])
print(json.dumps({"rc": rc,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _peak_rss(inp: Path, out: Path) -> int:
    proc = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(inp), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc["rc"] == 0
    return doc["maxrss_kib"] * 1024


@pytest.mark.slow
def test_200_files_peak_rss_does_not_grow(fault_log, tmp_path):
    fault_log.describe("load: recon over a folder",
                       "subprocess folder recon of 20 and of 200 files; peak RSS "
                       "(getrusage) of the 200-file run within 16 MiB of the 20-file run")
    rss = {}
    for n in (20, 200):
        make_folder(tmp_path / f"in{n}", n)
        rss[n] = _peak_rss(tmp_path / f"in{n}", tmp_path / f"out{n}")
        assert len(list((tmp_path / f"out{n}").iterdir())) == n
        for _ in range(n):
            fault_log.case("reconstructed")
    fault_log.measure("peak RSS, 20 files (MiB)", round(rss[20] / 2**20, 1))
    fault_log.measure("peak RSS, 200 files (MiB)", round(rss[200] / 2**20, 1))
    assert rss[200] - rss[20] <= 16 << 20, rss
