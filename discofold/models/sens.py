"""Coil-sensitivity estimation from the calibration region (E2E-VarNet's sensitivity model).

The measured data are restricted to the calibration region (the fully sampled centre box for
Cartesian masks, the central samples of a trajectory), taken back to coil images with the
coil-wise adjoint of the operator (no FFT is called here), refined coil by coil by a network
on their real and imaginary parts, and normalised so that ``Σ_c |S_c|² = 1`` at every pixel.
"""

from __future__ import annotations

import torch
from torch import nn

from ._meta import AcquisitionMeta
from ._ops import calibration_data, coil_operator

__all__ = ["SensitivityNet", "placeholder_maps", "is_placeholder"]


def placeholder_maps(coils: int, h: int, w: int) -> torch.Tensor:
    """Uniform maps ``(C, H, W)``, ``C^{-1/2}`` everywhere: what ``recon`` gives the operator of
    a multi-coil slice with no calibration region, for models that estimate their own maps."""
    return torch.full((coils, h, w), coils ** -0.5, dtype=torch.complex64)


def is_placeholder(maps: torch.Tensor) -> torch.Tensor:
    """Per item of ``maps`` ``(B, C, H, W)``: are they :func:`placeholder_maps`? ``(B,)`` bool."""
    c = maps.shape[-3]
    return (maps == torch.tensor(c ** -0.5, dtype=maps.dtype)).flatten(-3).all(dim=-1)


class SensitivityNet(nn.Module):
    """Learned sensitivity maps ``(B, C, H, W)`` from the calibration data.

    Parameters
    ----------
    net : nn.Module or None
        Complex ``(N, 1, H, W) -> (N, 1, H, W)`` network (e.g. :class:`ComplexNet` around a
        U-Net or a UDNO) applied to every coil image (coils are folded into the batch);
        ``None``: no refinement.
    eps : float
        Floor of ``sqrt(Σ_c |S_c|²)`` in the normalisation.
    residual : bool
        Refine the calibration coil images instead of replacing them: ``S = N(I + net(I))``.
        With a zero-initialised network output this starts from the classical estimate
        ``I_c / sqrt(Σ_c |I_c|²)`` (E2E-VarNet's original model is ``residual=False``).
    """

    def __init__(self, net: nn.Module, eps: float = 1e-12, residual: bool = False):
        super().__init__()
        self.net, self.eps, self.residual = net, float(eps), bool(residual)

    def forward(self, y: torch.Tensor, op, meta: AcquisitionMeta) -> torch.Tensor:
        """Maps ``(B, C, H, W)`` complex, ``Σ_c |S_c|² = 1`` (``None`` for single-coil ops)."""
        if getattr(op, "coil_maps", None) is None:
            return None
        coil_op = coil_operator(op)
        images = coil_op.A_adjoint(calibration_data(op, y, meta))
        b, c, h, w = images.shape
        if self.net is None:  # the classical estimate I_c / sqrt(Σ_c |I_c|²)
            maps = images
        else:
            maps = self.net(images.reshape(b * c, 1, h, w)).reshape(b, c, h, w)
            if self.residual:
                maps = images + maps
        norm = (maps.abs() ** 2).sum(dim=1, keepdim=True).sqrt().clamp_min(self.eps)
        return maps / norm
