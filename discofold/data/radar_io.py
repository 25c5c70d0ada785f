"""Radar HDF5 files (DESIGN.md "Interchange formats: Radar") and a measured-data converter.

Layout of an input file (one target or sequence):

* ``echo`` complex64 ``(frames, P, F)`` or ``(P, F)``, zeros where not measured;
* ``angles_rad`` float64 ``(P,)`` or ``(frames, P)``; ``frequencies_hz`` float64 ``(F,)``;
* optional ``mask`` bool ``(frames, P, F)`` or ``(P, F)`` (absent: everything measured);
* attrs ``extent_m`` = ``[Lx, Ly]``, ``image_shape`` = ``[H, W]``, optional ``snr_db``,
  ``scenario``;
* optional ground truth ``reference_image`` complex64 ``(frames, H, W)`` and ``scatterers``
  float64 ``(frames, N, 4)`` = x, y, Re σ, Im σ.  Frames with fewer scatterers are padded with
  all-zero rows (zero amplitude: they add nothing to the echo); the reader drops them.
  discofold also writes ``scatterer_lobes`` float64 ``(frames, N, 2)`` (specular lobe normal
  and width, NaN = isotropic, see :mod:`discofold.data.radar_scenes`) for aspect-dependent
  scenes; other readers may ignore it.

Output files hold ``image`` complex64 ``(frames, H, W)`` with the same attrs.  Readers open
files read-only and read one frame at a time; writers are atomic and never overwrite unless
``overwrite=True``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch

from ..errors import DiscofoldError, FormatError, InputError, ShapeError
from ._atomic import atomic_write, refuse_non_finite
from ._cost import check_h5_object, check_items, check_memory, open_h5, radar_peak_bytes
from ._echo_matrix import DEFAULT_MAX_ELEMENTS, load_echo_matrix
from ._h5local import local_get
from ._radar_h5check import check_attrs, check_layout, check_optional
from .radar_scenes import RadarScene
from .radar_sim import RadarGeometry

__all__ = [
    "RadarFrame",
    "RadarH5Reader",
    "write_radar_h5",
    "write_radar_image",
    "read_radar_image",
    "load_echo_matrix",
    "measured_geometry",
    "convert_measured",
]

_MAX_FRAME_BYTES = 2 << 30
# what h5py/numpy raise on a corrupt file (converted to FormatError naming the file and key)
_READ_ERRORS = (OSError, RuntimeError, ValueError, TypeError, KeyError)
# per-frame datasets whose values must be finite (scatterer_lobes uses NaN = isotropic)
_FINITE_KEYS = ("echo", "angles_rad", "reference_image", "scatterers")


@dataclass(frozen=True, eq=False)
class RadarFrame:
    """One frame of a radar file (tensors on the CPU).

    Attributes
    ----------
    echo : complex64 ``(P, F)``; angles_rad : float64 ``(P,)``;
    frequencies_hz : float64 ``(F,)``; mask : bool ``(P, F)`` or None;
    reference_image : complex64 ``(H, W)`` or None; scatterers : float64 ``(N, 4)`` or None;
    lobes : float64 ``(N, 2)`` or None; attrs : dict (``extent_m``, ``image_shape``, …).
    """

    echo: torch.Tensor
    angles_rad: torch.Tensor
    frequencies_hz: torch.Tensor
    mask: torch.Tensor | None
    reference_image: torch.Tensor | None
    scatterers: torch.Tensor | None
    lobes: torch.Tensor | None = None
    attrs: dict = field(default_factory=dict)

    @property
    def geometry(self) -> RadarGeometry:
        """The frame's :class:`~discofold.data.radar_sim.RadarGeometry`."""
        return RadarGeometry(self.angles_rad, self.frequencies_hz, self.attrs["image_shape"],
                             self.attrs["extent_m"], str(self.attrs.get("scenario", "file")))

    @property
    def scene(self) -> RadarScene | None:
        """The ground-truth scene (with specular lobes when stored), or None."""
        if self.scatterers is None:
            return None
        if self.lobes is None or not bool(torch.isfinite(self.lobes[:, 0]).any()):
            return RadarScene(self.scatterers)
        return RadarScene(self.scatterers, self.lobes[:, 0], self.lobes[:, 1])


