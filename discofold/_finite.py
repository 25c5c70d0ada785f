"""Fast finiteness check for input validation."""

from __future__ import annotations

import torch

__all__ = ["all_finite"]


def all_finite(x: torch.Tensor) -> bool:
    """True when every entry of ``x`` is finite (no NaN, no ±Inf).

    One reduction in the common case: NaN and ±Inf propagate through a sum, so a finite sum
    proves every entry finite; only a non-finite sum (a NaN/Inf entry, or an overflow of
    finite entries) takes the exact elementwise check.  ``torch.isfinite(x).all()`` alone
    costs four passes over ``x``: about 2 % of a 7×7 DISCO convolution's forward+backward.
    """
    if x.numel() == 0 or not (x.is_floating_point() or x.is_complex()):
        return True
    if bool(torch.isfinite(x.detach().sum())):
        return True
    return bool(torch.isfinite(x).all())
