"""Recursion feature modulation: per-channel scales that tell a shared stage where it is.

In a recursive unfolding network each of the L stages is applied R times with the same weights.
One :class:`RecursionModulation` (shared by all stages) maps a vector through
``Linear -> ReLU -> Linear`` to per-channel scales that multiply the channels of the stage
backbone's output (its residual branch), so every pass knows the recursion depth and its
position in it.  The condition can be the acceleration, the sampling ratio, a sampling-pattern
embedding or the SNR (any ``n_condition`` numbers).  ``kind`` chooses what the MLP sees
(``v = [condition..., R_total / R_max, R_current / R_max]``, ``f`` the backbone output that the
scales multiply, ``(N, C, ...)``, and ``z = pool_features(f)`` ``(N, C)``):

``"counters"`` (the released code's unit, the default)
    ``s = 1 + fc2(relu(fc1(v)))``: the counters and the condition, never the features.
``"features"`` (the method's unit)
    ``s = 1 + fc2(relu(fc1([z, v])))``: one vector, the pooled features then the counters
    and the condition.
``"both"``
    both units side by side, each with its own MLP, and their scales multiplied:
    ``s = (1 + fc2(relu(fc1(v)))) * (1 + feat2(relu(feat1([z, v]))))``.  The counters branch
    keeps the names ``fc1`` / ``fc2`` of a ``"counters"`` unit.

:func:`make_modulation` also takes ``"none"`` (no unit: the stages run unscaled).  The features
are taken where the scales act, i.e. the backbone output of the current pass before it is
scaled (a squeeze-and-excitation gate that also knows the recursion counters); the backbones
receive a *scale-like* value (:data:`ScaleLike`): a tensor, or for the feature kinds the
callable returned by :meth:`RecursionModulation.bind`, which
:func:`discofold.models._blocks.scale_features` applies to the features it scales.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from discofold.errors import ConfigError, InputError, ShapeError

__all__ = ["RecursionModulation", "make_modulation", "pool_features", "MODULATION_KINDS",
           "ScaleLike"]

#: what ``modulation = ...`` in a model's config may say (see the module docstring)
MODULATION_KINDS = ("counters", "features", "both", "none")

#: per-channel scales ``(B, C)``, a callable ``features -> scales`` or ``None`` (no scaling)
ScaleLike = torch.Tensor | Callable[[torch.Tensor], torch.Tensor] | None


def _as_batch(value, name: str, dtype: torch.dtype, device) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=dtype, device=device)
    if t.dim() > 1:
        raise ShapeError(f"{name} must be a scalar or a (B,) tensor, got shape {tuple(t.shape)}")
    return t.reshape(-1)


def pool_features(f: torch.Tensor) -> torch.Tensor:
    """Bounded per-channel summary ``(N, C)`` of features ``f`` ``(N, C, *spatial)``.

    The global average of each channel, ``m = mean(f)`` (for complex features the magnitude of
    the complex mean, so that a global phase does not change it), passed through the softsign
    ``m / (1 + |m|)``: the summary lies in ``(-1, 1)`` like the counters, whatever the scale of
    the features, so the unit starts as close to the identity as the counters unit.
    """
    if f.dim() < 2:
        raise ShapeError(f"features must be (N, C, ...), got shape {tuple(f.shape)}")
    m = f.flatten(2).mean(dim=2) if f.dim() > 2 else f
    if m.is_complex():
        m = m.abs()
    return m / (1.0 + m.abs())


def _small_linear(n_in: int, n_out: int, std: float) -> nn.Linear:
    """``Linear(n_in, n_out)`` with weights of standard deviation ``std`` and zero bias."""
    lin = nn.Linear(n_in, n_out)
    with torch.no_grad():
        lin.weight.normal_(0.0, std)
        lin.bias.zero_()
    return lin


def make_modulation(kind: str, n_condition: int, channels: int,
                    hidden: int = 32) -> RecursionModulation | None:
    """The unit of ``kind`` (:data:`MODULATION_KINDS`), or ``None`` for ``"none"``."""
    if kind == "none":
        return None
    return RecursionModulation(n_condition, channels, hidden, kind=kind)


class RecursionModulation(nn.Module):
    """MLP ``[(features), condition, R_total/R_max, R_current/R_max] -> (B, channels)`` scales.

    Parameters
    ----------
    n_condition : int
        Number of condition values (0 allowed: the recursion counters alone).
    channels : int
        Number of scales produced (channels of the modulated residual branch).
    hidden : int
        Width of the hidden layer (of each MLP for ``kind="both"``).
    kind : {"counters", "features", "both"}
        What the MLP sees (module docstring).

    Notes
    -----
    ``scales = 1 + fc2(relu(fc1(v)))`` for ``"counters"``.  Every last layer (``fc2``,
    ``feat2``) starts with weights of standard deviation ``init_scale = 1e-2`` and zero bias, so
    at initialisation the scales are ``1 + O(1e-2)``: an untrained modulation leaves the
    residual branches almost unchanged, yet already depends on the recursion index and, for the
    feature kinds, on the features (so gradients reach every layer from the first step).
    Parameters: ``(n + 2) h + h + h C + C`` for ``"counters"`` (``n`` conditions, ``h`` hidden,
    ``C`` channels), ``C h`` more for ``"features"``, and the sum of both for ``"both"``.
    """

    init_scale = 1e-2

    def __init__(self, n_condition: int, channels: int, hidden: int = 32,
                 kind: str = "counters") -> None:
        super().__init__()
        if n_condition < 0 or channels < 1 or hidden < 1:
            raise InputError(
                f"RecursionModulation needs n_condition >= 0, channels >= 1, hidden >= 1; got "
                f"{n_condition}, {channels}, {hidden}"
            )
        if kind not in ("counters", "features", "both"):
            raise ConfigError(f"modulation must be one of {', '.join(MODULATION_KINDS)}; got "
                              f"{kind!r}")
        self.n_condition, self.channels, self.kind = int(n_condition), int(channels), kind
        n_v = self.n_condition + 2
        n_first = n_v + (self.channels if kind == "features" else 0)
        self.fc1 = nn.Linear(n_first, hidden)
        self.fc2 = _small_linear(hidden, channels, self.init_scale)
        if kind == "both":
            self.feat1 = nn.Linear(self.channels + n_v, hidden)
            self.feat2 = _small_linear(hidden, channels, self.init_scale)

    @property
    def uses_features(self) -> bool:
        """Whether the scales depend on the features (``kind`` ``"features"`` or ``"both"``)."""
        return self.kind != "counters"

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

    def forward(self, v: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        """Scales for the residual-branch channels.

        Parameters
        ----------
        v : torch.Tensor
            ``(B, n_condition + 2)`` or ``(n_condition + 2,)``, see :meth:`features`.
        features : torch.Tensor, optional
            The features the scales multiply, ``(N, channels, ...)`` with ``N`` a multiple of
            ``B`` (``B = 1``: one vector for all); required by the feature kinds, ignored by
            ``"counters"``.

        Returns
        -------
        torch.Tensor
            ``(B, channels)`` (or ``(channels,)`` for a 1-D input; ``(N, channels)`` with
            features); multiply a residual branch ``(B, channels, H, W)`` by
            ``scales[:, :, None, None]``.
        """
        v = self._checked(v)
        if self.kind == "counters":
            return 1.0 + self.fc2(torch.relu(self.fc1(v)))
        if features is None:
            raise InputError(f"RecursionModulation(kind={self.kind!r}) needs the features it "
                             "scales (use bind(v) and pass the result as the scale)")
        u = self._with_features(v, features)
        if self.kind == "features":
            return 1.0 + self.fc2(torch.relu(self.fc1(u)))
        return (1.0 + self.fc2(torch.relu(self.fc1(u[:, self.channels:])))) * (
            1.0 + self.feat2(torch.relu(self.feat1(u))))

    def bind(self, v: torch.Tensor) -> ScaleLike:
        """The scale-like value of one pass: the scales ``(B, C)`` for ``"counters"``, else the
        callable ``features -> scales`` (:data:`ScaleLike`)."""
        return self(v) if self.kind == "counters" else partial(self, v)

    def _checked(self, v: torch.Tensor) -> torch.Tensor:
        n = self.n_condition + 2
        if v.dim() not in (1, 2) or v.shape[-1] != n:
            raise ShapeError(
                f"RecursionModulation input must be ({n},) or (B, {n}) = [condition x "
                f"{self.n_condition}, R_total/R_max, R_current/R_max], got {tuple(v.shape)}"
            )
        if not torch.isfinite(v).all():
            raise InputError("RecursionModulation: the feature vector contains NaN or Inf values")
        return v.to(self.fc1.weight.dtype)

    def _with_features(self, v: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """``[pool_features(features), v]`` ``(N, C + n_condition + 2)``."""
        if features.dim() < 2 or features.shape[1] != self.channels:
            raise ShapeError(f"features must be (N, {self.channels}, ...), got "
                             f"{tuple(features.shape)}")
        z = pool_features(features).to(self.fc1.weight.dtype)
        v = v[None] if v.dim() == 1 else v
        n, b = z.shape[0], v.shape[0]
        if n % b:
            raise ShapeError(f"features batch {n} is not a multiple of the vector batch {b}")
        return torch.cat([z, v.repeat_interleave(n // b, dim=0)], dim=1)