class RadarH5Reader:
    """Lazy, read-only reader of a radar HDF5 file; ``reader[i]`` is a :class:`RadarFrame`.

    The whole layout (keys, dtypes, shapes, attrs) is validated on opening; problems raise
    :class:`~discofold.errors.FormatError` naming the file and key, with what was expected and
    what was found (non-positive frequencies or extent raise
    :class:`~discofold.errors.InputError`).  Use as a context manager or call :meth:`close`.

    Parameters
    ----------
    path : str or os.PathLike
    max_frame_bytes : int
        Refuse frames larger than this before allocating them (default 2 GiB).
    """

    def __init__(self, path: str | os.PathLike, max_frame_bytes: int = _MAX_FRAME_BYTES):
        self.path = Path(path)
        self.max_frame_bytes = int(max_frame_bytes)
        if not self.path.is_file():
            raise FormatError(f"radar file '{self.path}' does not exist")
        try:
            self._file = open_h5(self.path)
        except OSError as exc:
            raise FormatError(f"'{self.path}' is not a readable HDF5 file ({exc})") from exc
        try:
            self._open_checks()
        except DiscofoldError:
            self._file.close()
            raise
        except _READ_ERRORS as exc:
            self._file.close()
            raise FormatError(f"{self.path}: key '/' (file structure): cannot be read (corrupt "
                              f"or truncated file): {exc}") from exc
        except BaseException:
            self._file.close()
            raise

    def _open_checks(self) -> None:
        check_h5_object(self._file, self.path, "/")
        self.layout = check_layout(self._file, self.path, "echo", self.max_frame_bytes)
        self.attrs = check_attrs(self._file, self.path)
        check_optional(self._file, self.path, self.layout, self.attrs["image_shape"])
        lay, image = self.layout, self.attrs["image_shape"]
        check_items(lay.frames, self.path, "echo", "frame")
        check_memory(radar_peak_bytes(lay.frames, lay.pulses, lay.freqs, image), self.path,
                     "echo", f"{lay.frames} frames of {lay.pulses} x {lay.freqs} samples onto "
                     f"{image[0]}x{image[1]} images")
        freq = self._read("frequencies_hz", 0, False)
        self.frequencies_hz = torch.from_numpy(freq.astype(np.float64))

    # ------------------------------------------------------------------ container protocol
    def __len__(self) -> int:
        return self.layout.frames

    def __enter__(self) -> RadarH5Reader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying HDF5 file."""
        self._file.close()

    @property
    def data_shape(self) -> tuple[int, int]:
        """``(P, F)``."""
        return (self.layout.pulses, self.layout.freqs)

    def _get(self, key: str) -> h5py.Dataset | None:
        """The dataset ``key`` (validated on opening) or ``None``, resolved inside the file."""
        return local_get(self._file, key, self.path)

    def _read(self, key: str, index: int, per_frame: bool) -> np.ndarray:
        try:
            ds = self._get(key)
            check_h5_object(ds, self.path, key)
            shape = ds.shape[1:] if per_frame else ds.shape
            nbytes = int(np.prod(shape, dtype=np.float64)) * ds.dtype.itemsize
            if nbytes > self.max_frame_bytes:
                raise FormatError(
                    f"{self.path}: key '{key}': one frame needs {nbytes} bytes, more than the "
                    f"limit max_frame_bytes={self.max_frame_bytes}"
                )
            out = np.asarray(ds[index] if per_frame else ds[()])
            bad = int((~np.isfinite(out)).sum()) if key in _FINITE_KEYS else 0
        except DiscofoldError:
            raise
        except _READ_ERRORS as exc:
            raise FormatError(f"{self.path}: key '{key}': frame {index} cannot be read (corrupt "
                              f"or truncated file): {exc}") from exc
        if bad:
            raise FormatError(f"{self.path}: key '{key}': frame {index} holds {bad} non-finite "
                              "values (NaN or Inf)")
        return out

    def __getitem__(self, index: int) -> RadarFrame:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"{self.path}: frame {index} out of range for {n} frames")
        index %= n
        lay = self.layout
        echo = self._read("echo", index, lay.echo_3d).astype(np.complex64)
        h, w = self.attrs["image_shape"]
        if h * w * 8 > self.max_frame_bytes:  # the image a reconstruction will allocate
            raise FormatError(f"{self.path}: attr 'image_shape': {h}x{w} complex64 images need "
                              f"{h * w * 8} bytes, more than max_frame_bytes="
                              f"{self.max_frame_bytes}; refusing to allocate")
        ang = self._read("angles_rad", index, self._get("angles_rad").ndim == 2)
        ang = ang.astype(np.float64)
        mask = ref = sc = lobes = None
        ds = self._get("mask")
        if ds is not None:
            raw = self._read("mask", index, ds.ndim == 3)
            if raw.dtype != np.bool_ and not np.isin(raw, (0, 1)).all():
                raise FormatError(f"{self.path}: key 'mask': expected bool or 0/1 values, "
                                  f"got values in [{raw.min()}, {raw.max()}]")
            mask = torch.from_numpy(raw.astype(bool))
        ds = self._get("reference_image")
        if ds is not None:
            ref = self._read("reference_image", index, ds.ndim == 3)
            ref = torch.from_numpy(ref.astype(np.complex64))
        ds = self._get("scatterers")
        if ds is not None:
            raw = self._read("scatterers", index, ds.ndim == 3).astype(np.float64)
            keep = (raw[:, 2] != 0) | (raw[:, 3] != 0)
            sc = torch.from_numpy(raw[keep])
            ds = self._get("scatterer_lobes")
            if ds is not None:
                lob = self._read("scatterer_lobes", index, ds.ndim == 3)
                lobes = torch.from_numpy(lob.astype(np.float64)[keep])
        return RadarFrame(torch.from_numpy(echo), torch.from_numpy(ang),
                          self.frequencies_hz.clone(), mask, ref, sc, lobes, dict(self.attrs))


# ---------------------------------------------------------------------- writing
def _np(x, dtype) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(np.asarray(x), dtype=dtype)


def _pad_rows(items, width: int, frames: int, name: str) -> np.ndarray:
    """Stack per-frame ``(N_i, width)`` arrays into ``(frames, max N, width)``, zero-padded."""
    if isinstance(items, (torch.Tensor, np.ndarray)):
        arr = _np(items, np.float64)
        arr = arr[None] if arr.ndim == 2 else arr
        items = list(arr)
    if len(items) != frames or any(np.ndim(a) != 2 or np.shape(a)[1] != width for a in items):
        raise ShapeError(f"{name} must be {frames} arrays of shape (N, {width}), got "
                         f"{[tuple(np.shape(a)) for a in items]}")
    n_max = max(np.shape(a)[0] for a in items)
    out = np.zeros((frames, n_max, width), dtype=np.float64)
    for i, a in enumerate(items):
        out[i, : np.shape(a)[0]] = _np(a, np.float64)
    return out


def _attrs(extent_m, image_shape, snr_db, scenario) -> dict:
    ext = np.asarray(extent_m, dtype=np.float64)
    shp = np.asarray(image_shape, dtype=np.int64)
    if ext.shape != (2,) or not np.all(np.isfinite(ext)) or not np.all(ext > 0):
        raise InputError(f"extent_m must be two values > 0 (metres), got {extent_m}")
    if shp.shape != (2,) or not np.all(shp > 0):
        raise InputError(f"image_shape must be two positive ints, got {image_shape}")
    attrs = {"extent_m": ext, "image_shape": shp}
    if snr_db is not None:
        attrs["snr_db"] = float(snr_db)
    if scenario is not None:
        attrs["scenario"] = str(scenario)
    return attrs


def write_radar_h5(
    path: str | os.PathLike,
    echo,
    angles_rad,
    frequencies_hz,
    *,
    extent_m,
    image_shape,
    mask=None,
    snr_db: float | None = None,
    scenario: str | None = None,
    reference_image=None,
    scatterers=None,
    scatterer_lobes=None,
    overwrite: bool = False,
) -> Path:
    """Write a radar input file atomically (temporary file in the folder, then rename).

    Parameters
    ----------
    echo : complex ``(frames, P, F)`` or ``(P, F)`` (stored complex64, zeros where unmeasured).
    angles_rad : ``(P,)`` or ``(frames, P)``; frequencies_hz : ``(F,)``, all > 0.
    extent_m : ``(Lx, Ly)`` metres; image_shape : ``(H, W)``.
    mask : bool, same shape as ``echo`` or ``(P, F)``, optional.
    reference_image : complex ``(frames, H, W)`` (or ``(H, W)`` for one frame), optional.
    scatterers : float ``(frames, N, 4)``, ``(N, 4)`` or a list of ``(N_i, 4)``, optional.
    scatterer_lobes : like ``scatterers`` with 2 columns (lobe normal, width), optional.
    overwrite : bool
        Replace an existing file (default: refuse with InputError).

    Returns
    -------
    pathlib.Path
    """
    e = _np(echo, np.complex64)
    if e.ndim not in (2, 3):
        raise ShapeError(f"echo must be (frames, P, F) or (P, F), got {e.shape}")
    frames, (p, f) = (e.shape[0] if e.ndim == 3 else 1), e.shape[-2:]
    geo = RadarGeometry(torch.zeros(1), _np(frequencies_hz, np.float64), tuple(image_shape),
                        tuple(extent_m))  # validates frequencies, extent, image shape
    a = _np(angles_rad, np.float64)
    if a.shape not in ((p,), (frames, p)) or geo.frequencies_hz.shape != (f,):
        raise ShapeError(f"angles_rad must be ({p},) or ({frames}, {p}) and frequencies_hz "
                         f"({f},), got {a.shape} and {tuple(geo.frequencies_hz.shape)}")
    data = {"echo": e, "angles_rad": a, "frequencies_hz": geo.frequencies_hz.numpy()}
    if mask is not None:
        data["mask"] = _np(mask, np.bool_)
        if data["mask"].shape not in ((p, f), e.shape):
            raise ShapeError(f"mask must be ({p}, {f}) or {e.shape}, got {data['mask'].shape}")
    h, w = geo.image_shape
    if reference_image is not None:
        ref = _np(reference_image, np.complex64)
        data["reference_image"] = ref[None] if ref.shape == (h, w) and frames == 1 else ref
        if data["reference_image"].shape != (frames, h, w):
            raise ShapeError(f"reference_image must be ({frames}, {h}, {w}), got {ref.shape}")
    if scatterers is not None:
        data["scatterers"] = _pad_rows(scatterers, 4, frames, "scatterers")
    if scatterer_lobes is not None:
        data["scatterer_lobes"] = _pad_rows(scatterer_lobes, 2, frames, "scatterer_lobes")
    attrs = _attrs(extent_m, image_shape, snr_db, scenario)
    return _write(path, data, attrs, overwrite)


def _write(path, data: dict, attrs: dict, overwrite: bool) -> Path:
    with atomic_write(path, overwrite=overwrite) as tmp, h5py.File(tmp, "w") as fh:
        for key, value in data.items():
            fh.create_dataset(key, data=value)
        for key, value in attrs.items():
            fh.attrs[key] = value
    return Path(path)


def write_radar_image(
    path: str | os.PathLike,
    image,
    *,
    extent_m,
    image_shape=None,
    snr_db: float | None = None,
    scenario: str | None = None,
    attrs: dict | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a reconstruction file: ``image`` complex64 ``(frames, H, W)`` plus the attrs.

    ``attrs`` adds further attributes (e.g. ``recon_method``, ``recon_params``: which method or
    checkpoint made the image); ``None`` values are skipped and the geometry attrs win.  A
    non-finite image is refused (:class:`~discofold.errors.InputError`) before anything is
    written."""
    with np.errstate(over="ignore"):  # a value beyond complex64 becomes Inf, refused below
        img = _np(image, np.complex64)
    img = img[None] if img.ndim == 2 else img
    if img.ndim != 3:
        raise ShapeError(f"image must be (frames, H, W) or (H, W), got {img.shape}")
    refuse_non_finite(path, "image", img)
    shape = img.shape[1:] if image_shape is None else tuple(image_shape)
    if tuple(shape) != img.shape[1:]:
        raise ShapeError(f"image_shape {tuple(shape)} does not match image {img.shape}")
    extra = {k: v for k, v in (attrs or {}).items() if v is not None}
    return _write(path, {"image": img},
                  {**extra, **_attrs(extent_m, shape, snr_db, scenario)}, overwrite)


