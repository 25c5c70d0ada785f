"""Complex unrolled ISTA with learned CNN transforms (``ista_net_radar``), the learned radar
baseline of the CIST / ADMM-Net family (ISTA-Net+ written for complex radar images).

Phase ``k`` (``k = 1..K``, separate weights per phase):

    r  = x − ρ_k (BᴴB x − Aᴴ W y)                         gradient step through ``op``
    u  = r / s                                            s = RMS of r (per sample)
    d  = D(u)                                             conv 3×3, 2 → C channels
    c  = soft(F(d), θ_k)                                  F = conv 3×3 → ReLU → conv 3×3
    x  = r + s · G(F̃(c))                                  F̃ like F, G conv 3×3 C → 2

``B = (W/κ)^{1/2} A`` with ``W = op.density_weights ⊙ op.mask`` (polar-area weights of the
complete fan, summing to 1; :class:`~discofold.models._radar.DensityWeighted`) has ``BᴴB`` of norm
1 to 2 on every geometry, so ``ρ_k = softplus(·)`` starts at 0.5 and images stay in the
reference-image convention.  The soft threshold acts on the complex magnitude:
the ``C`` feature channels are ``C/2`` complex channels (packed by :mod:`discofold._complex`) and
``soft(c, θ) = c · max(0, 1 − θ / |c|)``.  The CNN works on pixels (a fixed 3×3 stencil), so the
model runs at any image size but its receptive field is in pixels, not metres.  The initial image
is ``op.dc_adjoint(y)`` (density-compensated adjoint of the measured samples).
:attr:`IstaNetRadar.symmetry_loss` holds ISTA-Net+'s constraint ``mean_k ‖F̃(F(d)) − d‖²`` of the
last call (add it to the training loss with a small weight, 0.01 in the paper).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._complex import channels_to_complex, complex_to_channels
from ..errors import ConfigError
from ._meta import as_meta
from ._radar import DensityWeighted, check_radar_inputs
from ._registry import register

__all__ = ["IstaNetRadar"]


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1, bias=False)


def _soft(c: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Complex soft threshold ``c · max(0, |c| − θ) / |c|`` (0 where ``|c| ≤ θ``)."""
    mag = c.abs()
    return c * (F.relu(mag - theta) / mag.clamp_min(1e-12))


class _Phase(nn.Module):
    """One ISTA-Net+ phase with complex soft thresholding (module docstring)."""

    def __init__(self, chans: int, step: float, threshold: float):
        super().__init__()
        self.step = nn.Parameter(torch.tensor(math.log(math.expm1(step))))
        self.threshold = nn.Parameter(torch.tensor(float(threshold)))
        self.lift, self.out = _conv(2, chans), _conv(chans, 2)
        self.f1, self.f2 = _conv(chans, chans), _conv(chans, chans)
        self.b1, self.b2 = _conv(chans, chans), _conv(chans, chans)

    def forward(self, x, wop: DensityWeighted, aty):
        r = x - F.softplus(self.step) * (wop.normal(x) - aty)
        s = r.abs().pow(2).mean(dim=(-2, -1)).sqrt().clamp_min(1e-30)[:, None, None]
        d = self.lift(complex_to_channels((r / s)[:, None], dim=1))
        f = self.f2(F.relu(self.f1(d)))
        c = complex_to_channels(_soft(channels_to_complex(f, dim=1), self.threshold), dim=1)
        g = self.b2(F.relu(self.b1(c)))
        sym = (self.b2(F.relu(self.b1(f))) - d).pow(2).mean()
        x = r + s * channels_to_complex(self.out(g), dim=1)[:, 0].to(r.dtype)
        return x, sym


@register("ista_net_radar", family="radar", tiny=dict(phases=2, chans=4),
          paper=dict(phases=9, chans=32),
          description="complex ISTA-Net+: NUFFT gradient steps, learned CNN transforms, "
                      "complex soft threshold")
class IstaNetRadar(nn.Module):
    """Complex unrolled ISTA with learned transforms (module docstring).

    Parameters
    ----------
    phases : int
        Number of unrolled phases (each with its own weights, step and threshold).
    chans : int
        Feature channels of the transforms (even: ``chans / 2`` complex channels).
    step : float
        Initial step ``ρ`` of every phase.
    threshold : float
        Initial threshold ``θ`` (on features of the RMS-normalised image).
    """

    def __init__(self, phases: int = 9, chans: int = 32, step: float = 0.5,
                 threshold: float = 0.01):
        super().__init__()
        if int(phases) < 1 or int(chans) < 2 or int(chans) % 2:
            raise ConfigError(f"ista_net_radar needs phases >= 1 and an even chans >= 2, got "
                              f"phases={phases}, chans={chans}")
        self.phases = nn.ModuleList([_Phase(int(chans), step, threshold)
                                     for _ in range(int(phases))])
        self.symmetry_loss: torch.Tensor | None = None

    def forward(self, y: torch.Tensor, op, meta=None) -> torch.Tensor:
        """Echo ``y`` ``(B, P, F)`` → complex image ``(B, H, W)``."""
        check_radar_inputs("ista_net_radar", y, op, as_meta(meta))
        wop = DensityWeighted(op)
        aty = wop.weighted_adjoint(y)
        x = op.dc_adjoint(y)
        sym = []
        for phase in self.phases:
            x, s = phase(x, wop, aty)
            sym.append(s)
        self.symmetry_loss = torch.stack(sym).mean()
        return x
