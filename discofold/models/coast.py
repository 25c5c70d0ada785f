"""COAST (You, Zhang & Zhang, TIP 2021) and R-COAST, its recursive version, for block CS.

COAST — COntrollable Arbitrary-Sampling neTwork — is trained with random projections (a fresh
Gaussian ``Φ`` at a random ratio every batch, see
:func:`discofold.models._blockcs_common.random_projection`) so one model serves every ratio and
matrix.  Each stage is a gradient step followed by a plug-and-play deep block (PnP-DB):

    r = x - ρ_k Φᵀ(Φ x - y)
    x = r + tail(CPMB_3(CPMB_2(CPMB_1(head(r)))))

``head`` is a 3×3 conv 1→C, ``tail`` a 3×3 conv C→1, and a controllable proximal mapping block
(CPMB) is ``z + α ⊙ conv(ReLU(conv(z)))`` (3×3 convs C→C with bias) whose per-channel scales
``α`` come from the scale-control unit, one linear map of the sampling ratio shared by every
CPMB of every stage.  Here ``α = 1 + Linear(ratio)`` with the linear map initialised near zero
(the official code uses ``α = Linear(ratio)``; the offset is a reparametrisation with the same
parameters that starts training from unmodulated residual blocks).

Parameter count (C = 32, 3 CPMBs):

=================  ===============================  =========
part               shape                            count
=================  ===============================  =========
ρ_k                1                                1
head               32·1·9 + 32                      320
3 CPMB             3 · 2 · (32·32·9 + 32)           55,488
tail               1·32·9 + 1                       289
**stage**                                           56,098
scale control      Linear(1, 32): 32 + 32           64
=================  ===============================  =========

COAST-20: 20 · 56,098 + 64 = **1,122,024**.  R-COAST 5×4 replaces the scale control by the
recursion modulation ``Linear(3, 32) → ReLU → Linear(32, 32)`` on
``[ratio, R_l / r_max, j / r_max]``: (3·32 + 32) + (32·32 + 32) = 1,184, so
5 · 56,098 + 1,184 = **281,674** (25.1 % of COAST-20 at the same depth 20).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
from torch import nn

from ..layers.modulation import RecursionModulation, ScaleLike, make_modulation
from ._blockcs_common import (
    PositiveStep,
    RecursionSchedule,
    blockcs_inputs,
    from_blocks,
    gradient_step,
    to_blocks,
)
from ._blocks import scale_features
from ._registry import register

__all__ = ["COAST", "RCOAST", "CoastStage", "CPMB"]


class CPMB(nn.Module):
    """Controllable proximal mapping block ``z + α ⊙ conv2(ReLU(conv1(z)))`` (final)."""

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, z: torch.Tensor, scale: ScaleLike) -> torch.Tensor:
        """``z`` ``(N, C, h, w)``, ``scale`` ``(1, C)`` (or scale-like, see
        :func:`~discofold.models._blocks.scale_features`) → ``(N, C, h, w)``."""
        return z + scale_features(self.conv2(torch.relu(self.conv1(z))), scale)


class CoastStage(nn.Module):
    """One COAST stage: gradient step and PnP deep block (final).

    Parameters
    ----------
    channels : int
        Feature channels (32).
    blocks : int
        Number of CPMBs (3).
    """

    def __init__(self, channels: int = 32, blocks: int = 3) -> None:
        super().__init__()
        self.step = PositiveStep(0.5)
        self.head_conv = nn.Conv2d(1, channels, 3, padding=1)
        self.blocks = nn.ModuleList(CPMB(channels) for _ in range(int(blocks)))
        self.tail_conv = nn.Conv2d(channels, 1, 3, padding=1)
        with torch.no_grad():  # near-identity start: the stage begins as a plain gradient step
            self.tail_conv.weight.mul_(1e-2)
            self.tail_conv.bias.zero_()

    @property
    def lambda_step(self) -> torch.Tensor:
        """The gradient step ``ρ > 0`` ``(1,)`` (:class:`PositiveStep`)."""
        return self.step()

    def proximal(self, r: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """PnP deep block on ``r`` ``(N, 1, h, w)`` with CPMB scales ``(1, C)``."""
        z = self.head_conv(r)
        for block in self.blocks:
            z = block(z, scale)
        return r + self.tail_conv(z)

    def forward(self, x, y, op, scale: torch.Tensor, blockwise: bool = False) -> torch.Tensor:
        """Images ``x`` ``(B, H, W)`` → ``(B, H, W)``."""
        r = gradient_step(x, y, op, self.lambda_step)
        if blockwise:
            return from_blocks(self.proximal(to_blocks(r, op.block), scale), r.shape)
        return self.proximal(r[:, None], scale)[:, 0]


class _ScaleControl(nn.Module):
    """COAST's scale-control unit: ``ratio → 1 + Linear(1, C)(ratio)`` ``(1, C)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.linear = nn.Linear(1, channels)
        with torch.no_grad():
            self.linear.weight.normal_(0.0, RecursionModulation.init_scale)
            self.linear.bias.zero_()

    def forward(self, ratio: float) -> torch.Tensor:
        w = self.linear.weight
        return 1.0 + self.linear(torch.tensor([[ratio]], dtype=w.dtype, device=w.device))


def _bound(modulation: RecursionModulation | None, v: torch.Tensor) -> ScaleLike:
    """The scale-like value of one pass (``None`` without a modulation)."""
    return None if modulation is None else modulation.bind(v)


def _finish(x, iterates, unbatched: bool, return_aux: bool, **extra):
    if unbatched:
        x = x[0]
    return (x, {"iterates": iterates, **extra}) if return_aux else x


