"""Isotropic total variation (optionally plus ℓ1 for radar) by Chambolle–Pock PDHG or ADMM."""

from __future__ import annotations

import math

import torch

from ..errors import InputError
from ..operators import LinearOperator
from ._common import (
    Callback,
    Monitor,
    check_inputs,
    check_max_iter,
    check_positive,
    image_dims,
    lipschitz,
    soft,
    sq_norm,
)
from .linear import conjugate_gradient

__all__ = ["tv", "gradient", "gradient_adjoint", "total_variation"]


def gradient(x: torch.Tensor) -> torch.Tensor:
    """Forward differences with Neumann boundary: ``(..., H, W)`` → ``(..., 2, H, W)``
    (``[∂_H x, ∂_W x]``, zero in the last row/column).  ``‖∇‖² ≤ 8``."""
    g = x.new_zeros((*x.shape[:-2], 2, *x.shape[-2:]))
    g[..., 0, :-1, :] = x[..., 1:, :] - x[..., :-1, :]
    g[..., 1, :, :-1] = x[..., :, 1:] - x[..., :, :-1]
    return g


def gradient_adjoint(g: torch.Tensor) -> torch.Tensor:
    """Adjoint ``∇ᵀ = −div`` of :func:`gradient`: ``(..., 2, H, W)`` → ``(..., H, W)``."""
    gh, gw = g[..., 0, :, :], g[..., 1, :, :]
    out = torch.zeros_like(gh)
    out[..., :-1, :] -= gh[..., :-1, :]
    out[..., 1:, :] += gh[..., :-1, :]
    out[..., :, :-1] -= gw[..., :, :-1]
    out[..., :, 1:] += gw[..., :, :-1]
    return out


