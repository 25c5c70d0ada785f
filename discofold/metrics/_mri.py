"""MRI image-quality metrics with the fastMRI definitions (``fastmri/evaluate.py``).

All take magnitude volumes ``(slices, H, W)`` (or one slice ``(H, W)``), target first:

- NMSE ``‖target − pred‖² / ‖target‖²``;
- PSNR ``10 log10(max² / MSE)`` with ``max`` the volume maximum of the target;
- SSIM: the mean over slices of scikit-image's SSIM (7×7 uniform window, K1 = 0.01,
  K2 = 0.03, sample covariance) with ``data_range`` the volume maximum of the target.

``reduction="volume"`` (default) returns one float per volume as fastMRI does;
``reduction="slice"`` returns a ``(slices,)`` tensor of per-slice values, with the same volume
``data_range`` (NMSE and PSNR then use each slice's own error).
"""

from __future__ import annotations

import torch

from ..errors import InputError
from ._common import as_tensor, check_pair
from ._ssim import ssim_slices

__all__ = ["nmse", "psnr", "ssim"]


def _volumes(target, pred, reduction: str):
    if reduction not in ("volume", "slice"):
        raise InputError(f"reduction must be 'volume' or 'slice', got {reduction!r}")
    t = as_tensor(target, "target", allow_complex=False)
    p = as_tensor(pred, "pred", allow_complex=False)
    check_pair(t, p)
    if t.ndim == 2:
        t, p = t[None], p[None]
    if t.ndim != 3:
        raise InputError(f"MRI metrics take (slices, H, W) or (H, W), got {tuple(t.shape)}")
    return t, p


def _range(t: torch.Tensor, data_range) -> float:
    rng = float(t.max()) if data_range is None else float(data_range)
    if rng <= 0:
        raise InputError(f"data_range must be > 0 (the target volume maximum), got {rng}")
    return rng


def nmse(target, pred, reduction: str = "volume"):
    """Normalised mean squared error ``‖target − pred‖² / ‖target‖²`` (0 for identical)."""
    t, p = _volumes(target, pred, reduction)
    dims = (-2, -1) if reduction == "slice" else (-3, -2, -1)
    den = t.square().sum(dim=dims)
    if bool((den == 0).any()):
        raise InputError("nmse: the target is identically zero")
    val = (t - p).square().sum(dim=dims) / den
    return float(val) if reduction == "volume" else val


def psnr(target, pred, data_range: float | None = None, reduction: str = "volume"):
    """Peak signal-to-noise ratio in dB, peak = volume maximum of the target (fastMRI)."""
    t, p = _volumes(target, pred, reduction)
    rng = _range(t, data_range)
    dims = (-2, -1) if reduction == "slice" else (-3, -2, -1)
    mse = (t - p).square().mean(dim=dims)
    val = 10 * torch.log10(rng**2 / mse)
    return float(val) if reduction == "volume" else val


def ssim(target, pred, data_range: float | None = None, reduction: str = "volume",
         win_size: int = 7, k1: float = 0.01, k2: float = 0.03):
    """Structural similarity (fastMRI/scikit-image definition, data_range = volume maximum)."""
    t, p = _volumes(target, pred, reduction)
    vals = ssim_slices(t, p, _range(t, data_range), win_size, k1, k2)
    return float(vals.mean()) if reduction == "volume" else vals