@register("coast", family="blockcs", tiny=dict(stages=2, channels=4, blocks=1),
          paper=dict(stages=20, channels=32, blocks=3),
          description="COAST-20 (You et al. 2021), arbitrary-sampling block CS, 1,122,024 params")
class COAST(nn.Module):
    """COAST: controllable arbitrary-sampling unfolding network (final).

    Parameters
    ----------
    stages : int
        Number of stages (20 in the paper).
    channels, blocks : int
        Feature channels and CPMBs per stage (32 and 3).
    blockwise : bool
        Convolve each ``b × b`` tile separately (official code) instead of the whole image.

    Call
    ----
    ``model(y, op, meta=None, return_aux=False)``: ``y`` ``(B, H/33, W/33, M)`` for the
    :class:`~discofold.operators.BlockCS` ``op``; the scale control is conditioned on the
    sampling ratio (``meta`` ``ratio``/``acceleration``, checked against ``op.ratio``).
    Returns the image ``(B, H, W)`` (and ``{"iterates": [...]}`` with ``return_aux``).
    """

    def __init__(self, stages: int = 20, channels: int = 32, blocks: int = 3,
                 blockwise: bool = False) -> None:
        super().__init__()
        self.blockwise = bool(blockwise)
        self.scale_control = _ScaleControl(channels)
        self.stages = nn.ModuleList(CoastStage(channels, blocks) for _ in range(int(stages)))

    def forward(self, y, op, meta=None, return_aux: bool = False):
        y, ratio, unbatched = blockcs_inputs(y, op, meta)
        x = op.A_adjoint(y)
        scale = self.scale_control(ratio)
        iterates = []
        for stage in self.stages:
            x = stage(x, y, op, scale, self.blockwise)
            iterates.append(x)
        return _finish(x, iterates, unbatched, return_aux)


@register("r_coast", family="blockcs", recursive=True,
          tiny=dict(stages=2, r_max=2, channels=4, blocks=1, hidden=4),
          paper=dict(stages=5, r_max=4, channels=32, blocks=3, hidden=32),
          description="R-COAST 5×4: recursive COAST with shared modulation, 281,674 params")
class RCOAST(nn.Module):
    """R-COAST: ``stages`` COAST stages, each applied ``R`` times with shared weights (final).

    One shared :class:`~discofold.layers.modulation.RecursionModulation` maps
    ``[ratio, R_l / r_max, j / r_max]`` to the CPMB scales of every stage and pass.  (The
    official R-COAST feeds ``2·ratio`` and normalises the counters by the total depth; here the
    counters follow :class:`discofold.models.Unrolled`: per stage, over ``r_max``.)  Training
    draws ``R_l ~ U{1..r_max}`` per batch and per stage; eval uses ``r_max`` unless
    :meth:`set_recursions` asks for other counts (also above ``r_max``) or adaptive depth
    (``"auto"``); ``last_passes`` ``(B, stages)`` holds the passes each item used.

    Parameters
    ----------
    stages, r_max : int
        Shared stages (5) and the largest number of recursions drawn in training (4).
    channels, blocks, hidden : int
        Feature channels (32), CPMBs per stage (3), modulation hidden width (32).
    blockwise : bool
        As in :class:`COAST`.
    seed : int
        Seed of the generator drawing the training recursions.
    modulation : {"counters", "features", "both", "none"}
        What the modulation sees (:mod:`discofold.layers.modulation`); with the feature kinds
        every CPMB pools its own residual branch.
    """

    def __init__(self, stages: int = 5, r_max: int = 4, channels: int = 32, blocks: int = 3,
                 hidden: int = 32, blockwise: bool = False, seed: int = 0,
                 modulation: str = "counters") -> None:
        super().__init__()
        self.blockwise = bool(blockwise)
        self.modulation = make_modulation(modulation, 1, channels, hidden)
        self.stages = nn.ModuleList(CoastStage(channels, blocks) for _ in range(int(stages)))
        self.schedule = RecursionSchedule(stages, r_max, seed)
        self.last_passes = torch.zeros((0, int(stages)), dtype=torch.int64)

    def set_recursions(self, recursions: int | str | Sequence[int] | None) -> None:
        """Evaluation recursions per stage (int or one per stage), ``"auto"`` / ``"auto:TOL"``
        (adaptive depth, :mod:`discofold.models._adaptive`); ``None``: back to r_max."""
        self.schedule.set(recursions)

    def set_generator(self, generator: torch.Generator) -> None:
        """Use ``generator`` (CPU) to draw the recursion counts in training."""
        self.schedule.generator = generator

    @property
    def last_recursions(self) -> list[int]:
        """Recursions per stage used by the last forward call."""
        return list(self.schedule.last)

    def _pass(self, stage: CoastStage, y, op, ratio: float, iterates: list, x: torch.Tensor,
              r_total: int, j: int) -> torch.Tensor:
        """Pass ``j`` of ``r_total`` of ``stage`` (its iterate kept in ``iterates``)."""
        v = RecursionModulation.features([ratio], r_total, j, self.schedule.r_max)
        x = stage(x, y, op, _bound(self.modulation, v.to(x.device)), self.blockwise)
        iterates.append(x)
        return x

    def forward(self, y, op, meta=None, return_aux: bool = False):
        y, ratio, unbatched = blockcs_inputs(y, op, meta)
        x = op.A_adjoint(y)
        counts = self.schedule.counts(self.training)
        iterates, passes = [], []
        for stage, r_total in zip(self.stages, counts):
            step = partial(self._pass, stage, y, op, ratio, iterates)
            x, used = self.schedule.run(step, x, r_total, self.training)
            passes.append(used)
        self.last_passes = torch.stack(passes, dim=1)
        return _finish(x, iterates, unbatched, return_aux, recursions=counts)
