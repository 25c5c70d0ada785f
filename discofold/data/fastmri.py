"""fastMRI-format HDF5: lazy read-only reader and atomic writers (see DESIGN.md).

Layout
------
- ``kspace`` complex64: ``(slices, coils, H, W)`` multi-coil or ``(slices, H, W)`` single-coil;
  non-Cartesian extension ``(slices, coils, K)`` with ``trajectory`` ``(K, 2)`` float32
  (radians per pixel, NUFFT convention) and attr ``matrix = [H, W]``.
- optional ``mask`` ``(W,)`` (1-D column mask) or ``(H, W)``, bool or 0/1.
- optional ``reconstruction_rss`` (multi-coil) / ``reconstruction_esc`` (single-coil) float32
  ``(slices, h, w)``.
- attrs ``max``, ``norm``, ``acquisition``; optional ``acceleration``, ``num_low_frequencies``,
  ``pattern``, ``patient_id``.
- ``ismrmrd_header``: ISMRMRD XML (:mod:`discofold.data._ismrmrd`); fastMRI's ``SliceDataset``
  requires it, so :func:`write_mri_file` always writes one.  Read, it is optional: only its
  ``reconSpace`` matrix is used, as the size of the output of a file without a target.
- output files: ``reconstruction`` float32 ``(slices, h, w)``.

Files are always opened with ``h5py.File(path, "r")`` and read one slice at a time.  Every
problem with a file raises :class:`~discofold.errors.FormatError` naming the file and the key.

(One module per format: the reader, the writers and the image-space resize they share; about
600 lines, kept together so the format is defined in one place; the ISMRMRD header is in
:mod:`discofold.data._ismrmrd`.)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import torch

from ..errors import DiscofoldError, FormatError, InputError, ShapeError
from ..operators import fftc, ifftc
from ._atomic import atomic_write, refuse_non_finite
from ._cost import check_h5_object, check_items, check_memory, mri_peak_bytes, open_h5
from ._h5local import local_get
from ._ismrmrd import checked_recon_size, header_xml, trajectory_name
from ._ismrmrd import recon_size as header_recon_size

__all__ = [
    "MRISlice",
    "FastMRIFile",
    "read_mri_slice",
    "write_mri_file",
    "write_reconstruction",
    "read_reconstruction",
    "center_crop_or_pad",
    "resize_kspace",
    "DEFAULT_MAX_BYTES",
]

DEFAULT_MAX_BYTES = 2 * 2**30  # largest single read (one slice, mask, trajectory, ...)
_TARGET_KEYS = ("reconstruction_rss", "reconstruction_esc")
# what h5py/numpy raise on a corrupt file (converted to FormatError naming the file and key)
_READ_ERRORS = (OSError, RuntimeError, ValueError, TypeError, KeyError)


@dataclasses.dataclass
class MRISlice:
    """One slice read from a fastMRI-format file.

    Attributes
    ----------
    kspace : Tensor complex64
        ``(C, H, W)`` multi-coil, ``(H, W)`` single-coil, ``(C, K)`` non-Cartesian.
    mask : Tensor bool or None
        ``(W,)`` or ``(H, W)``; ``None`` when the file has no mask (fully sampled).
    trajectory : Tensor float32 ``(K, 2)`` or None
    target : Tensor float32 ``(h, w)`` or None
    matrix : (H, W)
    attrs : dict
    file : str
    slice_index : int
    recon_size : (h, w) or None
        The file's ``ismrmrd_header`` reconstruction matrix (fastMRI's ``recon_size``) when it
        is no larger than ``matrix``; ``None`` otherwise.
    """

    kspace: torch.Tensor
    mask: torch.Tensor | None
    trajectory: torch.Tensor | None
    target: torch.Tensor | None
    matrix: tuple[int, int]
    attrs: dict
    file: str
    slice_index: int
    recon_size: tuple[int, int] | None = None

    @property
    def output_shape(self) -> tuple[int, int] | None:
        """``(h, w)`` a reconstruction of this slice is centre-cropped to: the target's shape,
        else ``recon_size`` (fastMRI's test layout: 640 × 368 k-space, 320 × 320 images), else
        ``None`` (the full matrix)."""
        if self.target is not None:
            return tuple(self.target.shape[-2:])
        return self.recon_size

    @property
    def multicoil(self) -> bool:
        """True when ``kspace`` has a coil axis."""
        return self.kspace.ndim == 3 or (self.trajectory is not None and self.kspace.shape[0] > 1)


# ----------------------------------------------------------------------------- crop / pad


def center_crop_or_pad(x: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Centre-crop or zero-pad the last two axes to ``shape``.

    Index ``i`` of an axis of length ``N`` goes to ``i - N//2 + n//2`` in the output of length
    ``n``: the centre pixel ``N//2`` (the FFT origin) stays at the centre ``n//2``.
    """
    if len(shape) != 2:
        raise ShapeError(f"target matrix must be (h, w), got {tuple(shape)}")
    out = x
    for dim, n in zip((-2, -1), shape):
        out = _crop_or_pad_axis(out, int(n), dim)
    return out


def _crop_or_pad_axis(x: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    big = x.shape[dim]
    if n < 1:
        raise ShapeError(f"target size must be >= 1, got {n}")
    if n == big:
        return x
    if n < big:
        return x.narrow(dim, big // 2 - n // 2, n)
    shape = list(x.shape)
    shape[dim] = n
    out = x.new_zeros(shape)
    out.narrow(dim, n // 2 - big // 2, big).copy_(x)
    return out


def resize_kspace(
    kspace: torch.Tensor, matrix: Sequence[int], mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Crop or pad Cartesian k-space ``(..., H, W)`` to ``matrix`` **in image space**.

    Only the axes whose size changes are transformed (1-D centred FFTs), so a 1-D column mask
    ``(W,)`` survives a change of ``H`` exactly.  An undersampled axis cannot be resized (the
    measured samples would spread to unmeasured ones): that raises :class:`InputError`.

    Returns
    -------
    (Tensor, Tensor or None)
        Resized k-space and the mask resized to match (``None`` stays ``None``).
    """
    if len(matrix) != 2:
        raise ShapeError(f"matrix must be (H, W), got {tuple(matrix)}")
    h, w = (int(s) for s in matrix)
    old = tuple(kspace.shape[-2:])
    for dim, n in zip((-2, -1), (h, w)):
        if kspace.shape[dim] == n:
            continue
        if mask is not None and not bool(mask.all()) and (mask.ndim == 2 or dim == -1):
            axis = "H" if dim == -2 else "W"
            raise InputError(
                f"cannot resize undersampled k-space along {axis} from {old} to {(h, w)}: the "
                "mask is not full on that axis (resize fully sampled data, then undersample)"
            )
        img = ifftc(kspace, dim=dim)
        kspace = fftc(_crop_or_pad_axis(img, n, dim), dim=dim)
    if mask is not None and not bool(mask.all()):
        return kspace, mask
    if mask is not None:
        mask = torch.ones((w,) if mask.ndim == 1 else (h, w), dtype=torch.bool)
    return kspace, mask


# ----------------------------------------------------------------------------- reader


def _fail(path, key, what) -> FormatError:
    return FormatError(f"file '{path}', key '{key}': {what}")


def _text(v):
    """Valid UTF-8 text from bytes or from a str that h5py decoded with surrogate escapes."""
    if isinstance(v, str):
        v = v.encode("utf-8", "surrogateescape")
    return v.decode("utf-8", "replace")


def _attrs_to_python(attrs) -> dict:
    out = {}
    for k, v in attrs.items():
        if isinstance(v, (bytes, str)):
            v = _text(v)
        elif isinstance(v, np.ndarray):
            v = v.tolist()
            if isinstance(v, list) and all(isinstance(e, (bytes, str)) for e in v):
                v = [_text(e) for e in v]
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out


class FastMRIFile:
    """A fastMRI-format file opened read-only; slices are read lazily with :meth:`read_slice`.

    Parameters
    ----------
    path : str or os.PathLike
    max_bytes : int
        Refuse to read any single dataset piece (one slice, the mask, the trajectory) larger than
        this, before allocating memory.

    Use as a context manager or call :meth:`close`.  The layout is validated on opening
    (keys, dtypes, shapes, attrs); errors are :class:`FormatError` naming the file and the key.
    """

    def __init__(self, path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES):
        self.path = str(path)
        self.max_bytes = int(max_bytes)
        if not Path(path).is_file():
            raise FormatError(f"file '{self.path}' does not exist or is not a file")
        try:
            self._f = open_h5(self.path)
        except OSError as exc:
            raise FormatError(
                f"file '{self.path}' is not a readable HDF5 file (corrupt, truncated or another "
                f"format): {exc}"
            ) from exc
        self._key = "/"
        try:
            self._validate()
        except DiscofoldError:
            self._f.close()
            raise
        except _READ_ERRORS as exc:
            self._f.close()
            raise _fail(self.path, self._key, f"cannot be read (corrupt or truncated file): "
                        f"{exc}") from exc
        except BaseException:
            self._f.close()
            raise

    # -- validation ---------------------------------------------------------------------------
    def _dataset(self, key: str, required: bool = True):
        self._key = key
        try:
            obj = local_get(self._f, key, self.path)
        except _READ_ERRORS as exc:
            raise _fail(self.path, key, f"cannot be read ({exc})") from exc
        if obj is None:
            if required:
                raise _fail(self.path, key, "missing (required dataset)")
            return None
        if not isinstance(obj, h5py.Dataset):
            raise _fail(self.path, key, f"expected a dataset, got {type(obj).__name__}")
        check_h5_object(obj, self.path, key)
        return obj

    def _check_bytes(self, key: str, shape, itemsize: int) -> None:
        n = int(np.prod(shape, dtype=np.float64)) * itemsize
        if n > self.max_bytes:
            raise _fail(self.path, key, f"declared size {tuple(shape)} needs {n} bytes, above the "
                        f"limit max_bytes={self.max_bytes}; refusing to allocate")

    def _validate(self) -> None:
        check_h5_object(self._f, self.path, "/")
        ks = self._dataset("kspace")
        if ks.dtype.kind != "c":
            raise _fail(self.path, "kspace", f"expected dtype complex64, got {ks.dtype}")
        self.kspace_shape = tuple(int(s) for s in ks.shape)
        traj = self._dataset("trajectory", required=False)
        self.noncartesian = traj is not None
        if self.noncartesian:
            self._validate_noncartesian(ks, traj)
        elif ks.ndim not in (3, 4):
            raise _fail(self.path, "kspace", "expected shape (slices, coils, H, W) or "
                        f"(slices, H, W), got {self.kspace_shape}")
        else:
            self.matrix = self.kspace_shape[-2:]
            self.trajectory = None
        if self.kspace_shape[0] < 1 or min(self.kspace_shape) < 1:
            raise _fail(self.path, "kspace", f"empty shape {self.kspace_shape}")
        self.multicoil = ks.ndim == 4 or (self.noncartesian and self.kspace_shape[1] > 1)
        self.num_coils = self.kspace_shape[1] if ks.ndim == 4 or self.noncartesian else 1
        self.mask = self._read_mask()
        self.target_key = self._validate_target()
        self.recon_size = self._read_recon_size()
        self._key = "attrs"
        self.attrs = _attrs_to_python(self._f.attrs)
        self._check_cost()

    def _check_cost(self) -> None:
        """Refuse, before any slice is read, a file with more slices, or whose reconstruction
        would need more memory, than the limits ``slices`` and ``memory`` (:mod:`._cost`)."""
        check_items(len(self), self.path, "kspace", "slice")
        out = self.target_shape or self.recon_size or self.matrix
        h, w = self.matrix
        samples = self.kspace_shape[-1] if self.noncartesian else None
        grid = (2 * h + 6, 2 * w + 6) if self.noncartesian else None
        need = mri_peak_bytes(len(self), self.num_coils, self.matrix, samples, grid, out)
        check_memory(need, self.path, "kspace",
                     f"{len(self)} slices of {self.num_coils} coil(s) on a {h}x{w} matrix"
                     + (f", {samples} samples per coil" if samples else ""))

    def _validate_noncartesian(self, ks, traj) -> None:
        if ks.ndim != 3:
            raise _fail(self.path, "kspace", "non-Cartesian kspace (a 'trajectory' is present) "
                        f"must be (slices, coils, K), got {tuple(ks.shape)}")
        k = ks.shape[2]
        if tuple(traj.shape) != (k, 2) or traj.dtype.kind != "f":
            raise _fail(self.path, "trajectory", f"expected float32 ({k}, 2), got "
                        f"{traj.dtype} {tuple(traj.shape)}")
        self._check_bytes("trajectory", traj.shape, traj.dtype.itemsize)
        t = np.asarray(traj[()], dtype=np.float32)
        if not np.isfinite(t).all() or np.abs(t).max(initial=0) > np.pi + 1e-5:
            raise _fail(self.path, "trajectory", "values must be finite radians in [-pi, pi)")
        self.trajectory = torch.from_numpy(t)
        self._key = "matrix"
        m = self._f.attrs.get("matrix")
        m = None if m is None else np.asarray(m).ravel()
        if (m is None or m.size != 2 or not np.issubdtype(m.dtype, np.number)
                or np.iscomplexobj(m) or not np.isfinite(m).all() or (m < 1).any()):
            raise _fail(self.path, "matrix", f"attr 'matrix' must be [H, W] (>= 1), got {m}")
        self._check_bytes("matrix", m, 8)  # the complex64 image an operator will allocate
        self.matrix = (int(m[0]), int(m[1]))

    def _read_mask(self):
        ds = self._dataset("mask", required=False)
        if ds is None:
            return None
        if self.noncartesian:
            raise _fail(self.path, "mask", "a mask is not allowed with a non-Cartesian trajectory")
        h, w = self.matrix
        if tuple(ds.shape) not in ((w,), (h, w)):
            raise _fail(self.path, "mask", f"expected shape ({w},) or ({h}, {w}), got "
                        f"{tuple(ds.shape)}")
        if ds.dtype.kind not in "biuf":
            raise _fail(self.path, "mask", f"expected bool or 0/1, got dtype {ds.dtype}")
        self._check_bytes("mask", ds.shape, ds.dtype.itemsize)
        m = np.asarray(ds[()])
        if not np.isin(m, (0, 1)).all():
            raise _fail(self.path, "mask", "values must be 0/1 (or bool)")
        return torch.from_numpy(m.astype(bool))

    def _read_recon_size(self) -> tuple[int, int] | None:
        """The header's reconstruction matrix if it is a crop of ``matrix``, else ``None``
        (a missing or unreadable header is not an error)."""
        try:
            ds = local_get(self._f, "ismrmrd_header", self.path)
            if (not isinstance(ds, h5py.Dataset) or ds.shape != () or ds.dtype.kind not in "SO"
                    or ds.dtype.itemsize > 1 << 20):  # a variable-length one is in the file
                return None
            size = header_recon_size(ds[()])
        except (DiscofoldError, *_READ_ERRORS):  # e.g. an external link: ignored, not followed
            return None
        if size is None or size[0] > self.matrix[0] or size[1] > self.matrix[1]:
            return None
        return size

    def _validate_target(self):
        present = [k for k in _TARGET_KEYS if local_get(self._f, k, self.path) is not None]
        self.target_shape = None  # (h, w) of the target, when the file has one
        if not present:
            return None
        preferred = "reconstruction_rss" if self.multicoil else "reconstruction_esc"
        key = preferred if preferred in present else present[0]
        ds = self._dataset(key)
        if ds.ndim != 3 or ds.shape[0] != self.kspace_shape[0] or ds.dtype.kind != "f":
            raise _fail(self.path, key, f"expected float32 ({self.kspace_shape[0]}, h, w), got "
                        f"{ds.dtype} {tuple(ds.shape)}")
        self.target_shape = (int(ds.shape[1]), int(ds.shape[2]))
        return key

    # -- reading ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.kspace_shape[0]

    def _read(self, key: str, index: int) -> np.ndarray:
        try:
            ds = self._dataset(key)
            self._check_bytes(key, ds.shape[1:], ds.dtype.itemsize)
            out = np.asarray(ds[index])
            finite = np.isfinite(out)
        except DiscofoldError:
            raise
        except _READ_ERRORS as exc:
            raise _fail(self.path, key, f"slice {index} cannot be read (corrupt or truncated "
                        f"file): {exc}") from exc
        if not finite.all():
            raise _fail(self.path, key, f"slice {index} holds {int((~finite).sum())} non-finite "
                        "values (NaN or Inf)")
        return out

    def read_slice(self, index: int, matrix: Sequence[int] | None = None) -> MRISlice:
        """Read slice ``index``; optionally crop/pad the k-space to ``matrix`` in image space.

        For non-Cartesian files a new ``matrix`` only changes the reconstruction grid (the
        trajectory is in radians per pixel around the centre, so it is unchanged).
        """
        n = len(self)
        if not -n <= int(index) < n:
            raise InputError(f"slice index {index} out of range for '{self.path}' ({n} slices)")
        index = int(index) % n
        kspace = torch.from_numpy(self._read("kspace", index).astype(np.complex64, copy=False))
        mask = None if self.mask is None else self.mask.clone()
        mat = tuple(self.matrix)
        if matrix is not None and tuple(matrix) != mat:
            if not self.noncartesian:
                try:
                    kspace, mask = resize_kspace(kspace, matrix, mask)
                except InputError as exc:
                    raise InputError(f"file '{self.path}': {exc}") from exc
            mat = (int(matrix[0]), int(matrix[1]))
        target = None
        if self.target_key is not None:
            target = torch.from_numpy(self._read(self.target_key, index).astype(np.float32))
        traj = None if self.trajectory is None else self.trajectory.clone()
        recon = self.recon_size if mat == tuple(self.matrix) else None
        return MRISlice(kspace, mask, traj, target, mat, dict(self.attrs), self.path, index,
                        recon)

    def close(self) -> None:
        """Close the underlying HDF5 file."""
        self._f.close()

    def __enter__(self) -> FastMRIFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_mri_slice(
    path: str | os.PathLike, index: int, matrix: Sequence[int] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> MRISlice:
    """Open ``path`` read-only, read one slice (see :meth:`FastMRIFile.read_slice`), close."""
    with FastMRIFile(path, max_bytes=max_bytes) as f:
        return f.read_slice(index, matrix)


# ----------------------------------------------------------------------------- writers


def _np(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if not isinstance(x, np.ndarray):
        raise InputError(f"{name} must be a torch.Tensor or numpy array, got {type(x).__name__}")
    return x


def _check_kspace(kspace, trajectory) -> tuple[np.ndarray, np.ndarray | None]:
    k = _np(kspace, "kspace")
    if not np.iscomplexobj(k):
        raise InputError(f"kspace must be complex (complex64), got dtype {k.dtype}")
    if trajectory is None:
        if k.ndim not in (3, 4):
            raise ShapeError(f"kspace must be (slices, coils, H, W) or (slices, H, W), got "
                             f"{k.shape}")
        return k.astype(np.complex64), None
    t = _np(trajectory, "trajectory")
    if k.ndim != 3 or t.shape != (k.shape[2], 2):
        raise ShapeError(f"non-Cartesian kspace must be (slices, coils, K) with trajectory "
                         f"(K, 2); got kspace {k.shape}, trajectory {t.shape}")
    if np.iscomplexobj(t) or not np.isfinite(t).all() or np.abs(t).max() > np.pi + 1e-5:
        raise InputError("trajectory must be real, finite, in radians per pixel within [-pi, pi)")
    return k.astype(np.complex64), t.astype(np.float32)


def _check_mask(mask, matrix) -> np.ndarray:
    m = _np(mask, "mask")
    h, w = matrix
    if m.shape not in ((w,), (h, w)):
        raise ShapeError(f"mask must have shape ({w},) or ({h}, {w}), got {m.shape}")
    if np.iscomplexobj(m) or not np.isin(m, (0, 1)).all():
        raise InputError("mask must hold bool or 0/1 values")
    return m.astype(bool)


def _check_target(target, slices: int) -> np.ndarray:
    t = _np(target, "target")
    if np.iscomplexobj(t) or t.ndim != 3 or t.shape[0] != slices:
        raise ShapeError(f"target must be real (slices={slices}, h, w), got {t.dtype} {t.shape}")
    return t.astype(np.float32)


def _write_attrs(f: h5py.File, attrs: dict) -> None:
    for key, value in attrs.items():
        if value is None:
            continue
        f.attrs[key] = value


def write_mri_file(
    path: str | os.PathLike,
    kspace,
    *,
    mask=None,
    trajectory=None,
    matrix: Sequence[int] | None = None,
    target=None,
    attrs: dict | None = None,
    overwrite: bool = False,
    recon_size: Sequence[int] | None = None,
) -> Path:
    """Write a fastMRI-format file atomically (temporary file, then rename).

    The file also gets the ``ismrmrd_header`` fastMRI's ``SliceDataset`` needs (matrix, recon
    matrix, encoding limits; :mod:`discofold.data._ismrmrd`) and a ``patient_id`` attr (default:
    the file's stem).  fastMRI's own splits never mix undersampled k-space and a target: a train
    / val file has full k-space and the target, a test file masked k-space, ``mask`` and no
    target.  This writer allows both together (discofold's combined layout), see
    ``docs/formats.md``.

    Parameters
    ----------
    path : str or os.PathLike
        Output file; an existing file is refused unless ``overwrite=True``.
    kspace : Tensor or ndarray, complex
        ``(slices, coils, H, W)``, ``(slices, H, W)`` or, with ``trajectory``,
        ``(slices, coils, K)``.  Stored as complex64.
    mask : bool or 0/1 ``(W,)`` or ``(H, W)``, optional (Cartesian only)
    trajectory : float ``(K, 2)``, optional
        Radians per pixel (NUFFT convention); requires ``matrix``.
    matrix : (H, W), optional
        Reconstruction matrix of a non-Cartesian file (attr ``matrix``).
    target : real ``(slices, h, w)``, optional
        Stored as ``reconstruction_rss`` (multi-coil) or ``reconstruction_esc`` (single-coil).
    attrs : dict, optional
        ``acquisition``, ``acceleration``, ``num_low_frequencies``, ``pattern``, ...; ``max`` and
        ``norm`` (volume max and L2 norm of the target) are filled in from ``target``.
    recon_size : (h, w), optional
        The header's ``reconSpace`` matrix (the size fastMRI and ``discofold recon`` crop a
        file without a target to); default: the target's ``(h, w)``, else the k-space matrix.
    """
    k, t = _check_kspace(kspace, trajectory)
    attrs = dict(attrs or {})
    attrs.setdefault("acquisition", "unknown")
    if t is not None:
        if matrix is None or len(matrix) != 2 or min(int(s) for s in matrix) < 1:
            raise InputError(f"a non-Cartesian file needs matrix=(H, W), got {matrix}")
        if mask is not None:
            raise InputError("mask is for Cartesian files; a trajectory lists measured points")
        attrs["matrix"] = np.asarray([int(s) for s in matrix], dtype=np.int64)
    m = None if mask is None else _check_mask(mask, k.shape[-2:])
    tgt = None if target is None else _check_target(target, k.shape[0])
    multicoil = k.ndim == 4 or (t is not None and k.shape[1] > 1)
    if tgt is not None:
        attrs.setdefault("max", float(tgt.max()))
        attrs.setdefault("norm", float(np.linalg.norm(tgt.astype(np.float64))))
    attrs.setdefault("patient_id", Path(path).stem)
    grid = tuple(int(s) for s in (k.shape[-2:] if t is None else matrix))
    recon = checked_recon_size(recon_size, None if tgt is None else tgt.shape[-2:], grid)
    header = header_xml(grid, recon, k.shape[0],
                        "cartesian" if t is None else trajectory_name(attrs.get("pattern")))
    with atomic_write(path, overwrite) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("kspace", data=k)
            f.create_dataset("ismrmrd_header", data=np.bytes_(header))
            if t is not None:
                f.create_dataset("trajectory", data=t)
            if m is not None:
                f.create_dataset("mask", data=m)
            if tgt is not None:
                key = "reconstruction_rss" if multicoil else "reconstruction_esc"
                f.create_dataset(key, data=tgt)
            _write_attrs(f, attrs)
    return Path(path)


def write_reconstruction(
    path: str | os.PathLike, reconstruction, attrs: dict | None = None, overwrite: bool = False
) -> Path:
    """Write an output file: dataset ``reconstruction`` float32 ``(slices, h, w)`` (magnitude).

    Non-finite values (also those that overflow float32) are refused with
    :class:`~discofold.errors.InputError` before anything is written."""
    r = _np(reconstruction, "reconstruction")
    if np.iscomplexobj(r) or r.ndim != 3:
        raise InputError(f"reconstruction must be real (slices, h, w) magnitude, got {r.dtype} "
                         f"{r.shape}; take abs() of complex images first")
    with np.errstate(over="ignore"):  # a value beyond float32 becomes Inf, refused next
        r = r.astype(np.float32)
    refuse_non_finite(path, "reconstruction", r)
    with atomic_write(path, overwrite) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("reconstruction", data=r)
            _write_attrs(f, dict(attrs or {}))
    return Path(path)


def read_reconstruction(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES):
    """Read an output file: ``(reconstruction float32 (slices, h, w), attrs dict)``."""
    if not Path(path).is_file():
        raise FormatError(f"file '{path}' does not exist or is not a file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise FormatError(f"file '{path}' is not a readable HDF5 file: {exc}") from exc
    with f:
        ds = local_get(f, "reconstruction", path)
        if not isinstance(ds, h5py.Dataset):
            raise _fail(path, "reconstruction", "missing (required dataset)")
        if ds.ndim != 3 or ds.dtype.kind != "f":
            raise _fail(path, "reconstruction", f"expected float32 (slices, h, w), got "
                        f"{ds.dtype} {tuple(ds.shape)}")
        n = int(np.prod(ds.shape, dtype=np.float64)) * ds.dtype.itemsize
        if n > max_bytes:
            raise _fail(path, "reconstruction", f"needs {n} bytes > max_bytes={max_bytes}")
        try:
            data = np.asarray(ds[()], dtype=np.float32)
        except (OSError, RuntimeError) as exc:
            raise _fail(path, "reconstruction", f"cannot be read: {exc}") from exc
        return torch.from_numpy(data), _attrs_to_python(f.attrs)
