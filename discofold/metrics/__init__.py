"""Image-quality metrics: MRI (fastMRI definitions) and radar (complex images).

MRI: :func:`nmse`, :func:`psnr`, :func:`ssim` (per volume or per slice) and the differentiable
:class:`SSIMLoss`.  Radar: :func:`radar_nmse_db`, :func:`radar_psnr`, :func:`radar_ssim`,
:func:`radar_correlation` (invariant to a complex scale of the estimate), the reference-free
:func:`image_entropy` and :func:`image_contrast`, and :func:`detect_scatterers`.
All take the reference/target first.
"""

from ._mri import nmse, psnr, ssim
from ._radar import (
    align_scale,
    detect_scatterers,
    image_contrast,
    image_entropy,
    radar_correlation,
    radar_nmse_db,
    radar_psnr,
    radar_ssim,
)
from ._ssim import SSIMLoss

__all__ = [
    "nmse",
    "psnr",
    "ssim",
    "SSIMLoss",
    "align_scale",
    "radar_nmse_db",
    "radar_psnr",
    "radar_ssim",
    "radar_correlation",
    "image_entropy",
    "image_contrast",
    "detect_scatterers",
]
