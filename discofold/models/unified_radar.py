"""The unified neural-operator radar model (``unified_radar``) and its recursive version
(``r_unified_radar``).

Pipeline (one model for every aperture, bandwidth, angle span and pixel size):

1. **Fan neural operator** (:class:`FanNO`).  The echo lives on the polar "fan" of k-space,
   ``k = ρ_f (cos θ_p, sin θ_p)`` with ``ρ_f = 2 f_q / c`` (cycles/m).  A U-shape of
   :class:`~discofold.layers.DiscoConvFan` blocks works directly on the ``(θ, f)`` samples with
   kernel radii in cycles/m (kernels in the local radial/tangential frame).  Input: the echo's
   real and imaginary parts (normalised by the RMS of the measured samples) through a DISCO layer
   that sees only the measured samples (masked quadrature, renormalised over the kernel support),
   plus the mask itself through a second layer.  Each level takes every second frequency
   (``x[:, :, :, ::2]``: the samples of the coarse fan are samples of the fine fan) and doubles
   the radius; upsampling is linear in the sample index.  Only unmeasured samples are replaced:
   ``s = M ⊙ y + (1 − M) ⊙ NO(y)``.
   Equivariance: every DISCO layer commutes with a shift along θ together with the angles, and
   by default (``theta_stride=1``) no level subsamples θ, so the whole U-shape commutes with
   *every* θ shift on a full circle (the rotation of target and geometry together).
   ``theta_stride=2`` also halves the angles at each level (cheaper on long apertures); it then
   commutes only with shifts by multiples of ``2**levels`` samples.
2. **Initial image** ``z₀ = op.reference_image(s)`` (density-compensated adjoint of the filled fan).
3. **Cascades** ``z ← dc(z, −UDNO(z))`` with the data-consistency steps of
   :mod:`discofold.models.data_consistency` applied to the density-weighted operator
   ``B = (W/κ)^{1/2} A`` (:class:`~discofold.models._radar.DensityWeighted`, ``BᴴB`` of norm about
   1 on every geometry): ``"soft"`` (default) is ``z − λ (BᴴB z − Aᴴ W y) + r`` with ``λ``
   initially 0.5, whose fixed point keeps the image in the reference-image convention.  The
   image UDNO's radii are in metres (its domain is set to ``op.extent_m`` at every call), so a
   finer pixel grid over the same window refines the stencil without changing the weights.
4. **Meta.**  ``[1/R, ln R / ln 32, SNR/40 dB, SNR known]`` feeds a shared
   :class:`~discofold.layers.modulation.RecursionModulation` that scales the last decoder features
   of every image UDNO.  ``r_unified_radar`` applies ``stages`` shared cascades ``recursions``
   times each (R drawn from ``U{1..R_max}`` in training, settable at inference).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._complex import channels_to_complex, complex_to_channels
from ..errors import ConfigError
from ..layers.disco_fan import DiscoConvFan
from ..layers.modulation import make_modulation
from ..operators.radar import SPEED_OF_LIGHT
from ._blocks import ComplexNet, small_head
from ._meta import as_meta
from ._radar import (
    RADAR_CONDITION_SIZE,
    DensityWeighted,
    check_radar_inputs,
    full_mask,
    radar_condition,
)
from ._registry import register
from .data_consistency import make_dc
from .udno import UDNO
from .unrolled import Stage, StageContext, Unrolled
from .varnet import CoilRegulariser

__all__ = ["FanNO", "UnifiedRadar", "r_unified_radar"]

_PERIODIC_RTOL = 1e-6
_DC_INIT = {"soft": {"weight": 0.5}}  # ‖BᴴB‖ reaches ~2 at the band edges


def _periodic(angles: torch.Tensor) -> bool:
    """True when ``angles`` are ascending, uniform and cover the full circle (``P Δθ = 2π``)."""
    p = angles.numel()
    if p < 3:
        return False
    d = torch.diff(angles.double())
    step = float(d.mean())
    uniform = step > 0 and float((d - step).abs().max()) <= _PERIODIC_RTOL * (step + 1.0)
    return uniform and abs(p * step - 2 * math.pi) <= _PERIODIC_RTOL * 2 * math.pi


def _upsample(x: torch.Tensor, n: int, dim: int, periodic: bool) -> torch.Tensor:
    """Coarse sample ``j`` → fine index ``2j``; odd fine indices are the mean of two neighbours."""
    m = x.shape[dim]
    if periodic:
        nxt = torch.roll(x, -1, dims=dim)
    else:
        nxt = torch.cat([x.narrow(dim, 1, m - 1), x.narrow(dim, m - 1, 1)], dim=dim)
    out = torch.stack([x, 0.5 * (x + nxt)], dim=dim + 1).flatten(dim, dim + 1)
    return out.narrow(dim, 0, n)


class _FanBlock(nn.Module):
    """[DISCO-fan conv → instance norm → LeakyReLU(0.2)] × 2 at one radius (cycles/m)."""

    def __init__(self, cin: int, cout: int, radius: float, kernel_shape, first: int = 0):
        super().__init__()
        self.first = first  # > 0: the first layer is the masked lift of ``first`` data channels
        if first:
            self.lift_data = DiscoConvFan(first, cout, kernel_shape, radius, bias=False)
            self.lift_mask = DiscoConvFan(1, cout, kernel_shape, radius, bias=False)
        else:
            self.conv1 = DiscoConvFan(cin, cout, kernel_shape, radius, bias=False)
        self.conv2 = DiscoConvFan(cout, cout, kernel_shape, radius, bias=False)
        self.norm1, self.norm2 = nn.InstanceNorm2d(cout), nn.InstanceNorm2d(cout)

    def forward(self, x, angles, radii, mask=None):
        if self.first:
            m = mask.to(x.dtype)
            h = self.lift_data(x, angles, radii, mask) + self.lift_mask(m[:, None], angles, radii)
        else:
            h = self.conv1(x, angles, radii)
        h = F.leaky_relu(self.norm1(h), 0.2)
        return F.leaky_relu(self.norm2(self.conv2(h, angles, radii)), 0.2)


class FanNO(nn.Module):
    """U-shaped DISCO neural operator on the radar fan that fills unmeasured echo samples.

    Parameters
    ----------
    chans : int
        Channels of the first level (doubled at every level).
    levels : int
        Number of 2× subsamplings of the fan (0: single-scale stack).
    radius : float
        Kernel radius of the first level in cycles/m (doubled at every level).  It must exceed
        the fan's sample spacing (``1/L`` for an unambiguous geometry over a window of ``L``
        metres).
    kernel_shape : (int, int)
        DISCO basis shape ``(nr, nphi)``.
    theta_stride : {1, 2}
        Angular subsampling per level (1: only frequencies are subsampled, every θ shift
        commutes; 2: both, see the module docstring).
    """

    def __init__(self, chans: int = 8, levels: int = 2, radius: float = 0.13,
                 kernel_shape: Sequence[int] = (5, 4), theta_stride: int = 1):
        super().__init__()
        if int(theta_stride) not in (1, 2):
            raise ConfigError(f"fan theta_stride must be 1 or 2, got {theta_stride!r}")
        ks = tuple(kernel_shape)
        self.levels, self.theta_stride = int(levels), int(theta_stride)
        self.down = nn.ModuleList([_FanBlock(2, chans, radius, ks, first=2)])
        ch = chans
        for level in range(1, levels + 1):
            self.down.append(_FanBlock(ch, ch * 2, radius * 2**level, ks))
            ch *= 2
        self.up = nn.ModuleList()
        for level in reversed(range(levels)):
            self.up.append(_FanBlock(ch + ch // 2, ch // 2, radius * 2**level, ks))
            ch //= 2
        self.head = nn.Conv2d(chans, 2, 1)

    @staticmethod
    def radii(op) -> torch.Tensor:
        """``(F,)`` fan radii ``2 f / c`` in cycles/m (float64)."""
        return 2.0 * op.frequencies_hz.double() / SPEED_OF_LIGHT

    def forward(self, y: torch.Tensor, op) -> torch.Tensor:
        """Echo ``(B, P, F)`` → filled echo ``(B, P, F)`` (measured samples unchanged)."""
        mask = full_mask(op, y.shape[0], y.device)
        angles, radii = op.angles_rad.double(), self.radii(op).to(op.angles_rad.device)
        count = mask.flatten(1).sum(1).clamp_min(1)
        scale = (y.abs().pow(2).flatten(1).sum(1) / count).sqrt().clamp_min(1e-30)
        h = complex_to_channels((y / scale[:, None, None])[:, None], dim=1)
        h = self.down[0](h, angles, radii, mask)
        grids, skips = [], []
        for block in self.down[1:]:
            grids.append((angles, radii))
            skips.append(h)
            ts = self.theta_stride
            angles, radii = angles[::ts], radii[::2]
            h = block(h[:, :, ::ts, ::2], angles, radii)
        for block in self.up:
            skip = skips.pop()
            angles, radii = grids.pop()
            if self.theta_stride == 2:
                h = _upsample(h, skip.shape[2], 2, _periodic(angles))
            h = _upsample(h, skip.shape[3], 3, False)
            h = block(torch.cat([h, skip], dim=1), angles, radii)
        pred = channels_to_complex(self.head(h), dim=1)[:, 0] * scale[:, None, None]
        return torch.where(mask, y, pred.to(y.dtype))


class UnifiedRadar(nn.Module):
    """Unified neural-operator radar model (module docstring); registered as ``unified_radar``.

    Parameters
    ----------
    cascades : int
        Number of cascades (shared stages when ``recursions > 1``).
    chans, pools, radius : int, int, float
        Image UDNO width, depth and first-level radius in metres.
    fan_chans, fan_levels, fan_radius : int, int, float
        Fan operator width, depth and first-level radius in cycles/m.
    fan_theta_stride : {1, 2}
        Angular subsampling of the fan U-shape (1: exact equivariance to every θ shift).
    dc : {"soft", "gradient", "prox"}
        Data-consistency step on the density-weighted operator.
    recursions : int
        ``R_max`` (1: per-stage cascades).
    modulate : bool
        Condition the cascades on the meta (forced on when ``recursions > 1``).
    kernel_shape : (int, int)
        DISCO basis shape of every layer.
    modulation : {"counters", "features", "both", "none"}
        What the shared modulation sees when it is on (:mod:`discofold.layers.modulation`; the
        feature kinds pool the last decoder features of each image backbone); ``"none"``
        turns it off even for recursive cascades.
    """

    def __init__(self, cascades: int = 6, chans: int = 12, pools: int = 3, radius: float = 0.4,
                 fan_chans: int = 8, fan_levels: int = 2, fan_radius: float = 0.13,
                 dc: str = "soft", recursions: int = 1, modulate: bool = True,
                 kernel_shape: Sequence[int] = (5, 4), fan_theta_stride: int = 1,
                 modulation: str = "counters"):
        super().__init__()
        self.fan = FanNO(fan_chans, fan_levels, fan_radius, kernel_shape, fan_theta_stride)
        # domain_length is a placeholder: it is set to op.extent_m (metres) at every call
        stages = [Stage(CoilRegulariser(ComplexNet(UDNO(2, 2, chans, pools, radius,
                                                        kernel_shape, (1.0, 1.0)),
                                                   add_mean=False)),
                        make_dc(dc, **_DC_INIT.get(dc, {}))) for _ in range(cascades)]
        mod = make_modulation(modulation if modulate or recursions > 1 else "none",
                              RADAR_CONDITION_SIZE, chans)
        self.unrolled = Unrolled(stages, r_max=recursions, modulation=mod)
        # start near the density-compensated image of the measured echo (residual branches ~0)
        small_head(self.fan)
        small_head(self.unrolled)

    def set_recursions(self, recursions: int | str | None) -> None:
        """Passes per stage at evaluation, or ``"auto"`` (see :meth:`Unrolled.set_recursions`)."""
        self.unrolled.set_recursions(recursions)

    @property
    def last_passes(self) -> torch.Tensor:
        """Passes per item and stage of the last call ``(B, stages)`` (:class:`Unrolled`)."""
        return self.unrolled.last_passes

    def fill_echo(self, y: torch.Tensor, op, meta=None) -> torch.Tensor:
        """The fan operator's output ``(B, P, F)`` (step 1 alone)."""
        check_radar_inputs("unified_radar", y, op, as_meta(meta))
        return self.fan(y, op)

    def forward(self, y: torch.Tensor, op, meta=None) -> torch.Tensor:
        """Echo ``y`` ``(B, P, F)`` → complex image ``(B, H, W)``."""
        meta = as_meta(meta)
        batch = check_radar_inputs("unified_radar", y, op, meta)
        for m in self.unrolled.modules():
            if isinstance(m, UDNO):
                m._set_domain(op.extent_m)  # radii in metres: the domain is the window
        z0 = op.reference_image(self.fan(y, op))
        wop = DensityWeighted(op)
        ctx = StageContext(op=wop, aty=wop.weighted_adjoint(y))
        cond = (radar_condition(op, meta, batch, y.device)
                if self.unrolled.modulation is not None else None)
        return self.unrolled(z0, ctx, cond)


