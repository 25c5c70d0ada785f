"""Pattern registry: :func:`make_mask`, :func:`list_patterns`, :func:`make_trajectory`."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable

import torch

from ..errors import InputError
from ._types import GeneratorLike, SamplingPattern
from .cartesian_1d import PATTERNS_1D, column_mask
from .masks_2d import gaussian_2d, radial_2d, spiral_2d
from .poisson import poisson_2d
from .radar import RADAR_PATTERNS, radar_aperture
from .trajectories import radial_trajectory, spiral_trajectory

__all__ = ["make_mask", "list_patterns", "make_trajectory", "FAMILIES"]

FAMILIES = ("mri_1d", "mri_2d", "radar")

_MRI_2D: dict[str, Callable[..., SamplingPattern]] = {
    "gaussian_2d": gaussian_2d,
    "poisson_2d": poisson_2d,
    "radial_2d": radial_2d,
    "spiral_2d": spiral_2d,
}
_FAMILY = {
    **{n: "mri_1d" for n in PATTERNS_1D},
    **{n: "mri_2d" for n in _MRI_2D},
    **{n: "radar" for n in RADAR_PATTERNS},
}
_TRAJECTORIES = {"radial": radial_trajectory, "spiral": spiral_trajectory}


def _unknown(kind: str, name: str, valid) -> InputError:
    close = difflib.get_close_matches(str(name), list(valid), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return InputError(f"unknown {kind} {name!r}{hint}; valid: {', '.join(valid)}")


def list_patterns(family: str | None = None) -> list[str]:
    """Registered mask names, optionally of one family (``mri_1d``, ``mri_2d``, ``radar``)."""
    if family is None:
        return list(_FAMILY)
    if family not in FAMILIES:
        raise _unknown("pattern family", family, FAMILIES)
    return [n for n, f in _FAMILY.items() if f == family]


def _check_kwargs(name: str, fn: Callable, kw: dict, reserved: set[str]) -> None:
    params = set(inspect.signature(fn).parameters) - reserved
    extra = set(kw) - params
    if extra:
        raise InputError(f"{name}: unexpected options {sorted(extra)}; accepted: {sorted(params)}")


def make_mask(
    name: str,
    shape,
    acceleration: float | None = None,
    generator: GeneratorLike = None,
    *,
    batch: int | None = None,
    **kw,
) -> SamplingPattern:
    """Draw any registered sampling pattern.

    Parameters
    ----------
    name : str
        A name from :func:`list_patterns`.
    shape : int or tuple of int
        ``(H, W)`` for MRI (1-D patterns use ``W = shape[-1]`` and return a ``(W,)`` column mask
        that the operator broadcasts over rows); ``(P, F)`` for radar apertures.
    acceleration : float
        Nominal acceleration ``R >= 1``.  Radar apertures also accept ``ratio=`` (kept fraction,
        ``= 1 / R``).
    generator : torch.Generator or int or None
        Randomness source; an int seeds a fresh generator, None draws a fresh random seed.
        The global RNG is never touched.
    batch : int, optional
        Number of masks to draw from the same generator, one after another; the mask then has a
        leading axis ``B`` and the samples differ (except where the pattern is deterministic:
        equispaced / magic with an ``offset`` given).
    **kw
        Pattern options: ``center_fraction`` (MRI), ``offset`` (equispaced/magic, periodic),
        ``sigma`` (gaussian_2d), ``vd`` (poisson_2d), ``turns``/``alpha``/``interleaves``
        (spiral_2d), ``num_gaps``, ``num_subbands``, ``ratio`` (radar).

    Returns
    -------
    SamplingPattern
        Mask plus the TRUE achieved acceleration, the calibration box and metadata.

    Raises
    ------
    InputError
        Unknown name (the message lists the valid ones), an acceleration below 1, a centre
        that needs more samples than the budget, or an unknown option.
    """
    if name not in _FAMILY:
        raise _unknown("sampling pattern", name, list(_FAMILY))
    family = _FAMILY[name]
    if family == "radar":
        ratio = kw.pop("ratio", None)
        return radar_aperture(name, shape, ratio, acceleration=acceleration,
                              generator=generator, batch=batch, **kw)
    if acceleration is None:
        raise InputError(f"{name}: an acceleration is required")
    if family == "mri_1d":
        _check_kwargs(name, column_mask, kw, {"pattern", "num_cols", "acceleration"})
        width = int(shape) if isinstance(shape, int) else int(tuple(shape)[-1])
        return column_mask(name, width, acceleration, generator=generator, batch=batch, **kw)
    fn = _MRI_2D[name]
    _check_kwargs(name, fn, kw, {"shape", "acceleration"})
    return fn(shape, acceleration, generator=generator, batch=batch, **kw)


def make_trajectory(name: str, *args, **kw) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """``"radial"`` -> :func:`radial_trajectory`, ``"spiral"`` -> :func:`spiral_trajectory`."""
    if name not in _TRAJECTORIES:
        raise _unknown("trajectory", name, list(_TRAJECTORIES))
    return _TRAJECTORIES[name](*args, **kw)
