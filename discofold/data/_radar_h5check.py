"""Validation of the radar HDF5 layout (private; used by :mod:`discofold.data.radar_io`).

Every failure names the file and key with what was expected and what was found.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..errors import FormatError, InputError
from ._cost import check_h5_object
from ._h5local import local_get

__all__ = ["RadarLayout", "check_layout", "check_attrs", "check_optional", "present"]


@dataclass(frozen=True)
class RadarLayout:
    """Sizes found in a radar file."""

    frames: int
    pulses: int
    freqs: int
    echo_3d: bool


def _dataset(fh: h5py.File, path: Path, key: str) -> h5py.Dataset:
    try:
        obj = local_get(fh, key, path)
    except (OSError, RuntimeError, ValueError, TypeError, KeyError) as exc:
        raise FormatError(f"{path}: key '{key}': cannot be read (corrupt file): {exc}") from exc
    if not isinstance(obj, h5py.Dataset):
        found = "a group" if obj is not None else "nothing"
        raise FormatError(f"{path}: key '{key}': expected a dataset, found {found} "
                          f"(keys present: {sorted(str(k) for k in fh.keys())})")
    check_h5_object(obj, path, key)
    return obj


def _expect(path: Path, key: str, ds: h5py.Dataset, kinds: str, shapes: list[tuple]) -> None:
    if ds.dtype.kind not in kinds:
        names = {"c": "complex", "f": "float", "b": "bool", "u": "uint", "i": "int"}
        want = "/".join(names[k] for k in kinds)
        raise FormatError(f"{path}: key '{key}': expected dtype {want}, got {ds.dtype}")
    if tuple(ds.shape) not in [tuple(s) for s in shapes]:
        raise FormatError(f"{path}: key '{key}': expected shape "
                          f"{' or '.join(str(tuple(s)) for s in shapes)}, got {ds.shape}")


def check_layout(fh: h5py.File, path: Path, key: str = "echo",
                 max_bytes: int = 2 << 30) -> RadarLayout:
    """Check ``echo``, ``angles_rad`` and ``frequencies_hz``; return the sizes.

    ``frequencies_hz`` is read whole, so its declared size is checked against ``max_bytes``
    before it is allocated."""
    echo = _dataset(fh, path, key)
    if echo.dtype.kind != "c" or echo.ndim not in (2, 3):
        raise FormatError(f"{path}: key '{key}': expected complex (frames, P, F) or (P, F), "
                          f"got {echo.dtype} {echo.shape}")
    three = echo.ndim == 3
    frames = echo.shape[0] if three else 1
    p, f = echo.shape[-2:]
    if min(frames, p, f) < 1:
        raise FormatError(f"{path}: key '{key}': empty dataset of shape {echo.shape}")
    _expect(path, "angles_rad", _dataset(fh, path, "angles_rad"), "f", [(p,), (frames, p)])
    freq = _dataset(fh, path, "frequencies_hz")
    _expect(path, "frequencies_hz", freq, "f", [(f,)])
    if f * freq.dtype.itemsize > max_bytes:
        raise FormatError(f"{path}: key 'frequencies_hz': declared shape {freq.shape} needs "
                          f"{f * freq.dtype.itemsize} bytes, more than {max_bytes}; refusing to "
                          "allocate")
    values = freq[()]
    if not (np.all(np.isfinite(values)) and np.all(values > 0)):
        raise InputError(f"{path}: key 'frequencies_hz': expected finite values > 0 Hz, got "
                         f"min {np.min(values)}")
    return RadarLayout(frames, p, f, three)


def check_attrs(fh: h5py.File, path: Path) -> dict:
    """Check and return ``extent_m`` (tuple), ``image_shape`` (tuple) and optional attrs."""
    out = {}
    for key, dtype_ok in (("extent_m", "fiu"), ("image_shape", "iu")):
        if key not in fh.attrs:
            raise FormatError(f"{path}: attr '{key}': expected 2 values, got nothing "
                              f"(attrs present: {sorted(fh.attrs.keys())})")
        value = np.asarray(fh.attrs[key])
        if value.shape != (2,) or value.dtype.kind not in dtype_ok:
            raise FormatError(f"{path}: attr '{key}': expected 2 "
                              f"{'numbers' if key == 'extent_m' else 'integers'}, got "
                              f"{value.dtype} {value.shape}")
        if not (np.all(np.isfinite(value)) and np.all(value > 0)):
            raise InputError(f"{path}: attr '{key}': expected values > 0, got {value.tolist()}")
        out[key] = tuple(float(v) for v in value) if key == "extent_m" else \
            tuple(int(v) for v in value)
    if "snr_db" in fh.attrs:
        snr = np.asarray(fh.attrs["snr_db"])
        if snr.shape != () or snr.dtype.kind not in "fiu":
            raise FormatError(f"{path}: attr 'snr_db': expected a number, got {snr!r}")
        out["snr_db"] = float(snr)
    if "scenario" in fh.attrs:
        scen = fh.attrs["scenario"]
        if isinstance(scen, str):  # h5py decodes invalid UTF-8 with surrogate escapes
            scen = scen.encode("utf-8", "surrogateescape")
        out["scenario"] = scen.decode("utf-8", "replace") if isinstance(scen, bytes) else \
            str(scen)
    return out


def present(fh: h5py.File, path: Path, key: str) -> bool:
    """Whether ``key`` names an object inside the file (see :func:`local_get`)."""
    return local_get(fh, key, path) is not None


def check_optional(fh: h5py.File, path: Path, lay: RadarLayout, image_shape) -> None:
    """Check the optional ``mask``, ``reference_image``, ``scatterers``, ``scatterer_lobes``."""
    p, f, fr = lay.pulses, lay.freqs, lay.frames
    h, w = image_shape
    if present(fh, path, "mask"):
        _expect(path, "mask", _dataset(fh, path, "mask"), "biu", [(p, f), (fr, p, f)])
    if present(fh, path, "reference_image"):
        shapes = [(fr, h, w)] + ([(h, w)] if not lay.echo_3d else [])
        _expect(path, "reference_image", _dataset(fh, path, "reference_image"), "c", shapes)
    n = None
    for key, cols in (("scatterers", 4), ("scatterer_lobes", 2)):
        if not present(fh, path, key):
            continue
        ds = _dataset(fh, path, key)
        n = ds.shape[-2] if ds.ndim in (2, 3) and n is None else n
        shapes = [(fr, n, cols)] + ([(n, cols)] if not lay.echo_3d else [])
        _expect(path, key, ds, "f", shapes)
