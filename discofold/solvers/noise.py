"""Noise level of MRI measurements, estimated from the data: the default weights of the
classical solvers follow it (:func:`discofold.solvers.pipeline.reconstruct`).

The estimate
------------
Far from the k-space centre an image's spectrum is small, so the measured samples there are
mostly noise.  :func:`estimate_noise_sigma` takes the outermost quarter of the measured samples
(by normalised radius ``ρ = √((k_H/π)² + (k_W/π)²)``: Cartesian grid positions, or the
trajectory in radians per pixel) and, per coil, the robust (median-based) standard deviation of
circular complex Gaussian noise: for ``n`` with ``E|n|² = σ²`` the modulus is Rayleigh
distributed with ``median |n| = σ √(ln 2)``, so ``σ̂_c = median |y_c| / √(ln 2)``.  The coils are
combined as ``σ̂ = √(mean_c σ̂_c²)``.  Signal left in the outer samples biases ``σ̂`` up (the
median ignores a minority of strong samples, not a floor of weak signal), so on nearly
noise-free data ``σ̂`` measures the outer spectrum instead; the weights tuned on top of it
(``benchmarks/lambda_defaults.py``) see the same bias.
"""

from __future__ import annotations

import math

import torch

from ..operators import CartesianMRI, LinearOperator, NonCartesianMRI

__all__ = ["estimate_noise_sigma", "sampled_fraction", "OUTER_FRACTION"]

OUTER_FRACTION = 0.25  # the outermost quarter of the measured samples
_RAYLEIGH_MEDIAN = math.sqrt(math.log(2.0))  # median |n| / σ for E|n|² = σ²


def _radius(op: LinearOperator) -> torch.Tensor | None:
    """Normalised radius of every k-space position of ``op`` (``(H, W)`` Cartesian, ``(K,)``
    non-Cartesian), ``None`` for other operators."""
    if isinstance(op, NonCartesianMRI):
        return op.traj.double().norm(dim=-1) / math.pi
    if isinstance(op, CartesianMRI):
        h, w = op.image_shape
        ky = (torch.arange(h, dtype=torch.float64) - h // 2) / max(h / 2, 1)
        kx = (torch.arange(w, dtype=torch.float64) - w // 2) / max(w / 2, 1)
        return torch.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)
    return None


def estimate_noise_sigma(y: torch.Tensor, op: LinearOperator,
                         fraction: float = OUTER_FRACTION) -> float | None:
    """Robust estimate of the noise standard deviation ``σ`` (``E|n|² = σ²`` per complex
    sample) of MRI measurements, in the units of ``y`` (see the module docstring).

    Parameters
    ----------
    y : complex Tensor ``(..., [C,] H, W)`` (Cartesian, zeros where not measured) or
        ``(..., [C,] K)`` (non-Cartesian)
    op : CartesianMRI or NonCartesianMRI
        Gives the measured positions (its mask) and their k-space radius; an operator without
        a k-space (radar, block CS) gives ``None``.
    fraction : float
        Share of the measured samples used, the outermost ones.

    Returns
    -------
    float or None
        ``σ̂`` (0 when the outer samples are all zero), ``None`` for other operators.
    """
    rho = _radius(op)
    if rho is None:
        return None
    rho = rho.to(y.device)
    if isinstance(op, CartesianMRI):
        measured = op.mask.to(torch.bool).to(y.device)
        measured = measured.reshape(-1, *measured.shape[-2:]).any(dim=0).expand(rho.shape)
        samples = y.reshape(-1, *rho.shape)[:, measured]  # (B·C, M)
        rho = rho[measured]
    else:
        samples = y.reshape(-1, rho.shape[-1])
    if rho.numel() == 0:
        return 0.0
    keep = max(1, int(math.ceil(fraction * rho.numel())))
    outer = torch.topk(rho, keep).indices
    med = samples[:, outer].abs().double().median(dim=-1).values  # per coil (and batch item)
    return float(torch.sqrt((med / _RAYLEIGH_MEDIAN).square().mean()))


def sampled_fraction(op: LinearOperator) -> float | None:
    """Measured k-space samples per image pixel: the mean of a Cartesian mask over ``(H, W)``
    (``1/R``), ``K / (H W)`` for a trajectory; ``None`` for other operators."""
    if isinstance(op, NonCartesianMRI):
        h, w = op.image_shape
        return op.traj.shape[0] / (h * w)
    if isinstance(op, CartesianMRI):
        mask = op.mask.to(torch.bool)
        return float(mask.expand(*mask.shape[:-2], *op.image_shape).double().mean())
    return None
