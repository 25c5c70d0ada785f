"""Structural similarity on 2-D slices (scikit-image's definition) and the matching loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError, ShapeError

__all__ = ["ssim_slices", "SSIMLoss"]


def ssim_slices(
    target: torch.Tensor,
    pred: torch.Tensor,
    data_range: torch.Tensor | float,
    win_size: int = 7,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    """Mean SSIM of each slice, ``(N, H, W)`` → ``(N,)`` (differentiable).

    Exactly ``skimage.metrics.structural_similarity(target, pred, data_range=...)`` with its
    defaults: uniform ``win_size × win_size`` window, sample covariance (``N/(N − 1)``), the mean
    over the pixels whose window lies inside the image (skimage's crop of ``(win_size−1)/2``).
    ``data_range`` is a float or ``(N,)``.
    """
    if target.shape[-2] < win_size or target.shape[-1] < win_size:
        raise ShapeError(f"SSIM needs slices of at least {win_size}×{win_size}, got "
                         f"{tuple(target.shape[-2:])}")
    if win_size % 2 != 1 or win_size < 3:
        raise InputError(f"SSIM win_size must be odd and >= 3, got {win_size}")
    x, y = target.unsqueeze(1), pred.unsqueeze(1)
    rng = torch.as_tensor(data_range, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)
    c1, c2 = (k1 * rng) ** 2, (k2 * rng) ** 2

    def mean(z):
        return F.avg_pool2d(z, win_size, stride=1)

    ux, uy = mean(x), mean(y)
    cov_norm = win_size**2 / (win_size**2 - 1)
    vx = cov_norm * (mean(x * x) - ux * ux)
    vy = cov_norm * (mean(y * y) - uy * uy)
    vxy = cov_norm * (mean(x * y) - ux * uy)
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return s.mean(dim=(-3, -2, -1))


class SSIMLoss(nn.Module):
    """``1 − SSIM`` as a differentiable loss, equal to ``1 −`` :func:`discofold.metrics.ssim`.

    ``forward(pred, target, data_range=None)`` takes ``(N, H, W)`` or ``(N, 1, H, W)`` real
    tensors; ``data_range`` is a float or ``(N,)`` tensor (default: each target's maximum, i.e.
    the fastMRI volume maximum when ``N`` slices of one volume share ``target.max()``; pass that
    explicitly to match the per-volume metric).  Returns the mean over the ``N`` slices.
    """

    def __init__(self, win_size: int = 7, k1: float = 0.01, k2: float = 0.03):
        super().__init__()
        self.win_size, self.k1, self.k2 = win_size, k1, k2

    def forward(self, pred: torch.Tensor, target: torch.Tensor, data_range=None) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ShapeError(f"SSIMLoss: pred {tuple(pred.shape)} and target "
                             f"{tuple(target.shape)} must have the same shape")
        if pred.ndim == 4:
            if pred.shape[1] != 1:
                raise ShapeError(f"SSIMLoss: expected (N, 1, H, W), got {tuple(pred.shape)}")
            pred, target = pred[:, 0], target[:, 0]
        if pred.ndim != 3:
            raise ShapeError(f"SSIMLoss: expected (N, H, W) or (N, 1, H, W), got "
                             f"{tuple(pred.shape)}")
        if data_range is None:
            data_range = target.detach().amax(dim=(-2, -1))
        vals = ssim_slices(target, pred, data_range, self.win_size, self.k1, self.k2)
        return 1 - vals.mean()
