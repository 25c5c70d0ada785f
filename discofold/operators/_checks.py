"""Argument checks shared by the operators; every message names the tensor and the problem."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .._finite import all_finite
from ..errors import InputError, ShapeError

__all__ = [
    "check_complex",
    "check_finite",
    "check_trailing_shape",
    "check_broadcast",
    "as_complex_dtype",
]


def check_complex(x: torch.Tensor, name: str) -> None:
    """Raise :class:`InputError` unless ``x`` is a complex tensor."""
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not torch.is_complex(x):
        raise InputError(
            f"{name} must be a complex tensor (complex64 or complex128), got dtype {x.dtype}; "
            "use torch.complex(re, im) or x.to(torch.complex64)"
        )


def check_finite(x: torch.Tensor, name: str) -> None:
    """Raise :class:`InputError` if ``x`` holds NaN or Inf."""
    if not all_finite(x):
        n_nan = int(torch.isnan(x).sum()) if not torch.is_complex(x) else int(
            (torch.isnan(x.real) | torch.isnan(x.imag)).sum()
        )
        raise InputError(f"{name} contains non-finite values (NaN: {n_nan}, or Inf)")


def check_trailing_shape(x: torch.Tensor, expected: Sequence[int], name: str) -> None:
    """Raise :class:`ShapeError` unless the trailing dims of ``x`` match ``expected`` (-1: any)."""
    expected = tuple(int(e) for e in expected)
    got = tuple(x.shape[-len(expected):]) if len(expected) else ()
    ok = x.ndim >= len(expected) and all(e < 0 or e == g for e, g in zip(expected, got))
    if not ok:
        dims = ", ".join("*" if e < 0 else str(e) for e in expected)
        raise ShapeError(f"{name} must have shape (..., {dims}), got {tuple(x.shape)}")


def check_broadcast(a_shape: Sequence[int], a_name: str, b_shape: Sequence[int], b_name: str):
    """Return the broadcast shape of two shapes or raise :class:`ShapeError` naming both."""
    try:
        return torch.broadcast_shapes(tuple(a_shape), tuple(b_shape))
    except RuntimeError:
        raise ShapeError(
            f"{a_name} of shape {tuple(a_shape)} does not broadcast with "
            f"{b_name} of shape {tuple(b_shape)}"
        ) from None


def as_complex_dtype(dtype: torch.dtype) -> torch.dtype:
    """complex dtype matching a real or complex dtype (float64/complex128 → complex128)."""
    if dtype in (torch.float64, torch.complex128):
        return torch.complex128
    return torch.complex64