def _magnitude(g: torch.Tensor) -> torch.Tensor:
    """Pointwise ``sqrt(|∂_H|² + |∂_W|²)``: ``(..., 2, H, W)`` → ``(..., H, W)``."""
    return (g.abs().square().sum(dim=-3)).sqrt()


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Isotropic TV ``Σ_ij ‖(∇x)_ij‖₂`` over the last two axes, shape ``x.shape[:-2]``."""
    return _magnitude(gradient(x)).sum(dim=(-2, -1))


def _project(q: torch.Tensor, radius: float) -> torch.Tensor:
    """Project each gradient vector (over dim −3, complex entries) onto the ball of ``radius``."""
    return q / torch.clamp(_magnitude(q) / radius, min=1.0).unsqueeze(-3)


def _shrink(g: torch.Tensor, thresh: float) -> torch.Tensor:
    """Isotropic (vector) soft threshold of a gradient field."""
    mag = _magnitude(g).unsqueeze(-3)
    return g * (torch.clamp(mag - thresh, min=0) / mag.clamp_min(1e-30))


def _objective(x, y, op, lam, lam_l1) -> torch.Tensor:
    fit = 0.5 * sq_norm(op.A(x) - y, image_dims(op.H, y)).flatten()
    reg = lam * total_variation(x).flatten() + lam_l1 * x.abs().sum(dim=(-2, -1)).flatten()
    return fit + reg


def _pdhg(y, op, lam, lam_l1, x, max_iter, monitor, want_objective, lip):
    aty = op.A_adjoint(y)
    lip = lipschitz(op, aty) if lip is None else lip
    tau = sigma = 0.99 / math.sqrt(lip + 8.0 + (1.0 if lam_l1 > 0 else 0.0))
    monitor.reference = torch.maximum(
        sq_norm(x, monitor.dims).sqrt(), sq_norm(aty, monitor.dims).sqrt() / lip
    ).clamp_min(1e-30)
    p = torch.zeros_like(y)
    q = gradient(torch.zeros_like(x))
    r = torch.zeros_like(x)
    x_bar = x
    for k in range(1, max_iter + 1):
        p = (p + sigma * (op.A(x_bar) - y)) / (1 + sigma)
        q = _project(q + sigma * gradient(x_bar), lam) if lam > 0 else q
        r = _project((r + sigma * x_bar).unsqueeze(-3), lam_l1).squeeze(-3) if lam_l1 > 0 else r
        x_new = x - tau * (op.A_adjoint(p) + gradient_adjoint(q) + r)
        x_bar = 2 * x_new - x
        x_old, x = x, x_new
        monitor.guard(k, tau, sq_norm(x, monitor.dims).sqrt(), "the iterate norm")
        info = {"step": tau, "dual": {"data": p, "tv": q, "l1": r}}
        if want_objective:
            info["objective"] = _objective(x, y, op, lam, lam_l1)
        if monitor.update(k, x, x_old, info):
            break
    return x


def _admm(y, op, lam, lam_l1, x, max_iter, monitor, want_objective, rho, cg_iter):
    aty = op.A_adjoint(y)
    z, u = gradient(x), torch.zeros_like(gradient(x))
    w, v = x.clone(), torch.zeros_like(x)
    use_l1 = lam_l1 > 0

    def system(a):
        out = op.normal(a) + rho * gradient_adjoint(gradient(a))
        return out + rho * a if use_l1 else out

    for k in range(1, max_iter + 1):
        rhs = aty + rho * gradient_adjoint(z - u) + (rho * (w - v) if use_l1 else 0)
        x_new = conjugate_gradient(system, rhs, x, monitor.dims, cg_iter)
        gx = gradient(x_new)
        z = _shrink(gx + u, lam / rho)
        u = u + gx - z
        if use_l1:
            w = soft(x_new + v, lam_l1 / rho)
            v = v + x_new - w
        x_old, x = x, x_new
        monitor.guard(k, rho, sq_norm(x, monitor.dims).sqrt(), "the iterate norm")
        info = {"step": rho}
        if want_objective:
            info["objective"] = _objective(x, y, op, lam, lam_l1)
        if monitor.update(k, x, x_old, info):
            break
    return x


def tv(
    y: torch.Tensor,
    op: LinearOperator,
    lam: float,
    method: str = "pdhg",
    lam_l1: float = 0.0,
    max_iter: int = 200,
    tol: float = 1e-5,
    x0: torch.Tensor | None = None,
    rho: float = 1.0,
    cg_iter: int = 5,
    L: float | None = None,
    callback: Callback | None = None,
    return_info: bool = False,
    divergence_factor: float = 1e4,
):
    """Total-variation reconstruction ``argmin ½‖Ax − y‖² + λ TV(x) + λ₁‖x‖₁``.

    TV is isotropic, ``Σ ‖(∇x)_ij‖₂`` with forward differences (Neumann boundary) on the last
    two axes; on complex images the gradient magnitude covers real and imaginary parts.  The
    ℓ1 term (``lam_l1 > 0``) suits sparse radar scenes.

    Parameters
    ----------
    y : Tensor ``(..., *op.out_shape)``
        Measurements (batched).
    op : LinearOperator
        Any discofold operator with images ``(..., H, W)``.
    lam, lam_l1 : float
        TV and ℓ1 weights (≥ 0).
    method : {"pdhg", "admm"}
        Chambolle–Pock with ``K = [A; ∇; I]``, ``τ = σ = 0.99/‖K‖``, ``‖K‖² ≤ ‖A‖² + 8 (+ 1)``
        (``‖A‖²`` from ``op.compute_norm()``); or ADMM with penalty ``rho`` and ``cg_iter``
        warm-started CG steps for the ``x`` update.
    L : float, optional
        ``‖A‖²`` for PDHG, to skip the power iteration (e.g. computed once for a data set).
    max_iter, tol : int, float
        Iteration budget; stop when the relative change of every sample is below ``tol``.
    x0 : Tensor, optional
        Starting image (default zeros).
    callback : callable, optional
        ``callback(iteration, x, info)``; ``info`` has ``rel_change``, ``step``, ``objective``
        (only when a callback is given) and, for PDHG, the dual variables ``info["dual"]``.
    return_info : bool
        Also return ``{"iterations", "converged", ...}``.
    divergence_factor : float
        Iterate-norm growth that raises :class:`~discofold.errors.DivergenceError`.

    Returns
    -------
    Tensor ``(..., *op.in_shape)`` (and the info dict if asked).
    """
    check_inputs(y, op, "tv")
    lam = check_positive(lam, "lam", "tv")
    lam_l1 = check_positive(lam_l1, "lam_l1", "tv")
    rho = check_positive(rho, "rho", "tv", allow_zero=False)
    max_iter = check_max_iter(max_iter, "tv")
    if method not in ("pdhg", "admm"):
        raise InputError(f"tv: method must be 'pdhg' or 'admm', got {method!r}")
    aty = op.A_adjoint(y)
    if len(op.in_shape) != 2:
        raise InputError(f"tv: needs images (..., H, W), the operator's in_shape is {op.in_shape}")
    x = torch.zeros_like(aty) if x0 is None else x0.to(aty).expand_as(aty).clone()
    monitor = Monitor(f"tv ({method})", image_dims(op, aty), tol, callback, divergence_factor)
    want = callback is not None
    if method == "pdhg":
        lip = None if L is None else check_positive(L, "L", "tv", allow_zero=False)
        x = _pdhg(y, op, lam, lam_l1, x, max_iter, monitor, want, lip)
    else:
        x = _admm(y, op, lam, lam_l1, x, max_iter, monitor, want, rho, cg_iter)
    return monitor.result(x, return_info)
