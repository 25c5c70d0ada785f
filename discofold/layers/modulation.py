"""Recursion feature modulation: per-channel scales that tell a shared stage where it is.

In a recursive unfolding network each of the L stages is applied R times with the same weights.
One :class:`RecursionModulation` (shared by all stages) maps the vector
``[condition..., R_total / R_max, R_current / R_max]`` through ``Linear -> ReLU -> Linear`` to
per-channel scales that multiply the residual-branch channels, so every pass knows the recursion
depth and its position in it.  The condition can be the acceleration, the sampling ratio, a
sampling-pattern embedding or the SNR (any ``n_condition`` numbers).
"""

from __future__ import annotations

import torch
from torch import nn

from discofold.errors import InputError, ShapeError

__all__ = ["RecursionModulation"]


def _as_batch(value, name: str, dtype: torch.dtype, device) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=dtype, device=device)
    if t.dim() > 1:
        raise ShapeError(f"{name} must be a scalar or a (B,) tensor, got shape {tuple(t.shape)}")
    return t.reshape(-1)


class RecursionModulation(nn.Module):
    """MLP ``[condition, R_total/R_max, R_current/R_max] -> (B, channels)`` scales.

    Parameters
    ----------
    n_condition : int
        Number of condition values (0 allowed: the recursion counters alone).
    channels : int
        Number of scales produced (channels of the modulated residual branch).
    hidden : int
        Width of the hidden layer.

    Notes
    -----
    ``scales = 1 + fc2(relu(fc1(v)))``.  ``fc2`` starts with weights of standard deviation
    ``init_scale = 1e-2`` and zero bias, so at initialisation the scales are ``1 + O(1e-2)``: an
    untrained modulation leaves the residual branches almost unchanged, yet already depends on the
    recursion index (so gradients reach both layers from the first step).
    """

    init_scale = 1e-2

    def __init__(self, n_condition: int, channels: int, hidden: int = 32) -> None:
        super().__init__()
        if n_condition < 0 or channels < 1 or hidden < 1:
            raise InputError(
                f"RecursionModulation needs n_condition >= 0, channels >= 1, hidden >= 1; got "
                f"{n_condition}, {channels}, {hidden}"
            )
        self.n_condition, self.channels = int(n_condition), int(channels)
        self.fc1 = nn.Linear(n_condition + 2, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        with torch.no_grad():
            self.fc2.weight.normal_(0.0, self.init_scale)
            self.fc2.bias.zero_()

    @staticmethod
    def features(condition, r_total, r_current, r_max) -> torch.Tensor:
        """Build the input vector ``[condition..., r_total / r_max, r_current / r_max]``.

        Parameters
        ----------
        condition : tensor or sequence of float
            ``(n_condition,)`` shared by the batch, or ``(B, n_condition)``.  An empty sequence
            means no condition.
        r_total, r_current : int or tensor
            Number of recursions of the stage and the index of the current pass (1-based by
            convention, ``1 <= r_current <= r_total``); scalars or ``(B,)``.
        r_max : int
            Largest number of recursions used in training (the normaliser).

        Returns
        -------
        torch.Tensor
            ``(B, n_condition + 2)`` (``B = 1`` when everything is shared), float dtype of
            ``condition`` (float32 otherwise).
        """
        cond = torch.as_tensor(condition)
        if not cond.is_floating_point():
            cond = cond.to(torch.float32)
        if cond.dim() == 1:
            cond = cond[None]
        if cond.dim() != 2:
            raise ShapeError(
                f"condition must be (n_condition,) or (B, n_condition), got {tuple(cond.shape)}"
            )
        if float(r_max) <= 0:
            raise InputError(f"r_max must be positive, got {r_max}")
        rt = _as_batch(r_total, "r_total", cond.dtype, cond.device) / float(r_max)
        rc = _as_batch(r_current, "r_current", cond.dtype, cond.device) / float(r_max)
        B = max(cond.shape[0], rt.shape[0], rc.shape[0])
        try:
            parts = [cond.expand(B, -1), rt.expand(B)[:, None], rc.expand(B)[:, None]]
        except RuntimeError as exc:
            raise ShapeError(
                f"batch sizes of condition {tuple(cond.shape)}, r_total {tuple(rt.shape)} and "
                f"r_current {tuple(rc.shape)} do not match"
            ) from exc
        return torch.cat(parts, dim=1)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """Scales for the residual-branch channels.

        Parameters
        ----------
        v : torch.Tensor
            ``(B, n_condition + 2)`` or ``(n_condition + 2,)``, see :meth:`features`.

        Returns
        -------
        torch.Tensor
            ``(B, channels)`` (or ``(channels,)`` for a 1-D input); multiply a residual branch
            ``(B, channels, H, W)`` by ``scales[:, :, None, None]``.
        """
        n = self.n_condition + 2
        if v.dim() not in (1, 2) or v.shape[-1] != n:
            raise ShapeError(
                f"RecursionModulation input must be ({n},) or (B, {n}) = [condition x "
                f"{self.n_condition}, R_total/R_max, R_current/R_max], got {tuple(v.shape)}"
            )
        if not torch.isfinite(v).all():
            raise InputError("RecursionModulation: the feature vector contains NaN or Inf values")
        v = v.to(self.fc1.weight.dtype)
        return 1.0 + self.fc2(torch.relu(self.fc1(v)))
