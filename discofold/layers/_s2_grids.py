"""Latitude grids and quadrature weights on the sphere (private helpers of ``disco_s2``).

Colatitudes ``theta`` run from the north pole (0) to the south pole (pi); longitudes are
``2 pi l / nlon``.  The weights integrate in ``x = cos(theta)`` over ``[-1, 1]`` (they sum to 2), so
``sum_j sum_l w_j / nlon * f(theta_j, lambda_l) * 2 pi`` approximates the surface integral.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from discofold.errors import InputError

__all__ = ["GRIDS", "colatitudes", "longitudes"]

GRIDS = ("equiangular", "legendre-gauss")


def _clenshaw_curtis(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Clenshaw-Curtis nodes ``theta_j = pi j / (n - 1)`` and weights in ``cos(theta)``.

    ``w_j = c_j / N * (1 - sum_{k=1}^{N/2} b_k cos(2 k theta_j) / (4 k^2 - 1))`` with
    ``N = n - 1``, ``c_j = 1`` at the poles and 2 elsewhere, ``b_k = 1`` for ``k = N / 2`` and 2
    otherwise (exact for polynomials of degree ``N`` in ``cos(theta)``).
    """
    N = n - 1
    theta = np.pi * np.arange(n) / N
    w = np.ones(n)
    for k in range(1, N // 2 + 1):
        b = 1.0 if 2 * k == N else 2.0
        w -= b * np.cos(2 * k * theta) / (4 * k * k - 1)
    w *= 2.0 / N
    w[0] /= 2.0
    w[-1] /= 2.0
    return theta, w


def colatitudes(n: int, grid: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Colatitudes (ascending, radians) and their quadrature weights.

    Parameters
    ----------
    n : int
        Number of latitudes.
    grid : {"equiangular", "legendre-gauss"}
        ``"equiangular"``: ``theta_j = pi j / (n - 1)`` (poles included) with Clenshaw-Curtis
        weights, ``n >= 2``.  ``"legendre-gauss"``: ``cos(theta_j)`` are the Gauss-Legendre nodes
        (numpy ``leggauss``), poles excluded, ``n >= 1``.

    Returns
    -------
    theta, weights : torch.Tensor
        ``(n,)`` float64 each; the weights sum to 2.
    """
    if grid == "equiangular":
        if n < 2:
            raise InputError(f"an equiangular grid needs at least 2 latitudes, got {n}")
        theta, w = _clenshaw_curtis(n)
    elif grid == "legendre-gauss":
        if n < 1:
            raise InputError(f"a Legendre-Gauss grid needs at least 1 latitude, got {n}")
        x, w = np.polynomial.legendre.leggauss(n)  # x ascending -> theta descending
        theta, w = np.arccos(x)[::-1].copy(), w[::-1].copy()
    else:
        raise InputError(f"grid must be one of {GRIDS}, got {grid!r}")
    return torch.from_numpy(theta), torch.from_numpy(w)


def longitudes(n: int) -> torch.Tensor:
    """``2 pi l / n`` for ``l = 0 .. n - 1``, float64."""
    return torch.arange(n, dtype=torch.float64) * (2.0 * math.pi / n)
