"""The fastMRI U-Net (Ronneberger et al. 2015, as in ``fastmri/models/unet.py``) and the
image-domain U-Net post-processing baseline ``unet``.

The layer layout and parameter count are those of fastMRI's ``Unet`` (3×3 convolutions without
bias, instance norm, LeakyReLU(0.2), 2×2 average pooling, 2×2 transposed convolutions), so
E2E-VarNet built from it has fastMRI's parameter count.  The input is zero-padded to a multiple
of ``2 ** num_pools`` (fastMRI's ``NormUnet`` padding) and cropped back, so any size works.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._blocks import ComplexNet, scale_features, small_head
from ._meta import as_meta
from ._ops import check_inputs, initial_adjoint
from ._registry import register

__all__ = ["Unet", "UnetRecon"]


def _conv_block(cin: int, cout: int, drop: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.InstanceNorm2d(cout),
        nn.LeakyReLU(0.2), nn.Dropout2d(drop),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.InstanceNorm2d(cout),
        nn.LeakyReLU(0.2), nn.Dropout2d(drop),
    )


def _up_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 2, stride=2, bias=False),
                         nn.InstanceNorm2d(cout), nn.LeakyReLU(0.2))


class Unet(nn.Module):
    """fastMRI U-Net backbone ``(B, in_chans, H, W) -> (B, out_chans, H, W)`` (real).

    Parameters
    ----------
    in_chans, out_chans : int
    chans : int
        Channels of the first level (doubled at every pooling).
    num_pools : int
        Number of poolings.
    drop_prob : float
        Dropout probability.

    Notes
    -----
    ``forward(x, scale)``: ``scale`` ``(B, chans)`` multiplies the last decoder feature map
    (before the final 1×1 convolution), see
    :class:`~discofold.layers.modulation.RecursionModulation`.
    """

    def __init__(self, in_chans: int = 2, out_chans: int = 2, chans: int = 32,
                 num_pools: int = 4, drop_prob: float = 0.0):
        super().__init__()
        self.chans, self.num_pools = int(chans), int(num_pools)
        self.down = nn.ModuleList([_conv_block(in_chans, chans, drop_prob)])
        ch = chans
        for _ in range(num_pools - 1):
            self.down.append(_conv_block(ch, ch * 2, drop_prob))
            ch *= 2
        self.bottom = _conv_block(ch, ch * 2, drop_prob)
        self.up_t, self.up_c = nn.ModuleList(), nn.ModuleList()
        for _ in range(num_pools):
            self.up_t.append(_up_block(ch * 2, ch))
            self.up_c.append(_conv_block(ch * 2, ch, drop_prob))
            ch //= 2
        self.head = nn.Conv2d(chans, out_chans, 1)

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = 2 ** self.num_pools
        ph, pw = (-h) % m, (-w) % m
        out = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        stack = []
        for layer in self.down:
            out = layer(out)
            stack.append(out)
            out = F.avg_pool2d(out, 2)
        out = self.bottom(out)
        for up, conv in zip(self.up_t, self.up_c):
            out = conv(torch.cat([up(out), stack.pop()], dim=1))
        out = self.head(scale_features(out, scale))
        return out[..., ph // 2: ph // 2 + h, pw // 2: pw // 2 + w]


@register("unet", tiny=dict(chans=4, num_pools=2), paper=dict(chans=32, num_pools=4),
          description="image-domain U-Net post-processing of the zero-filled image")
class UnetRecon(nn.Module):
    """Image-domain U-Net baseline: ``x̂ = x₀ + U(x₀)`` with ``x₀ = Aᴴy`` (fastMRI U-Net).

    ``x₀`` is the coil-combined zero-filled image of the operator (density compensated for
    non-Cartesian data with ``dcf``); the U-Net works on its real and imaginary parts.
    """

    def __init__(self, chans: int = 32, num_pools: int = 4, drop_prob: float = 0.0):
        super().__init__()
        self.net = small_head(ComplexNet(Unet(2, 2, chans, num_pools, drop_prob), add_mean=False))

    def forward(self, y: torch.Tensor, op, meta=None) -> torch.Tensor:
        """``y`` ``(B, *op.out_shape)`` → complex image ``(B, H, W)``."""
        check_inputs("unet", y, op, as_meta(meta))
        x0 = initial_adjoint(op, y)
        return x0 + self.net(x0[:, None])[:, 0]
