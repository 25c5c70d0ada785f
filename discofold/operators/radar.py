"""Polar-format ISAR operator: the exact pixel-sum echo model evaluated with the NUFFT.

See docs/conventions.md (Radar).  For an image ``x`` of shape ``(..., H, W)`` over a window
``extent_m = (Lx, Ly)`` metres, the echo at angle θ_p and frequency f_q is

    s(θ_p, f_q) = Σ_ij x[i, j] exp(−i 4π f_q / c (x_i cos θ_p + y_j sin θ_p)),

with ``x_i = (i − H//2) Lx/H`` and ``y_j = (j − W//2) Ly/W``.  In radians per pixel the sample
sits at ``k = 4π f/c (Lx/H cos θ, Ly/W sin θ)``; since pixel indices are integers the phase is
2π-periodic in ``k``, so ``k`` is wrapped into [−π, π) without changing the sum.
"""

from __future__ import annotations

import math

import torch

from ..errors import InputError, ShapeError
from ._base import LinearOperator
from ._checks import check_broadcast

__all__ = ["PolarRadar", "SPEED_OF_LIGHT", "cell_widths"]

SPEED_OF_LIGHT = 299_792_458.0
_PI32_BELOW = 3.1415925  # largest float32 below π, rounded down


def cell_widths(points: torch.Tensor) -> torch.Tensor:
    """Quadrature cell widths of 1-D sample positions in any order (midpoint rule; uniform →
    constant).

    Interior cells span half-way to each neighbouring position; the two end cells mirror their
    inner half.  Samples at the same position share its cell equally, so repeated angles or
    frequencies keep positive weights (never a zero total); a single position gets width 1.
    """
    pos, inverse, counts = torch.unique(points, sorted=True, return_inverse=True,
                                        return_counts=True)
    w = torch.ones_like(pos)
    if pos.numel() > 1:
        d = pos[1:] - pos[:-1]
        w[1:-1] = 0.5 * (d[1:] + d[:-1])
        w[0], w[-1] = d[0], d[-1]
    return (w / counts.to(w.dtype))[inverse]


