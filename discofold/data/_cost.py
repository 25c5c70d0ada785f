"""Cost of reading and reconstructing an HDF5 file, bounded from its header before any work.

A few kilobytes of HDF5 can declare gigabytes (chunks that were never written read as zeros),
a million slices, one compressed chunk spanning every slice (decompressed again for each slice
read) or thousands of attributes (each read one by one).  The readers
(:class:`~discofold.data.FastMRIFile`, :class:`~discofold.data.RadarH5Reader`) call these checks
on opening, against the limits of :mod:`discofold._limits`; a refusal is a
:class:`~discofold.errors.FormatError` of one line naming the file, the key, what it would
cost, the limit and the ``--limit`` flag that raises it.

:func:`open_h5` also gives the file a chunk cache of one chunk at the limit ``chunk``, so a
chunk that spans several slices is decompressed once, not once per slice.

The memory estimates (:func:`mri_peak_bytes`, :func:`radar_peak_bytes`) bound the peak of
reconstructing ONE slice / frame by any classical method, plus the results kept until the
output is written; their factors were set with margin above the peak RSS growth of ``recon``
with every method on a 2-slice 8-coil 320² Cartesian file, a 4-coil 256² file of 40 000
radial samples and a 128 × 128 radar fan onto 128² images.
"""

from __future__ import annotations

import math
import os

import h5py

from .. import _limits
from ..errors import FormatError

__all__ = ["open_h5", "check_h5_object", "check_items", "check_memory", "mri_peak_bytes",
           "radar_peak_bytes"]

_COMPLEX = 8  # bytes of a complex64 value
#: complex64 arrays of the size of the coil images alive at once in a Cartesian reconstruction
#: (data, coil images, FFT buffers, coil maps, CG / FISTA iterates), measured with margin
_CARTESIAN_COPIES = 32
#: the same for the oversampled NUFFT grid of a non-Cartesian one (grid, FFT, gridding)
_GRID_COPIES = 6
#: bytes per k-space sample and kernel tap of the NUFFT interpolation (table values, indices,
#: float64 kernel evaluation; measured with margin)
_TAP_BYTES = 128
#: bytes per pixel of the range-Doppler / polar-format image transform off broadside (blocks
#: of 16 complex128 exponentials along each k axis, then complex64; measured with margin)
_RD_BYTES = 4096
#: complex64 arrays of the image size alive at once in a radar reconstruction
_RADAR_COPIES = 12


def open_h5(path: str | os.PathLike) -> h5py.File:
    """``h5py.File(path, "r")`` with a chunk cache that holds one chunk of the limit ``chunk``."""
    return h5py.File(path, "r", rdcc_nbytes=_limits.get("chunk") + (1 << 20), rdcc_w0=1.0)


def _refuse(path, key: str, what: str, limit: str, needed: float) -> FormatError:
    return FormatError(f"file '{path}', key '{key}': {what}; refused before reading it; "
                       f"{_limits.hint(limit, needed)}")


def check_h5_object(obj, path, key: str) -> None:
    """Bound the attributes of ``obj`` (a file, group or dataset) and, for a chunked dataset,
    the uncompressed bytes of one chunk."""
    n = obj.id.get_info().num_attrs if hasattr(obj.id, "get_info") else len(obj.attrs)
    if n > _limits.get("attributes"):
        raise _refuse(path, key, f"{n} attributes", "attributes", n)
    chunks = getattr(obj, "chunks", None)
    if chunks:
        size = math.prod(int(c) for c in chunks) * obj.dtype.itemsize
        if size > _limits.get("chunk"):
            raise _refuse(path, key, f"one chunk {tuple(chunks)} holds {size} bytes "
                          "uncompressed", "chunk", size)


def check_items(n: int, path, key: str, unit: str) -> None:
    """Bound the slices / frames of a file."""
    if n > _limits.get("slices"):
        raise _refuse(path, key, f"{n} {unit}s", "slices", n)


def check_memory(needed: float, path, key: str, detail: str) -> None:
    """Bound the estimated peak memory of reconstructing the file."""
    if needed > _limits.get("memory"):
        raise _refuse(path, key, f"reconstructing it would need about "
                      f"{_limits.fmt('memory', needed)} ({detail})", "memory", needed)


def mri_peak_bytes(slices: int, coils: int, matrix: tuple[int, int], samples: int | None,
                   grid: tuple[int, int] | None, out: tuple[int, int], width: int = 6) -> float:
    """Peak bytes of reconstructing one MRI slice and keeping every slice's result.

    ``samples``/``grid``: k-space samples per coil and oversampled NUFFT grid of a non-Cartesian
    file (``None`` for Cartesian); ``out``: the stored result per slice (float32)."""
    h, w = matrix
    image = coils * h * w * _COMPLEX
    if samples is None:
        work = _CARTESIAN_COPIES * image
    else:
        work = (4 * image + _GRID_COPIES * coils * grid[0] * grid[1] * _COMPLEX
                + samples * (2 * coils * _COMPLEX + width * width * _TAP_BYTES))
    return work + slices * out[0] * out[1] * 4


def radar_peak_bytes(frames: int, pulses: int, freqs: int, image: tuple[int, int]) -> float:
    """Peak bytes of reconstructing one radar frame and keeping every frame's image.

    The largest terms, added (the method is not known when the file is opened): range-Doppler
    and polar format off broadside build ``(16, H, W)`` blocks of exponentials, polar format two
    ``(P, F, 8)`` Lanczos tables, the NUFFT of FISTA / TV an oversampled grid and an
    interpolation table."""
    h, w = image
    pf, hw = pulses * freqs, h * w
    rd = _RD_BYTES * hw
    pfa = 2 * pf * 8 * (3 * 8 + _COMPLEX)
    nufft = _GRID_COPIES * 4 * hw * _COMPLEX + pf * 36 * _TAP_BYTES
    return (4 * pf * _COMPLEX + _RADAR_COPIES * hw * _COMPLEX + rd + pfa + nufft
            + frames * hw * _COMPLEX)
