"""Kaiser–Bessel gridding pieces of the NUFFT: kernel, deapodisation, interpolation matrices.

Conventions (docs/conventions.md): frequencies ``k`` in radians per pixel, image index
``n' = n − N//2``.  The image (after deapodisation) is placed on an oversampled grid of size
``G`` at index ``n' mod G`` (wrap-around), so the uniform FFT gives
``X[j] = Σ z[n'] exp(−2πi j n'/G)`` and no phase is needed: the Kaiser–Bessel interpolation

    y(k) ≈ Σ_j φ(κ − j) X[j mod G],     κ = k G / (2π)   (grid units),

has **real** weights.  The interpolation matrix is therefore stored as a real CSR matrix and
applied to the real and imaginary parts at once; its adjoint (transpose-conjugate) is the plain
transpose, also stored as CSR.  Deapodisation divides by the kernel's continuous Fourier
transform ``Φ(n'/G)``, computed by Gauss–Legendre quadrature (exact to rounding).

β follows Beatty, Nishimura & Pauly, IEEE TMI 24(6):799–808, 2005, eq. (5):
``β = π sqrt(W²/α² (α − 1/2)² − 0.8)``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

__all__ = ["beatty_beta", "grid_size", "kb_kernel", "deapodisation", "interp_entries", "csr_pair"]


def beatty_beta(width: int, alpha: float) -> float:
    """Kaiser–Bessel shape parameter of Beatty et al. (2005) for kernel ``width`` (grid cells)
    and oversampling ratio ``alpha``."""
    arg = (width / alpha) ** 2 * (alpha - 0.5) ** 2 - 0.8
    return math.pi * math.sqrt(max(arg, 1e-6))


def _smooth(n: int) -> int:
    """Smallest even integer ≥ n whose only prime factors are 2, 3 and 5 (fast FFT sizes)."""
    m = max(2, n + (n % 2))
    while True:
        r = m
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 2


def grid_size(n: int, oversamp: float, width: int) -> int:
    """Oversampled grid size for an image axis of ``n`` pixels (≥ oversamp·n and ≥ 2·width)."""
    return _smooth(max(math.ceil(oversamp * n), 2 * width))


def kb_kernel(u: torch.Tensor, width: int, beta: float) -> torch.Tensor:
    """Kaiser–Bessel kernel ``I0(β sqrt(1 − (2u/W)²))`` for ``|u| ≤ W/2`` (grid units), else 0."""
    s = (2.0 * u / width).square()
    val = torch.special.i0(beta * (1.0 - s).clamp_min(0.0).sqrt())
    return torch.where(s <= 1.0, val, torch.zeros_like(val))


def deapodisation(n: int, g: int, width: int, beta: float) -> torch.Tensor:
    """``1 / Φ(n'/g)`` for ``n' = i − n//2``, ``i = 0..n−1`` (float64, shape ``(n,)``).

    ``Φ(t) = ∫ φ(u) cos(2π u t) du`` is the continuous Fourier transform of the kernel, computed
    with Gauss–Legendre quadrature on the support (the kernel is entire inside it).
    """
    nodes, weights = np.polynomial.legendre.leggauss(max(64, 8 * width))
    u = torch.as_tensor(nodes * width / 2.0, dtype=torch.float64)
    q = torch.as_tensor(weights * width / 2.0, dtype=torch.float64)
    phi = kb_kernel(u, width, beta)
    t = (torch.arange(n, dtype=torch.float64) - n // 2) / g
    ft = (torch.cos(2 * math.pi * t[:, None] * u[None, :]) * (phi * q)[None, :]).sum(-1)
    return 1.0 / ft


def _axis_entries(k: torch.Tensor, g: int, width: int, beta: float):
    """Grid indices ``(K, W)`` (already wrapped mod g) and weights ``(K, W)`` along one axis."""
    kappa = k * (g / (2 * math.pi))
    start = torch.ceil(kappa - width / 2.0)
    j = start[:, None] + torch.arange(width, dtype=k.dtype, device=k.device)[None, :]
    w = kb_kernel(kappa[:, None] - j, width, beta)
    return torch.remainder(j.to(torch.int64), g), w


def interp_entries(traj: torch.Tensor, grids, width: int, betas):
    """Column indices and values of the interpolation matrix, one row per sample.

    Parameters
    ----------
    traj : Tensor (K, 2), float64
        Trajectory in radians per pixel.
    grids : (Gh, Gw)
        Oversampled grid sizes.

    Returns
    -------
    cols : Tensor (K, W²), int64
        Flat grid indices ``jh * Gw + jw``, sorted within each row.
    vals : Tensor (K, W²), float64
        Kernel products ``φ(κh − jh) φ(κw − jw)``.
    """
    jh, wh = _axis_entries(traj[:, 0], grids[0], width, betas[0])
    jw, ww = _axis_entries(traj[:, 1], grids[1], width, betas[1])
    cols = (jh[:, :, None] * grids[1] + jw[:, None, :]).reshape(len(traj), -1)
    vals = (wh[:, :, None] * ww[:, None, :]).reshape(len(traj), -1)
    cols, order = torch.sort(cols, dim=1)
    return cols, torch.gather(vals, 1, order)


def csr_pair(cols: torch.Tensor, vals: torch.Tensor, n_cols: int, dtype: torch.dtype):
    """Build the ``(K, G)`` CSR matrix and its ``(G, K)`` transpose (int32 indices).

    ``cols``/``vals`` are ``(K, M)`` with a fixed number ``M`` of entries per row.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        warnings.filterwarnings("ignore", message="Sparse invariant checks")
        return _csr_pair(cols, vals, n_cols, dtype)


def _csr_pair(cols, vals, n_cols, dtype):
    k, m = cols.shape
    device = cols.device
    flat_cols = cols.reshape(-1)
    flat_vals = vals.reshape(-1).to(dtype)
    idx = torch.int32 if k * m < 2**31 - 1 else torch.int64
    crow = torch.arange(0, k * m + 1, m, dtype=torch.int64, device=device)
    fwd = torch.sparse_csr_tensor(
        crow.to(idx), flat_cols.to(idx), flat_vals, size=(k, n_cols)
    )
    if device.type == "cpu":
        crow_t, rows, vals_t = _transpose_scipy(crow, flat_cols, flat_vals, (k, n_cols))
    else:
        sorted_cols, order = torch.sort(flat_cols, stable=True)
        rows = torch.div(order, m, rounding_mode="floor")
        counts = torch.bincount(sorted_cols, minlength=n_cols)
        crow_t = torch.zeros(n_cols + 1, dtype=torch.int64, device=device)
        crow_t[1:] = torch.cumsum(counts, 0)
        vals_t = flat_vals[order]
    adj = torch.sparse_csr_tensor(crow_t.to(idx), rows.to(idx), vals_t, size=(n_cols, k))
    return fwd, adj


def _transpose_scipy(crow, cols, vals, shape):
    """CSR of the transpose by scipy's O(nnz) counting pass (rows sorted within each column)."""
    import scipy.sparse

    mat = scipy.sparse.csr_matrix((vals.numpy(), cols.numpy(), crow.numpy()), shape=shape)
    t = mat.tocsc()
    return (torch.from_numpy(t.indptr.astype(np.int64)), torch.from_numpy(t.indices),
            torch.from_numpy(t.data))
