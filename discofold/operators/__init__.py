"""Forward operators: the hub that every model and solver talks to (see docs/conventions.md)."""

from ._base import LinearOperator
from ._dcf import pipe_menon_dcf, radial_dcf
from ._fft import fft2c, fftc, ifft2c, ifftc
from .blockcs import BlockCS, gaussian_block_matrix, measurements_for_ratio, pad_to_blocks
from .cartesian import CartesianMRI
from .noncartesian import NonCartesianMRI
from .nufft import NUFFT
from .radar import PolarRadar

__all__ = [
    "LinearOperator",
    "fft2c",
    "ifft2c",
    "fftc",
    "ifftc",
    "CartesianMRI",
    "BlockCS",
    "gaussian_block_matrix",
    "measurements_for_ratio",
    "pad_to_blocks",
    "NUFFT",
    "NonCartesianMRI",
    "radial_dcf",
    "pipe_menon_dcf",
    "PolarRadar",
]
