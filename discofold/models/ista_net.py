"""ISTA-Net+ (Zhang & Ghanem, CVPR 2018) and its recursive version for block compressed sensing.

Each phase is one ISTA iteration with a learned proximal map:

    r = x - ρ_k Φᵀ(Φ x - y)                          (gradient step, through ``op``)
    x = r + G(F̃(soft(F(D(r)), θ_k)))                  (residual learned proximal step)

with ``D`` (conv 1→C), ``F`` (conv C→C, ReLU, conv C→C), soft thresholding with a learned
threshold ``θ_k``, ``F̃`` (conv C→C, ReLU, conv C→C) and ``G`` (conv C→1); every convolution is
3×3 and bias-free as in the official code.  The symmetry constraint ``F̃(F(D r)) - D r`` of each
phase is returned on request (the paper's loss adds ``0.01 · Σ_k mean(sym_k²)``).

Parameter count (C = 32): per phase ``D`` 32·1·9 = 288, ``F`` 2·32·32·9 = 18,432,
``F̃`` 18,432, ``G`` 1·32·9 = 288, ``θ_k`` 1, ``ρ_k`` 1, i.e. 37,442; nine phases give
**336,978**, the paper's figure.  The initial estimate is ``x0 = Φᵀy`` (the paper's ``Q_init``
is a least-squares matrix computed from training data, not a learned parameter).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.modulation import RecursionModulation, make_modulation
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

__all__ = ["IstaNetPlus", "RIstaNetPlus", "IstaPhase"]


def _conv(cin: int, cout: int) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
    nn.init.xavier_normal_(conv.weight)
    return conv


class IstaPhase(nn.Module):
    """One ISTA-Net+ phase (final).

    Parameters
    ----------
    channels : int
        Feature channels ``C`` of the transforms (32 in the paper).
    """

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        self.step = PositiveStep(0.5)
        self.soft_thr = nn.Parameter(torch.tensor([0.01]))
        self.conv_D = _conv(1, channels)
        self.conv1_forward = _conv(channels, channels)
        self.conv2_forward = _conv(channels, channels)
        self.conv1_backward = _conv(channels, channels)
        self.conv2_backward = _conv(channels, channels)
        self.conv_G = _conv(channels, 1)
        with torch.no_grad():  # near-identity start: the phase begins as a plain ISTA step
            self.conv_G.weight.mul_(1e-2)

    @property
    def lambda_step(self) -> torch.Tensor:
        """The gradient step ``ρ > 0`` ``(1,)`` (:class:`PositiveStep`)."""
        return self.step()

    def _backward(self, z: torch.Tensor) -> torch.Tensor:
        return self.conv2_backward(F.relu(self.conv1_backward(z)))

    def proximal(
        self, r: torch.Tensor, scale: torch.Tensor | None = None, symmetry: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Learned proximal step on ``r`` ``(N, 1, h, w)``.

        ``scale`` ``(1, C)`` (one condition per batch) multiplies the channels of ``F̃(...)``
        before ``G`` (recursion modulation).  Returns the new estimate and, if asked, the
        symmetry residual ``F̃(F(D r)) - D r`` ``(N, C, h, w)``.
        """
        x_d = self.conv_D(r)
        x_f = self.conv2_forward(F.relu(self.conv1_forward(x_d)))
        z = torch.sign(x_f) * F.relu(x_f.abs() - self.soft_thr)
        x_b = self._backward(z)
        x_b = scale_features(x_b, scale)
        out = r + self.conv_G(x_b)
        sym = self._backward(x_f) - x_d if symmetry else None
        return out, sym

    def forward(self, x, y, op, scale=None, blockwise: bool = False, symmetry: bool = False):
        """Gradient step then proximal step on images ``x`` ``(B, H, W)``.

        Returns ``(x_new (B, H, W), sym or None)``.
        """
        r = gradient_step(x, y, op, self.lambda_step)
        if blockwise:
            out, sym = self.proximal(to_blocks(r, op.block), scale, symmetry)
            return from_blocks(out, r.shape), sym
        out, sym = self.proximal(r[:, None], scale, symmetry)
        return out[:, 0], sym


def _finish(x, aux, unbatched: bool, return_aux: bool):
    if unbatched:
        x = x[0]
    if not return_aux:
        return x
    aux["constraint"] = sum((s.pow(2).mean() for s in aux["symmetry"]), x.new_zeros(()))
    return x, aux


@register("ista_net_plus", family="blockcs", tiny=dict(phases=2, channels=4),
          paper=dict(phases=9, channels=32),
          description="ISTA-Net+ (Zhang & Ghanem 2018), block CS, 9 phases = 336,978 params")
