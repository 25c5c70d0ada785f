"""Measured echo matrices from ``.npy`` and ``.mat`` files, read with their cost bounded first
(private; :func:`load_echo_matrix` is public through :mod:`discofold.data.radar_io`).

A measured file comes from elsewhere and is not trusted to be small or sane.  Every variable's
shape is read from its header before any data is: a ``.npy`` header (memory-mapped, nothing
read), an HDF5 dataset's shape (MATLAB v7.3), or the header of a MATLAB v5 data element, of
which only the first kilobytes are decompressed (:func:`_v5_headers`): ``scipy.io.whosmat`` and
``loadmat`` inflate a whole compressed variable, so a 300 KB ``.mat`` of zeros becomes
gigabytes.  The variable chosen must then hold between 1 and ``max_elements`` samples, and once
read, only finite values (a measured echo has zeros where nothing was measured, never NaN).
"""

from __future__ import annotations

import math
import os
import struct
import zlib
from pathlib import Path

import h5py
import numpy as np

from ..errors import FormatError
from ._h5local import local_get

__all__ = ["load_echo_matrix", "DEFAULT_MAX_ELEMENTS"]

#: samples of one echo matrix: 512 MiB as complex128 (peak memory of a conversion ~4x that)
DEFAULT_MAX_ELEMENTS = 2**25
_V5_HEADER_BYTES = 4096  # decompressed per variable to read its name, class and dimensions
_MI_MATRIX, _MI_COMPRESSED = 14, 15
_NUMERIC_CLASSES = set(range(6, 16))  # mxDOUBLE .. mxUINT64
_H5_ERRORS = (OSError, RuntimeError, ValueError, TypeError, KeyError)  # a corrupt file


def _v5_element(data: bytes, pos: int, order: str) -> tuple[int, bytes, int]:
    """``(type, payload, next position)`` of the (possibly small-format) element at ``pos``."""
    mdtype, nbytes = struct.unpack_from(order + "II", data, pos)
    if mdtype >> 16:  # small data element: type and size in one word, payload in the next
        return mdtype & 0xFFFF, data[pos + 4:pos + 4 + (mdtype >> 16)], pos + 8
    end = pos + 8 + nbytes
    if end > len(data):
        raise struct.error("element runs past the header bytes read")
    return mdtype, data[pos + 8:end], pos + 8 + nbytes + (-nbytes % 8)


