"""Fourier neural operator (Li et al. 2021) backbone and the image-domain baseline ``fno``.

The backbone lifts the input channels to ``width`` with a 1×1 convolution, applies ``n_layers``
:class:`~discofold.layers.spectral.FNOBlock` s and projects back with two 1×1 convolutions.  The
spectral weights act on Fourier-series coefficients (``norm="forward"``), so the same weights
apply at any resolution that resolves the kept modes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.spectral import FNOBlock
from ._blocks import ComplexNet, scale_features, small_head
from ._meta import as_meta
from ._ops import check_inputs, initial_adjoint
from ._registry import register

__all__ = ["FNOBackbone", "FNORecon"]


class FNOBackbone(nn.Module):
    """``(B, in_chans, H, W) -> (B, out_chans, H, W)``: lift, FNO blocks, project.

    Parameters
    ----------
    in_chans, out_chans : int
    width : int
        Channels of the FNO blocks (``chans`` of the modulation scale).
    modes : int
        Kept Fourier modes per axis.
    n_layers : int
        Number of FNO blocks.
    """

    def __init__(self, in_chans: int = 2, out_chans: int = 2, width: int = 32,
                 modes: int = 12, n_layers: int = 4):
        super().__init__()
        self.chans = int(width)
        self.lift = nn.Conv2d(in_chans, width, 1)
        self.blocks = nn.ModuleList([FNOBlock(width, modes) for _ in range(n_layers)])
        self.proj1 = nn.Conv2d(width, 2 * width, 1)
        self.head = nn.Conv2d(2 * width, out_chans, 1)  # last layer (see small_head)

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        out = self.lift(x)
        for block in self.blocks:
            out = block(out)
        return self.head(F.gelu(self.proj1(scale_features(out, scale))))


@register("fno", tiny=dict(width=4, modes=4, n_layers=2),
          paper=dict(width=32, modes=12, n_layers=4),
          description="image-domain FNO post-processing of the zero-filled image")
class FNORecon(nn.Module):
    """Image-domain FNO baseline ``x̂ = x₀ + FNO(x₀)`` with ``x₀ = Aᴴy``."""

    def __init__(self, width: int = 32, modes: int = 12, n_layers: int = 4):
        super().__init__()
        self.net = small_head(ComplexNet(FNOBackbone(2, 2, width, modes, n_layers), add_mean=False))

    def forward(self, y: torch.Tensor, op, meta=None) -> torch.Tensor:
        """``y`` ``(B, *op.out_shape)`` → complex image ``(B, H, W)``."""
        check_inputs("fno", y, op, as_meta(meta))
        x0 = initial_adjoint(op, y)
        return x0 + self.net(x0[:, None])[:, 0]