class IstaNetPlus(nn.Module):
    """ISTA-Net+ for block compressed sensing (final).

    Parameters
    ----------
    phases : int
        Number of unfolded ISTA iterations (9 in the paper).
    channels : int
        Feature channels (32 in the paper).
    blockwise : bool
        Run the convolutions on each ``b × b`` tile separately, with zero padding at tile borders
        (the official code); ``False`` (default) convolves the whole image.

    Call
    ----
    ``model(y, op, meta=None, return_aux=False)`` with ``y`` ``(B, H/33, W/33, M)``, ``op`` a
    :class:`~discofold.operators.BlockCS`, ``meta`` a mapping/object with ``ratio`` or
    ``acceleration`` (checked against ``op.ratio``).  Returns the real image ``(B, H, W)`` and,
    with ``return_aux``, a dict with ``"symmetry"`` (one ``(N, C, h, w)`` tensor per phase),
    ``"constraint"`` (``Σ_k mean(sym_k²)``) and ``"iterates"`` (the image after each phase).
    """

    def __init__(self, phases: int = 9, channels: int = 32, blockwise: bool = False) -> None:
        super().__init__()
        self.blockwise = bool(blockwise)
        self.phases = nn.ModuleList(IstaPhase(channels) for _ in range(int(phases)))

    def forward(self, y, op, meta=None, return_aux: bool = False):
        y, _, unbatched = blockcs_inputs(y, op, meta)
        x = op.A_adjoint(y)
        aux = {"symmetry": [], "iterates": []}
        for phase in self.phases:
            x, sym = phase(x, y, op, None, self.blockwise, return_aux)
            if return_aux:
                aux["symmetry"].append(sym)
                aux["iterates"].append(x)
        return _finish(x, aux, unbatched, return_aux)


@register("r_ista_net_plus", family="blockcs", recursive=True,
          tiny=dict(stages=2, r_max=2, channels=4, hidden=4),
          paper=dict(stages=3, r_max=3, channels=32, hidden=32),
          description="recursive ISTA-Net+: L shared phases × R recursions, modulated")
class RIstaNetPlus(nn.Module):
    """Recursive ISTA-Net+: ``stages`` phases, each applied ``R`` times with shared weights (final).

    One shared :class:`~discofold.layers.modulation.RecursionModulation` maps
    ``[ratio, R_l / r_max, j / r_max]`` (``R_l`` recursions of the stage, ``j = 1..R_l`` the
    pass) to per-channel scales of the backward transform's output before ``G``.  In training
    ``R_l ~ U{1..r_max}`` per batch and per stage; in eval ``R_l = r_max``
    unless :meth:`set_recursions` asks for other counts (also above ``r_max``) or adaptive
    depth (``"auto"``); ``last_passes`` ``(B, stages)`` holds the passes each item used.

    Parameter count: ``stages · 37,442 + (3·hidden + hidden + hidden·C + C)``; with 3 stages,
    C = 32, hidden = 32 that is 112,326 + 1,184 = 113,510 (33.7 % of ISTA-Net+ at depth 9).

    Parameters
    ----------
    stages, r_max : int
        Shared phases and the largest number of recursions drawn in training.
    channels, hidden : int
        Feature channels and modulation hidden width.
    blockwise : bool
        As in :class:`IstaNetPlus`.
    seed : int
        Seed of the generator drawing the training recursions.
    modulation : {"counters", "features", "both", "none"}
        What the modulation sees (:mod:`discofold.layers.modulation`); the feature kinds pool
        ``F̃(...)``, the channels they scale.
    """

    def __init__(self, stages: int = 3, r_max: int = 3, channels: int = 32, hidden: int = 32,
                 blockwise: bool = False, seed: int = 0, modulation: str = "counters") -> None:
        super().__init__()
        self.blockwise = bool(blockwise)
        self.phases = nn.ModuleList(IstaPhase(channels) for _ in range(int(stages)))
        self.modulation = make_modulation(modulation, 1, channels, hidden)
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

    def _pass(self, phase: IstaPhase, y, op, ratio: float, aux: dict, return_aux: bool,
              x: torch.Tensor, r_total: int, j: int) -> torch.Tensor:
        """Pass ``j`` of ``r_total`` of ``phase`` (symmetry and iterate kept in ``aux``)."""
        v = RecursionModulation.features([ratio], r_total, j, self.schedule.r_max).to(x.device)
        scale = None if self.modulation is None else self.modulation.bind(v)
        x, sym = phase(x, y, op, scale, self.blockwise, return_aux)
        if return_aux:
            aux["symmetry"].append(sym)
            aux["iterates"].append(x)
        return x

    def forward(self, y, op, meta=None, return_aux: bool = False):
        y, ratio, unbatched = blockcs_inputs(y, op, meta)
        x = op.A_adjoint(y)
        aux = {"symmetry": [], "iterates": [], "recursions": self.schedule.counts(self.training)}
        passes = []
        for phase, r_total in zip(self.phases, aux["recursions"]):
            step = partial(self._pass, phase, y, op, ratio, aux, return_aux)
            x, used = self.schedule.run(step, x, r_total, self.training)
            passes.append(used)
        self.last_passes = torch.stack(passes, dim=1)
        return _finish(x, aux, unbatched, return_aux)
