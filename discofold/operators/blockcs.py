"""Block compressed sensing of real images (the ISTA-Net / COAST setting).

An image ``(..., H, W)`` with ``H`` and ``W`` multiples of ``block`` is cut into non-overlapping
``block × block`` tiles; each tile, flattened row-major, is multiplied by the same sampling
matrix ``Φ`` of shape ``(M, block²)``:
``y[..., i, j, :] = Φ vec(x[..., i·b:(i+1)·b, j·b:(j+1)·b])``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputError, ShapeError
from ._base import LinearOperator
from ._checks import check_finite

__all__ = ["BlockCS", "gaussian_block_matrix", "measurements_for_ratio", "pad_to_blocks"]

# Measurement counts of the published ISTA-Net / COAST ratio table for 33×33 blocks.
_PAPER_M = {0.01: 10, 0.04: 43, 0.10: 109, 0.25: 272, 0.30: 327, 0.40: 436, 0.50: 545}


def measurements_for_ratio(ratio: float, block: int = 33) -> int:
    """Number of measurements ``M`` per block for a sampling ratio.

    Uses the published ISTA-Net/COAST table for 33×33 blocks at its ratios and
    ``round(ratio · block²)`` otherwise.
    """
    if not 0 < ratio <= 1:
        raise InputError(f"sampling ratio must be in (0, 1], got {ratio}")
    if block == 33:
        for r, m in _PAPER_M.items():
            if abs(r - ratio) < 1e-9:
                return m
    return max(1, int(round(ratio * block * block)))


def gaussian_block_matrix(
    ratio: float, block: int = 33, generator: torch.Generator | int | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Gaussian sampling matrix ``(M, block²)`` with orthonormal rows (``Φ Φᵀ = I``).

    Rows are orthonormalised by a QR decomposition of the transpose; ``generator`` (or an int
    seed) makes it reproducible.
    """
    if isinstance(generator, int):
        generator = torch.Generator().manual_seed(generator)
    m = measurements_for_ratio(ratio, block)
    n = block * block
    g = torch.randn(n, m, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(g)  # q: (n, m), orthonormal columns
    q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)  # unique sign convention
    return q.T.contiguous().to(dtype)


def pad_to_blocks(x: torch.Tensor, block: int = 33) -> tuple[torch.Tensor, tuple[int, int]]:
    """Zero-pad the last two axes up to multiples of ``block``; returns the padded image and the
    original ``(H, W)`` so the result can be cropped back with ``y[..., :H, :W]``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % block, (-w) % block
    return F.pad(x, (0, pw, 0, ph)), (h, w)


class BlockCS(LinearOperator):
    """Block-wise compressed sensing operator for real images (final).

    Parameters
    ----------
    phi : Tensor ``(M, block²)``
        Real sampling matrix (e.g. from :func:`gaussian_block_matrix`).
    block : int
        Block side length (33 in ISTA-Net/COAST).

    Shapes
    ------
    image ``(..., H, W)`` with ``H, W`` multiples of ``block`` → ``(..., H/b, W/b, M)``.
    """

    name = "BlockCS"
    complex_input = False
    complex_output = False

    def __init__(self, phi: torch.Tensor, block: int = 33):
        if not isinstance(phi, torch.Tensor):
            phi = torch.as_tensor(phi)
        if torch.is_complex(phi) or not phi.is_floating_point():
            raise InputError(f"phi must be a real floating-point matrix, got dtype {phi.dtype}")
        if phi.ndim != 2 or phi.shape[1] != block * block:
            raise ShapeError(
                f"phi must have shape (M, block²) = (M, {block * block}), got {tuple(phi.shape)}"
            )
        if phi.shape[0] < 1:
            raise ShapeError("phi has no rows (M = 0)")
        check_finite(phi, "phi")
        self.phi = phi
        self.block = int(block)
        self.in_shape = (-1, -1)
        self.out_shape = (-1, -1, int(phi.shape[0]))

    @property
    def ratio(self) -> float:
        """Sampling ratio ``M / block²``."""
        return self.phi.shape[0] / self.block**2

    def _check_blocks(self, h: int, w: int) -> None:
        if h % self.block or w % self.block:
            raise ShapeError(
                f"BlockCS needs image sides that are multiples of block={self.block}, got "
                f"({h}, {w}); pad with discofold.operators.pad_to_blocks"
            )

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.block
        h, w = x.shape[-2:]
        self._check_blocks(h, w)
        lead = x.shape[:-2]
        t = x.reshape(*lead, h // b, b, w // b, b).transpose(-3, -2)  # (..., nh, nw, b, b)
        return t.reshape(*lead, h // b, w // b, b * b) @ self.phi.to(x.dtype).T

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        b = self.block
        nh, nw = y.shape[-3:-1]
        lead = y.shape[:-3]
        t = (y @ self.phi.to(y.dtype)).reshape(*lead, nh, nw, b, b).transpose(-3, -2)
        return t.reshape(*lead, nh * b, nw * b)

    def _concrete(self, shape):
        if len(shape) == 2:
            return (2 * self.block, 3 * self.block)
        return (2, 3, int(self.phi.shape[0]))
