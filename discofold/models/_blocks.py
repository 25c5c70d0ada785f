"""Shared pieces: the complex wrapper around real backbones and coil reduce / expand.

A *backbone* is a real network ``backbone(x, scale) -> out`` on ``(B, C_in, H, W)`` with an
optional ``scale`` ``(B, chans)`` (or a callable giving it, :func:`scale_features`) from
:class:`~discofold.layers.modulation.RecursionModulation`
multiplying its last feature map (its residual branch).  :class:`ComplexNet` makes it act on
complex images with fastMRI's ``NormUnet`` normalisation.
"""

from __future__ import annotations

import torch
from torch import nn

from .._complex import channels_to_complex, complex_to_channels
from ..layers.modulation import ScaleLike

__all__ = ["ComplexNet", "reduce_coils", "expand_coils", "scale_features", "small_head",
           "combine_coils"]


def scale_features(x: torch.Tensor, scale: ScaleLike) -> torch.Tensor:
    """Multiply ``(B, C, H, W)`` features by per-channel ``scale`` ``(B, C)`` (or return ``x``).

    ``scale`` may also be a callable ``features -> (B, C)`` (a feature-conditioned
    :class:`~discofold.layers.modulation.RecursionModulation` bound to one pass), applied to
    ``x`` itself.
    """
    if scale is None:
        return x
    if callable(scale):
        scale = scale(x)
    return x * scale.to(x.dtype)[:, :, None, None]


def small_head(module: nn.Module, gain: float = 1e-2) -> nn.Module:
    """Scale the final 1×1 ``head`` convolution of every backbone inside ``module`` by ``gain``
    and zero its bias.

    A :class:`ComplexNet` (``add_mean=False``) around such a backbone then outputs a
    perturbation of about ``gain`` times the input's spread, so residual branches start close to
    the identity: an unrolled model begins near its data-consistent initial image instead of a
    random perturbation of it, and training only has to learn improvements.  (Not exactly zero,
    so that every parameter receives a gradient from the first step.)  Returns ``module``.
    """
    for m in module.modules():
        head = getattr(m, "head", None)
        if isinstance(head, nn.Conv2d):
            with torch.no_grad():
                head.weight.mul_(float(gain))
                if head.bias is not None:
                    head.bias.zero_()
    return module


class ComplexNet(nn.Module):
    """Complex ``(B, C, H, W)`` → complex ``(B, C, H, W)`` through a real backbone.

    The real and imaginary parts of all channels are packed by
    :func:`discofold._complex.complex_to_channels`; each group (real parts, imaginary parts) is
    normalised by its own mean and standard deviation per sample and the output un-normalised,
    as fastMRI's ``NormUnet`` does.  ``add_mean=False`` rescales the output by the standard
    deviation only: for residual branches (a correction added to a state), whose output must be
    near zero at initialisation (:func:`small_head`); with the mean added back, a near-zero
    backbone would subtract the image mean at every cascade and make the state oscillate.
    """

    def __init__(self, backbone: nn.Module, add_mean: bool = True):
        super().__init__()
        self.backbone, self.add_mean = backbone, bool(add_mean)

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        """Apply the backbone to the normalised channels of ``x``."""
        b = complex_to_channels(x, dim=1)
        n, c2, h, w = b.shape
        g = b.reshape(n, 2, -1)
        mean = g.mean(dim=2).reshape(n, 2, 1, 1, 1)
        std = g.std(dim=2).clamp_min(1e-12).reshape(n, 2, 1, 1, 1)
        b = ((b.reshape(n, 2, c2 // 2, h, w) - mean) / std).reshape(n, c2, h, w)
        out = self.backbone(b, scale)
        out = out.reshape(n, 2, c2 // 2, h, w) * std
        if self.add_mean:
            out = out + mean
        return channels_to_complex(out.reshape(n, c2, h, w), dim=1)


def reduce_coils(z: torch.Tensor, maps: torch.Tensor | None) -> torch.Tensor:
    """Coil images ``(B, C, H, W)`` → combined image ``(B, H, W)``: ``Σ_c conj(S_c) z_c``."""
    return z if maps is None else (z * maps.conj()).sum(dim=1)


def expand_coils(x: torch.Tensor, maps: torch.Tensor | None) -> torch.Tensor:
    """Combined image ``(B, H, W)`` → coil images ``(B, C, H, W)``: ``S_c x``."""
    return x if maps is None else x.unsqueeze(1) * maps


def combine_coils(z: torch.Tensor, maps: torch.Tensor | None) -> torch.Tensor:
    """Final coil combination ``(B, C, H, W)`` → ``(B, H, W)``: the root-sum-of-squares
    magnitude of the coil images with the phase of ``Σ_c conj(S_c) z_c``.

    E2E-VarNet's output is ``RSS(z)`` (fastMRI ``rss(complex_abs(ifft2c(k)))``); the maps only
    serve the reduce / expand steps inside the cascades.  The RSS magnitude does not suffer from
    errors of maps estimated from a small calibration region; the map-combined image supplies
    the phase, so the output stays a complex image (``|x| = RSS`` where the maps are exact).
    """
    x = reduce_coils(z, maps)
    if maps is None:
        return x
    rss = z.abs().pow(2).sum(dim=1).sqrt()
    mag = x.abs()
    floor = 1e-6 * mag.flatten(1).amax(1).clamp_min(1e-30)[:, None, None]
    return x * (rss / torch.maximum(mag, floor))
