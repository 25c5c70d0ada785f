"""The optional finufft backend of :class:`~discofold.operators.NUFFT` (CPU only).

finufft's type-2 transform with ``isign=-1`` and ``modeord=0`` evaluates
``c_j = Σ_m f[m] exp(−i (x_j m_1 + y_j m_2))`` with modes ``m = index − N//2`` (its "CMCL"
ordering, for even and odd N alike), which is exactly our image index ``n − N//2``; the first
point array goes with the first array axis (H).  Type 1 with ``isign=+1`` is its adjoint.
Both are scaled by ``(HW)^(-1/2)``.  Plans are cached per (type, batch size, dtype).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import require

__all__ = ["finufft_forward", "finufft_adjoint"]


def _plan(op, kind: int, n_trans: int, dtype: torch.dtype):
    key = (kind, n_trans, dtype)
    cache = op._cache_finufft
    if key not in cache:
        finufft = require("finufft", "finufft", "NUFFT backend='finufft'")
        np_dtype = "complex128" if dtype == torch.complex128 else "complex64"
        real = torch.float64 if dtype == torch.complex128 else torch.float32
        pts = op.traj.detach().to(real).cpu().numpy()
        plan = finufft.Plan(
            kind, tuple(op.image_shape), n_trans=n_trans, eps=op.eps,
            isign=-1 if kind == 2 else 1, dtype=np_dtype, modeord=0,
            nthreads=torch.get_num_threads(),
        )
        plan.setpts(np.ascontiguousarray(pts[:, 0]), np.ascontiguousarray(pts[:, 1]))
        cache[key] = plan
    return cache[key]


def finufft_forward(op, x: torch.Tensor) -> torch.Tensor:
    """``(..., H, W)`` → ``(..., K)`` with finufft type 2."""
    h, w = op.image_shape
    lead = x.shape[:-2]
    xb = x.detach().reshape(-1, h, w).contiguous().cpu().numpy()
    plan = _plan(op, 2, xb.shape[0], x.dtype)
    y = plan.execute(xb if xb.shape[0] > 1 else xb[0])
    y = torch.from_numpy(np.asarray(y)).reshape(*lead, -1)
    return (y / math.sqrt(h * w)).to(x.device)


def finufft_adjoint(op, y: torch.Tensor) -> torch.Tensor:
    """``(..., K)`` → ``(..., H, W)`` with finufft type 1."""
    h, w = op.image_shape
    lead = y.shape[:-1]
    yb = y.detach().reshape(-1, y.shape[-1]).contiguous().cpu().numpy()
    plan = _plan(op, 1, yb.shape[0], y.dtype)
    x = plan.execute(yb if yb.shape[0] > 1 else yb[0])
    x = torch.from_numpy(np.asarray(x)).reshape(*lead, h, w)
    return (x / math.sqrt(h * w)).to(y.device)
