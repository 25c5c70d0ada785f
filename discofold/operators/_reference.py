"""Slow, readable dense references that the tests compare the fast operators against.

Everything is evaluated directly from the definitions in docs/conventions.md, in complex128,
without FFTs or gridding.  A flat module of functions; keep it that way.
"""

from __future__ import annotations

import math

import torch

__all__ = ["dft2c_dense", "ndft", "ndft_adjoint", "radar_direct_sum"]


def _dft_matrix(n: int) -> torch.Tensor:
    """Centred orthonormal DFT matrix ``F[k, m] = n^(-1/2) exp(−2πi (k − n//2)(m − n//2)/n)``."""
    idx = torch.arange(n, dtype=torch.float64) - n // 2
    phase = -2 * math.pi * torch.outer(idx, idx) / n
    return torch.polar(torch.full_like(phase, n ** -0.5), phase)


def dft2c_dense(x: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal 2-D DFT of ``x`` ``(..., H, W)`` by explicit DFT matrices (complex128).

    Equals :func:`discofold.operators.fft2c` (the fastMRI convention) up to rounding.
    """
    x = x.to(torch.complex128)
    fh = _dft_matrix(x.shape[-2])
    fw = _dft_matrix(x.shape[-1])
    return fh @ x @ fw.transpose(0, 1)


def _phases(traj: torch.Tensor, image_shape) -> tuple[torch.Tensor, torch.Tensor]:
    """``exp(−i k_h (n_h − H//2))`` ``(K, H)`` and ``exp(−i k_w (n_w − W//2))`` ``(K, W)``."""
    h, w = (int(s) for s in image_shape)
    traj = traj.to(torch.float64).cpu()
    nh = torch.arange(h, dtype=torch.float64) - h // 2
    nw = torch.arange(w, dtype=torch.float64) - w // 2
    one = torch.ones((), dtype=torch.float64)
    eh = torch.polar(one.expand(len(traj), h), -traj[:, :1] * nh[None, :])
    ew = torch.polar(one.expand(len(traj), w), -traj[:, 1:] * nw[None, :])
    return eh, ew


def ndft(x: torch.Tensor, traj: torch.Tensor) -> torch.Tensor:
    """Direct non-uniform DFT ``y_k = (HW)^(-1/2) Σ_n x[n] exp(−i k·(n − N//2))``.

    Parameters
    ----------
    x : Tensor (..., H, W), complex
    traj : Tensor (K, 2), radians per pixel; column 0 ↔ H (rows), column 1 ↔ W.

    Returns
    -------
    Tensor (..., K), complex128, on the CPU.  The double sum is evaluated exactly, one axis at a
    time (the exponential factorises), so it costs ``O(K·H·W)``.
    """
    h, w = x.shape[-2:]
    eh, ew = _phases(traj, (h, w))
    x = x.to(torch.complex128).cpu()
    partial = torch.einsum("...hw,kh->...kw", x, eh)
    return (partial * ew).sum(-1) / math.sqrt(h * w)


def ndft_adjoint(y: torch.Tensor, traj: torch.Tensor, image_shape) -> torch.Tensor:
    """Adjoint of :func:`ndft`: ``x[n] = (HW)^(-1/2) Σ_k y_k exp(+i k·(n − N//2))``.

    Parameters
    ----------
    y : Tensor (..., K), complex
    traj : Tensor (K, 2), radians per pixel.
    image_shape : (H, W)

    Returns
    -------
    Tensor (..., H, W), complex128, on the CPU.
    """
    h, w = (int(s) for s in image_shape)
    eh, ew = _phases(traj, (h, w))
    y = y.to(torch.complex128).cpu()
    partial = y[..., :, None] * ew.conj()
    return torch.einsum("...kw,kh->...hw", partial, eh.conj()) / math.sqrt(h * w)


def radar_direct_sum(x: torch.Tensor, angles_rad, frequencies_hz, extent_m) -> torch.Tensor:
    """Echo of a pixel image by the explicit sum of DESIGN.md (complex128, slow).

    ``s(θ_p, f_q) = Σ_ij x[i, j] exp(−i 4π f_q/c (x_i cos θ_p + y_j sin θ_p))`` with
    ``x_i = (i − H//2) Lx/H`` and ``y_j = (j − W//2) Ly/W``; ``x`` is ``(..., H, W)`` and the
    result ``(..., P, F)``.
    """
    c = 299_792_458.0
    x = x.to(torch.complex128)
    h, w = x.shape[-2:]
    th = torch.as_tensor(angles_rad, dtype=torch.float64)[:, None, None, None]
    fr = torch.as_tensor(frequencies_hz, dtype=torch.float64)[None, :, None, None]
    xi = ((torch.arange(h, dtype=torch.float64) - h // 2) * extent_m[0] / h)[:, None]
    yj = ((torch.arange(w, dtype=torch.float64) - w // 2) * extent_m[1] / w)[None, :]
    phase = -4 * torch.pi * fr / c * (xi * torch.cos(th) + yj * torch.sin(th))  # (P, F, H, W)
    return torch.einsum("...hw,pfhw->...pf", x, torch.polar(torch.ones_like(phase), phase))
