"""FISTA for ℓ1-regularised least squares, sparse in an orthogonal wavelet basis or in pixels."""

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
from .wavelets import WaveletTransform

__all__ = ["fista"]


class _Sparsity:
    """Synthesis basis ``x = B c`` (orthogonal wavelet with crop, or identity) with a weight map
    that leaves the coarsest wavelet approximation unpenalised unless asked."""

    def __init__(self, transform: str, wavelet: str, levels: int, shape, penalise_approx: bool):
        if transform not in ("wavelet", "identity"):
            raise InputError(f"fista: transform must be 'wavelet' or 'identity', got {transform!r}")
        self.shape = tuple(shape)
        self.wt = WaveletTransform(wavelet, levels) if transform == "wavelet" else None
        self.penalise_approx = penalise_approx or self.wt is None

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.wt is None else self.wt.forward(x)

    def synthesis(self, c: torch.Tensor) -> torch.Tensor:
        return c if self.wt is None else self.wt.inverse(c, self.shape)

    def weights(self, like: torch.Tensor) -> torch.Tensor | float:
        if self.penalise_approx:
            return 1.0
        wgt = torch.ones(like.shape[-2:], dtype=like.real.dtype, device=like.device)
        ah, aw = self.wt.approx_shape(self.shape)
        wgt[:ah, :aw] = 0
        return wgt


def fista(
    y: torch.Tensor,
    op: LinearOperator,
    lam: float,
    transform: str = "wavelet",
    wavelet: str = "db4",
    levels: int = 3,
    max_iter: int = 100,
    tol: float = 1e-5,
    step: float | None = None,
    penalise_approx: bool = False,
    x0: torch.Tensor | None = None,
    callback: Callback | None = None,
    return_info: bool = False,
    divergence_factor: float = 1e4,
):
    """FISTA (Beck & Teboulle 2009) for ``argmin_x ½‖Ax − y‖² + λ‖Ψx‖₁``.

    With ``transform="wavelet"`` ``Ψ`` is an orthogonal Daubechies DWT (periodic; images with
    sides not divisible by ``2**levels`` are zero-padded, and the problem is solved for the
    coefficients ``c`` with ``x = crop(Ψᵀc)``, which is exact).  With ``transform="identity"``
    the ℓ1 norm is on pixels (sparse radar scenes).  The prox is the soft threshold, on the
    magnitude for complex values.

    Parameters
    ----------
    y : Tensor ``(..., *op.out_shape)``
        Measurements (batched: leading dims are independent problems).
    op : LinearOperator
        Any discofold operator (real or complex images of shape ``(..., H, W)``).
    lam : float
        Regularisation weight ``λ ≥ 0`` (same units as ``Aᴴy``).
    transform, wavelet, levels : str, str, int
        Sparsifying basis (``"wavelet"``/``"identity"``), wavelet name, decomposition levels.
    max_iter, tol : int, float
        Iteration budget and stopping rule (relative change of every sample below ``tol``).
    step : float, optional
        Step size; default ``1/L`` with ``L`` from ``op.compute_norm()`` (times 1.001).
    penalise_approx : bool
        Also threshold the coarsest wavelet approximation (default: leave it free).
    x0 : Tensor, optional
        Starting image (default zeros).
    callback : callable, optional
        ``callback(iteration, x, info)``; ``info`` has ``rel_change``, ``step`` and
        ``objective`` (per-sample tensor; computed only when a callback is given).
    return_info : bool
        Also return ``{"iterations", "converged", ...}``.
    divergence_factor : float
        The data misfit growing by more than this factor raises
        :class:`~discofold.errors.DivergenceError` naming the iteration and the step.

    Returns
    -------
    Tensor ``(..., *op.in_shape)`` (and the info dict if asked).
    """
    check_inputs(y, op, "fista")
    lam = check_positive(lam, "lam", "fista")
    max_iter = check_max_iter(max_iter, "fista")
    aty = op.A_adjoint(y)
    dims = image_dims(op, aty)
    basis = _Sparsity(transform, wavelet, levels, aty.shape[-2:], penalise_approx)
    t_step = 1.0 / lipschitz(op, aty) if step is None else check_positive(step, "step", "fista")
    if t_step == 0:
        raise InputError("fista: step must be > 0")
    c = basis.analysis(torch.zeros_like(aty) if x0 is None else x0.to(aty).expand_as(aty))
    wgt = basis.weights(c)
    monitor = Monitor("fista", dims, tol, callback, divergence_factor)
    z, t = c, 1.0
    for k in range(1, max_iter + 1):
        residual = op.A(basis.synthesis(z)) - y
        monitor.guard(k, t_step, sq_norm(residual, image_dims(op.H, residual)), "the data misfit")
        grad = basis.analysis(op.A_adjoint(residual))
        c_new = soft(z - t_step * grad, t_step * lam * wgt)
        t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
        z = c_new + ((t - 1) / t_new) * (c_new - c)
        c_old, c, t = c, c_new, t_new
        info: dict = {"step": t_step}
        x = None
        if callback is not None:
            x = basis.synthesis(c)
            fit = 0.5 * sq_norm(op.A(x) - y, image_dims(op.H, y))
            l1 = (c.abs() * wgt).sum(dim=(-2, -1)).reshape(fit.shape)
            info["objective"] = (fit + lam * l1).flatten()
        if monitor.update(k, c, c_old, info, image=x):
            break
    return monitor.result(basis.synthesis(c), return_info)
