"""Centred, orthonormal 2-D FFTs (the fastMRI convention; see docs/conventions.md).

``fft2c(x) = fftshift(fft2(ifftshift(x), norm="ortho"))`` over the last two axes.  The image
origin (and the k-space DC sample) sits at index ``N // 2`` along each axis.
"""

from __future__ import annotations

import torch

__all__ = ["fft2c", "ifft2c", "fftc", "ifftc"]

_DIMS = (-2, -1)


def fft2c(x: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal 2-D FFT over the last two axes of a complex tensor."""
    return torch.fft.fftshift(
        torch.fft.fft2(torch.fft.ifftshift(x, dim=_DIMS), dim=_DIMS, norm="ortho"), dim=_DIMS
    )


def ifft2c(k: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal inverse 2-D FFT; the exact inverse and adjoint of :func:`fft2c`."""
    return torch.fft.fftshift(
        torch.fft.ifft2(torch.fft.ifftshift(k, dim=_DIMS), dim=_DIMS, norm="ortho"), dim=_DIMS
    )


def fftc(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Centred orthonormal 1-D FFT along ``dim``."""
    return torch.fft.fftshift(
        torch.fft.fft(torch.fft.ifftshift(x, dim=dim), dim=dim, norm="ortho"), dim=dim
    )


def ifftc(k: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Centred orthonormal inverse 1-D FFT along ``dim``."""
    return torch.fft.fftshift(
        torch.fft.ifft(torch.fft.ifftshift(k, dim=dim), dim=dim, norm="ortho"), dim=dim
    )
