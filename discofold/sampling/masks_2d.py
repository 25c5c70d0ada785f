"""2-D MRI masks at any matrix size ``(H, W)``: Gaussian, radial and spiral (gridded).

Shared rules (also used by :mod:`discofold.sampling.poisson`):

- The sample budget is ``round(H * W / R)`` and every mask here has **exactly** that many
  samples, the calibration box included, so the true acceleration is ``H W / round(H W / R)``
  (within 0.5 sample of the nominal one).
- The calibration (ACS) box is ``h x w`` with ``h = max(2, round(cf * H))`` and
  ``w = max(2, round(cf * W))`` (capped at the matrix; ``cf = 0`` gives no box), centred with
  fastMRI's placement (start ``(N - n + 1) // 2``).  ``cf`` defaults to fastMRI's centre fraction
  for ``R`` (0.08 at R = 4, 0.04 at R = 8), so the box scales with the matrix.  A box larger than
  the budget raises :class:`~discofold.errors.InputError`.
- Normalised k-space coordinates are ``u = ((i - H//2) / (H/2), (j - W//2) / (W/2))``, so
  ``|u| = 1`` at the edge midpoints; curves are defined in ``u`` and gridded by rounding to the
  nearest sample, which makes patterns scale with the matrix.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..errors import InputError
from ._types import (
    GeneratorLike,
    SamplingPattern,
    as_generator,
    assemble,
    centered_slice,
    check_acceleration,
    check_batch,
    check_shape,
    default_center_fraction,
)

__all__ = ["gaussian_2d", "radial_2d", "spiral_2d", "calibration_box"]

GOLDEN_HALF = math.pi * (math.sqrt(5.0) - 1.0) / 2.0  # 111.25 deg: golden angle on [0, pi)
GOLDEN_FULL = math.pi * (3.0 - math.sqrt(5.0))  # 137.51 deg: golden angle on [0, 2 pi)


def calibration_box(shape: tuple[int, int], center_fraction: float) -> tuple[slice, slice]:
    """Centred calibration box ``(rows, cols)`` covering ``center_fraction`` of each axis."""
    if not 0.0 <= center_fraction <= 1.0:
        raise InputError(f"center_fraction must lie in [0, 1], got {center_fraction}")
    sizes = []
    for n in shape:
        k = round(center_fraction * n)
        sizes.append(0 if center_fraction == 0 else min(n, max(2, k)))
    return tuple(centered_slice(n, k) for n, k in zip(shape, sizes, strict=True))


def plan_2d(
    name: str, shape, acceleration, center_fraction: float | None
) -> tuple[tuple[int, int], float, tuple[slice, slice], int, float]:
    """Validate inputs; return (shape, R, box, samples needed outside the box, cf)."""
    h, w = check_shape(shape, 2, name)
    r = check_acceleration(acceleration, name)
    cf = default_center_fraction(r) if center_fraction is None else float(center_fraction)
    box = calibration_box((h, w), cf)
    budget = round(h * w / r)
    n_box = (box[0].stop - box[0].start) * (box[1].stop - box[1].start)
    if budget < 1:
        raise InputError(f"{name}: acceleration {r} leaves no sample on a {h}x{w} grid")
    if n_box > budget:
        raise InputError(
            f"{name}: impossible acceleration {r} at {h}x{w}: the calibration box "
            f"(center_fraction={cf}) holds {n_box} samples but the budget round(HW/R) is {budget}"
        )
    return (h, w), r, box, budget - n_box, cf


def norm_radius(h: int, w: int) -> torch.Tensor:
    """``|u|`` on the grid, float64 ``(H, W)`` (1 at the edge midpoints)."""
    ky = (torch.arange(h, dtype=torch.float64) - h // 2) / (h / 2)
    kx = (torch.arange(w, dtype=torch.float64) - w // 2) / (w / 2)
    return torch.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)


def batched_2d(
    name: str,
    shape,
    acceleration,
    generator: GeneratorLike,
    batch: int | None,
    center_fraction: float | None,
    draw: Callable[[tuple[int, int], torch.Tensor, int, torch.Generator], tuple],
) -> SamplingPattern:
    """Run ``draw(shape, box_mask, need, gen) -> (mask, meta)`` once per batch sample."""
    (h, w), r, box, need, cf = plan_2d(name, shape, acceleration, center_fraction)
    batch, gen = check_batch(batch), as_generator(generator)
    box_mask = torch.zeros(h, w, dtype=torch.bool)
    box_mask[box] = True
    masks, metas = [], []
    for _ in range(batch or 1):
        mask, meta = draw((h, w), box_mask, need, gen)
        masks.append(mask | box_mask)
        metas.append(meta)
    meta = {"family": "mri_2d", "center_fraction": cf, **metas[0]}
    if batch is not None:
        meta["per_sample"] = metas
    nlf = box[1].stop - box[1].start
    return assemble(name, masks, batch, r, box, nlf, meta)


def _gaussian_draw(sigma: float):
    def draw(shape, box_mask, need, gen):
        rho = norm_radius(*shape)
        weights = torch.exp(-(rho**2) / (2.0 * sigma**2))
        weights = weights.clamp_min(1e-12 * float(weights.max()))
        weights[box_mask] = 0.0
        idx = torch.multinomial(weights.flatten(), need, replacement=False, generator=gen)
        mask = torch.zeros(shape[0] * shape[1], dtype=torch.bool)
        mask[idx] = True
        return mask.reshape(shape), {"sigma": sigma}

    return draw


def gaussian_2d(
    shape: tuple[int, int],
    acceleration: float,
    *,
    generator: GeneratorLike = None,
    batch: int | None = None,
    center_fraction: float | None = None,
    sigma: float = 0.35,
) -> SamplingPattern:
    """Variable-density Gaussian mask drawn without replacement.

    Outside the calibration box, ``round(H W / R) - |box|`` distinct samples are drawn without
    replacement with probabilities ``exp(-|u|^2 / (2 sigma^2))`` (``u`` normalised coordinates,
    module docstring), so the mask has exactly ``round(H W / R)`` samples.

    Parameters
    ----------
    shape : (int, int)
        ``(H, W)``.
    acceleration : float
        Nominal ``R >= 1``.
    generator, batch, center_fraction
        See :func:`discofold.sampling.make_mask`.
    sigma : float
        Width of the density in normalised units (1 = edge of k-space).
    """
    if not sigma > 0:
        raise InputError(f"gaussian_2d: sigma must be > 0, got {sigma}")
    return batched_2d(
        "gaussian_2d", shape, acceleration, generator, batch, center_fraction,
        _gaussian_draw(float(sigma)),
    )


def _grid_curves(shape, curves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Round curve points ``(C, M, 2)`` in ``u`` to flat grid indices; (index, valid)."""
    h, w = shape
    rows = torch.round(h // 2 + curves[..., 0] * (h / 2)).long()
    cols = torch.round(w // 2 + curves[..., 1] * (w / 2)).long()
    valid = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    return rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1), valid


def _curve_fill(shape, box_mask, need, make_curves, max_curves: int = 1 << 14):
    """Union of curves 0, 1, 2, ... (each ordered centre-outward) until ``need`` new samples.

    Every grid sample gets the rank ``c * M + m`` of the first curve point landing on it; the
    ``need`` lowest-ranked samples outside the box are the first full curves plus the inner part
    of the last one, so the count is exact.  Returns (mask, number of curves touched).
    """
    n = shape[0] * shape[1]
    big = torch.iinfo(torch.int64).max
    best = torch.full((n,), big, dtype=torch.int64)
    start, chunk = 0, 8
    while True:
        curves = make_curves(start, chunk)  # (chunk, M, 2)
        m = curves.shape[1]
        idx, valid = _grid_curves(shape, curves)
        rank = (torch.arange(start, start + chunk)[:, None] * m + torch.arange(m)).expand_as(idx)
        best.scatter_reduce_(0, idx[valid], rank[valid], reduce="amin")
        best[box_mask.flatten()] = big
        covered = best < big
        start += chunk
        if int(covered.sum()) >= need or start >= max_curves:
            break
        chunk = start  # double
    if int(covered.sum()) < need:
        raise InputError(f"could not place {need} samples with {start} curves")
    chosen = torch.topk(best, need, largest=False).indices if need > 0 else best[:0]
    mask = torch.zeros(n, dtype=torch.bool)
    mask[chosen] = True
    used = int(best[chosen].max()) // m + 1 if need > 0 else 0
    return mask.reshape(shape), used


def _radial_draw(shape, box_mask, need, gen):
    theta0 = float(torch.rand((), generator=gen, dtype=torch.float64)) * math.pi
    step = 1.0 / max(shape)  # half a pixel along the larger axis, in u units
    k = int(math.ceil(math.sqrt(2.0) / step))
    mags = torch.arange(1, k + 1, dtype=torch.float64) * step
    t = torch.cat([torch.zeros(1, dtype=torch.float64), torch.stack([mags, -mags], 1).flatten()])

    def make(start: int, count: int) -> torch.Tensor:
        th = theta0 + GOLDEN_HALF * torch.arange(start, start + count, dtype=torch.float64)
        d = torch.stack([torch.cos(th), torch.sin(th)], -1)  # (C, 2)
        return t[None, :, None] * d[:, None, :]

    mask, used = _curve_fill(shape, box_mask, need, make)
    return mask, {"num_spokes": used, "first_angle_rad": theta0}


def radial_2d(
    shape: tuple[int, int],
    acceleration: float,
    *,
    generator: GeneratorLike = None,
    batch: int | None = None,
    center_fraction: float | None = None,
) -> SamplingPattern:
    """Golden-angle radial spokes gridded onto the Cartesian grid.

    Full spokes through the centre at angles ``theta0 + n * 111.25 deg`` (``theta0`` drawn from
    the generator), sampled every half pixel out to ``|u| = sqrt(2)`` and rounded to the grid.
    Spokes are added until the budget is met; the last spoke is kept from the centre outwards
    only as far as needed, so the sample count is exactly ``round(H W / R)``.
    ``meta["num_spokes"]`` counts the spokes touched (the last possibly partial).
    """
    return batched_2d(
        "radial_2d", shape, acceleration, generator, batch, center_fraction, _radial_draw
    )


def _spiral_draw(turns: float | None, alpha: float, interleaves: int):
    def draw(shape, box_mask, need, gen):
        rho_max, n = math.sqrt(2.0), max(shape)
        t_turns = turns
        if t_turns is None:  # arm length ~ rho_max n/2 (1 + 2 pi T / (alpha + 1)) pixels
            per_arm = need / (0.7 * interleaves) / (rho_max * n / 2)
            t_turns = max(0.25, (per_arm - 1.0) * (alpha + 1.0) / (2.0 * math.pi))
        m = int(math.ceil(2.0 * rho_max * (n / 2) * (alpha + 2.0 * math.pi * t_turns))) + 2
        tau = torch.linspace(0.0, 1.0, m, dtype=torch.float64)
        phi0 = float(torch.rand((), generator=gen, dtype=torch.float64)) * 2.0 * math.pi

        def make(start: int, count: int) -> torch.Tensor:
            phi = phi0 + GOLDEN_FULL * torch.arange(start, start + count, dtype=torch.float64)
            ang = 2.0 * math.pi * t_turns * tau[None, :] + phi[:, None]
            rad = rho_max * tau[None, :] ** alpha
            return torch.stack([rad * torch.cos(ang), rad * torch.sin(ang)], -1)

        mask, used = _curve_fill(shape, box_mask, need, make)
        return mask, {"num_interleaves": used, "turns": t_turns, "alpha": alpha}

    return draw


def spiral_2d(
    shape: tuple[int, int],
    acceleration: float,
    *,
    generator: GeneratorLike = None,
    batch: int | None = None,
    center_fraction: float | None = None,
    turns: float | None = None,
    alpha: float = 1.5,
    interleaves: int = 8,
) -> SamplingPattern:
    """Variable-density spiral interleaves gridded onto the Cartesian grid.

    Interleave ``c`` is ``u(tau) = sqrt(2) tau^alpha (cos, sin)(2 pi T tau + phi0 + c * 137.5 deg)``
    for ``tau`` in [0, 1]; ``alpha > 1`` packs the turns more densely near the centre.
    Interleaves are added (golden-angle rotations) until the budget is met, the last one kept from
    the centre outwards as far as needed, so the count is exactly ``round(H W / R)``.

    Parameters
    ----------
    turns : float, optional
        Turns ``T`` per interleave; by default chosen so that about ``interleaves`` arms fill the
        budget at this matrix size.
    alpha : float
        Variable-density exponent (>= 1).
    interleaves : int
        Target number of interleaves used to choose ``turns``; ``meta["num_interleaves"]`` is the
        number actually used.
    """
    if alpha < 1.0 or interleaves < 1 or (turns is not None and turns <= 0):
        raise InputError(
            f"spiral_2d: need alpha >= 1, interleaves >= 1, turns > 0; "
            f"got alpha={alpha}, interleaves={interleaves}, turns={turns}"
        )
    return batched_2d(
        "spiral_2d", shape, acceleration, generator, batch, center_fraction,
        _spiral_draw(turns, float(alpha), int(interleaves)),
    )
