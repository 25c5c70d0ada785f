"""Input conversion shared by the metrics."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError, ShapeError

__all__ = ["as_tensor", "check_pair", "out"]


def as_tensor(x, name: str, allow_complex: bool) -> torch.Tensor:
    """``x`` (array or tensor) as a float64/complex128 tensor; rejects NaN/Inf."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a tensor or array, got {type(x).__name__}")
    if x.is_complex():
        if not allow_complex:
            raise InputError(f"{name} is complex ({x.dtype}); MRI metrics take magnitude images, "
                             "pass x.abs()")
        x = x.to(torch.complex128)
    else:
        x = x.to(torch.float64)
    finite = torch.isfinite(torch.view_as_real(x) if x.is_complex() else x)
    if not bool(finite.all()):
        raise InputError(f"{name} contains {int((~finite).sum())} non-finite values")
    return x


def check_pair(target: torch.Tensor, pred: torch.Tensor, names=("target", "pred")) -> None:
    """Raise :class:`ShapeError` unless both have the same shape, at least ``(H, W)``."""
    if target.shape != pred.shape or target.ndim < 2:
        raise ShapeError(f"{names[0]} and {names[1]} must have the same shape (..., H, W), got "
                         f"{tuple(target.shape)} and {tuple(pred.shape)}")


def out(t: torch.Tensor):
    """A Python float for a 0-d result, the tensor otherwise."""
    return float(t) if t.ndim == 0 else t
