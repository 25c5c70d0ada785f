"""The ``ismrmrd_header`` of fastMRI files: a minimal ISMRMRD XML header, written and read.

fastMRI's ``SliceDataset`` (``fastmri/data/mri_data.py``, ``_retrieve_metadata``) opens a file
only if it holds the dataset ``ismrmrd_header`` and reads from it, in the ISMRMRD namespace:

- ``encoding/encodedSpace/matrixSize`` ``x, y, z``: the k-space matrix (``x`` ↔ rows ``H``, the
  readout; ``y`` ↔ columns ``W``, the phase-encoding direction a 1-D mask selects);
- ``encoding/reconSpace/matrixSize`` ``x, y, z``: the image fastMRI's transforms crop to (and
  its test-set submissions hold), e.g. 320 × 320 for 640 × 368 knee k-space;
- ``encoding/encodingLimits/kspace_encoding_step_1`` ``center, maximum``: fastMRI computes
  ``padding_left = W // 2 - center`` and ``padding_right = padding_left + maximum + 1`` (the
  columns actually acquired).  discofold's k-space has no padded columns, so ``center = W // 2``
  and ``maximum = W - 1`` (padding ``[0, W)``).

:func:`header_xml` writes such a header (also ``fieldOfView_mm``, at 1 mm per pixel unless told,
``experimentalConditions`` and the ``slice`` limits, the elements the ISMRMRD schema requires, in
its order).  :func:`recon_size` reads the reconstruction matrix back from a user's file, leniently:
a missing, oversized or malformed header is ``None``, never an error (the header is optional
for discofold's own readers).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from ..errors import InputError

__all__ = ["NAMESPACE", "checked_recon_size", "header_xml", "recon_size", "trajectory_name"]

NAMESPACE = "http://www.ismrm.org/ISMRMRD"
_MAX_HEADER_BYTES = 1 << 20  # fastMRI's headers are ~10 kB
_H1_HZ = 63_646_310  # 1.5 T (a value the schema requires; nothing reads it)


def _xyz(tag: str, x, y, z, indent: str) -> str:
    return f"{indent}<{tag}><x>{x}</x><y>{y}</y><z>{z}</z></{tag}>"


def _limits(tag: str, maximum: int, center: int) -> str:
    return (f"      <{tag}><minimum>0</minimum><maximum>{maximum}</maximum>"
            f"<center>{center}</center></{tag}>")


def header_xml(matrix: Sequence[int], recon: Sequence[int], slices: int,
               trajectory: str = "cartesian", pixel_mm: float = 1.0) -> bytes:
    """A minimal ISMRMRD header (UTF-8 XML) for ``slices`` slices of k-space ``matrix = (H, W)``
    reconstructed on ``recon = (h, w)``.

    ``trajectory`` is an ISMRMRD trajectory name (``cartesian``, ``radial``, ``spiral``,
    ``other``); ``pixel_mm`` sets ``fieldOfView_mm = matrix × pixel_mm`` (encoded and recon
    space alike: recon is a centre crop of the same pixels).
    """
    (h, w), (rh, rw) = (int(s) for s in matrix), (int(s) for s in recon)
    fov = (f"{h * pixel_mm:g}", f"{w * pixel_mm:g}", f"{pixel_mm:g}")
    rfov = (f"{rh * pixel_mm:g}", f"{rw * pixel_mm:g}", f"{pixel_mm:g}")
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<ismrmrdHeader xmlns="{NAMESPACE}">',
        "  <experimentalConditions>",
        f"    <H1resonanceFrequency_Hz>{_H1_HZ}</H1resonanceFrequency_Hz>",
        "  </experimentalConditions>",
        "  <encoding>",
        "    <encodedSpace>", _xyz("matrixSize", h, w, 1, "      "),
        _xyz("fieldOfView_mm", *fov, "      "), "    </encodedSpace>",
        "    <reconSpace>", _xyz("matrixSize", rh, rw, 1, "      "),
        _xyz("fieldOfView_mm", *rfov, "      "), "    </reconSpace>",
        "    <encodingLimits>",
        _limits("kspace_encoding_step_1", w - 1, w // 2),
        _limits("kspace_encoding_step_2", 0, 0),
        _limits("slice", max(int(slices) - 1, 0), int(slices) // 2),
        "    </encodingLimits>",
        f"    <trajectory>{trajectory}</trajectory>",
        "  </encoding>",
        "</ismrmrdHeader>",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def recon_size(raw) -> tuple[int, int] | None:
    """``(x, y)`` of ``encoding/reconSpace/matrixSize`` in a header (bytes or str), the way
    fastMRI's ``et_query`` finds it; ``None`` if it is absent, too large or not readable."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    if not isinstance(raw, bytes) or len(raw) > _MAX_HEADER_BYTES:
        return None
    try:
        root = ET.fromstring(raw)
    except (ET.ParseError, ValueError):
        return None
    ns = {"i": NAMESPACE}
    out = []
    for axis in ("x", "y"):
        el = root.find(f".//i:encoding//i:reconSpace//i:matrixSize//i:{axis}", ns)
        try:
            out.append(int(str(el.text).strip()))
        except (AttributeError, ValueError):
            return None
    return (out[0], out[1]) if min(out) >= 1 else None


def checked_recon_size(size, target_shape, grid: tuple[int, int]) -> tuple[int, int]:
    """The ``reconSpace`` matrix to write: ``size`` (checked to be a centre crop of ``grid``),
    else the target's ``(h, w)``, else ``grid``."""
    if size is None:
        return grid if target_shape is None else tuple(int(s) for s in target_shape)
    size = tuple(int(s) for s in size)
    if len(size) != 2 or min(size) < 1 or size[0] > grid[0] or size[1] > grid[1]:
        raise InputError(f"recon_size must be (h, w) with 1 <= h <= {grid[0]} and "
                         f"1 <= w <= {grid[1]} (a centre crop of the matrix), got {size}")
    return size


def trajectory_name(pattern) -> str:
    """ISMRMRD's name of a non-Cartesian trajectory from a ``pattern`` attr."""
    for name in ("radial", "spiral"):
        if isinstance(pattern, str) and name in pattern:
            return name
    return "other"
