"""U-shaped DISCO neural operator (UDNO) and the image-domain post-processing model ``udno``.

The UDNO is a U-Net whose convolutions are DISCO convolutions
(:class:`~discofold.layers.DiscoConv2d`): the kernels are continuous functions with a radius in
domain units, so the stencil is rebuilt for the runtime grid and the same weights run at any
resolution without a rebuild.  Each level halves the grid (2×2 average pooling, ceil mode for
odd sizes) and doubles the kernel radius, so a kernel covers the same number of samples at every
level; upsampling is bilinear to the exact size of the skip connection; instance norm and
LeakyReLU(0.2) follow every DISCO convolution.

Domains
-------
``domain_length=(L_H, L_W)`` fixes the physical extent of the grid (image space: the field of
view, default ``(2, 2)``; more pixels = finer sampling of the same field of view).
``domain_length=None`` measures the radius in units of the full-resolution grid spacing
(k-space: the spacing ``Δk = 1/FOV`` is fixed and a larger matrix extends k-space); the extent
of every layer is then set to the runtime grid shape at each call.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.disco2d import DiscoConv2d
from ._blocks import ComplexNet, scale_features, small_head
from ._meta import as_meta
from ._ops import check_inputs, initial_adjoint
from ._registry import register

__all__ = ["UDNO", "UDNORecon"]


class _DiscoBlock(nn.Module):
    """Two [DISCO conv → instance norm → LeakyReLU(0.2)] layers at one radius."""

    def __init__(self, cin, cout, radius, kernel_shape, domain, basis):
        super().__init__()
        self.convs = nn.ModuleList([
            DiscoConv2d(cin, cout, kernel_shape, radius, domain, basis=basis, bias=False),
            DiscoConv2d(cout, cout, kernel_shape, radius, domain, basis=basis, bias=False),
        ])
        self.norms = nn.ModuleList([nn.InstanceNorm2d(cout), nn.InstanceNorm2d(cout)])

    def forward(self, x):
        for conv, norm in zip(self.convs, self.norms):
            x = F.leaky_relu(norm(conv(x)), 0.2)
        return x


class UDNO(nn.Module):
    """U-shaped DISCO neural operator backbone ``(B, in_chans, H, W) -> (B, out_chans, H, W)``.

    Parameters
    ----------
    in_chans, out_chans : int
    chans : int
        Channels of the first level (doubled at every pooling).
    num_pools : int
        Number of poolings.
    radius : float
        Kernel radius of the first level in domain units (doubled at every pooling).
    kernel_shape : (int, int)
        DISCO basis shape ``(nr, nphi)``.
    domain_length : (float, float) or None
        Extent of the grid (module docstring); ``None``: radius in grid spacings.
    basis : str
        DISCO basis name.

    Notes
    -----
    ``forward(x, scale)``: ``scale`` ``(B, chans)`` multiplies the last decoder feature map.
    """

    def __init__(self, in_chans: int = 2, out_chans: int = 2, chans: int = 16,
                 num_pools: int = 3, radius: float = 0.05,
                 kernel_shape: Sequence[int] = (5, 4),
                 domain_length: Sequence[float] | None = (2.0, 2.0),
                 basis: str = "piecewise_linear"):
        super().__init__()
        self.chans, self.num_pools = int(chans), int(num_pools)
        self.pixel_units = domain_length is None
        dom = (1.0, 1.0) if domain_length is None else tuple(float(v) for v in domain_length)
        self._domain = dom
        ks = tuple(kernel_shape)
        self.down = nn.ModuleList([_DiscoBlock(in_chans, chans, radius, ks, dom, basis)])
        ch = chans
        for level in range(1, num_pools):
            self.down.append(_DiscoBlock(ch, ch * 2, radius * 2**level, ks, dom, basis))
            ch *= 2
        self.bottom = _DiscoBlock(ch, ch * 2, radius * 2**num_pools, ks, dom, basis)
        self.up = nn.ModuleList()
        for level in reversed(range(num_pools)):
            self.up.append(_DiscoBlock(ch * 3, ch, radius * 2**level, ks, dom, basis))
            ch //= 2
        self.head = nn.Conv2d(chans, out_chans, 1)

    def _set_domain(self, shape) -> None:
        """Pixel-unit mode: the extent of every layer is the full-resolution grid shape."""
        dom = (float(shape[0]), float(shape[1]))
        if dom == self._domain:
            return
        self._domain = dom
        for m in self.modules():
            if isinstance(m, DiscoConv2d):
                m.domain_length = dom
                m.clear_cache()  # stencils depend on the extent, which changed

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        if self.pixel_units:
            self._set_domain(x.shape[-2:])
        stack = []
        out = x
        for block in self.down:
            out = block(out)
            stack.append(out)
            out = F.avg_pool2d(out, 2, ceil_mode=True)
        out = self.bottom(out)
        for block in self.up:
            skip = stack.pop()
            out = F.interpolate(out, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            out = block(torch.cat([out, skip], dim=1))
        return self.head(scale_features(out, scale))


@register("udno", tiny=dict(chans=4, num_pools=2, radius=0.2),
          paper=dict(chans=32, num_pools=4, radius=0.04), multires=True,
          description="image-domain UDNO post-processing of the zero-filled image")
class UDNORecon(nn.Module):
    """Image-domain UDNO baseline ``x̂ = x₀ + UDNO(x₀)``, ``x₀ = Aᴴy`` (any resolution).

    Parameters are those of :class:`UDNO` (image domain ``(2, 2)``: the field of view).
    """

    def __init__(self, chans: int = 16, num_pools: int = 3, radius: float = 0.05,
                 kernel_shape: Sequence[int] = (5, 4)):
        super().__init__()
        self.net = small_head(ComplexNet(UDNO(2, 2, chans, num_pools, radius, kernel_shape),
                                         add_mean=False))

    def forward(self, y: torch.Tensor, op, meta=None) -> torch.Tensor:
        """``y`` ``(B, *op.out_shape)`` → complex image ``(B, H, W)``."""
        check_inputs("udno", y, op, as_meta(meta))
        x0 = initial_adjoint(op, y)
        return x0 + self.net(x0[:, None])[:, 0]
