"""Radar (ISAR) image metrics on complex images ``(..., H, W)``, reference first.

Reference-based metrics first fit the estimate to the reference by the least-squares complex
scale ``α = ⟨x̂, x⟩ / ⟨x̂, x̂⟩`` (``⟨a, b⟩ = Σ conj(a) b``), so they are invariant to any complex
scale of the estimate.  Batched inputs give one value per image.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import InputError, ShapeError
from ._common import as_tensor, check_pair, out
from ._ssim import ssim_slices

__all__ = [
    "align_scale",
    "radar_nmse_db",
    "radar_psnr",
    "radar_ssim",
    "radar_correlation",
    "image_entropy",
    "image_contrast",
    "detect_scatterers",
]

_DIMS = (-2, -1)


def _pair(reference, estimate):
    ref = as_tensor(reference, "reference", allow_complex=True)
    est = as_tensor(estimate, "estimate", allow_complex=True)
    check_pair(ref, est, ("reference", "estimate"))
    if bool((ref.abs().sum(dim=_DIMS) == 0).any()):
        raise InputError("radar metrics: the reference image is identically zero")
    return ref.to(torch.complex128), est.to(torch.complex128)


def align_scale(reference, estimate) -> torch.Tensor:
    """The estimate times its least-squares complex scale ``α = ⟨x̂, x⟩/⟨x̂, x̂⟩`` (per image)."""
    ref, est = _pair(reference, estimate)
    num = (est.conj() * ref).sum(dim=_DIMS, keepdim=True)
    den = est.abs().square().sum(dim=_DIMS, keepdim=True)
    return est * torch.where(den > 0, num / den.clamp_min(1e-300), torch.zeros_like(num))


def radar_nmse_db(reference, estimate):
    """``10 log10(‖αx̂ − x‖² / ‖x‖²)`` in dB after least-squares complex scaling."""
    ref, est = _pair(reference, estimate)
    err = (align_scale(ref, est) - ref).abs().square().sum(dim=_DIMS)
    return out(10 * torch.log10(err.clamp_min(1e-300) / ref.abs().square().sum(dim=_DIMS)))


def radar_psnr(reference, estimate):
    """``10 log10(max|x|² / mean|αx̂ − x|²)`` in dB after least-squares complex scaling."""
    ref, est = _pair(reference, estimate)
    mse = (align_scale(ref, est) - ref).abs().square().mean(dim=_DIMS)
    peak = ref.abs().amax(dim=_DIMS)
    return out(10 * torch.log10(peak.square() / mse.clamp_min(1e-300)))


def _db(mag: torch.Tensor, peak: torch.Tensor, dynamic_range_db: float) -> torch.Tensor:
    """``20 log10(|x|/peak)`` clipped to ``[−DR, 0]`` and shifted to ``[0, DR]``."""
    rel = mag / peak.reshape(*peak.shape, 1, 1)
    db = 20 * torch.log10(rel.clamp_min(10 ** (-dynamic_range_db / 20)))
    return db.clamp(-dynamic_range_db, 0) + dynamic_range_db


def radar_ssim(reference, estimate, dynamic_range_db: float = 40.0):
    """SSIM of the dB magnitudes clipped to a dynamic range (default 40 dB below the peak).

    Both images are referred to the reference peak ``max|x|`` (the estimate after least-squares
    complex scaling), clipped to ``[−DR, 0]`` dB, and compared by :func:`discofold.metrics.ssim`'s
    definition with ``data_range = DR``.
    """
    if not dynamic_range_db > 0:
        raise InputError(f"dynamic_range_db must be > 0, got {dynamic_range_db}")
    ref, est = _pair(reference, estimate)
    peak = ref.abs().amax(dim=_DIMS)
    a = _db(ref.abs(), peak, dynamic_range_db)
    b = _db(align_scale(ref, est).abs(), peak, dynamic_range_db)
    lead = a.shape[:-2]
    vals = ssim_slices(a.reshape(-1, *a.shape[-2:]), b.reshape(-1, *a.shape[-2:]),
                       dynamic_range_db)
    return out(vals.reshape(lead))


def radar_correlation(reference, estimate):
    """Magnitude of the complex correlation coefficient ``|⟨x̂, x⟩| / (‖x̂‖ ‖x‖)`` in [0, 1]."""
    ref, est = _pair(reference, estimate)
    num = (est.conj() * ref).sum(dim=_DIMS).abs()
    den = est.abs().square().sum(dim=_DIMS).sqrt() * ref.abs().square().sum(dim=_DIMS).sqrt()
    return out(num / den.clamp_min(1e-300))


def image_entropy(image):
    """Image entropy ``−Σ p ln p`` with ``p = |x|²/Σ|x|²`` (nats; lower = more focused)."""
    x = as_tensor(image, "image", allow_complex=True)
    power = x.abs().square()
    p = power / power.sum(dim=_DIMS, keepdim=True).clamp_min(1e-300)
    return out(-(p * torch.log(p.clamp_min(1e-300))).sum(dim=_DIMS))


def image_contrast(image):
    """Image contrast ``std(|x|²) / mean(|x|²)`` (population std; higher = more focused)."""
    x = as_tensor(image, "image", allow_complex=True)
    power = x.abs().square()
    mean = power.mean(dim=_DIMS)
    return out(power.std(dim=_DIMS, correction=0) / mean.clamp_min(1e-300))


def _peaks(mag: torch.Tensor, threshold_db: float):
    """Local maxima (3×3, ties kept) at or above ``threshold_db`` below the image maximum."""
    pooled = F.max_pool2d(mag[None, None], 3, stride=1, padding=1)[0, 0]
    thresh = float(mag.max()) * 10 ** (threshold_db / 20)
    return ((mag >= pooled) & (mag >= thresh) & (mag > 0)).nonzero()


def _refine(mag: torch.Tensor, i: int, j: int) -> tuple[float, float]:
    """Sub-pixel peak position by a parabola through the neighbours on each axis."""
    pos = []
    for axis, (k, n) in enumerate(((i, mag.shape[0]), (j, mag.shape[1]))):
        if 0 < k < n - 1:
            lo, mid, hi = (float(mag[(i + d, j) if axis == 0 else (i, j + d)]) for d in (-1, 0, 1))
            den = lo - 2 * mid + hi
            pos.append(k + (0.5 * (lo - hi) / den if den < 0 else 0.0))
        else:
            pos.append(float(k))
    return pos[0], pos[1]


def detect_scatterers(image, scatterers_m, pixel_size_m, resolution_m,
                      threshold_db: float = -20.0, refine: bool = True) -> dict:
    """Match image peaks to true scatterers within one resolution cell.

    Parameters
    ----------
    image : complex or real ``(H, W)``
        Radar image on the grid ``x_i = (i − H//2)·dx``, ``y_j = (j − W//2)·dy``.
    scatterers_m : ``(N, 2)`` (or ``(N, 4)`` = x, y, Re σ, Im σ)
        True positions ``(x, y)`` in metres.
    pixel_size_m, resolution_m : (dx, dy), (rx, ry)
        Pixel size and resolution cell (down-range, cross-range) in metres.
    threshold_db : float
        Peaks (3×3 local maxima) at least this far below the image maximum count as detections.
    refine : bool
        Sub-pixel (parabolic) peak positions.

    Returns
    -------
    dict
        ``pd`` (detected true scatterers / N), ``false_alarms`` (unmatched peaks),
        ``rmse_cells`` (position RMSE of the matches in resolution cells, NaN if none),
        ``n_true``, ``n_peaks`` and ``matches`` (list of ``(scatterer, peak, distance_cells)``).
        A scatterer matches at most one peak (greedy, nearest first) within distance 1, with
        distances measured in resolution cells ``sqrt((Δx/rx)² + (Δy/ry)²)``.
    """
    mag = as_tensor(image, "image", allow_complex=True).abs()
    if mag.ndim != 2:
        raise ShapeError(f"detect_scatterers takes one image (H, W), got {tuple(mag.shape)}")
    pts = as_tensor(scatterers_m, "scatterers_m", allow_complex=False)
    if pts.ndim != 2 or pts.shape[-1] not in (2, 4):
        raise ShapeError(f"scatterers_m must be (N, 2) or (N, 4), got {tuple(pts.shape)}")
    (dx, dy), (rx, ry) = (float(v) for v in pixel_size_m), (float(v) for v in resolution_m)
    if min(dx, dy, rx, ry) <= 0:
        raise InputError(f"pixel and resolution sizes must be > 0, got {pixel_size_m}, "
                         f"{resolution_m}")
    h, w = mag.shape
    peaks = []
    for i, j in _peaks(mag, threshold_db).tolist():
        fi, fj = _refine(mag, i, j) if refine else (float(i), float(j))
        peaks.append(((fi - h // 2) * dx, (fj - w // 2) * dy))
    cand = sorted(
        (math.hypot((px - float(t[0])) / rx, (py - float(t[1])) / ry), n, m)
        for n, t in enumerate(pts) for m, (px, py) in enumerate(peaks)
    )
    used_t, used_p, matches = set(), set(), []
    for dist, n, m in cand:
        if dist > 1:
            break
        if n not in used_t and m not in used_p:
            used_t.add(n), used_p.add(m), matches.append((n, m, dist))
    n_true = pts.shape[0]
    rmse = math.sqrt(sum(d * d for *_, d in matches) / len(matches)) if matches else math.nan
    return {"pd": len(matches) / n_true if n_true else math.nan,
            "false_alarms": len(peaks) - len(used_p), "rmse_cells": rmse,
            "n_true": n_true, "n_peaks": len(peaks), "matches": matches}