def _v5_matrix_header(data: bytes, order: str) -> tuple[str, tuple[int, ...], bool]:
    """``(name, dims, numeric)`` of the miMATRIX element at the start of ``data``."""
    mdtype, _ = struct.unpack_from(order + "II", data, 0)
    if mdtype != _MI_MATRIX:
        return "", (), False
    _, flags, pos = _v5_element(data, 8, order)
    mclass = struct.unpack_from(order + "I", flags)[0] & 0xFF
    _, dims, pos = _v5_element(data, pos, order)
    _, name, _ = _v5_element(data, pos, order)
    shape = struct.unpack(order + f"{len(dims) // 4}i", dims[:len(dims) // 4 * 4])
    return name.decode("latin1"), tuple(shape), mclass in _NUMERIC_CLASSES


def _v5_headers(path: Path) -> dict[str, tuple[int, ...]] | None:
    """Names and dimensions of the numeric variables of a MATLAB v5 file, reading at most
    :data:`_V5_HEADER_BYTES` decompressed bytes of each; ``None`` if not a v5 file."""
    out: dict[str, tuple[int, ...]] = {}
    with open(path, "rb") as fh:
        head = fh.read(128)
        if len(head) < 128 or not head.startswith(b"MATLAB 5.0") or \
                head[126:128] not in (b"IM", b"MI"):
            return None
        order = "<" if head[126:128] == b"IM" else ">"
        size = os.fstat(fh.fileno()).st_size
        while fh.tell() + 8 <= size:
            tag = fh.read(8)
            mdtype, nbytes = struct.unpack(order + "II", tag)
            start = fh.tell()
            if mdtype == _MI_COMPRESSED:
                inflate, data = zlib.decompressobj(), b""
                while len(data) < _V5_HEADER_BYTES and fh.tell() < start + nbytes:
                    chunk = fh.read(min(1 << 16, start + nbytes - fh.tell()))
                    data += inflate.decompress(chunk, _V5_HEADER_BYTES - len(data))
            elif mdtype == _MI_MATRIX:
                data = tag + fh.read(min(nbytes, _V5_HEADER_BYTES))
            else:
                data = b""
            if data:
                name, shape, numeric = _v5_matrix_header(data, order)
                if numeric:
                    out[name] = shape
            fh.seek(start + nbytes + (0 if mdtype == _MI_COMPRESSED else -nbytes % 8))
    return out


def _v73_shapes(path: Path, key: str | None) -> dict[str, tuple[int, ...]]:
    """Numeric 2-D datasets of a MATLAB v7.3 (HDF5) file, shapes in MATLAB's order."""
    found = {}
    try:
        with h5py.File(path, "r") as fh:
            for name in fh.keys():  # names only: a link is resolved by local_get, never followed
                if name.startswith("#") or (key is not None and name != key):
                    continue
                obj = local_get(fh, name, path)
                if isinstance(obj, h5py.Dataset) and obj.ndim == 2 and (
                        obj.dtype.kind in "fiuc" or (obj.dtype.names and {"real", "imag"}
                                                     <= set(obj.dtype.names))):
                    found[name] = tuple(obj.shape[::-1])  # MATLAB's (row, column) order
    except _H5_ERRORS as exc:
        raise FormatError(f"'{path}' is not a readable MATLAB v7.3 file ({exc})") from exc
    return found


def _shapes(path: Path, key: str | None) -> tuple[str, dict[str, tuple[int, ...]]]:
    """``(kind, {name: shape})`` of the numeric 2-D candidates, from headers only."""
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as exc:
            raise FormatError(f"'{path}' is not a plain .npy array ({exc})") from exc
        ok = isinstance(arr, np.ndarray) and arr.ndim == 2 and arr.dtype.kind in "fiuc"
        return "npy", {"array": tuple(arr.shape)} if ok else {}
    if h5py.is_hdf5(path):
        return "v73", _v73_shapes(path, key)
    try:
        found = _v5_headers(path)
        if found is None:  # MATLAB v4: uncompressed, its headers are all whosmat reads
            from scipy.io import whosmat

            found = {n: s for n, s, c in whosmat(path) if c not in ("char", "cell", "struct",
                                                                     "object", "sparse")}
    except (ValueError, TypeError, OSError, struct.error, zlib.error) as exc:
        raise FormatError(f"'{path}' is not a readable .mat file ({exc})") from exc
    return "mat", {n: s for n, s in found.items() if len(s) == 2 and not n.startswith("__")
                   and (key is None or n == key)}


def _read(path: Path, kind: str, name: str) -> np.ndarray:
    try:
        if kind == "npy":
            return np.load(path, allow_pickle=False)
        if kind == "v73":
            with h5py.File(path, "r") as fh:
                raw = local_get(fh, name, path)[()]
            if raw.dtype.names:
                raw = raw["real"] + 1j * raw["imag"]
            return raw.T  # HDF5 stores MATLAB's column-major arrays transposed
    except _H5_ERRORS as exc:  # a truncated array, a corrupt chunk
        raise FormatError(f"'{path}': variable '{name}' cannot be read ({exc})") from exc
    from scipy.io import loadmat

    try:  # no integrity check: it would inflate every other variable to its end
        return loadmat(path, variable_names=[name],
                       verify_compressed_data_integrity=False)[name]
    except (ValueError, TypeError, OSError, KeyError, zlib.error) as exc:
        raise FormatError(f"'{path}' is not a readable .mat file ({exc})") from exc


def load_echo_matrix(path: str | os.PathLike, key: str | None = None, *,
                     max_elements: int = DEFAULT_MAX_ELEMENTS) -> np.ndarray:
    """Load a 2-D echo matrix from ``.npy`` or ``.mat`` (v4–v7 via scipy, v7.3 via h5py).

    ``key`` names the MATLAB variable; without it the file must hold exactly one numeric 2-D
    variable.  Returns the matrix as stored (complex128), without reordering.

    Raises
    ------
    FormatError
        Missing or unreadable file; not exactly one numeric 2-D variable; a variable with no
        samples or more than ``max_elements`` (checked from its header, before any data is read
        or decompressed: raise the limit for a larger measurement); non-finite values, naming
        the variable and the first one.
    """
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"measured-data file '{path}' does not exist")
    kind, shapes = _shapes(path, key)
    if len(shapes) != 1:
        raise FormatError(f"{path}: key '{key}': expected exactly one numeric 2-D variable, "
                          f"found {sorted(shapes)}; pass key= to choose one")
    name, shape = next(iter(shapes.items()))
    count = math.prod(shape)
    if count == 0:
        raise FormatError(f"{path}: variable '{name}' has shape {shape} and holds no samples; "
                          "a measured echo needs at least one pulse and one frequency")
    if count > max_elements:
        raise FormatError(f"{path}: variable '{name}' declares {shape[0]} x {shape[1]} = "
                          f"{count} samples, more than max_elements = {max_elements}; refused "
                          "before reading it (pass a larger max_elements for a larger "
                          "measurement)")
    matrix = np.asarray(_read(path, kind, name), dtype=np.complex128)
    if matrix.shape != shape:
        raise FormatError(f"{path}: variable '{name}' declared shape {shape} but holds "
                          f"{matrix.shape}")
    bad = ~np.isfinite(matrix)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise FormatError(f"{path}: variable '{name}' holds {int(bad.sum())} non-finite "
                          f"values (NaN or Inf), the first at {list(first)}; a measured echo "
                          "must be finite (zeros where nothing was measured)")
    return matrix
