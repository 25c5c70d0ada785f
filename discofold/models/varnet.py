"""E2E-VarNet (Sriram et al. 2020), written against the operator instead of inline FFTs.

The state is the set of coil images ``z`` ``(B, C, H, W)`` (VarNet's multi-coil k-space up to
the unitary DFT).  A cascade is

    z ← z − λ A_cᴴ(A_c z − y) − E(U(R(z)))

with ``A_c`` the coil-wise operator (:func:`~discofold.models._ops.coil_operator`: the
acquisition without sensitivity maps), ``R(z) = Σ_c conj(S_c) z_c`` (reduce),
``E(x) = (S_c x)_c`` (expand), ``U`` a fastMRI U-Net and ``S`` the maps learned from the
calibration region (:class:`~discofold.models.sens.SensitivityNet`).  For Cartesian data the
soft step equals VarNet's ``k − λ M (k − y)`` exactly.  The output has VarNet's magnitude, the
root-sum-of-squares of the final coil images, with the phase of ``R(z)``
(:func:`~discofold.models._blocks.combine_coils`); for non-Cartesian operators the same code
runs with the Toeplitz normal operator.

Initialisation (not in the paper, which starts from a random U-Net output): the cascade U-Nets'
heads are scaled by 1e-2 (:func:`~discofold.models._blocks.small_head`), their residual output
is not shifted by the image mean, and the sensitivity network refines the calibration-box coil
images instead of replacing them, so the untrained model reproduces the zero-filled image and
training only learns improvements (8 dB below zero-filling otherwise, at 64×64 with 4 coils).
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers.modulation import make_modulation
from ._blocks import ComplexNet, combine_coils, expand_coils, reduce_coils, small_head
from ._meta import MRI_CONDITION_SIZE, as_meta
from ._ops import (
    check_inputs,
    coil_operator,
    dc_operator,
    initial_adjoint,
    is_two_d,
    true_acceleration,
)
from ._registry import register
from .data_consistency import make_dc
from .sens import SensitivityNet
from .unet import Unet
from .unrolled import Stage, StageContext, Unrolled

__all__ = ["CoilRegulariser", "VarNet", "mri_condition"]


class CoilRegulariser(nn.Module):
    """``r = −E(net(R(z)))`` on coil images (``z`` itself when there are no maps)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, z: torch.Tensor, ctx: StageContext, scale=None) -> torch.Tensor:
        x = reduce_coils(z, ctx.maps)
        return -expand_coils(self.net(x[:, None], scale)[:, 0], ctx.maps)


def mri_condition(y, op, meta, batch: int) -> torch.Tensor:
    """Condition vector ``(B, 3)`` ``[1/R, ln R/ln 32, is_2d]`` with R the true acceleration."""
    acc = meta.acceleration_tensor(batch, device=y.device)
    if acc is None:
        acc = true_acceleration(op, batch).to(y.device)
    return meta.condition(acc, is_two_d(op))


def run_cascades(unrolled: Unrolled, y, op, meta, maps, z0=None, condition=None):
    """Shared driver: coil-image state, soft/gradient/prox DC with the coil-wise operator."""
    cop = coil_operator(op)
    dop, aty = dc_operator(cop, y)  # density compensated for non-Cartesian trajectories
    if z0 is None:
        z0 = initial_adjoint(cop, y)
    ctx = StageContext(op=dop, aty=aty, maps=maps)
    return combine_coils(unrolled(z0, ctx, condition), maps)


@register("varnet",
          tiny=dict(num_cascades=2, chans=4, pools=2, sens_chans=2, sens_pools=1),
          paper=dict(num_cascades=12, chans=18, pools=4, sens_chans=8, sens_pools=4),
          description="E2E-VarNet: U-Net cascades, learned sensitivities, soft DC")
class VarNet(nn.Module):
    """E2E-VarNet (module docstring).

    Parameters
    ----------
    num_cascades : int
        Number of cascades (stages); with ``recursions > 1`` the number of shared stages.
    chans, pools : int
        U-Net width and depth of every cascade.
    sens_chans, sens_pools : int
        U-Net width and depth of the sensitivity network.
    dc : {"soft", "gradient", "prox"}
        Data-consistency variant (VarNet uses ``"soft"``).
    recursions : int
        ``R_max``; > 1 makes the cascades recursive with a shared modulation.
    modulate : bool
        Use a :class:`~discofold.layers.modulation.RecursionModulation` (always on when
        ``recursions > 1``).
    modulation : {"counters", "features", "both", "none"}
        What the shared modulation sees when it is on (:mod:`discofold.layers.modulation`; the
        feature kinds pool the last decoder features of each U-Net); ``"none"``
        turns it off even for recursive cascades.
    """

    def __init__(self, num_cascades: int = 8, chans: int = 18, pools: int = 4,
                 sens_chans: int = 8, sens_pools: int = 4, dc: str = "soft",
                 recursions: int = 1, modulate: bool = False, modulation: str = "counters"):
        super().__init__()
        self.sens = SensitivityNet(ComplexNet(Unet(2, 2, sens_chans, sens_pools),
                                              add_mean=False), residual=True)
        stages = [Stage(CoilRegulariser(ComplexNet(Unet(2, 2, chans, pools), add_mean=False)),
                        make_dc(dc))
                  for _ in range(num_cascades)]
        mod = make_modulation(modulation if modulate or recursions > 1 else "none",
                              MRI_CONDITION_SIZE, chans)
        self.unrolled = Unrolled(stages, r_max=recursions, modulation=mod)
        # start at the zero-filled image with calibration-box coil maps (module docstring)
        small_head(self.sens)
        small_head(self.unrolled)

    def set_recursions(self, recursions: int | str | None) -> None:
        """Passes per stage at evaluation, or ``"auto"`` (see :meth:`Unrolled.set_recursions`)."""
        self.unrolled.set_recursions(recursions)

    @property
    def last_passes(self) -> torch.Tensor:
        """Passes per item and stage of the last call ``(B, stages)`` (:class:`Unrolled`)."""
        return self.unrolled.last_passes

    def forward(self, y: torch.Tensor, op, meta=None) -> torch.Tensor:
        """``y`` ``(B, *op.out_shape)`` → complex image ``(B, H, W)``."""
        meta = as_meta(meta)
        batch = check_inputs("varnet", y, op, meta)
        maps = self.sens(y, op, meta)
        cond = mri_condition(y, op, meta, batch) if self.unrolled.modulation else None
        return run_cascades(self.unrolled, y, op, meta, maps, condition=cond)
