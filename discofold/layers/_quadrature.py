"""Quadrature weights and sample coordinates for DISCO layers.

Grid convention (shared with the radar operator, see ``docs/conventions.md``): sample ``i`` of an
axis of ``n`` samples over a length ``L`` sits at ``(i - n // 2) * L / n``; a 2-D grid of shape
``(H, W)`` gives points ``(x, y)`` with column 0 along axis H and column 1 along axis W, flattened
in row-major order.  With this convention grids of sizes ``n`` and ``2 n`` share every point of
the coarse one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from discofold.errors import InputError, ShapeError

__all__ = ["grid_points", "grid_cell_areas", "voronoi_areas"]


def grid_points(
    shape: Sequence[int],
    domain_length: Sequence[float] = (2.0, 2.0),
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Coordinates of the samples of an equidistant ``(H, W)`` grid.

    Returns
    -------
    torch.Tensor
        ``(H * W, 2)``, domain units; row ``i * W + j`` is pixel ``(i, j)``.
    """
    H, W = (int(s) for s in shape)
    x = (torch.arange(H, dtype=dtype) - H // 2) * (float(domain_length[0]) / H)
    y = (torch.arange(W, dtype=dtype) - W // 2) * (float(domain_length[1]) / W)
    X, Y = torch.meshgrid(x, y, indexing="ij")
    return torch.stack([X.reshape(-1), Y.reshape(-1)], dim=1)


def grid_cell_areas(
    shape: Sequence[int],
    domain_length: Sequence[float] = (2.0, 2.0),
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Quadrature weights of an equidistant grid: every cell has area ``Lx Ly / (H W)``.

    Returns
    -------
    torch.Tensor
        ``(H * W,)``, squared domain units.
    """
    H, W = (int(s) for s in shape)
    area = float(domain_length[0]) * float(domain_length[1]) / (H * W)
    return torch.full((H * W,), area, dtype=dtype)


def voronoi_areas(points: torch.Tensor) -> torch.Tensor:
    """Areas of the Voronoi cells of a 2-D point cloud, clipped to a padded bounding box.

    The box is the points' bounding box widened on every side by half the median nearest-neighbour
    distance; points are mirrored across its four edges so that every original cell is bounded
    and clipped to the box.  On an equidistant grid this returns exactly the cell areas.

    Parameters
    ----------
    points : torch.Tensor
        ``(N, 2)`` coordinates, N >= 3, pairwise distinct.

    Returns
    -------
    torch.Tensor
        ``(N,)`` areas in squared coordinate units, same dtype and device as ``points``.
    """
    from scipy.spatial import Voronoi, cKDTree

    if points.dim() != 2 or points.shape[1] != 2:
        raise ShapeError(f"points must have shape (N, 2), got {tuple(points.shape)}")
    if points.shape[0] < 3:
        raise InputError(f"voronoi_areas needs at least 3 points, got {points.shape[0]}")
    p = points.detach().cpu().double().numpy()
    nn_dist, _ = cKDTree(p).query(p, k=2)
    if np.any(nn_dist[:, 1] == 0):
        raise InputError("points contains duplicate coordinates; Voronoi areas are undefined")
    pad = 0.5 * float(np.median(nn_dist[:, 1]))
    lo, hi = p.min(0) - pad, p.max(0) + pad
    mirrored = [p]
    for axis in range(2):
        for edge in (lo[axis], hi[axis]):
            q = p.copy()
            q[:, axis] = 2 * edge - q[:, axis]
            mirrored.append(q)
    vor = Voronoi(np.concatenate(mirrored))
    areas = np.empty(len(p))
    for i in range(len(p)):  # 2-D Voronoi regions list their vertices in order: shoelace formula
        v = vor.vertices[vor.regions[vor.point_region[i]]]
        x, y = v[:, 0], v[:, 1]
        areas[i] = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    return torch.as_tensor(areas, dtype=points.dtype, device=points.device)
