"""Adaptive depth at test time: apply a shared stage until another pass no longer changes the
estimate.

Both recursion loops (:class:`~discofold.models.unrolled.Unrolled` and the block-CS models of
:class:`~discofold.models._blockcs_common.RecursionSchedule`) run each stage through
:func:`run_stage`.  With a fixed depth it applies the stage ``R`` times with the counters
``(R, j)``, ``j = 1..R``.  With an :class:`AdaptiveDepth` rule (evaluation only) pass ``j`` is
fed the counters ``(r_max, min(j, r_max))`` (the first ``r_max`` passes are exactly those of
the trained depth, later passes repeat the last one), and item ``b`` of the batch stops after
pass ``j`` when

    ‖x_j − x_{j−1}‖ / ‖x_{j−1}‖ < tol        (norms over everything but the batch axis)

or when ``j`` reaches ``max_passes = factor · r_max``.  The batch runs until every item has
stopped; a stopped item is frozen (later passes do not change its estimate), so its result does
not depend on the other items, but the time saved is that of the slowest item of the batch.
The passes used are returned per item, ``(B,)`` int64.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..errors import ConfigError

__all__ = ["AdaptiveDepth", "run_stage", "relative_change", "parse_recursions"]

#: ``step(x, r_total, r_current) -> x``: one pass of a stage with its recursion counters
Step = Callable[[torch.Tensor, int, int], torch.Tensor]


@dataclass(frozen=True)
class AdaptiveDepth:
    """Stopping rule of adaptive depth (module docstring).

    Attributes
    ----------
    tol : float
        Relative change between passes below which an item stops (> 0).
    factor : int
        Maximum passes per stage, in units of the trained ``r_max`` (>= 1).
    """

    tol: float = 1e-3
    factor: int = 2

    def __post_init__(self) -> None:
        if not (math.isfinite(self.tol) and self.tol > 0) or int(self.factor) < 1:
            raise ConfigError(f"adaptive depth needs a finite tol > 0 and factor >= 1, got "
                              f"tol={self.tol}, factor={self.factor}")

    def max_passes(self, r_max: int) -> int:
        """Most passes of one stage: ``factor · r_max``."""
        return int(self.factor) * int(r_max)

    def __str__(self) -> str:
        return "auto" if self.tol == AdaptiveDepth.tol else f"auto:{self.tol:g}"


def parse_recursions(value) -> int | AdaptiveDepth | None:
    """``None``, a positive int, an :class:`AdaptiveDepth`, or the text ``"N"``, ``"auto"`` or
    ``"auto:TOL"`` (e.g. ``"auto:1e-4"``) as a recursion setting."""
    if value is None or isinstance(value, AdaptiveDepth):
        return value
    text = str(value).strip().lower()
    if text == "auto" or text.startswith("auto:"):
        try:
            tol = float(text[5:]) if text.startswith("auto:") else AdaptiveDepth.tol
        except ValueError:
            raise ConfigError(f"recursions 'auto:TOL' needs a number TOL, got {value!r}"
                              ) from None
        return AdaptiveDepth(tol=tol)
    try:
        count = int(text)
    except ValueError:
        raise ConfigError(f"recursions must be a positive integer, 'auto' or 'auto:TOL', got "
                          f"{value!r}") from None
    if count < 1:
        raise ConfigError(f"recursions must be >= 1, got {value!r}")
    return count


def relative_change(new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """``‖new − old‖ / ‖old‖`` per batch item ``(B,)`` (``‖old‖ = 0``: the change itself)."""
    diff = (new - old).flatten(1).norm(dim=1)
    ref = old.flatten(1).norm(dim=1)
    return torch.where(ref > 0, diff / torch.where(ref > 0, ref, 1.0), diff)


def run_stage(step: Step, x: torch.Tensor, r_total: int, r_max: int,
              rule: AdaptiveDepth | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply one shared stage ``r_total`` times, or adaptively under ``rule``.

    Parameters
    ----------
    step : ``step(x, r_total, r_current) -> x``
    x : Tensor
        Estimate ``(B, ...)`` before the stage.
    r_total, r_max : int
        Passes of a fixed-depth run, and the trained maximum (the adaptive counters).
    rule : AdaptiveDepth, optional

    Returns
    -------
    (Tensor, Tensor)
        The estimate after the stage and the passes used per item ``(B,)`` int64.
    """
    batch = x.shape[0]
    if rule is None:
        for j in range(1, r_total + 1):
            x = step(x, r_total, j)
        return x, torch.full((batch,), r_total, dtype=torch.int64)
    active = torch.ones(batch, dtype=torch.bool, device=x.device)
    passes = torch.zeros(batch, dtype=torch.int64, device=x.device)
    for j in range(1, rule.max_passes(r_max) + 1):
        new = step(x, r_max, min(j, r_max))
        passes += active.long()
        still = active & (relative_change(new, x) >= rule.tol)
        x = torch.where(active.reshape(-1, *([1] * (x.dim() - 1))), new, x)
        active = still
        if not bool(active.any()):
            break
    return x, passes.cpu()
