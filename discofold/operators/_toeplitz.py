"""Toeplitz embedding of the NUFFT normal operator ``AᴴWA`` (a 2×-padded FFT convolution).

For the NUFFT of docs/conventions.md,

    (AᴴWA x)[n] = Σ_m T[n − m] x[m],     T[d] = (HW)^(-1) Σ_k w_k exp(+i k·d),

with ``d`` in ``[−(N−1), N−1]`` per axis.  ``T`` is placed circularly on a ``2H × 2W`` grid and its
FFT (real, since ``T[−d] = conj T[d]``) is stored; applying the normal operator is then one
zero-padded FFT, a pointwise product and one cropped inverse FFT.  ``T`` itself is computed once
by a high-accuracy Kaiser–Bessel adjoint NUFFT onto the ``2H × 2W`` image grid.
"""

from __future__ import annotations

import torch

from . import _kb

__all__ = ["gridding_adjoint", "toeplitz_kernel", "toeplitz_apply", "kernel_nbytes"]

_KERNEL_OVERSAMP = 2.0
_KERNEL_WIDTH = 7  # ~7e-7 relative error (Beatty β), far below the NUFFT's own error
_CHUNK = 16384


def gridding_adjoint(
    traj: torch.Tensor, values: torch.Tensor, image_shape, oversamp: float, width: int
) -> torch.Tensor:
    """Unnormalised adjoint NUFFT ``r[n] = Σ_k v_k exp(+i k·(n − N//2))`` in complex128.

    A one-off evaluation (scatter-add gridding, no stored matrix), used for the Toeplitz kernel.

    Parameters
    ----------
    traj : Tensor (K, 2), radians per pixel.
    values : Tensor (K,), complex or real (real values grid in real arithmetic, twice as fast).
    image_shape : (H, W)

    Returns
    -------
    Tensor (H, W), complex128, on ``traj``'s device.
    """
    h, w = (int(s) for s in image_shape)
    gh, gw = _kb.grid_size(h, oversamp, width), _kb.grid_size(w, oversamp, width)
    betas = (_kb.beatty_beta(width, gh / h), _kb.beatty_beta(width, gw / w))
    traj = traj.to(torch.float64)
    dtype = torch.complex128 if torch.is_complex(values) else torch.float64
    values = values.to(device=traj.device, dtype=dtype)
    grid = torch.zeros(gh * gw, dtype=dtype, device=traj.device)
    for start in range(0, len(traj), _CHUNK):
        sl = slice(start, start + _CHUNK)
        cols, vals = _kb.interp_entries(traj[sl], (gh, gw), width, betas)
        grid.index_add_(0, cols.reshape(-1), (vals * values[sl, None]).reshape(-1))
    img = torch.fft.ifft2(grid.view(gh, gw).to(torch.complex128), norm="forward")
    ih = torch.remainder(torch.arange(h, device=traj.device) - h // 2, gh)
    iw = torch.remainder(torch.arange(w, device=traj.device) - w // 2, gw)
    img = img[ih[:, None], iw[None, :]]
    dh = _kb.deapodisation(h, gh, width, betas[0]).to(traj.device)
    dw = _kb.deapodisation(w, gw, width, betas[1]).to(traj.device)
    return img * dh[:, None] * dw[None, :]


def toeplitz_kernel(traj: torch.Tensor, image_shape, weights: torch.Tensor | None = None):
    """FFT of the circulant embedding of ``T`` (real, float64, shape ``(2H, 2W)``).

    Parameters
    ----------
    traj : Tensor (K, 2), radians per pixel.
    image_shape : (H, W)
    weights : Tensor (K,), real, optional
        Sample weights ``w_k`` (e.g. a density compensation); ``None`` means all ones.
    """
    h, w = (int(s) for s in image_shape)
    if weights is None:
        weights = torch.ones(len(traj), dtype=torch.float64, device=traj.device)
    r = gridding_adjoint(traj, weights, (2 * h, 2 * w), _KERNEL_OVERSAMP, _KERNEL_WIDTH)
    # r sits on the (2H, 2W) grid with origin (H, W): r[d + H] = Σ w exp(i k d); ifftshift puts
    # lag d at index d mod 2N.  Lag −H (row H / column W) never enters the cropped product.
    t = torch.fft.ifftshift(r, dim=(0, 1)) / (h * w)
    t[h, :] = 0
    t[:, w] = 0
    return torch.fft.fft2(t).real.contiguous()


def toeplitz_apply(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """``AᴴWA x`` for ``x`` of shape ``(..., H, W)`` given :func:`toeplitz_kernel`'s output.

    The zero padding is never materialised: the first FFT runs over the ``H`` data rows only, and
    the inverse FFT along W is taken only over the ``H`` rows that are kept.
    """
    h, w = x.shape[-2:]
    z = torch.fft.fft(x, n=2 * w, dim=-1)
    z = torch.fft.fft(z, n=2 * h, dim=-2)
    z = z * kernel
    z = torch.fft.ifft(z, dim=-2)[..., :h, :]
    return torch.fft.ifft(z, dim=-1)[..., :w]


def kernel_nbytes(kernel: torch.Tensor) -> int:
    """Bytes held by a Toeplitz kernel."""
    return kernel.numel() * kernel.element_size()

