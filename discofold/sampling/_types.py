"""Result type and shared helpers of :mod:`discofold.sampling`.

Conventions used by every pattern generator
-------------------------------------------
- Randomness comes only from the ``generator`` argument: a :class:`torch.Generator`, an ``int``
  seed (a fresh CPU generator is seeded with it) or ``None`` (a fresh generator with a
  non-deterministic seed).  The global torch / numpy RNG state is never read or written.
- Sample budgets are ``round(total / acceleration)`` with Python's ``round`` (half to even).
- A centred region of ``n`` samples on an axis of length ``N`` starts at ``(N - n + 1) // 2``,
  which is fastMRI's convention and always contains the DC index ``N // 2``.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import torch

from ..errors import InputError

__all__ = ["SamplingPattern", "seed_from", "default_center_fraction"]

GeneratorLike = torch.Generator | int | None

#: fastMRI's centre fractions per acceleration (fraction of the W columns fully sampled).
CENTER_FRACTIONS: dict[int, float] = {2: 0.16, 4: 0.08, 6: 0.06, 8: 0.04, 16: 0.02, 32: 0.01}


@dataclass(frozen=True, eq=False)
class SamplingPattern:
    """A sampling mask plus the facts a reconstruction needs about it.

    Attributes
    ----------
    mask : torch.Tensor
        bool, ``pattern_shape`` or ``(B, *pattern_shape)`` when drawn with ``batch=B``.
        ``pattern_shape`` is ``(W,)`` for 1-D column masks, ``(H, W)`` for 2-D MRI masks and
        ``(P, F)`` for radar apertures.  True = measured.
    name : str
        Registered pattern name, e.g. ``"poisson_2d"``.
    acceleration : float
        The TRUE achieved acceleration, ``mask.numel() / mask.sum()`` (over the whole batch).
    nominal_acceleration : float
        The acceleration that was asked for.
    calibration : tuple of slice
        One slice per pattern axis delimiting the fully sampled calibration (ACS) box; empty
        slices (``slice(0, 0)``) when the pattern has none (radar apertures).
    num_low_frequencies : int
        Width (along the last axis) of the calibration box; fastMRI's ``num_low_frequencies``.
    meta : dict
        Pattern-specific facts (centre fraction, radius scale, number of spokes, ...).
    """

    mask: torch.Tensor
    name: str
    acceleration: float
    nominal_acceleration: float
    calibration: tuple[slice, ...]
    num_low_frequencies: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def pattern_shape(self) -> tuple[int, ...]:
        """Shape of one mask (without the batch axis)."""
        return tuple(self.mask.shape[self.mask.ndim - len(self.calibration):])

    @property
    def sampling_ratio(self) -> float:
        """Measured fraction of the grid, ``1 / acceleration``."""
        return 1.0 / self.acceleration

    @property
    def num_samples(self) -> int:
        """Number of measured samples (over the whole batch)."""
        return int(self.mask.sum())

    @property
    def calibration_mask(self) -> torch.Tensor:
        """bool tensor of ``pattern_shape``, True inside the calibration box."""
        out = torch.zeros(self.pattern_shape, dtype=torch.bool)
        out[self.calibration] = True
        return out

    def per_sample_acceleration(self) -> torch.Tensor:
        """float64 tensor ``(B,)`` (or scalar without batch) of each mask's true acceleration."""
        dims = tuple(range(self.mask.ndim - len(self.calibration), self.mask.ndim))
        n = math.prod(self.pattern_shape)
        return n / self.mask.sum(dim=dims).to(torch.float64)


def seed_from(file_name: str | PurePath, slice_index: int) -> int:
    """Stable seed for evaluation masks drawn for ``(file, slice)``, as fastMRI does.

    Only the file's base name is used, so moving the data keeps the masks.  The value is
    ``zlib.crc32(f"{name}:{slice_index}")``, identical across runs, machines and processes
    (unlike Python's salted ``hash``).
    """
    name = PurePath(str(file_name)).name
    return zlib.crc32(f"{name}:{int(slice_index)}".encode())


def default_center_fraction(acceleration: float) -> float:
    """fastMRI centre fraction for ``acceleration``; ``0.32 / R`` for values not in the table."""
    r = float(acceleration)
    if r.is_integer() and int(r) in CENTER_FRACTIONS:
        return CENTER_FRACTIONS[int(r)]
    return 0.32 / r


def as_generator(generator: GeneratorLike) -> torch.Generator:
    """Return a CPU generator: the one given, one seeded with the int, or a fresh random one."""
    if isinstance(generator, torch.Generator):
        if generator.device.type != "cpu":
            raise InputError(
                f"sampling patterns are drawn on the CPU; got a generator on {generator.device}"
            )
        return generator
    g = torch.Generator()
    if generator is None:
        g.seed()  # non-deterministic seed for this generator only, global state untouched
    elif isinstance(generator, int) and not isinstance(generator, bool):
        g.manual_seed(int(generator) & 0xFFFF_FFFF_FFFF_FFFF)
    else:
        raise InputError(
            f"generator must be a torch.Generator, an int seed or None; got {type(generator)}"
        )
    return g


def check_acceleration(acceleration: Any, name: str) -> float:
    """Validate an acceleration factor (finite, >= 1) and return it as float."""
    try:
        r = float(acceleration)
    except (TypeError, ValueError):
        raise InputError(f"{name}: acceleration must be a number, got {acceleration!r}") from None
    if not math.isfinite(r) or r < 1.0:
        raise InputError(
            f"{name}: acceleration must be a finite number >= 1 (got {acceleration!r}); "
            "a pattern cannot measure more samples than the grid holds"
        )
    return r


def check_shape(shape: Any, ndim: int, name: str) -> tuple[int, ...]:
    """Validate a shape of ``ndim`` positive ints (trailing dims of a longer shape are used)."""
    try:
        dims = tuple(int(s) for s in shape)
    except TypeError:
        dims = (int(shape),)
    if len(dims) < ndim or any(d < 1 for d in dims[-ndim:]):
        raise InputError(f"{name}: shape must end with {ndim} positive sizes, got {tuple(shape)}")
    return dims[-ndim:]


def check_batch(batch: Any) -> int | None:
    """Validate ``batch`` (None or a positive int)."""
    if batch is None:
        return None
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InputError(f"batch must be None or a positive int, got {batch!r}")
    return batch


def centered_slice(n_total: int, n: int) -> slice:
    """Slice of ``n`` centred samples on an axis of ``n_total`` (fastMRI's placement)."""
    start = (n_total - n + 1) // 2
    return slice(start, start + n)


def assemble(
    name: str,
    masks: Sequence[torch.Tensor],
    batch: int | None,
    nominal: float,
    calibration: tuple[slice, ...],
    num_low_frequencies: int,
    meta: dict[str, Any],
) -> SamplingPattern:
    """Stack per-sample masks and compute the true acceleration."""
    mask = torch.stack(list(masks)) if batch is not None else masks[0]
    mask = mask.to(torch.bool)
    measured = int(mask.sum())
    if measured == 0:
        raise InputError(f"{name}: the pattern measures no sample at shape {tuple(mask.shape)}")
    return SamplingPattern(
        mask=mask,
        name=name,
        acceleration=mask.numel() / measured,
        nominal_acceleration=float(nominal),
        calibration=calibration,
        num_low_frequencies=int(num_low_frequencies),
        meta=meta,
    )
