"""The one place where complex tensors are packed into real channels and back.

Networks work on real tensors; operators on native complex tensors (see docs/conventions.md).
``complex_to_channels`` maps ``(B, C, H, W)`` complex to ``(B, 2C, H, W)`` real with the real
parts of all channels first, then the imaginary parts; ``channels_to_complex`` inverts it.
"""

from __future__ import annotations

import torch

from .errors import InputError, ShapeError

__all__ = ["complex_to_channels", "channels_to_complex"]


def complex_to_channels(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Complex ``(..., C, ...)`` → real ``(..., 2C, ...)``: ``[Re c0..c_{C-1}, Im c0..c_{C-1}]``."""
    if not torch.is_complex(x):
        raise InputError(f"complex_to_channels expects a complex tensor, got dtype {x.dtype}")
    return torch.cat([x.real, x.imag], dim=dim)


def channels_to_complex(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Real ``(..., 2C, ...)`` → complex ``(..., C, ...)``; inverts :func:`complex_to_channels`."""
    if torch.is_complex(x):
        raise InputError(f"channels_to_complex expects a real tensor, got dtype {x.dtype}")
    n = x.shape[dim]
    if n % 2:
        raise ShapeError(
            f"channels_to_complex needs an even number of channels along dim {dim}, got {n}"
        )
    re, im = torch.split(x, n // 2, dim=dim)
    return torch.complex(re.contiguous(), im.contiguous())
