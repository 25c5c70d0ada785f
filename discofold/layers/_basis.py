"""Continuous filter bases for DISCO convolutions.

A DISCO kernel is ``kappa(r, phi) = sum_k w_k psi_k(r, phi)`` on the unit disk, where ``r`` is the
distance to the kernel centre divided by the kernel radius and ``phi`` the angle in radians
(``atan2`` convention, in whatever local frame the calling layer uses).  Every basis function
vanishes for ``r > 1``.  This module evaluates the fixed functions ``psi_k``; the layers own the
geometry (offsets, frames, quadrature).

Bases
-----
``"piecewise_linear"`` (default)
    torch-harmonics >= 0.7.4 convention, value for value identical to
    ``torch_harmonics.filter_basis.PiecewiseLinearFilterBasis`` (0.8.0) with ``r_cutoff = 1``.
    ``kernel_shape = (nr, nphi)`` gives ``K = (nr // 2) * nphi + nr % 2`` functions: hat
    functions of width ``dr = 2 / (nr + 1)`` in ``r`` times hat functions of width
    ``2 pi / nphi`` in ``phi``, with angular nodes at ``-pi + j * 2 pi / nphi``.  Odd ``nr`` has
    one central function and rings at ``dr, 2 dr, ...``; even ``nr`` has rings at
    ``dr / 2, 3 dr / 2, ...`` whose inner part folds through the centre.
    ``nphi == 1`` (or an int ``kernel_shape``) is the radial-only variant.
``"piecewise_linear_nop"``
    The convention of the unified CS-MRI code and of torch-harmonics < 0.7.4 (which neuraloperator's
    weight count ``K = (nr - 1) * nphi + 1`` still follows): ``dr = 1 / nr``, one central function
    and rings at ``dr, ..., (nr - 1) dr``, angular nodes at ``j * 2 pi / nphi``.  Radial-only
    (``nphi == 1``): ``K = nr`` rings at ``0, dr, ..., (nr - 1) dr``.
``"isotropic"``
    Radial-only piecewise linear hats, ``kernel_shape = nr``, ``K = nr``, nodes at ``k / nr``
    (the radial part of ``"piecewise_linear_nop"``).
``"harmonic"``
    Hann-windowed Fourier basis, ``kernel_shape = (nr, nphi)``, ``K = nr * nphi``:
    ``psi = cos^2(pi r / 2) * cos(pi n r) * r^m * a_j(phi)`` with radial harmonic ``n < nr`` and
    angular functions ``a_0 = 1``, ``a_{2m-1} = cos(m phi)``, ``a_{2m} = sin(m phi)``; the factor
    ``r^m`` keeps every function continuous at the centre.

Why the default is the torch-harmonics >= 0.7.4 convention: it is what current torch-harmonics
*and* the installed neuraloperator evaluate (neuraloperator allocates ``(nr - 1) * nphi + 1``
weights but fills only the first ``(nr // 2) * nphi + nr % 2`` of them with torch-harmonics basis
values, so the remaining weights never receive a gradient); every one of our weights is used, and
a kernel of ``nr`` radial "pixels" needs about half the parameters.  Both conventions vanish at
``r = 1``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch

from discofold.errors import InputError

__all__ = ["BASES", "basis_size", "evaluate_basis", "basis_integrals"]

BASES = ("piecewise_linear", "piecewise_linear_nop", "isotropic", "harmonic")
_TWO_PI = 2.0 * math.pi


def _shape(basis: str, kernel_shape: int | Sequence[int]) -> tuple[int, int]:
    """Validate ``basis`` and ``kernel_shape``; return ``(nr, nphi)``."""
    if basis not in BASES:
        raise InputError(f"basis must be one of {BASES}, got {basis!r}")
    if isinstance(kernel_shape, int):
        ks = (int(kernel_shape),)
    else:
        ks = tuple(int(k) for k in kernel_shape)
    if len(ks) == 1:
        ks = (ks[0], 1)
    if len(ks) != 2 or min(ks) < 1:
        raise InputError(
            f"kernel_shape must be a positive int or a pair (nr, nphi) of positive ints, "
            f"got {kernel_shape!r}"
        )
    if basis == "isotropic" and ks[1] != 1:
        raise InputError(f"the 'isotropic' basis takes an int kernel_shape, got {kernel_shape!r}")
    if basis == "piecewise_linear_nop" and ks[0] < 2 and ks[1] > 1:
        raise InputError(
            f"'piecewise_linear_nop' needs nr >= 2 when nphi > 1, got {kernel_shape!r}"
        )
    return ks


def basis_size(basis: str, kernel_shape: int | Sequence[int]) -> int:
    """Number ``K`` of basis functions.

    Parameters
    ----------
    basis : str
        One of :data:`BASES`.
    kernel_shape : int or (int, int)
        ``nr`` or ``(nr, nphi)``.

    Returns
    -------
    int
        ``K``; see the module docstring for each basis.
    """
    nr, nphi = _shape(basis, kernel_shape)
    if basis == "piecewise_linear":
        return (nr // 2) * nphi + nr % 2
    if basis == "piecewise_linear_nop":
        return nr if nphi == 1 else (nr - 1) * nphi + 1
    if basis == "isotropic":
        return nr
    return nr * nphi


def _hat(d: torch.Tensor, width: float) -> torch.Tensor:
    return torch.clamp(1.0 - d.abs() / width, min=0.0)


def _circle_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    d = torch.remainder(a - b, _TWO_PI)
    return torch.minimum(d, _TWO_PI - d)


def _index_grid(k: int, r: torch.Tensor) -> torch.Tensor:
    """``arange(k)`` shaped to broadcast against ``r`` from the left."""
    return torch.arange(k, device=r.device).reshape((k,) + (1,) * r.dim())


def _pl_torch_harmonics(nr: int, nphi: int, r: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    K = (nr // 2) * nphi + nr % 2
    ik = _index_grid(K, r).to(r.dtype)
    dr = 2.0 / (nr + 1)
    inside = (r <= 1.0).to(r.dtype)
    if nphi == 1:
        ir = ik * dr if nr % 2 == 1 else (ik + 0.5) * dr
        return _hat(r - ir, dr) * inside
    dphi = _TWO_PI / nphi
    if nr % 2 == 1:
        ir = (torch.div(ik - 1, nphi, rounding_mode="floor") + 1) * dr
        iphi = torch.remainder(ik - 1, nphi) * dphi - math.pi
        ang = torch.where(ik > 0, _hat(_circle_dist(phi, iphi), dphi), torch.ones_like(ik))
        return _hat(r - ir, dr) * ang * inside
    ir = (torch.div(ik, nphi, rounding_mode="floor") + 0.5) * dr
    iphi = torch.remainder(ik, nphi) * dphi - math.pi
    phin = torch.where(phi >= 0, phi - math.pi, phi + math.pi)
    direct = _hat(r - ir, dr) * _hat(_circle_dist(phi, iphi), dphi) * inside
    folded = _hat(r + ir, dr) * _hat(_circle_dist(phin, iphi), dphi)
    return direct + folded


def _pl_nop(nr: int, nphi: int, r: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    dr = 1.0 / nr
    inside = (r <= 1.0).to(r.dtype)
    if nphi == 1:
        ik = _index_grid(nr, r).to(r.dtype)
        return _hat(r - ik * dr, dr) * inside
    K = (nr - 1) * nphi + 1
    ik = _index_grid(K, r).to(r.dtype)
    dphi = _TWO_PI / nphi
    ir = (torch.div(ik - 1, nphi, rounding_mode="floor") + 1) * dr
    iphi = torch.remainder(ik - 1, nphi) * dphi
    ang = torch.where(ik > 0, _hat(_circle_dist(phi, iphi), dphi), torch.ones_like(ik))
    return _hat(r - ir, dr) * ang * inside


def _harmonic(nr: int, nphi: int, r: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    inside = (r <= 1.0).to(r.dtype)
    window = torch.cos(0.5 * math.pi * torch.clamp(r, max=1.0)) ** 2 * inside
    out = []
    for n in range(nr):
        radial = window * torch.cos(math.pi * n * r)
        for j in range(nphi):
            m = (j + 1) // 2
            if j == 0:
                out.append(radial)
            else:
                trig = torch.cos if j % 2 == 1 else torch.sin
                out.append(radial * r**m * trig(m * phi))
    return torch.stack(out)


def evaluate_basis(
    basis: str, kernel_shape: int | Sequence[int], r: torch.Tensor, phi: torch.Tensor
) -> torch.Tensor:
    """Evaluate all basis functions at polar offsets.

    Parameters
    ----------
    basis : str
        One of :data:`BASES` (see the module docstring).
    kernel_shape : int or (int, int)
        ``nr`` or ``(nr, nphi)``.
    r : torch.Tensor
        Distances divided by the kernel radius, any shape; the support is ``r <= 1``.
    phi : torch.Tensor
        Angles in radians (``atan2`` convention), broadcastable to ``r``.

    Returns
    -------
    torch.Tensor
        ``(K, *r.shape)`` in the dtype of ``r``; zero where ``r > 1``.
    """
    nr, nphi = _shape(basis, kernel_shape)
    if r.is_complex() or not r.is_floating_point():
        raise InputError(f"r must be a real floating tensor, got dtype {r.dtype}")
    phi = torch.broadcast_to(phi.to(r.dtype), r.shape)
    if basis == "piecewise_linear":
        return _pl_torch_harmonics(nr, nphi, r, phi)
    if basis in ("piecewise_linear_nop", "isotropic"):
        return _pl_nop(nr, nphi, r, phi)
    return _harmonic(nr, nphi, r, phi)


@functools.lru_cache(maxsize=64)
def _integrals(basis: str, ks: tuple[int, int], n_r: int, n_phi: int) -> torch.Tensor:
    total = torch.zeros(basis_size(basis, ks), dtype=torch.float64)
    nodes, wts = _gauss_legendre(n_r)
    phi = (torch.arange(n_phi, dtype=torch.float64) + 0.5) * (_TWO_PI / n_phi) - math.pi
    for lo in torch.linspace(0.0, 1.0, 65, dtype=torch.float64)[:-1].tolist():
        r = lo + (nodes + 1.0) / 128.0
        w = wts / 128.0 * r * (_TWO_PI / n_phi)
        vals = evaluate_basis(basis, ks, r[:, None].expand(-1, n_phi), phi[None, :])
        total += (vals * w[:, None]).sum(dim=(1, 2))
    return total


def _gauss_legendre(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    import numpy as np

    x, w = np.polynomial.legendre.leggauss(n)
    return torch.from_numpy(x), torch.from_numpy(w)


def basis_integrals(basis: str, kernel_shape: int | Sequence[int]) -> torch.Tensor:
    """Integral of each basis function over the unit disk, ``int psi_k(r, phi) r dr dphi``.

    Multiply by ``radius**2`` for a kernel of physical radius ``radius``.  Computed once by
    Gauss-Legendre quadrature in ``r`` (64 panels) and the midpoint rule in ``phi`` (2880 points,
    exact up to ~1e-7 for hat functions) and cached.

    Returns
    -------
    torch.Tensor
        ``(K,)`` float64.
    """
    return _integrals(basis, _shape(basis, kernel_shape), 8, 2880).clone()
