"""Density compensation weights for non-Cartesian trajectories.

Both functions return weights in **Cartesian-cell units**: ``w_k`` is the k-space area that
sample ``k`` represents divided by the area ``(2π/H)(2π/W)`` of one Cartesian k-space cell.
A fully sampled Cartesian grid therefore gets ``w = 1``, and ``Aᴴ(w ⊙ A x) ≈ x`` and
``A(Aᴴ w) ≈ 1`` inside the sampled disc for the orthonormal NUFFT of docs/conventions.md.
"""

from __future__ import annotations

import math

import torch

from ..errors import InputError
from . import _kb
from .nufft import check_trajectory

__all__ = ["radial_dcf", "pipe_menon_dcf"]


def _cell_area(image_shape) -> float:
    h, w = (int(s) for s in image_shape)
    return (2 * math.pi / h) * (2 * math.pi / w)


def radial_dcf(traj: torch.Tensor, image_shape) -> torch.Tensor:
    """Analytic density compensation of a radial trajectory (ring areas, exact DC treatment).

    Samples are grouped by radius ``|k|``; a ring at radius ``r_i`` owns the annulus between the
    midpoints to its neighbouring radii and shares its area equally among the samples on it.
    The innermost ring (the DC sample when it exists) owns the disc of radius half the first
    spacing — the usual "DC fix" of the ``|k|`` ramp, which would give it zero weight.  Works
    for any angle distribution (uniform, golden angle) as long as all spokes share the radii.

    Parameters
    ----------
    traj : Tensor (K, 2), radians per pixel.
    image_shape : (H, W)

    Returns
    -------
    Tensor (K,), float, same dtype and device as ``traj``.
    """
    traj = check_trajectory(traj)
    r = traj.to(torch.float64).norm(dim=1)
    key = torch.round(r * 1e6).to(torch.int64)
    radii_key, inverse, counts = torch.unique(key, return_inverse=True, return_counts=True)
    if len(radii_key) > max(len(traj) // 2, 2):
        raise InputError(
            f"traj with {len(traj)} samples has {len(radii_key)} distinct radii: it does not "
            "look radial (spokes sharing their sample radii); use pipe_menon_dcf instead"
        )
    radii = torch.zeros(len(radii_key), dtype=torch.float64, device=r.device)
    radii = radii.index_add_(0, inverse, r) / counts.to(torch.float64)
    if len(radii) == 1:
        edges = torch.stack([radii[0] * 0, radii[0] * 2])
    else:
        mid = 0.5 * (radii[1:] + radii[:-1])
        first = (radii[0] - (radii[1] - radii[0]) / 2).clamp_min(0.0)
        last = radii[-1] + (radii[-1] - radii[-2]) / 2
        edges = torch.cat([first[None], mid, last[None]])
    area = math.pi * (edges[1:].square() - edges[:-1].square()) / counts.to(torch.float64)
    return (area[inverse] / _cell_area(image_shape)).to(traj.dtype)


def pipe_menon_dcf(traj: torch.Tensor, image_shape, n_iter: int = 30, width: int = 6,
                   oversamp: float = 2.0) -> torch.Tensor:
    """Iterative density compensation of Pipe & Menon (MRM 41:179, 1999).

    Iterates ``w ← w / (G Gᴴ w)`` with ``G`` the Kaiser–Bessel interpolation from the
    ``oversamp``-times oversampled grid (a positive kernel, so the iteration is stable), then
    converts to Cartesian-cell units: at convergence ``G Gᴴ w = 1`` means
    ``w = a / P²`` with ``a`` the sample areas in grid cells and ``P = ∫φ`` the kernel integral.

    Parameters
    ----------
    traj : Tensor (K, 2), radians per pixel (any trajectory).
    image_shape : (H, W)
    n_iter : int
        Number of fixed-point iterations (30 is ample for radial and spiral trajectories).

    Returns
    -------
    Tensor (K,), float, same dtype and device as ``traj``.
    """
    traj = check_trajectory(traj)
    h, w_ = (int(s) for s in image_shape)
    gh, gw = _kb.grid_size(h, oversamp, width), _kb.grid_size(w_, oversamp, width)
    betas = (_kb.beatty_beta(width, gh / h), _kb.beatty_beta(width, gw / w_))
    cols, vals = _kb.interp_entries(traj.to(torch.float64), (gh, gw), width, betas)
    g, gt = _kb.csr_pair(cols, vals, gh * gw, torch.float64)
    w = torch.ones(len(traj), 1, dtype=torch.float64, device=traj.device)
    for _ in range(int(n_iter)):
        w = w / torch.sparse.mm(g, torch.sparse.mm(gt, w)).clamp_min(1e-300)
    # kernel integral P = ∫φ_h ∫φ_w = 1/deapodisation at t = 0
    p = 1.0 / (_kb.deapodisation(1, gh, width, betas[0])[0]
               * _kb.deapodisation(1, gw, width, betas[1])[0])
    scale = float(p) ** 2 * (h * w_) / (gh * gw)
    return (w[:, 0] * scale).to(traj.dtype)
