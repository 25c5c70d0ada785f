"""Shared pieces of the radar models: input checks, the density-weighted operator, the condition.

- :func:`check_radar_inputs`: ``(y, op, meta)`` consistency for :class:`PolarRadar` models
  (shape and batch of ``y``, ``y`` zero where ``op.mask`` says unmeasured, ``meta.acceleration``
  against the true acceleration of the mask, ``meta.pixel_size`` against ``op.pixel_size_m``).
- :class:`DensityWeighted`: the data-consistency operator of the radar models.  Images are kept
  in the convention of the reference image (``op.reference_image``: a band-limited field sampled
  at the pixel centres, the same values whatever the pixel size).  With ``W = w ⊙ M`` the
  polar-area density weights of the complete fan (``op.density_weights``, summing to 1) restricted
  to the measured samples, ``Aᴴ W₀ A ≈ κ Π`` (``Π`` the projector onto the fan's band, folded
  into the pixel grid's Nyquist square) with ``κ = max(1, 1 / (a_pix · A_fan))``, ``a_pix`` the
  pixel area (m²) and ``A_fan = Σ dθ Σ ρ dρ`` the fan's area in (cycles/m)², ``ρ = 2f/c``
  (pixels finer than the fan resolves: ``κ > 1``; coarser: the folded fan overlaps itself about
  ``a_pix A_fan`` times and ``κ = 1``).  The operator is ``B = (W / κ)^{1/2} A``, so ``BᴴB`` has
  eigenvalues of order 1 on every geometry (pixel size, bandwidth, angle span: measured 1.0 to
  2.1, the excess from the Dirichlet tails at the band edges) and a step
  ``u − λ (BᴴB u − Aᴴ W y)`` with ``λ`` of order 1 is stable; its fixed point satisfies
  ``A (u / κ) = y`` on the measured samples, i.e. ``u`` is the reference-convention image.
- :func:`radar_condition`: ``(B, 4)`` ``[1/R, ln R / ln 32, SNR_dB / 40, SNR known]`` for
  :class:`~discofold.layers.modulation.RecursionModulation`.
"""

from __future__ import annotations

import math

import torch

from ..errors import InputError
from ..operators import PolarRadar
from ..operators.radar import SPEED_OF_LIGHT, cell_widths
from ._meta import AcquisitionMeta
from ._ops import SqrtWeighted, check_inputs

__all__ = ["RADAR_CONDITION_SIZE", "check_radar_inputs", "radar_acceleration",
           "radar_condition", "DensityWeighted", "full_mask", "fan_oversampling"]

#: length of :func:`radar_condition`
RADAR_CONDITION_SIZE = 4
_LOG_R_MAX = math.log(32.0)
_SNR_SCALE_DB = 40.0
_ACC_TOLERANCE = 0.05
_PIXEL_TOLERANCE = 1e-3


def full_mask(op: PolarRadar, batch: int, device=None) -> torch.Tensor:
    """``op.mask`` as bool ``(B, P, F)`` (all True when the operator has no mask)."""
    p, f = op.out_shape
    if op.mask is None:
        return torch.ones(batch, p, f, dtype=torch.bool, device=device)
    return op.mask.reshape(-1, p, f).expand(batch, p, f).to(device)


def radar_acceleration(op: PolarRadar, batch: int) -> torch.Tensor:
    """``(B,)`` float32 true acceleration ``P F / measured samples`` of each sample's mask."""
    m = full_mask(op, batch)
    return m[0].numel() / m.flatten(1).sum(1).to(torch.float32)


def _fmt(values: torch.Tensor) -> list[float]:
    return [round(float(v), 3) for v in values]


