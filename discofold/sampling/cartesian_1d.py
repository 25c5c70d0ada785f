"""1-D Cartesian column masks with fastMRI semantics, reimplemented in torch.

Patterns (``W`` columns, acceleration ``R``, centre fraction ``cf``; ``nlf = round(W * cf)``
fully sampled centre columns starting at ``(W - nlf + 1) // 2``):

``random``
    every other column is kept independently with probability
    ``(W / R - nlf) / (W - nlf)``, so the *expected* count is ``W / R`` (the true one varies).
``equispaced``
    columns ``offset, offset + R, ...`` (``R`` must be an integer; offset drawn in ``[0, R)``).
    The centre adds to these lines, so the true acceleration is below ``R``.
``equispaced_fraction``
    columns ``round(offset + j * R')`` with ``R' = R (nlf - W) / (nlf R - W)`` chosen so that
    ``nlf + W / R' = W / R`` (offset drawn in ``[0, round(R'))``).
``magic``
    Defazio's offset sampling (arXiv:1912.01101): an equispaced mask whose positive and
    negative frequency halves start at different offsets, so that for ``R >= 3`` no conjugate
    pair ``(f, -f)`` outside the centre is sampled twice.
``magic_fraction``
    ``magic`` with the spacing ``round(W / (round(W / R) - nlf))`` that matches the budget.

The centre fraction defaults to fastMRI's table ({2: 0.16, 4: 0.08, 6: 0.06, 8: 0.04, 16: 0.02,
32: 0.01}, ``0.32 / R`` otherwise).  A centre needing more columns than the budget
``round(W / R)`` raises :class:`~discofold.errors.InputError`.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import torch

from ..errors import InputError
from ._types import (
    GeneratorLike,
    SamplingPattern,
    as_generator,
    assemble,
    centered_slice,
    check_acceleration,
    check_batch,
    default_center_fraction,
)

__all__ = ["PATTERNS_1D", "column_mask", "MaskFunc", "create_mask_for_mask_type"]

PATTERNS_1D = ("equispaced", "equispaced_fraction", "random", "magic", "magic_fraction")


def _randint(high: int, gen: torch.Generator) -> int:
    return int(torch.randint(0, max(int(high), 1), (1,), generator=gen))


def _integer_acceleration(r: float, pattern: str) -> int:
    if not float(r).is_integer():
        raise InputError(f"{pattern}: the acceleration must be an integer line spacing, got {r}")
    return int(r)


def _random(w: int, r: float, nlf: int, offset: int | None, gen: torch.Generator):
    prob = (w / r - nlf) / (w - nlf) if w > nlf else 0.0
    return torch.rand(w, generator=gen, dtype=torch.float64) < prob


def _equispaced(w: int, r: float, nlf: int, offset: int | None, gen: torch.Generator):
    step = _integer_acceleration(r, "equispaced")
    offset = _randint(step, gen) if offset is None else int(offset)
    mask = torch.zeros(w, dtype=torch.bool)
    mask[offset::step] = True
    return mask


def _equispaced_fraction(w: int, r: float, nlf: int, offset: int | None, gen: torch.Generator):
    if nlf * r >= w:
        raise InputError(
            f"equispaced_fraction: {nlf} centre columns already use the budget W/R = {w / r:.2f}"
        )
    adjusted = r * (nlf - w) / (nlf * r - w)
    offset = _randint(round(adjusted), gen) if offset is None else int(offset)
    pos = torch.round(torch.arange(offset, w - 1, adjusted, dtype=torch.float64)).long()
    mask = torch.zeros(w, dtype=torch.bool)
    mask[pos[pos < w]] = True
    return mask


def _magic_lines(w: int, step: int, offset: int | None, gen: torch.Generator) -> torch.Tensor:
    mask = torch.zeros(w, dtype=torch.bool)
    if step <= 0:
        return mask
    offset = _randint(step, gen) if offset is None else int(offset)
    if offset % 2 == 0:
        off_pos, off_neg = offset + 1, offset + 2
    else:
        off_pos, off_neg = offset + 2, offset - 1
    poslen = (w + 1) // 2
    pos = torch.zeros(poslen, dtype=torch.bool)
    neg = torch.zeros(w - poslen, dtype=torch.bool)
    pos[off_pos::step] = True
    neg[off_neg::step] = True  # neg[j] is frequency -(j + 1)
    unshifted = torch.cat([pos, neg.flip(0)])  # numpy FFT order: 0, 1, ..., -1
    return torch.roll(unshifted, w // 2)  # fftshift: frequency f at index W // 2 + f


def _magic(w: int, r: float, nlf: int, offset: int | None, gen: torch.Generator):
    return _magic_lines(w, _integer_acceleration(r, "magic"), offset, gen)


def _magic_fraction(w: int, r: float, nlf: int, offset: int | None, gen: torch.Generator):
    left = round(w / r) - nlf
    step = round(w / left) if left > 0 else 0
    return _magic_lines(w, step, offset, gen)


_DRAW = {
    "random": _random,
    "equispaced": _equispaced,
    "equispaced_fraction": _equispaced_fraction,
    "magic": _magic,
    "magic_fraction": _magic_fraction,
}


def _num_low_frequencies(pattern: str, w: int, r: float, center_fraction: float) -> int:
    if not 0.0 <= center_fraction <= 1.0:
        raise InputError(f"{pattern}: center_fraction must lie in [0, 1], got {center_fraction}")
    nlf = round(w * center_fraction)
    budget = round(w / r)
    if nlf > budget:
        raise InputError(
            f"{pattern}: impossible acceleration {r} for W={w}: the centre fraction "
            f"{center_fraction} needs {nlf} columns but the budget round(W/R) is {budget}"
        )
    if pattern == "magic_fraction":
        nlf = max(nlf, 1)
    return nlf


def draw_column_mask(
    pattern: str,
    num_cols: int,
    acceleration: float,
    center_fraction: float | None,
    offset: int | None,
    gen: torch.Generator,
) -> tuple[torch.Tensor, int]:
    """One ``(W,)`` bool column mask and its number of low frequencies (validated inputs)."""
    if pattern not in _DRAW:
        raise InputError(f"unknown 1-D pattern {pattern!r}; valid: {', '.join(PATTERNS_1D)}")
    w, r = int(num_cols), check_acceleration(acceleration, pattern)
    if w < 1:
        raise InputError(f"{pattern}: the number of columns must be >= 1, got {num_cols}")
    cf = default_center_fraction(r) if center_fraction is None else float(center_fraction)
    nlf = _num_low_frequencies(pattern, w, r, cf)
    mask = _DRAW[pattern](w, r, nlf, offset, gen)
    mask[centered_slice(w, nlf)] = True
    return mask, nlf


def column_mask(
    pattern: str,
    num_cols: int,
    acceleration: float,
    *,
    center_fraction: float | None = None,
    offset: int | None = None,
    generator: GeneratorLike = None,
    batch: int | None = None,
) -> SamplingPattern:
    """Draw a 1-D column mask (torch API).

    Parameters
    ----------
    pattern : str
        One of :data:`PATTERNS_1D`.
    num_cols : int
        ``W``, the number of k-space columns (the mask applies along the last image axis).
    acceleration : float
        Nominal acceleration ``R >= 1`` (an integer for ``equispaced`` and ``magic``).
    center_fraction : float, optional
        Fraction of fully sampled centre columns; default from fastMRI's table.
    offset : int, optional
        Start of the equispaced / magic lines; drawn from ``generator`` when None.
    generator : torch.Generator or int or None
        Source of randomness.
    batch : int, optional
        Draw ``batch`` masks one after the other from the same generator.

    Returns
    -------
    SamplingPattern
        ``mask`` bool ``(W,)`` or ``(B, W)``; the true acceleration; the centre as
        ``calibration = (slice,)`` and ``num_low_frequencies``.
    """
    batch, gen = check_batch(batch), as_generator(generator)
    draws = [
        draw_column_mask(pattern, num_cols, acceleration, center_fraction, offset, gen)
        for _ in range(batch or 1)
    ]
    nlf = draws[0][1]
    r = float(acceleration)
    cf = default_center_fraction(r) if center_fraction is None else float(center_fraction)
    meta = {"center_fraction": cf, "family": "mri_1d", "offset": offset}
    return assemble(
        pattern, [m for m, _ in draws], batch, r, (centered_slice(num_cols, nlf),), nlf, meta
    )


def _seed_to_int(seed: int | Sequence[int]) -> int:
    if isinstance(seed, int):
        return seed
    return zlib.crc32(",".join(str(int(s)) for s in seed).encode())


class MaskFunc:
    """fastMRI-compatible mask function (``fastmri.data.subsample`` call signature).

    ``mask_func(shape, offset=None, seed=None) -> (mask, num_low_frequencies)`` where ``shape``
    has at least 3 entries and the columns are ``shape[-2]`` (fastMRI's real-view k-space
    ``(..., H, W, 2)``).  ``mask`` is float32 0/1 of shape ``(1, ..., 1, W, 1)`` (all ones
    except ``W`` at position ``-2``), ready to broadcast against such k-space.

    Parameters
    ----------
    pattern : str
        One of :data:`PATTERNS_1D`.
    center_fractions, accelerations : sequence of float
        Candidate pairs; one pair is drawn per call (any combination when
        ``allow_any_combination``).
    allow_any_combination : bool
        Draw the centre fraction and the acceleration independently.
    seed : int, optional
        Seed of the object's own generator (used when a call gives no seed).

    Notes
    -----
    The masks follow fastMRI's rules but are drawn from torch generators, so for a given seed
    they differ from fastMRI's numpy draws.  A call with ``seed`` uses a fresh generator
    seeded with it (ints, or tuples of ints hashed with CRC-32) and leaves the object's
    generator untouched.
    """

    def __init__(
        self,
        pattern: str,
        center_fractions: Sequence[float],
        accelerations: Sequence[float],
        allow_any_combination: bool = False,
        seed: int | None = None,
    ) -> None:
        if pattern not in PATTERNS_1D:
            raise InputError(f"unknown 1-D pattern {pattern!r}; valid: {', '.join(PATTERNS_1D)}")
        if len(center_fractions) != len(accelerations) and not allow_any_combination:
            raise InputError(
                f"got {len(center_fractions)} center_fractions but {len(accelerations)} "
                "accelerations; they must match unless allow_any_combination=True"
            )
        if len(accelerations) == 0 or len(center_fractions) == 0:
            raise InputError("center_fractions and accelerations must not be empty")
        self.pattern = pattern
        self.center_fractions = list(center_fractions)
        self.accelerations = list(accelerations)
        self.allow_any_combination = allow_any_combination
        self.generator = as_generator(seed)

    def choose_acceleration(self, gen: torch.Generator) -> tuple[float, float]:
        """Draw one ``(center_fraction, acceleration)`` pair."""
        if self.allow_any_combination:
            cf = self.center_fractions[_randint(len(self.center_fractions), gen)]
            return cf, self.accelerations[_randint(len(self.accelerations), gen)]
        i = _randint(len(self.accelerations), gen)
        return self.center_fractions[i], self.accelerations[i]

    def __call__(
        self,
        shape: Sequence[int],
        offset: int | None = None,
        seed: int | Sequence[int] | None = None,
    ) -> tuple[torch.Tensor, int]:
        shape = tuple(int(s) for s in shape)
        if len(shape) < 3:
            raise InputError(f"MaskFunc: shape must have 3 or more dimensions, got {shape}")
        gen = self.generator if seed is None else as_generator(_seed_to_int(seed))
        cf, r = self.choose_acceleration(gen)
        mask, nlf = draw_column_mask(self.pattern, shape[-2], r, cf, offset, gen)
        view = [1] * len(shape)
        view[-2] = shape[-2]
        return mask.to(torch.float32).reshape(view), nlf

    def __repr__(self) -> str:
        return (
            f"MaskFunc({self.pattern!r}, center_fractions={self.center_fractions}, "
            f"accelerations={self.accelerations})"
        )


def create_mask_for_mask_type(
    mask_type_str: str, center_fractions: Sequence[float], accelerations: Sequence[float]
) -> MaskFunc:
    """fastMRI's factory: a :class:`MaskFunc` for ``mask_type_str``."""
    return MaskFunc(mask_type_str, center_fractions, accelerations)
