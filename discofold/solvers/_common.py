"""Shared machinery of the iterative solvers: input checks, batched norms, the stopping rule,
the divergence guard and the progress callback."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ..errors import DivergenceError, InputError
from ..operators import LinearOperator

__all__ = ["Callback", "check_inputs", "image_dims", "sq_norm", "lipschitz", "Monitor", "soft"]

Callback = Callable[[int, torch.Tensor, dict], Any]


def check_inputs(y: torch.Tensor, op: LinearOperator, solver: str) -> None:
    """Reject a non-tensor or non-finite measurement ``y`` with :class:`InputError`."""
    if not isinstance(y, torch.Tensor):
        raise InputError(f"{solver}: measurements y must be a torch.Tensor, got {type(y).__name__}")
    if not isinstance(op, LinearOperator):
        raise InputError(
            f"{solver}: op must be a discofold LinearOperator, got {type(op).__name__}"
        )
    finite = torch.isfinite(torch.view_as_real(y) if y.is_complex() else y)
    if not bool(finite.all()):
        raise InputError(
            f"{solver}: measurements y of shape {tuple(y.shape)} contain "
            f"{int((~finite).sum())} non-finite values (NaN or Inf)"
        )


def image_dims(op: LinearOperator, x: torch.Tensor) -> tuple[int, ...]:
    """The trailing (image) dimensions of ``x`` for operator ``op``."""
    n = len(op.in_shape)
    return tuple(range(x.ndim - n, x.ndim))


def sq_norm(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """``‖x‖²`` over ``dims`` (kept), real."""
    return (x.real.square() + x.imag.square() if x.is_complex() else x.square()).sum(
        dim=dims, keepdim=True
    )


def lipschitz(op: LinearOperator, like: torch.Tensor, max_iter: int = 100) -> float:
    """Largest eigenvalue of ``AᴴA`` from ``op.compute_norm()`` (power iteration on the shape
    of ``like`` when the operator has free dimensions), times ``1 + 1e-3`` for safety."""
    try:
        dtype = torch.complex128 if like.dtype in (torch.float64, torch.complex128) else None
        lam = op.compute_norm(max_iter=max_iter, dtype=dtype or torch.complex64)
    except NotImplementedError:
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(like.shape, generator=gen, dtype=like.dtype).to(like.device)
        dims = image_dims(op, x)
        lam = 0.0
        for _ in range(max_iter):
            x = x / sq_norm(x, dims).sqrt().clamp_min(1e-30)
            z = op.normal(x)
            new = float(sq_norm(z, dims).sqrt().max())
            x, done, lam = z, abs(new - lam) <= 1e-6 * new, new
            if done:
                break
    if not math.isfinite(lam) or lam <= 0:
        raise InputError(f"{op.name}: operator norm estimate is {lam}; cannot choose a step size")
    return lam * (1 + 1e-3)


def soft(x: torch.Tensor, thresh: float | torch.Tensor) -> torch.Tensor:
    """Soft threshold; on complex values it shrinks the magnitude and keeps the phase."""
    if x.is_complex():
        mag = x.abs()
        return x * (torch.clamp(mag - thresh, min=0) / mag.clamp_min(1e-30))
    return torch.sign(x) * torch.clamp(x.abs() - thresh, min=0)


class Monitor:
    """Stopping rule, divergence guard and progress callback of one solver run.

    Parameters
    ----------
    solver : str
        Name used in messages.
    dims : tuple of int
        Image dimensions (norms are taken per batch sample over these).
    tol : float
        Stop when the relative change ``‖x_k − x_{k−1}‖ / ‖x_k‖`` of every sample is below it.
    callback : callable, optional
        ``callback(iteration, x, info)`` after every iteration (1-based).
    divergence_factor : float
        A monitored value (objective or iterate norm) exceeding ``divergence_factor`` times its
        reference raises :class:`~discofold.errors.DivergenceError`.
    """

    def __init__(self, solver: str, dims, tol: float, callback: Callback | None,
                 divergence_factor: float = 1e4):
        if tol < 0 or not math.isfinite(tol):
            raise InputError(f"{solver}: tol must be a finite number >= 0, got {tol}")
        self.solver, self.dims, self.tol = solver, dims, tol
        self.callback, self.factor = callback, divergence_factor
        self.reference: torch.Tensor | None = None
        self.iterations, self.converged, self.last = 0, False, {}

    def guard(self, k: int, step: float, value: torch.Tensor, what: str) -> None:
        """Raise :class:`DivergenceError` if ``value`` (per sample) is non-finite or has grown by
        more than the divergence factor over the first value seen (or :attr:`reference`)."""
        if not bool(torch.isfinite(value).all()):
            raise DivergenceError(
                f"{self.solver} diverged at iteration {k} with step size {step:.4g}: "
                f"{what} became non-finite (NaN/Inf); reduce the step size"
            )
        if self.reference is None:
            self.reference = value.detach().clamp_min(1e-30)
            return
        ratio = float((value / self.reference).max())
        if ratio > self.factor:
            raise DivergenceError(
                f"{self.solver} diverged at iteration {k} with step size {step:.4g}: "
                f"{what} grew by a factor {ratio:.3g} (> {self.factor:g}); reduce the step size"
            )

    def update(self, k: int, x: torch.Tensor, x_old: torch.Tensor, info: dict,
               image: torch.Tensor | None = None) -> bool:
        """Record iteration ``k``, call the callback (with ``image``, default ``x``), return
        ``True`` when converged."""
        diff = sq_norm(x - x_old, self.dims).sqrt()
        rel = float((diff / sq_norm(x, self.dims).sqrt().clamp_min(1e-30)).max())
        info = {"rel_change": rel, **info}
        self.iterations, self.last = k, info
        if self.callback is not None:
            self.callback(k, x if image is None else image, info)
        self.converged = rel < self.tol
        return self.converged

    def result(self, x: torch.Tensor, return_info: bool):
        """``x`` or ``(x, info)`` with ``iterations``, ``converged`` and the last info."""
        if not return_info:
            return x
        return x, {"iterations": self.iterations, "converged": self.converged, **self.last}


def check_positive(value: float, name: str, solver: str, allow_zero: bool = True) -> float:
    """Return ``float(value)`` or raise :class:`InputError` if it is negative/non-finite."""
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise InputError(f"{solver}: {name} must be a finite number >= 0, got {value}")
    return v


def check_max_iter(max_iter: int, solver: str) -> int:
    """Return ``max_iter`` or raise :class:`InputError` unless it is a positive integer."""
    if int(max_iter) != max_iter or max_iter < 1:
        raise InputError(f"{solver}: max_iter must be a positive integer, got {max_iter}")
    return int(max_iter)
