"""Non-Cartesian MRI trajectories (radial, variable-density spiral) with density compensation.

Conventions (DESIGN.md, NUFFT): a trajectory is float32 ``(K, 2)`` in radians per pixel, column
0 along the rows (H), column 1 along the columns (W), every value in ``[-pi, pi)``.  Because
``float32(pi) > pi``, values are finally clamped to the float32 interval
``[-3.1415925, 3.1415925]`` (a shift of at most 1.5e-7 rad).

Density compensation weights are float32 ``(K,)`` AREAS: the k-space area each sample stands
for, as a fraction of the full square ``[-pi, pi)^2`` (so they sum to about ``pi / 4`` for a
disc of radius ``pi``).  Multiply by ``H * W`` to express them in Cartesian cells of an
``H x W`` grid (a fully sampled Cartesian trajectory then has weights 1).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import InputError
from ._types import GeneratorLike, as_generator
from .masks_2d import GOLDEN_FULL, GOLDEN_HALF

__all__ = ["radial_trajectory", "spiral_trajectory", "voronoi_dcf"]

_PI32 = float(np.nextafter(np.float32(np.pi), np.float32(0)))  # largest float32 < pi


def _finish(k: torch.Tensor) -> torch.Tensor:
    return k.to(torch.float32).clamp(-_PI32, _PI32)


def _angular_widths(theta: torch.Tensor, period: float) -> torch.Tensor:
    """Half the gap to each neighbour on the circle of ``period`` (sum = period)."""
    th = torch.remainder(theta, period)
    order = torch.argsort(th)
    s = th[order]
    gap_next = torch.roll(s, -1) - s
    gap_next[-1] += period
    width = 0.5 * (gap_next + torch.roll(gap_next, 1))
    out = torch.empty_like(width)
    out[order] = width
    return out


def _rotation(generator: GeneratorLike, period: float) -> float:
    if generator is None:
        return 0.0
    return float(torch.rand((), generator=as_generator(generator), dtype=torch.float64)) * period


def radial_trajectory(
    num_spokes: int,
    num_readout: int,
    *,
    angles: str = "golden",
    half: bool = False,
    generator: GeneratorLike = None,
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Radial trajectory and its analytic density compensation.

    Full spokes sample ``t_n = 2 pi (n - N // 2) / N`` (``n < N = num_readout``, so a spoke along
    an axis lies on the Cartesian grid); half spokes sample ``t_n = pi n / N``.  Spoke ``s`` has
    angle ``theta_s`` (uniform: ``s pi / S`` for full, ``2 s pi / S`` for half spokes; golden:
    ``s * 111.25 deg`` resp. ``s * 137.51 deg``) plus a global rotation drawn from ``generator``
    (none when ``generator`` is None: trajectories are otherwise deterministic).
    The point is ``k = t (cos theta, sin theta)``, spoke-major order (``K = S N``).

    DCF: ``|t| dt dtheta_s`` (dtheta_s = half the angular gap to the neighbouring spokes, period
    ``pi`` for full, ``2 pi`` for half spokes), i.e. proportional to ``|k|``; the DC sample gets
    its share of the central disc of radius ``dt / 2``: ``(dt / 2)^2 dtheta_s`` (full) or half of
    that (half spokes).  Divided by ``(2 pi)^2`` (module docstring).

    Returns
    -------
    traj : torch.Tensor
        float32 ``(S N, 2)``.
    dcf : torch.Tensor
        float32 ``(S N,)``.
    meta : dict
        ``angles_rad`` (float64 ``(S,)``), ``num_spokes``, ``num_readout``, ``half``, ``name``.
    """
    if num_spokes < 1 or num_readout < 2:
        raise InputError(
            f"radial_trajectory: need num_spokes >= 1 and num_readout >= 2, "
            f"got {num_spokes} and {num_readout}"
        )
    if angles not in ("golden", "uniform"):
        raise InputError(f"radial_trajectory: angles must be 'golden' or 'uniform', got {angles!r}")
    period = 2.0 * math.pi if half else math.pi
    s = torch.arange(num_spokes, dtype=torch.float64)
    if angles == "uniform":
        theta = s * period / num_spokes
    else:
        theta = s * (GOLDEN_FULL if half else GOLDEN_HALF)
    theta = torch.remainder(theta + _rotation(generator, period), period)
    n = torch.arange(num_readout, dtype=torch.float64)
    dt = (math.pi if half else 2.0 * math.pi) / num_readout
    t = n * dt if half else (n - num_readout // 2) * dt
    k = t[None, :, None] * torch.stack([torch.cos(theta), torch.sin(theta)], -1)[:, None, :]
    width = _angular_widths(theta, period)[:, None]
    dcf = t.abs()[None, :] * dt * width
    dc_area = (dt / 2.0) ** 2 * width * (0.5 if half else 1.0)
    dcf = torch.where(t[None, :] == 0, dc_area, dcf) / (2.0 * math.pi) ** 2
    meta = {"name": "radial", "angles_rad": theta, "num_spokes": num_spokes,
            "num_readout": num_readout, "half": half, "angles": angles}
    return _finish(k.reshape(-1, 2)), dcf.reshape(-1).to(torch.float32), meta


def spiral_trajectory(
    num_interleaves: int,
    num_samples: int,
    turns: float = 8.0,
    *,
    alpha: float = 1.5,
    generator: GeneratorLike = None,
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Variable-density spiral and its Voronoi density compensation.

    Interleave ``i`` samples ``k(tau) = pi tau^alpha (cos, sin)(2 pi T tau + 2 pi i / n + phi0)``
    at ``tau = m / M`` (``m < M = num_samples``), so ``|k| < pi``; ``alpha > 1`` packs the turns
    densely near the centre.  The radial gap between neighbouring arms at the edge is
    ``pi alpha / (T n)`` rad/pixel: Nyquist for an ``N``-pixel matrix needs
    ``T >= alpha N / (2 n)``.
    ``phi0`` is drawn from ``generator`` (0 when None).  DCF: :func:`voronoi_dcf`.

    Returns
    -------
    traj, dcf, meta
        float32 ``(n M, 2)`` interleave-major, float32 ``(n M,)``, dict.
    """
    if num_interleaves < 1 or num_samples < 2 or not turns > 0 or alpha < 1.0:
        raise InputError(
            "spiral_trajectory: need num_interleaves >= 1, num_samples >= 2, turns > 0, "
            f"alpha >= 1; got {num_interleaves}, {num_samples}, {turns}, {alpha}"
        )
    tau = torch.arange(num_samples, dtype=torch.float64) / num_samples
    phi = 2.0 * math.pi * torch.arange(num_interleaves, dtype=torch.float64) / num_interleaves
    phi = phi + _rotation(generator, 2.0 * math.pi)
    ang = 2.0 * math.pi * turns * tau[None, :] + phi[:, None]
    rad = math.pi * tau[None, :] ** alpha
    k = torch.stack([rad * torch.cos(ang), rad * torch.sin(ang)], -1).reshape(-1, 2)
    meta = {"name": "spiral", "num_interleaves": num_interleaves, "num_samples": num_samples,
            "turns": turns, "alpha": alpha,
            "edge_gap_rad": math.pi * alpha / (turns * num_interleaves)}
    return _finish(k), voronoi_dcf(k), meta


def _polygon_area(v: np.ndarray) -> float:
    c = v.mean(0)
    v = v[np.argsort(np.arctan2(v[:, 1] - c[1], v[:, 0] - c[0]))]
    x, y = v[:, 0], v[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def voronoi_dcf(traj: torch.Tensor) -> torch.Tensor:
    """Density compensation from Voronoi cell areas (scipy), as fractions of ``[-pi, pi)^2``.

    Coincident samples share their cell equally.  The outermost cells are closed by a guard ring
    one median nearest-neighbour distance outside the largest ``|k|``.

    Parameters
    ----------
    traj : torch.Tensor
        ``(K, 2)`` radians per pixel.

    Returns
    -------
    torch.Tensor
        float32 ``(K,)``.
    """
    from scipy.spatial import Voronoi, cKDTree

    pts = traj.detach().to(torch.float64).cpu().numpy()
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3:
        raise InputError(f"voronoi_dcf: traj must be (K, 2) with K >= 3, got {tuple(pts.shape)}")
    uniq, inverse, counts = np.unique(np.round(pts, 12), axis=0, return_inverse=True,
                                      return_counts=True)
    step = float(np.median(cKDTree(uniq).query(uniq, k=2)[0][:, 1]))
    r_guard = float(np.linalg.norm(uniq, axis=1).max()) + step
    n_guard = max(16, int(math.ceil(2.0 * math.pi * r_guard / step)))
    a = 2.0 * math.pi * np.arange(n_guard) / n_guard
    guard = r_guard * np.stack([np.cos(a), np.sin(a)], 1)
    vor = Voronoi(np.concatenate([uniq, guard]))
    area = np.empty(len(uniq))
    for i in range(len(uniq)):
        region = vor.regions[vor.point_region[i]]
        area[i] = np.nan if (-1 in region or not region) else _polygon_area(vor.vertices[region])
    area = np.where(np.isnan(area), np.nanmax(area), area)
    w = (area / counts)[inverse.reshape(-1)] / (2.0 * math.pi) ** 2
    return torch.from_numpy(w).to(torch.float32)
