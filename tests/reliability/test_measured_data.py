"""The measured-data converter (:func:`discofold.data.convert_measured`) on hostile matrices: no
samples at all (formerly a ``ZeroDivisionError`` in the geometry), NaN or Inf (formerly written
to the radar file), and compressed ``.mat`` / HDF5 files of a few kilobytes that declare
gigabytes (formerly inflated in full by scipy).  Each must end in a :class:`FormatError` of one
line naming the file and the variable, before the data is read for a bomb, with no output."""

from __future__ import annotations

import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from discofold.data import convert_measured
from discofold.data.radar_io import load_echo_matrix
from discofold.errors import FormatError

scipy_io = pytest.importorskip("scipy.io")

GEOMETRY = dict(carrier_hz=1e10, bandwidth_hz=1e9, angle_span_rad=0.1)


def _refused(src: Path, out: Path, *needles: str, **kwargs) -> str:
    with pytest.raises(FormatError) as info:
        convert_measured(src, out, **GEOMETRY, **kwargs)
    text = str(info.value)
    assert "\n" not in text and str(src) in text, text
    for needle in needles:
        assert needle in text, (needle, text)
    assert not out.exists() and not list(out.parent.glob(f".{out.name}*"))
    return text


def _v5_bomb(path: Path, rows: int, cols: int, zero_bytes: int) -> Path:
    """A MATLAB v5 file with one compressed double matrix declared ``rows x cols`` whose
    compressed stream holds ``zero_bytes`` of zeros (far fewer than declared)."""
    matrix = (struct.pack("<II", 6, 8) + struct.pack("<II", 6, 0)  # array flags: mxDOUBLE
              + struct.pack("<II", 5, 8) + struct.pack("<ii", rows, cols)  # dimensions
              + struct.pack("<I", (4 << 16) | 1) + b"echo"  # name, small element
              + struct.pack("<II", 9, (rows * cols * 8) & 0xFFFFFFFF))  # miDOUBLE data tag
    body = struct.pack("<II", 14, len(matrix) + zero_bytes) + matrix
    packer = zlib.compressobj(9)
    compressed = packer.compress(body)
    block = bytes(1 << 20)
    for _ in range(zero_bytes >> 20):
        compressed += packer.compress(block)
    compressed += packer.flush()
    header = b"MATLAB 5.0 MAT-file, crafted by a test".ljust(116) + bytes(8) + b"\x00\x01IM"
    path.write_bytes(header + struct.pack("<II", 15, len(compressed)) + compressed)
    return path


def test_an_echo_with_no_samples_is_refused(fault_log, tmp_path):
    fault_log.describe("measured data: empty echo matrix",
                       "a (0, 5) and a (5, 0) .npy and a (0, 5) .mat given to convert_measured "
                       "(formerly ZeroDivisionError): FormatError of one line naming the file "
                       "and variable, no output")
    np.save(tmp_path / "rows.npy", np.zeros((0, 5)))
    np.save(tmp_path / "cols.npy", np.zeros((5, 0), np.complex64))
    scipy_io.savemat(tmp_path / "empty.mat", {"echo": np.zeros((0, 5))})
    for name in ("rows.npy", "cols.npy", "empty.mat"):
        _refused(tmp_path / name, tmp_path / f"{name}.h5", "holds no samples")
        fault_log.case("FormatError, no output")


def test_non_finite_echo_values_are_refused(fault_log, tmp_path):
    fault_log.describe("measured data: NaN or Inf in the echo",
                       "a complex .npy with one NaN, a .mat with one +Inf, a MATLAB v7.3 "
                       "(HDF5) file with a NaN imaginary part: FormatError naming the variable, "
                       "the count and the first position, no output")
    m = np.ones((6, 7), np.complex128)
    nan = m.copy()
    nan[2, 3] = complex(np.nan, 0)
    np.save(tmp_path / "nan.npy", nan)
    inf = np.ones((6, 7))
    inf[4, 1] = np.inf
    scipy_io.savemat(tmp_path / "inf.mat", {"echo": inf, "note": "text"})
    v73 = tmp_path / "v73.mat"
    with h5py.File(v73, "w") as fh:
        cplx = np.zeros((7, 6), dtype=[("real", "<f8"), ("imag", "<f8")])
        cplx["imag"][1, 5] = np.nan  # stored transposed: MATLAB's [5, 1]
        fh["echo"] = cplx
    for name, var, where in (("nan.npy", "array", "[2, 3]"), ("inf.mat", "echo", "[4, 1]"),
                             ("v73.mat", "echo", "[5, 1]")):
        _refused(tmp_path / name, tmp_path / f"{name}.h5", f"variable '{var}'", "non-finite",
                 where)
        fault_log.case("FormatError naming the variable, no output")


def test_compressed_bombs_are_refused_before_decompression(fault_log, tmp_path):
    fault_log.describe("measured data: compressed .mat / HDF5 declaring gigabytes",
                       "a crafted 64 KB MATLAB v5 file whose one compressed variable declares "
                       "40000 x 40000 doubles (12.8 GB), a scipy-written compressed .mat of "
                       "2000 x 2000 zeros under max_elements = 1e6, and a v7.3 file with a "
                       "never-written chunked 60000 x 60000 dataset: FormatError naming "
                       "max_elements, in under 2 s and 50 MB of Python allocations; the limit "
                       "can be raised")
    bomb = _v5_bomb(tmp_path / "bomb.mat", 40_000, 40_000, 64 << 20)
    assert bomb.stat().st_size < 200_000
    scipy_io.savemat(tmp_path / "zeros.mat", {"echo": np.zeros((2000, 2000))},
                     do_compression=True)
    v73 = tmp_path / "declared.mat"
    with h5py.File(v73, "w") as fh:
        fh.create_dataset("echo", shape=(60_000, 60_000), dtype="f8", chunks=(256, 256),
                          compression="gzip")
    for src, limit in ((bomb, None), (tmp_path / "zeros.mat", 10**6), (v73, None)):
        kwargs = {} if limit is None else {"max_elements": limit}
        tracemalloc.start()
        start = time.perf_counter()
        _refused(src, tmp_path / "out.h5", "max_elements", "refused before reading",
                 **kwargs)
        took = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert took < 2 and peak < 50 << 20, (src.name, took, peak)
        fault_log.case("FormatError before decompression")
        if src == bomb:
            fault_log.measure("64 KB v5 bomb declaring 12.8 GB: Python peak while refusing",
                              f"{peak / 2**10:.0f} KiB")
    small = tmp_path / "small.mat"
    scipy_io.savemat(small, {"echo": np.ones((30, 40))}, do_compression=True)
    with pytest.raises(FormatError, match="max_elements"):
        load_echo_matrix(small, max_elements=1000)
    assert load_echo_matrix(small, max_elements=1200).shape == (30, 40)
    fault_log.case("limit raised: read")