def _vector(values, name: str) -> torch.Tensor:
    t = torch.as_tensor(values)
    if torch.is_complex(t):
        raise InputError(f"{name} must be real, got dtype {t.dtype}")
    t = t.to(torch.float64)
    if t.ndim != 1 or t.numel() == 0:
        raise ShapeError(f"{name} must be a non-empty 1-D tensor, got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise InputError(f"{name} contains non-finite values")
    return t


def _radar_mask(mask, p: int, f: int, device) -> torch.Tensor | None:
    if mask is None:
        return None
    mask = torch.as_tensor(mask, device=device)
    if mask.dtype != torch.bool:
        if torch.is_complex(mask) or not bool(((mask == 0) | (mask == 1)).all()):
            raise InputError("radar mask must be bool or hold only 0 and 1")
        mask = mask != 0
    if mask.ndim < 2:
        raise ShapeError(f"radar mask must have shape (..., P, F) = (..., {p}, {f}), "
                         f"got {tuple(mask.shape)}")
    check_broadcast(mask.shape[-2:], "radar mask", (p, f), "echo grid (P, F)")
    if tuple(torch.broadcast_shapes(mask.shape[-2:], (p, f))) != (p, f):
        raise ShapeError(f"radar mask of shape {tuple(mask.shape)} does not broadcast to the "
                         f"echo grid (P, F) = ({p}, {f})")
    if not bool(mask.flatten(-2).any(-1).all()):
        raise InputError("radar mask is empty (no measured sample) for at least one entry")
    return mask


class PolarRadar(LinearOperator):
    """Polar-format radar operator, image ``(..., H, W)`` → echo ``(..., P, F)`` (final).

    Parameters
    ----------
    angles_rad : (P,) array
        Aspect angles θ_p in radians (any order and spacing; sorted spacing sets the density
        weights).
    frequencies_hz : (F,) array
        Transmitted frequencies in Hz, all > 0.
    image_shape : (H, W)
        Pixel grid of the image.
    extent_m : (Lx, Ly)
        Window size in metres (down-range, cross-range), both > 0.
    mask : bool tensor ``(P, F)`` or ``(B, P, F)``, optional
        Measured samples (sparse aperture / sparse band); unmeasured samples are zero.
    **nufft_kwargs
        Passed to :class:`~discofold.operators.NUFFT` (accuracy and backend settings).
    """

    name = "PolarRadar"

    def __init__(self, angles_rad, frequencies_hz, image_shape, extent_m, mask=None,
                 **nufft_kwargs):
        from .nufft import NUFFT

        device = angles_rad.device if isinstance(angles_rad, torch.Tensor) else None
        theta = _vector(angles_rad, "angles_rad")
        freq = _vector(frequencies_hz, "frequencies_hz")
        if bool((freq <= 0).any()):
            raise InputError(f"frequencies_hz must all be > 0 Hz, got min {float(freq.min()):g}")
        if len(image_shape) != 2 or any(int(s) < 1 for s in image_shape):
            raise ShapeError(f"image_shape must be two positive ints (H, W), got {image_shape}")
        ext = torch.as_tensor(extent_m, dtype=torch.float64).reshape(-1)
        if ext.numel() != 2 or not bool(torch.isfinite(ext).all()) or bool((ext <= 0).any()):
            raise InputError(f"extent_m must be two finite lengths > 0 m, got {list(extent_m)}")
        h, w = int(image_shape[0]), int(image_shape[1])
        self.angles_rad, self.frequencies_hz = theta.to(device), freq.to(device)
        self.image_shape, self.extent_m = (h, w), (float(ext[0]), float(ext[1]))
        self.in_shape = (h, w)
        self.out_shape = (theta.numel(), freq.numel())
        self.mask = _radar_mask(mask, *self.out_shape, device)
        self.batch_shape = () if self.mask is None else tuple(self.mask.shape[:-2])
        self.nufft = NUFFT(self._trajectory().to(device), (h, w), **nufft_kwargs)
        self.scale = math.sqrt(h * w)
        self.density_weights = self._density().to(device)

    # ------------------------------------------------------------------ geometry
    def kspace(self) -> torch.Tensor:
        """Spatial frequencies ``(P, F, 2)`` in cycles/m: ``(2f/c)(cos θ, sin θ)`` (the fan)."""
        th = self.angles_rad.cpu()[:, None]
        k = 2.0 * self.frequencies_hz.cpu()[None, :] / SPEED_OF_LIGHT
        return torch.stack([k * torch.cos(th), k * torch.sin(th)], dim=-1)

    def _trajectory(self) -> torch.Tensor:
        (h, w), (lx, ly) = self.image_shape, self.extent_m
        kc = self.kspace() * (2 * math.pi)  # radians per metre
        traj = torch.stack([kc[..., 0] * lx / h, kc[..., 1] * ly / w], dim=-1).reshape(-1, 2)
        traj = torch.remainder(traj + math.pi, 2 * math.pi) - math.pi
        # keep even a float32 cast strictly below π (moves a point by < 3e-8 rad at most)
        return traj.clamp(-math.pi, _PI32_BELOW)

    @property
    def pixel_size_m(self) -> tuple[float, float]:
        """Pixel size ``(Lx/H, Ly/W)`` in metres."""
        return self.extent_m[0] / self.image_shape[0], self.extent_m[1] / self.image_shape[1]

    @property
    def resolution_m(self) -> tuple[float, float]:
        """Nominal resolution (down-range ``c/2B``, cross-range ``λ_c/(2Δθ)``) in metres."""
        f, th = self.frequencies_hz, self.angles_rad
        bw = float(f.max() - f.min()) or float(f.mean())
        span = float(th.max() - th.min()) or 1e-12
        lam = SPEED_OF_LIGHT / float(f.mean())
        return SPEED_OF_LIGHT / (2 * bw), lam / (2 * span)

    def _density(self) -> torch.Tensor:
        """Polar-area quadrature weights ``∝ f dθ df``, ``(P, F)``, summing to 1."""
        th, f = self.angles_rad.cpu(), self.frequencies_hz.cpu()
        wgt = cell_widths(th)[:, None] * (f * cell_widths(f))[None, :]
        return wgt / wgt.sum()

    # ------------------------------------------------------------------ operator
    def _apply_mask(self, y: torch.Tensor) -> torch.Tensor:
        return y if self.mask is None else y * self.mask

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.nufft._forward(x) * self.scale
        return self._apply_mask(s.reshape(*s.shape[:-1], *self.out_shape))

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        y = self._apply_mask(y)
        return self.nufft._adjoint(y.reshape(*y.shape[:-2], -1)) * self.scale

    def reference_image(self, echo: torch.Tensor) -> torch.Tensor:
        """Density-compensated adjoint ``Σ_pq w_pq s_pq e^{+i k·n}`` of complete data.

        With complete noise-free data this is the full-aperture reference image of DESIGN.md; a
        unit scatterer on a pixel centre images to exactly 1 at that pixel.  The mask is ignored.
        """
        self._check(echo, self.out_shape, True, "PolarRadar.reference_image echo")
        wgt = self.density_weights.to(echo.real.dtype)
        y = (echo * wgt).reshape(*echo.shape[:-2], -1)
        return self.nufft._adjoint(y) * self.scale

    def dc_adjoint(self, echo: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Density-compensated adjoint of the measured samples, weights renormalised to sum to 1
        over the measured set of each sample (the natural zero-filled radar image).

        ``mask`` ``(..., P, F)`` (0/1 or bool) replaces the operator's own mask, so that one
        full-aperture operator serves acquisitions with different masks."""
        self._check(echo, self.out_shape, True, "PolarRadar.dc_adjoint echo")
        wgt = self.density_weights.to(echo.real.dtype)
        mask = self.mask if mask is None else mask
        if mask is not None:
            wgt = wgt * mask
            wgt = wgt / wgt.sum(dim=(-2, -1), keepdim=True)
        y = (echo * wgt).reshape(*echo.shape[:-2], -1)
        return self.nufft._adjoint(y) * self.scale

    def _concrete(self, shape):
        return shape
