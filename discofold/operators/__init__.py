"""Forward operators: the hub that every model and solver talks to (see docs/conventions.md)."""

from ._base import LinearOperator
from ._fft import fft2c, fftc, ifft2c, ifftc

__all__ = ["LinearOperator", "fft2c", "ifft2c", "fftc", "ifftc"]