def read_radar_image(path: str | os.PathLike) -> tuple[torch.Tensor, dict]:
    """Read a reconstruction file: complex64 ``(frames, H, W)`` and its attrs (validated)."""
    path = Path(path)
    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise FormatError(f"'{path}' is not a readable HDF5 file ({exc})") from exc
    with fh:
        ds = local_get(fh, "image", path)
        if not isinstance(ds, h5py.Dataset):
            raise FormatError(f"{path}: key 'image': expected a dataset, got none")
        if ds.dtype.kind != "c" or ds.ndim != 3:
            raise FormatError(f"{path}: key 'image': expected complex (frames, H, W), got "
                              f"{ds.dtype} {ds.shape}")
        attrs = check_attrs(fh, path)
        if tuple(ds.shape[1:]) != attrs["image_shape"]:
            raise FormatError(f"{path}: key 'image': expected (frames, "
                              f"{attrs['image_shape'][0]}, {attrs['image_shape'][1]}) from attr "
                              f"image_shape, got {ds.shape}")
        return torch.from_numpy(ds[()].astype(np.complex64)), attrs


# ---------------------------------------------------------------------- measured data
def measured_geometry(
    data_shape: tuple[int, int],
    carrier_hz: float,
    bandwidth_hz: float,
    angle_span_rad: float | None = None,
    prf_hz: float | None = None,
    rotation_rate_rad_s: float | None = None,
    image_shape: tuple[int, int] | None = None,
    extent_m: tuple[float, float] | None = None,
) -> RadarGeometry:
    """Geometry of a measured ``(P, F)`` echo.

    ``f_q = f_c + (q - F//2)·B/F``; ``θ_p = (p - P//2)·Θ/P`` with ``Θ = angle_span_rad`` or
    ``Θ = P·ω/PRF``.  Defaults: ``image_shape = (F, P)`` and the range-Doppler window
    ``extent_m = (c/(2Δf), c/(2 f_c Δθ))``, i.e. pixels of one resolution cell.
    """
    p, f = data_shape
    if p < 1 or f < 1:
        raise InputError(f"a measured echo needs at least one pulse and one frequency sample, "
                         f"got shape {tuple(data_shape)}")
    if (angle_span_rad is None) == (prf_hz is None or rotation_rate_rad_s is None):
        raise InputError("give either angle_span_rad or both prf_hz and rotation_rate_rad_s")
    span = angle_span_rad if angle_span_rad is not None else p * rotation_rate_rad_s / prf_hz
    if not (carrier_hz > 0 and bandwidth_hz > 0 and span > 0):
        raise InputError(f"carrier_hz, bandwidth_hz and the angle span must be > 0, got "
                         f"{carrier_hz}, {bandwidth_hz}, {span}")
    df, dth = bandwidth_hz / f, span / p
    freqs = carrier_hz + (np.arange(f) - f // 2) * df
    angles = (np.arange(p) - p // 2) * dth
    c = 299_792_458.0
    extent = extent_m or (c / (2 * df), c / (2 * carrier_hz * dth))
    return RadarGeometry(torch.from_numpy(angles), torch.from_numpy(freqs),
                         tuple(image_shape or (f, p)), tuple(extent), "measured")


def convert_measured(
    src: str | os.PathLike,
    out: str | os.PathLike,
    *,
    carrier_hz: float,
    bandwidth_hz: float,
    angle_span_rad: float | None = None,
    prf_hz: float | None = None,
    rotation_rate_rad_s: float | None = None,
    layout: str = "frequency_pulse",
    key: str | None = None,
    image_shape: tuple[int, int] | None = None,
    extent_m: tuple[float, float] | None = None,
    scenario: str = "measured",
    overwrite: bool = False,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> Path:
    """Convert a measured echo matrix (``.mat``/``.npy``) into a radar HDF5 file.

    Parameters
    ----------
    src, out : paths of the measured matrix and of the HDF5 file to write.
    carrier_hz, bandwidth_hz : float
        Centre frequency and bandwidth (Hz) of the F frequency samples.
    angle_span_rad : float, optional
        Total rotation over the P pulses; or give ``prf_hz`` and ``rotation_rate_rad_s``.
    layout : {"frequency_pulse", "pulse_frequency"}
        ``"frequency_pulse"``: rows are frequency samples, columns pulses (as in the Yak-42
        data); ``"pulse_frequency"``: rows are pulses.
    key : str, optional
        MATLAB variable name.
    image_shape, extent_m : optional, see :func:`measured_geometry`.
    max_elements : int
        Largest echo matrix accepted (samples), checked from the file's headers before any
        data is read or decompressed (:func:`load_echo_matrix`).

    Raises
    ------
    FormatError
        The matrix cannot be read, holds no samples or more than ``max_elements``, or holds
        NaN/Inf (naming the variable).
    InputError
        A wrong layout or geometry.
    """
    if layout not in ("frequency_pulse", "pulse_frequency"):
        raise InputError(f"layout must be 'frequency_pulse' or 'pulse_frequency', got {layout!r}")
    matrix = load_echo_matrix(src, key, max_elements=max_elements)
    echo = matrix.T if layout == "frequency_pulse" else matrix
    geo = measured_geometry(echo.shape, carrier_hz, bandwidth_hz, angle_span_rad, prf_hz,
                            rotation_rate_rad_s, image_shape, extent_m)
    return write_radar_h5(out, echo, geo.angles_rad, geo.frequencies_hz,
                          extent_m=geo.extent_m, image_shape=geo.image_shape,
                          scenario=scenario, overwrite=overwrite)
