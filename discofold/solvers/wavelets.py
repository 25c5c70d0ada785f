"""Orthogonal 2-D Daubechies wavelet transform (periodic boundary) in torch.

The scaling filters of db1…db20 are computed once from Daubechies' construction (spectral
factorisation of the maximally flat half-band polynomial, minimum-phase roots) in float64; they
agree with the standard tables (and PyWavelets' ``rec_lo``) to ~1e-14.  The 2-D multi-level
transform with periodic extension is then exactly orthogonal: :meth:`WaveletTransform.inverse` is
both the inverse and the adjoint of :meth:`WaveletTransform.forward`.  Images whose sides are not
multiples of ``2**levels`` are zero-padded (at the end of each axis) first; the padded transform
is an isometry and ``inverse`` crops back.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError

__all__ = ["daubechies", "WaveletTransform"]


@functools.cache
def daubechies(order: int) -> tuple[float, ...]:
    """Scaling (reconstruction low-pass) filter of Daubechies ``db<order>``, ``2·order`` taps,
    summing to √2 (PyWavelets' ``Wavelet(f"db{order}").rec_lo``)."""
    if not 1 <= int(order) <= 20:
        raise InputError(f"Daubechies order must be in 1..20, got {order}")
    n = int(order)
    # P(y) = Σ_k C(n-1+k, k) y^k with y = sin²(ω/2) = (2 − z − 1/z)/4
    coeffs = [math.comb(n - 1 + k, k) for k in range(n)]
    h = np.poly1d([1.0])
    for yk in np.roots(coeffs[::-1]) if n > 1 else []:
        # (2 − z − 1/z)/4 = y_k  ⇔  z² − (2 − 4y_k) z + 1 = 0; keep the root inside the circle
        zs = np.roots([1.0, -(2.0 - 4.0 * yk), 1.0])
        h = h * np.poly1d([1.0, -zs[np.argmin(np.abs(zs))]])
    for _ in range(n):
        h = h * np.poly1d([1.0, 1.0])
    taps = np.real(h.coeffs)[::-1]
    # the minimum-phase filter puts its energy first (as in the standard tables)
    if np.abs(taps[:n]).sum() < np.abs(taps[n:]).sum():
        taps = taps[::-1]
    taps = taps * (math.sqrt(2.0) / taps.sum())
    return tuple(float(t) for t in taps)


def _filters(wavelet: str, dtype: torch.dtype, device) -> torch.Tensor:
    name = wavelet.lower()
    if name == "haar":
        name = "db1"
    if not (name.startswith("db") and name[2:].isdigit()):
        raise InputError(f"wavelet must be 'haar' or 'db1'…'db20', got {wavelet!r}")
    lo = torch.tensor(daubechies(int(name[2:])), dtype=torch.float64)
    sign = torch.tensor([(-1.0) ** k for k in range(lo.numel())], dtype=torch.float64)
    hi = sign * lo.flip(0)
    # conv1d is a correlation: stacking (lo, hi) gives a[n] = Σ_k lo[k] x[2n + k]
    return torch.stack([lo, hi])[:, None, :].to(dtype=dtype, device=device)


def _analysis_1d(x: torch.Tensor, filt: torch.Tensor) -> torch.Tensor:
    """Last-axis periodic analysis: ``(..., N)`` → ``(..., N)`` = [approx | detail]."""
    n, taps = x.shape[-1], filt.shape[-1]
    flat = x.reshape(-1, 1, n)
    reps = -(-(taps - 2) // n) + 1 if taps > 2 else 1
    ext = torch.cat([flat] * reps, dim=-1)[..., : n + taps - 2] if taps > 2 else flat
    out = F.conv1d(ext, filt, stride=2)  # (B, 2, N/2)
    return out.reshape(*x.shape[:-1], n)


def _synthesis_1d(c: torch.Tensor, filt: torch.Tensor) -> torch.Tensor:
    """Adjoint (= inverse) of :func:`_analysis_1d`."""
    n = c.shape[-1]
    flat = c.reshape(-1, 2, n // 2)
    out = F.conv_transpose1d(flat, filt, stride=2)  # (B, 1, N + taps − 2)
    res = out[..., :n].clone()
    tail = out[..., n:]
    while tail.shape[-1] > 0:
        m = min(n, tail.shape[-1])
        res[..., :m] += tail[..., :m]
        tail = tail[..., m:]
    return res.reshape(*c.shape[:-1], n)


def _along(x: torch.Tensor, dim: int, fn, filt) -> torch.Tensor:
    return fn(x.movedim(dim, -1), filt).movedim(-1, dim)


class WaveletTransform:
    """Orthogonal multi-level 2-D DWT on the last two axes (Mallat layout in one tensor).

    Parameters
    ----------
    wavelet : str
        ``"haar"`` or ``"db1"`` … ``"db20"`` (``"db4"`` by default).
    levels : int
        Number of decomposition levels (≥ 1).

    Notes
    -----
    ``forward`` maps ``(..., H, W)`` to coefficients ``(..., Hp, Wp)`` with ``Hp``, ``Wp`` the
    sides rounded up to multiples of ``2**levels``; the coarsest approximation occupies the
    top-left ``(Hp/2**levels, Wp/2**levels)`` block.  Complex inputs are transformed in their
    real and imaginary parts.  ``inverse(forward(x)) == x`` and ``‖forward(x)‖ = ‖x‖``.
    """

    def __init__(self, wavelet: str = "db4", levels: int = 3):
        if int(levels) != levels or levels < 1:
            raise InputError(f"wavelet levels must be a positive integer, got {levels}")
        _filters(wavelet, torch.float64, "cpu")  # validate the name now
        self.wavelet, self.levels = wavelet, int(levels)
        self._cache: dict = {}

    def padded_shape(self, shape: tuple[int, int]) -> tuple[int, int]:
        """Coefficient shape ``(Hp, Wp)`` for an image of shape ``(H, W)``."""
        m = 2**self.levels
        return tuple(-(-int(s) // m) * m for s in shape)

    def approx_shape(self, shape: tuple[int, int]) -> tuple[int, int]:
        """Shape of the coarsest approximation block."""
        return tuple(s // 2**self.levels for s in self.padded_shape(shape))

    def _real(self, x: torch.Tensor, inverse: bool) -> torch.Tensor:
        if x.is_complex():  # real and imaginary parts as one batch
            out = self._real(torch.view_as_real(x).movedim(-1, 0), inverse)
            return torch.complex(out[0], out[1])
        key = (x.dtype, x.device)
        if key not in self._cache:
            self._cache[key] = _filters(self.wavelet, x.dtype, x.device)
        filt = self._cache[key]
        h, w = x.shape[-2:]
        sizes = [(h >> k, w >> k) for k in range(self.levels)]
        out = x.clone()
        for hs, ws in reversed(sizes) if inverse else sizes:
            blk = out[..., :hs, :ws]
            if inverse:
                blk = _along(_along(blk, -1, _synthesis_1d, filt), -2, _synthesis_1d, filt)
            else:
                blk = _along(_along(blk, -2, _analysis_1d, filt), -1, _analysis_1d, filt)
            out[..., :hs, :ws] = blk
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Coefficients ``(..., Hp, Wp)`` of an image ``(..., H, W)`` (real or complex)."""
        if x.ndim < 2:
            raise InputError(f"wavelet input must have shape (..., H, W), got {tuple(x.shape)}")
        hp, wp = self.padded_shape(x.shape[-2:])
        x = F.pad(x, (0, wp - x.shape[-1], 0, hp - x.shape[-2])) if (hp, wp) != x.shape[-2:] else x
        return self._real(x, inverse=False)

    def inverse(self, c: torch.Tensor, shape: tuple[int, int] | None = None) -> torch.Tensor:
        """Image ``(..., H, W)`` from coefficients; ``shape`` = original ``(H, W)`` (crop)."""
        hp, wp = c.shape[-2:]
        if (hp, wp) != self.padded_shape((hp, wp)):
            raise InputError(
                f"wavelet coefficients must have sides divisible by {2**self.levels}, "
                f"got {tuple(c.shape)}"
            )
        x = self._real(c, inverse=True)
        if shape is not None:
            x = x[..., : shape[0], : shape[1]]
        return x