def check_radar_inputs(model: str, y, op, meta: AcquisitionMeta) -> int:
    """Validate ``(y, op, meta)`` for a radar model; returns the batch size ``B``.

    Raises
    ------
    InputError, ShapeError
        Naming the inconsistent input: a non-radar operator, ``y`` not ``(B, P, F)`` complex,
        a batch that does not match the per-sample masks, ``y`` non-zero on unmeasured samples,
        ``meta.acceleration`` or ``meta.pixel_size`` disagreeing with ``op``.
    """
    if not isinstance(op, PolarRadar):
        raise InputError(f"{model}: needs a PolarRadar operator, got {type(op).__name__}")
    batch = check_inputs(model, y, op, meta, mri=False)
    if not y.is_complex():
        raise InputError(f"{model}: y (the echo) must be complex, got dtype {y.dtype}")
    if op.mask is not None:
        outside = int(((y != 0) & ~op.mask).sum())
        if outside:
            raise InputError(f"{model}: y has {outside} non-zero samples where op.mask is False "
                             f"(unmeasured); the echo does not match the operator's mask")
    if meta.acceleration is not None:
        given = meta.acceleration_tensor(batch).float()
        true = radar_acceleration(op, batch).cpu()
        if float(((given - true).abs() / true).max()) > _ACC_TOLERANCE:
            raise InputError(f"{model}: meta.acceleration {_fmt(given)} disagrees with op.mask "
                             f"(true acceleration {_fmt(true)})")
    if meta.pixel_size is not None:
        given = torch.as_tensor(meta.pixel_size, dtype=torch.float64).reshape(-1).expand(2)
        true = torch.tensor(op.pixel_size_m, dtype=torch.float64)
        if float(((given - true).abs() / true).max()) > _PIXEL_TOLERANCE:
            raise InputError(f"{model}: meta.pixel_size {given.tolist()} m disagrees with "
                             f"op.pixel_size_m {list(op.pixel_size_m)} m")
    return batch


def radar_condition(op: PolarRadar, meta: AcquisitionMeta, batch: int,
                    device=None) -> torch.Tensor:
    """Condition ``(B, 4)``: ``[1/R, ln R / ln 32, SNR_dB / 40, 1 if SNR known else 0]``.

    ``R`` is the true acceleration of each sample's mask (the sampling ratio is ``1/R``).
    """
    r = radar_acceleration(op, batch).to(device)
    known = meta.snr_db is not None
    snr = torch.full_like(r, float(meta.snr_db) / _SNR_SCALE_DB if known else 0.0)
    return torch.stack([1.0 / r, torch.log(r) / _LOG_R_MAX, snr,
                        torch.full_like(r, float(known))], dim=1)


class DensityWeighted(SqrtWeighted):
    """``B = (W / κ)^{1/2} A`` with ``W = op.density_weights ⊙ op.mask`` (module docstring; final).

    Parameters
    ----------
    op : PolarRadar
        The acquisition; image ``(..., H, W)`` → weighted echo ``(..., P, F)``.

    Attributes
    ----------
    kappa : float
        ``max(1, 1 / (a_pix · A_fan))``: the oversampling of the fan's band by the pixel grid.
    """

    name = "DensityWeighted(PolarRadar)"

    def __init__(self, op: PolarRadar):
        w = op.density_weights
        self.density = w if op.mask is None else w * op.mask  # W, before the 1/κ
        self.kappa = fan_oversampling(op)
        super().__init__(op, self.density / self.kappa)

    def weighted_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``Aᴴ W y`` for an echo ``y`` ``(..., P, F)`` (the right-hand side of the DC step)."""
        return self.op.A_adjoint(y * self.density.to(y.real.dtype))


def fan_oversampling(op: PolarRadar) -> float:
    """``κ = max(1, 1 / (a_pix · A_fan))`` (module docstring), from the geometry alone."""
    rho = 2.0 * op.frequencies_hz.detach().cpu().double() / SPEED_OF_LIGHT
    theta = torch.sort(op.angles_rad.detach().cpu().double()).values
    rho = torch.sort(rho).values
    span = float(cell_widths(theta).sum()) if theta.numel() > 1 else 1.0
    area = span * float((rho * cell_widths(rho)).sum())
    a_pix = op.pixel_size_m[0] * op.pixel_size_m[1]
    return max(1.0, 1.0 / (a_pix * area))
