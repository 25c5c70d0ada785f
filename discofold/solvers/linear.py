"""Linear reconstructions: zero-filled (density-compensated) adjoint and CG-SENSE."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..errors import DivergenceError
from ..operators import LinearOperator
from ._common import (
    Callback,
    Monitor,
    check_inputs,
    check_max_iter,
    check_positive,
    image_dims,
)

__all__ = ["zero_filled", "cg_sense", "conjugate_gradient"]


def _inner(a: torch.Tensor, b: torch.Tensor, dims) -> torch.Tensor:
    """Real part of ``⟨a, b⟩`` over ``dims`` (kept); real because the systems are Hermitian."""
    prod = a.conj() * b if a.is_complex() else a * b
    return prod.sum(dim=dims, keepdim=True).real


def zero_filled(y: torch.Tensor, op: LinearOperator, dcf: torch.Tensor | None = None):
    """Zero-filled reconstruction: the (density-compensated) adjoint ``Aᴴ(w ⊙ y)``.

    Parameters
    ----------
    y : Tensor ``(..., *op.out_shape)``
        Measurements, zeros where nothing was measured.
    op : LinearOperator
        Forward operator.
    dcf : Tensor, optional
        Density-compensation weights broadcasting to ``y``.  When omitted and the operator
        offers ``dc_adjoint`` (``PolarRadar``: weights normalised so that a unit point images to
        1) it is used; otherwise the operator's ``dcf`` tensor if it has one
        (``NonCartesianMRI(dcf=...)``); otherwise the plain adjoint (Cartesian MRI: orthonormal
        FFT, nothing to compensate).  Weights are rescaled per sample by the least-squares gain
        ``α = ⟨z, 1⟩/⟨z, z⟩`` of ``z = Aᴴ W A 1`` (a constant image), so that smooth images keep
        their amplitude whatever the scale of ``dcf`` (with coil maps normalised to
        ``Σ|S_c|² = 1``).

    Returns
    -------
    Tensor ``(..., *op.in_shape)``
    """
    check_inputs(y, op, "zero_filled")
    if dcf is None:
        if callable(getattr(op, "dc_adjoint", None)):
            return op.dc_adjoint(y)
        dcf = getattr(op, "dcf", None)
        if not isinstance(dcf, torch.Tensor):
            return op.A_adjoint(y)
    dcf = dcf.to(device=y.device, dtype=y.real.dtype)
    x = op.A_adjoint(y * dcf)
    dims = image_dims(op, x)
    ones = torch.ones_like(x)
    z = op.A_adjoint(op.A(ones) * dcf)
    gain = _inner(z, ones, dims) / _inner(z, z, dims).clamp_min(1e-300)
    return x * gain


def conjugate_gradient(
    apply: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    x0: torch.Tensor,
    dims: tuple[int, ...],
    max_iter: int,
    monitor: Monitor | None = None,
) -> torch.Tensor:
    """Batched conjugate gradients for a Hermitian positive-definite ``apply`` (one system per
    batch sample, reductions over ``dims``).  Stops via ``monitor`` if given."""
    x = x0.clone()
    r = b - apply(x)
    p = r.clone()
    rr = _inner(r, r, dims)
    for k in range(1, max_iter + 1):
        ap = apply(p)
        pap = _inner(p, ap, dims)
        alpha = torch.where(pap > 0, rr / pap.clamp_min(1e-300), torch.zeros_like(rr))
        if monitor is not None and bool((pap < 0).any()):
            raise DivergenceError(
                f"{monitor.solver} diverged at iteration {k} with step size "
                f"{float((rr / pap).min()):.4g}: pᴴ(AᴴA + λI)p < 0, the operator's adjoint is "
                "inconsistent (check op.adjointness_test())"
            )
        x_old = x
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = _inner(r, r, dims)
        if monitor is not None:
            monitor.guard(k, float(alpha.max()), rr_new.sqrt(), "the residual norm")
            if monitor.update(k, x, x_old, {"residual": float(rr_new.sqrt().max()),
                                            "step": float(alpha.max())}):
                break
        beta = torch.where(rr > 0, rr_new / rr.clamp_min(1e-300), torch.zeros_like(rr))
        p = r + beta * p
        rr = rr_new
    return x


def cg_sense(
    y: torch.Tensor,
    op: LinearOperator,
    lam: float = 1e-3,
    max_iter: int = 30,
    tol: float = 1e-6,
    x0: torch.Tensor | None = None,
    callback: Callback | None = None,
    return_info: bool = False,
):
    """Tikhonov-regularised least squares ``argmin ½‖Ax − y‖² + ½λ‖x‖²`` by conjugate gradients
    on ``(AᴴA + λI) x = Aᴴy`` (CG-SENSE for multi-coil MRI).

    Parameters
    ----------
    y : Tensor ``(..., *op.out_shape)``
        Measurements; leading dims are solved independently (one CG per sample).
    op : LinearOperator
        Any discofold operator; only ``A_adjoint`` and ``normal`` are used.
    lam : float
        Tikhonov weight ``λ ≥ 0`` (relative to ``AᴴA``, whose largest eigenvalue is 1 for
        Cartesian MRI with normalised coil maps).
    max_iter, tol : int, float
        Iteration budget; stop when the relative change of every sample is below ``tol``.
    x0 : Tensor, optional
        Starting image (default zeros).
    callback : callable, optional
        ``callback(iteration, x, info)``; ``info`` has ``rel_change``, ``residual``, ``step``.
    return_info : bool
        Also return ``{"iterations", "converged", ...}``.

    Returns
    -------
    Tensor ``(..., *op.in_shape)`` (and the info dict if asked).
    """
    check_inputs(y, op, "cg_sense")
    lam = check_positive(lam, "lam", "cg_sense")
    max_iter = check_max_iter(max_iter, "cg_sense")
    b = op.A_adjoint(y)
    dims = image_dims(op, b)
    monitor = Monitor("cg_sense", dims, tol, callback, divergence_factor=1e6)
    start = torch.zeros_like(b) if x0 is None else x0.to(b).expand_as(b)
    x = conjugate_gradient(lambda v: op.normal(v) + lam * v, b, start, dims, max_iter, monitor)
    return monitor.result(x, return_info)