_TINY = dict(chans=4, pools=2, radius=0.35, fan_chans=4, fan_levels=2, fan_radius=1.0,
             kernel_shape=(3, 4))
_PAPER = dict(chans=16, pools=4, radius=0.3, fan_chans=16, fan_levels=3, fan_radius=0.13)

register("unified_radar", family="radar", tiny=dict(cascades=2, **_TINY),
         paper=dict(cascades=6, **_PAPER), multires=True,
         description="unified radar NO: fan DISCO U-shape + cascades of NUFFT DC and image "
                     "UDNO")(UnifiedRadar)


@register("r_unified_radar", family="radar", tiny=dict(stages=1, recursions=2, **_TINY),
          paper=dict(stages=2, recursions=3, **_PAPER), recursive=True, multires=True,
          description="recursive unified radar NO: shared cascades with recursion modulation")
def r_unified_radar(stages: int = 2, recursions: int = 3, chans: int = 12, pools: int = 3,
                    radius: float = 0.4, fan_chans: int = 8, fan_levels: int = 2,
                    fan_radius: float = 0.13, dc: str = "soft",
                    kernel_shape: Sequence[int] = (5, 4), fan_theta_stride: int = 1,
                    modulation: str = "counters") -> UnifiedRadar:
    """Recursive unified radar model: ``stages`` shared cascades, each run up to ``recursions``
    times (default 2 × 3 against the 6 cascades of ``unified_radar``); ``modulation`` as in
    :class:`UnifiedRadar`."""
    return UnifiedRadar(stages, chans, pools, radius, fan_chans, fan_levels, fan_radius, dc,
                        recursions, True, kernel_shape, fan_theta_stride, modulation)
