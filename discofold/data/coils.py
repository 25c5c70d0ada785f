"""Birdcage-like coil sensitivity maps, normalised so that Σ_c |S_c|² = 1 on the object.

Coils sit on a circle of radius ``radius`` (normalised field-of-view units, the image spans
``[-1, 1)`` along each axis; see :mod:`discofold.data.phantoms`) at equally spaced angles.  Coil
``c`` has the smooth complex profile ``exp(i (φ_c(u) + ψ_c)) / |u - p_c|`` of a small loop (the
phase winds around the coil position, as in a birdcage), optionally jittered by a generator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..errors import InputError, ShapeError
from .phantoms import pixel_centres

__all__ = ["birdcage_maps", "normalize_maps", "rss"]


def normalize_maps(
    maps: torch.Tensor, support: torch.Tensor | None = None, eps: float = 1e-12
) -> torch.Tensor:
    """Scale coil maps ``(..., C, H, W)`` so that ``Σ_c |S_c|² = 1`` on ``support``.

    Parameters
    ----------
    maps : Tensor ``(..., C, H, W)``, complex
    support : Tensor ``(H, W)`` or ``(..., H, W)``, bool, optional
        Object support; maps are set to 0 outside it.  ``None``: normalise everywhere.
    """
    if not torch.is_complex(maps) or maps.ndim < 3:
        raise InputError(
            f"coil maps must be complex (..., C, H, W), got {maps.dtype} {tuple(maps.shape)}"
        )
    norm = torch.sqrt((maps.abs() ** 2).sum(dim=-3, keepdim=True))
    out = maps / norm.clamp_min(eps)
    if support is not None:
        support = torch.as_tensor(support, device=maps.device).to(torch.bool)
        if tuple(support.shape[-2:]) != tuple(maps.shape[-2:]):
            raise ShapeError(
                f"support of shape {tuple(support.shape)} does not match coil maps "
                f"{tuple(maps.shape)} in (H, W)"
            )
        out = out * support.unsqueeze(-3)
    return out


def birdcage_maps(
    shape: Sequence[int],
    num_coils: int,
    generator: torch.Generator | None = None,
    radius: float = 1.7,
    jitter: float = 0.1,
    support: torch.Tensor | None = None,
    dtype: torch.dtype = torch.complex64,
) -> torch.Tensor:
    """Smooth complex coil maps ``(C, H, W)`` for any matrix and number of coils.

    Parameters
    ----------
    shape : (H, W)
        Matrix size (any, odd or even, non-square).
    num_coils : int
        ``C >= 1``.  A single coil gives ``|S| = 1`` with a smooth phase.
    generator : torch.Generator, optional
        Drives the jitter of coil radius/angle/phase.  ``None``: no jitter (exact birdcage).
    radius : float
        Distance of the coils from the centre of the field of view, normalised units (above
        √2 ≈ 1.41 keeps every coil outside the image, corners included).
    jitter : float
        Relative random perturbation of radius and angle; 0 for the exact birdcage.
    support : Tensor ``(H, W)`` bool, optional
        Object support: ``Σ_c |S_c|² = 1`` there and maps are 0 outside; ``None``: everywhere.
    """
    if len(shape) != 2:
        raise ShapeError(f"shape must be (H, W), got {tuple(shape)}")
    if int(num_coils) < 1:
        raise InputError(f"num_coils must be >= 1, got {num_coils}")
    if radius <= 0 or jitter < 0:
        raise InputError(f"radius must be > 0 and jitter >= 0, got {radius}, {jitter}")
    c = int(num_coils)
    ang = 2 * math.pi * torch.arange(c, dtype=torch.float64) / c
    rad = torch.full((c,), float(radius), dtype=torch.float64)
    psi = torch.zeros(c, dtype=torch.float64)
    if jitter > 0 and generator is not None:
        g = generator
        ang = ang + jitter * (2 * math.pi / c) * (torch.rand(c, generator=g, dtype=torch.float64)
                                                  - 0.5)
        rad = rad * (1 + jitter * (torch.rand(c, generator=g, dtype=torch.float64) - 0.5))
        psi = 2 * math.pi * torch.rand(c, generator=g, dtype=torch.float64)
    u0, u1 = pixel_centres(shape)
    d0 = u0[None, :, None] - (rad * torch.cos(ang))[:, None, None]
    d1 = u1[None, None, :] - (rad * torch.sin(ang))[:, None, None]
    dist = torch.sqrt(d0**2 + d1**2)
    phase = torch.atan2(d1, -d0) - ang[:, None, None] + psi[:, None, None]
    maps = torch.polar(1.0 / dist, phase)
    return normalize_maps(maps, support).to(dtype)


def rss(x: torch.Tensor, dim: int = -3) -> torch.Tensor:
    """Root-sum-of-squares over the coil axis: ``sqrt(Σ_c |x_c|²)`` (real)."""
    return torch.sqrt((x.abs() ** 2).sum(dim=dim))
