"""Training losses on a model output and its target, for every data family.

The output is brought to the target's form first: for MRI the magnitude ``|x̂|`` centre-cropped
to the target ``(h, w)``; for radar the complex image (magnitudes for ``ssim``/``l1``/``mse``);
for block CS the real image.  Both are divided by each sample's target maximum (floored at 0.1
of the batch's largest, so an empty target such as a black block-CS patch cannot blow the loss
up), so every loss is invariant to the data's scale and SSIM uses a data range of 1.

=============== ============================================================================
``ssim``        ``1 − SSIM`` (:class:`discofold.metrics.SSIMLoss`, fastMRI definition)
``l1``          mean ``|p − t|``
``mse``         mean ``|p − t|²``
``complex_l1``  mean ``|p − t|`` over complex pixels (radar; phase matters)
``nmse``        mean over samples of ``‖p − t‖² / ‖t‖²`` (complex for radar, magnitudes for
                MRI); the training form of the radar metric
=============== ============================================================================

For sparse radar scenes use ``nmse``: it is scale-aware (an image ``α x̂`` scores worse as ``α``
leaves its least-squares value) and an all-zero or constant image scores about 1, above any
estimate that correlates with the scene.  ``complex_l1`` on max-normalised images rewards a black
image: its error is the scatterers' total amplitude, below the spread-out sidelobes of a
correctly scaled zero-filled image (0.025–0.030 against 0.033–0.037 on S1 scenes).
"""

from __future__ import annotations

import torch

from ..errors import ConfigError, ShapeError
from ..metrics import SSIMLoss

__all__ = ["prepare", "compute_loss", "psnr_normalised"]

_SSIM = SSIMLoss()


def _crop(x: torch.Tensor, shape) -> torch.Tensor:
    h, w = int(shape[-2]), int(shape[-1])
    if x.shape[-2] < h or x.shape[-1] < w:
        raise ShapeError(f"model output {tuple(x.shape)} is smaller than the target "
                         f"{tuple(shape)}")
    top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
    return x[..., top:top + h, left:left + w]


def prepare(pred: torch.Tensor, target: torch.Tensor, keep_complex: bool = False):
    """``(p, t)`` normalised by each target's maximum magnitude, shapes ``(B, h, w)``.

    ``keep_complex`` keeps complex pairs (``complex_l1``); otherwise magnitudes are compared
    when either tensor is complex.
    """
    if target is None:
        raise ShapeError("the batch has no target; training needs targets")
    pred = _crop(pred, target.shape)
    if not keep_complex:
        if pred.is_complex() or target.is_complex():
            pred, target = pred.abs(), target.abs()
    elif not target.is_complex():
        raise ConfigError("complex_l1 needs complex targets (radar)")
    pred = pred.to(torch.complex64 if pred.is_complex() else torch.float32)
    target = target.to(pred.dtype)
    scale = target.detach().abs().flatten(1).amax(1)
    # an (almost) empty target, e.g. a black block-CS patch, must not blow the loss up: its scale
    # is floored at 0.1 of the batch's largest target maximum (1 when the batch is all zeros)
    floor = 0.1 * scale.max() if bool(scale.max() > 0) else scale.new_tensor(1.0)
    scale = torch.maximum(scale, floor)[:, None, None]
    return pred / scale, target / scale


def compute_loss(name: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Scalar loss ``name`` (see the module table) of a batch."""
    p, t = prepare(pred, target, keep_complex=name == "complex_l1"
                   or (name == "nmse" and target.is_complex()))
    if name == "ssim":
        return _SSIM(p, t, data_range=torch.ones(p.shape[0], device=p.device))
    if name in ("l1", "complex_l1"):
        return (p - t).abs().mean()
    if name == "mse":
        return (p - t).abs().pow(2).mean()
    if name == "nmse":
        err = (p - t).abs().pow(2).flatten(1).sum(1)
        energy = t.abs().pow(2).flatten(1).sum(1)
        # an empty target (black block-CS patch) is measured against 1 % of the batch's largest
        return (err / torch.maximum(energy, 0.01 * energy.max().clamp_min(1e-30))).mean()
    raise ConfigError(f"unknown loss {name!r}")


@torch.no_grad()
def psnr_normalised(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``(B,)`` PSNR in dB of magnitudes normalised by each target's maximum (peak 1)."""
    p, t = prepare(pred, target)
    mse = (p - t).pow(2).flatten(1).mean(1).clamp_min(1e-20)
    return -10.0 * torch.log10(mse)
