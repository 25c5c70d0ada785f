"""The unrolled framework: stages of [regulariser + data consistency], per-stage or recursive.

Per-stage mode (``r_max = 1``): stage ``l`` is applied once; ``K`` stages have ``K`` sets of
weights (E2E-VarNet, MoDL with unshared weights, the unified model).

Recursive mode (``r_max > 1``): each of the ``L`` stages is applied ``R_l`` times with shared
weights.  One :class:`~discofold.layers.modulation.RecursionModulation`, shared by all stages,
maps ``[condition..., R_l / r_max, r / r_max]`` (``r = 1..R_l``) to per-channel scales of the
regulariser's residual branch, so every pass knows where it is.  In training ``R_l`` is drawn
per batch and per stage from ``U{1..r_max}`` with the module's own generator (the global RNG is
never used); in evaluation ``R_l = recursions`` (``r_max`` unless set by
:meth:`Unrolled.set_recursions`, which may ask for more or fewer passes than were trained,
or for adaptive depth, :mod:`discofold.models._adaptive`).  :attr:`Unrolled.last_passes` holds
the passes each item used per stage in the last call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import nn

from ..errors import ConfigError
from ..layers.modulation import RecursionModulation
from ._adaptive import AdaptiveDepth, parse_recursions, run_stage

__all__ = ["StageContext", "Stage", "Unrolled"]


@dataclass
class StageContext:
    """What every stage of one forward call shares.

    Attributes
    ----------
    op : LinearOperator
        Operator of the data-consistency step (the coil-wise operator for coil-image states).
    aty : Tensor
        ``op.A_adjoint(y)``, shaped like the state.
    maps : Tensor, optional
        Coil sensitivities ``(B, C, H, W)`` used to reduce / expand coil images.
    extra : dict
        Anything else a model's stages need.
    """

    op: object
    aty: torch.Tensor
    maps: torch.Tensor | None = None
    extra: dict = field(default_factory=dict)


class Stage(nn.Module):
    """One stage: ``z ← dc(z, regulariser(z, ctx, scale), ctx)`` (final).

    Parameters
    ----------
    regulariser : nn.Module
        ``regulariser(z, ctx, scale) -> r`` with ``r`` shaped like ``z``.
    dc : nn.Module
        A step of :mod:`discofold.models.data_consistency`.
    """

    def __init__(self, regulariser: nn.Module, dc: nn.Module):
        super().__init__()
        self.regulariser, self.dc = regulariser, dc

    def forward(self, z, ctx: StageContext, scale: torch.Tensor | None = None) -> torch.Tensor:
        return self.dc(z, self.regulariser(z, ctx, scale), ctx)


class Unrolled(nn.Module):
    """A sequence of stages, each applied once (per-stage) or ``R`` times (recursive).

    Parameters
    ----------
    stages : sequence of nn.Module
        ``stage(z, ctx, scale) -> z``.
    r_max : int
        Largest number of recursions per stage in training (1: classic per-stage unrolling).
    modulation : RecursionModulation, optional
        Shared by all stages; ``None`` runs the stages without scales.
    seed : int
        Seed of the generator that draws ``R`` in training (see :meth:`set_generator`).
    """

    def __init__(self, stages: Sequence[nn.Module], r_max: int = 1,
                 modulation: RecursionModulation | None = None, seed: int = 0):
        super().__init__()
        if len(stages) < 1 or int(r_max) < 1:
            raise ConfigError(f"Unrolled needs >= 1 stage and r_max >= 1, got {len(stages)} "
                              f"stages and r_max={r_max}")
        self.stages = nn.ModuleList(stages)
        self.r_max = int(r_max)
        self.modulation = modulation
        self.recursions: int | None = None
        self.adaptive: AdaptiveDepth | None = None
        self.generator = torch.Generator().manual_seed(int(seed))
        self.last_recursions: list[int] = []
        #: passes used by the last forward call, ``(B, stages)`` int64 (adaptive or fixed)
        self.last_passes = torch.zeros((0, len(stages)), dtype=torch.int64)

    @property
    def recursive(self) -> bool:
        """True when stages are applied several times with shared weights."""
        return self.r_max > 1

    def set_recursions(self, recursions: int | str | AdaptiveDepth | None) -> None:
        """Fix the passes per stage at evaluation: an int, ``"auto"`` / ``"auto:TOL"`` or an
        :class:`~discofold.models._adaptive.AdaptiveDepth` (adaptive depth), ``None``: back to
        ``r_max``."""
        value = parse_recursions(recursions)
        self.adaptive = value if isinstance(value, AdaptiveDepth) else None
        self.recursions = value if isinstance(value, int) else None

    def set_generator(self, generator: torch.Generator) -> None:
        """Use ``generator`` (CPU) to draw the recursion counts in training."""
        self.generator = generator

    def draw_recursions(self) -> list[int]:
        """Passes per stage for this call: ``U{1..r_max}`` in training, fixed in evaluation."""
        if self.training and self.r_max > 1:
            draws = torch.randint(1, self.r_max + 1, (len(self.stages),),
                                  generator=self.generator)
            return [int(v) for v in draws]
        return [self.recursions or self.r_max] * len(self.stages)

    def forward(self, z: torch.Tensor, ctx: StageContext,
                condition: torch.Tensor | None = None) -> torch.Tensor:
        """Run every stage on the state ``z``.

        Parameters
        ----------
        z : Tensor
            Initial state (e.g. coil images ``(B, C, H, W)``).
        ctx : StageContext
        condition : Tensor, optional
            ``(B, n_condition)`` for the modulation (``(B, 0)`` / ``None`` for none).
        """
        counts = self.draw_recursions()
        self.last_recursions = counts
        if self.modulation is not None and condition is None:
            condition = z.new_zeros((z.shape[0], 0), dtype=torch.float32)
        rule = None if self.training else self.adaptive
        passes = []
        for stage, total in zip(self.stages, counts):
            step = partial(self._pass, stage, ctx, condition)
            z, used = run_stage(step, z, total, self.r_max, rule)
            passes.append(used)
        self.last_passes = torch.stack(passes, dim=1)
        return z

    def _pass(self, stage: nn.Module, ctx: StageContext, condition: torch.Tensor | None,
              z: torch.Tensor, total: int, current: int) -> torch.Tensor:
        """One pass of ``stage`` with the counters ``(total, current)``."""
        scale = None
        if self.modulation is not None:
            feats = RecursionModulation.features(condition, total, current, self.r_max)
            scale = self.modulation.bind(feats.to(condition.device))
        return stage(z, ctx, scale)
