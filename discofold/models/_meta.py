"""Acquisition facts a model receives next to ``(y, op)``: :class:`AcquisitionMeta`.

Models accept ``meta`` as an :class:`AcquisitionMeta`, a plain ``dict`` with the same keys, or
``None`` (everything is then derived from the operator).  What the operator already knows (the
mask, hence the true acceleration and the fully sampled centre) is cross-checked against
``meta``, and a disagreement raises :class:`~discofold.errors.InputError` naming both sides.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import torch

from ..errors import InputError, ShapeError

__all__ = ["AcquisitionMeta", "as_meta", "MRI_CONDITION_SIZE"]

#: length of :meth:`AcquisitionMeta.condition` for MRI models
MRI_CONDITION_SIZE = 3
_LOG_R_MAX = math.log(32.0)


def _as_slices(cal) -> tuple[slice, ...] | None:
    """Calibration box as a tuple of slices (accepts slices or ``(start, stop)`` pairs)."""
    if cal is None:
        return None
    if isinstance(cal, slice):
        cal = (cal,)
    out = []
    for s in cal:
        if isinstance(s, slice):
            out.append(slice(s.start, s.stop))
        elif isinstance(s, Sequence) and len(s) == 2:
            out.append(slice(int(s[0]), int(s[1])))
        else:
            raise InputError(f"meta.calibration entries must be slices or (start, stop) pairs, "
                             f"got {s!r}")
    if len(out) not in (1, 2):
        raise ShapeError(f"meta.calibration must have 1 (columns) or 2 (rows, columns) entries, "
                         f"got {len(out)}")
    return tuple(out)


@dataclass(frozen=True, eq=False)
class AcquisitionMeta:
    """Acquisition facts of one batch.

    Attributes
    ----------
    pattern : str
        Sampling pattern name (e.g. ``"equispaced"``, ``"poisson_2d"``, ``"radial"``).
    acceleration : float or Tensor (B,), optional
        The TRUE acceleration (grid size / measured samples), shared or per sample.
    calibration : tuple of slice, optional
        The fully sampled centre box: ``(columns,)`` for 1-D masks (all rows), ``(rows, columns)``
        for 2-D masks.  ``None``: derived from the mask (largest fully sampled centred box).
    num_low_frequencies : int, optional
        Width of the calibration region in columns (fastMRI's name); used when ``calibration``
        is ``None`` for 1-D masks and for non-Cartesian trajectories.
    pixel_size : float or (float, float), optional
        Pixel size in metres (radar) or millimetres (MRI); informative for MRI models.
    snr_db : float, optional
        Signal-to-noise ratio of the measurements in dB.
    """

    pattern: str = "unknown"
    acceleration: float | torch.Tensor | None = None
    calibration: tuple[slice, ...] | None = None
    num_low_frequencies: int | None = None
    pixel_size: float | tuple[float, float] | None = None
    snr_db: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "calibration", _as_slices(self.calibration))
        acc = self.acceleration
        if acc is not None:
            t = torch.as_tensor(acc, dtype=torch.float64)
            if t.ndim > 1 or not bool(torch.isfinite(t).all()) or bool((t < 1).any()):
                raise InputError(f"meta.acceleration must be a finite scalar or (B,) tensor >= 1,"
                                 f" got {acc!r}")
        n = self.num_low_frequencies
        if n is not None and int(n) < 1:
            raise InputError(f"meta.num_low_frequencies must be >= 1, got {n}")

    @classmethod
    def from_pattern(cls, pattern, **extra) -> AcquisitionMeta:
        """Meta of a :class:`discofold.sampling.SamplingPattern` (true acceleration, ACS box).

        With a batched pattern the acceleration is per sample.
        """
        acc = pattern.per_sample_acceleration() if pattern.mask.ndim > len(
            pattern.calibration) else float(pattern.acceleration)
        cal = pattern.calibration
        if cal and all(s.stop is not None and s.stop <= (s.start or 0) for s in cal):
            cal = None  # no calibration box (radar apertures)
        return cls(pattern=pattern.name, acceleration=acc, calibration=cal,
                   num_low_frequencies=int(pattern.num_low_frequencies) or None, **extra)

    def acceleration_tensor(self, batch: int, device=None) -> torch.Tensor | None:
        """``(B,)`` float32 accelerations (``None`` when unknown)."""
        if self.acceleration is None:
            return None
        t = torch.as_tensor(self.acceleration, dtype=torch.float32, device=device).reshape(-1)
        if t.numel() not in (1, batch):
            raise ShapeError(f"meta.acceleration has {t.numel()} values but the batch has "
                             f"{batch} samples")
        return t.expand(batch)

    def condition(self, acceleration: torch.Tensor, two_d: bool | torch.Tensor) -> torch.Tensor:
        """The MRI condition vector ``(B, 3)``: ``[1/R, ln R / ln 32, is_2d_pattern]``.

        ``acceleration`` ``(B,)`` is the true acceleration (from the operator when ``meta``
        gives none); ``two_d`` says whether the pattern is 2-D (2-D masks, trajectories).
        """
        r = acceleration.to(torch.float32)
        flag = torch.as_tensor(two_d, dtype=torch.float32, device=r.device).expand_as(r)
        return torch.stack([1.0 / r, torch.log(r) / _LOG_R_MAX, flag], dim=1)


def as_meta(meta) -> AcquisitionMeta:
    """Coerce ``None``, a ``dict`` or an :class:`AcquisitionMeta` to :class:`AcquisitionMeta`."""
    if meta is None:
        return AcquisitionMeta()
    if isinstance(meta, AcquisitionMeta):
        return meta
    if isinstance(meta, Mapping):
        known = {f.name for f in fields(AcquisitionMeta)}
        extra = sorted(set(meta) - known)
        if extra:
            raise InputError(f"meta has unknown keys {extra}; accepted: {sorted(known)}")
        return AcquisitionMeta(**dict(meta))
    raise InputError(f"meta must be an AcquisitionMeta, a dict or None, got {type(meta).__name__}")
