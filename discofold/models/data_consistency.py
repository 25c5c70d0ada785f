"""Data-consistency steps of unrolled networks; every one works with every operator.

Each step is ``dc(z, r, ctx) -> z_new`` where ``z`` is the current estimate in the operator's
input space, ``r`` the regulariser's update of ``z`` and ``ctx`` a
:class:`~discofold.models.unrolled.StageContext` carrying the operator ``ctx.op`` and ``Aᴴy``
(``ctx.aty``).  Residuals are written ``AᴴA z − Aᴴy`` with ``op.normal``, so operators with a
Toeplitz normal (non-Cartesian MRI, radar) use it.

- :class:`SoftDC` (E2E-VarNet): ``z − λ (AᴴA z − Aᴴy) + r``, learnable ``λ = softplus(·) > 0``
  (initially 1).
  With coil images as ``z`` and the coil-wise Cartesian operator this is exactly VarNet's
  k-space step ``k − λ M (k − y)`` (``F`` is unitary).
- :class:`GradientDC`: ``z − (α / L)(AᴴA z − Aᴴy) + r`` with ``α = softplus(a) > 0`` (initially
  1) and ``L`` the largest eigenvalue of ``AᴴA`` (power iteration, cached per operator), so the
  initial step is the classical ``1 / L``.
- :class:`ProximalDC` (MoDL): ``argmin_x ‖Ax − y‖² + μ ‖x − (z + r)‖²``, i.e.
  ``(AᴴA + μ I) x = Aᴴy + μ (z + r)`` by ``n_iter`` conjugate-gradient steps (differentiable,
  fixed count), ``μ = softplus(m) > 0``.
"""

from __future__ import annotations

import math
import weakref

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..operators import CartesianMRI

__all__ = ["SoftDC", "GradientDC", "ProximalDC", "make_dc", "conjugate_gradient", "DC_VARIANTS"]

DC_VARIANTS = ("soft", "gradient", "prox")
_NORM_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _inv_softplus(v: float) -> float:
    return math.log(math.expm1(v))


def _dot(a: torch.Tensor, b: torch.Tensor, ndim: int) -> torch.Tensor:
    """Real part of ``⟨a, b⟩`` over the last ``ndim`` axes, kept as broadcastable dims."""
    dims = tuple(range(a.ndim - ndim, a.ndim))
    prod = a.conj() * b if a.is_complex() else a * b
    return prod.real.sum(dim=dims, keepdim=True) if prod.is_complex() else prod.sum(
        dim=dims, keepdim=True)


def conjugate_gradient(apply, b: torch.Tensor, x0: torch.Tensor, n_iter: int,
                       ndim: int) -> torch.Tensor:
    """Solve ``apply(x) = b`` (Hermitian positive definite) with ``n_iter`` CG steps.

    Each leading index is an independent system; inner products run over the last ``ndim``
    axes.  Differentiable (plain autograd through the iterations).
    """
    x = x0
    r = b - apply(x)
    p = r
    rs = _dot(r, r, ndim)
    for _ in range(n_iter):
        ap = apply(p)
        alpha = rs / _dot(p, ap, ndim).clamp_min(1e-30)
        x = x + alpha * p
        r = r - alpha * ap
        rs_new = _dot(r, r, ndim)
        p = r + (rs_new / rs.clamp_min(1e-30)) * p
        rs = rs_new
    return x


def operator_norm(op) -> float:
    """Largest eigenvalue of ``AᴴA``, estimated once per operator object and cached."""
    if isinstance(op, CartesianMRI) and op.coil_maps is None:
        return 1.0  # M F with a non-empty 0/1 mask and a unitary F: exactly 1
    try:
        return _NORM_CACHE[op]
    except (KeyError, TypeError):
        pass
    with torch.no_grad():
        value = float(op.compute_norm(max_iter=30, tol=1e-3))
    try:
        _NORM_CACHE[op] = value
    except TypeError:
        pass
    return value


class SoftDC(nn.Module):
    """VarNet soft data consistency ``z − λ (AᴴA z − Aᴴy) + r`` with learnable ``λ ≥ 0``.

    ``λ = softplus(weight_raw)`` (initially ``weight``): a learned step can shrink data
    consistency but never reverse it (an unconstrained ``λ`` was seen to reach −0.06).
    Checkpoints holding the former unconstrained ``weight`` load as ``λ = max(weight, 1e-4)``.
    """

    def __init__(self, weight: float = 1.0):
        super().__init__()
        if not float(weight) > 0:
            raise ConfigError(f"SoftDC weight must be > 0, got {weight}")
        self.weight_raw = nn.Parameter(torch.tensor(_inv_softplus(float(weight))))

    @property
    def weight(self) -> torch.Tensor:
        """The step ``λ = softplus(weight_raw) > 0``."""
        return F.softplus(self.weight_raw)

    @staticmethod
    def upgrade_state_dict(state_dict: dict, prefix: str = "") -> None:
        """Replace a former unconstrained ``weight`` by ``weight_raw`` (in place)."""
        old = state_dict.pop(prefix + "weight", None)
        if old is not None and prefix + "weight_raw" not in state_dict:
            lam = old.detach().double().clamp_min(1e-4)
            state_dict[prefix + "weight_raw"] = (lam + torch.log(-torch.expm1(-lam))).to(
                old.dtype)  # inverse softplus, stable for small and large λ

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        self.upgrade_state_dict(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, z, r, ctx):
        return z - self.weight * (ctx.op.normal(z) - ctx.aty) + r


class GradientDC(nn.Module):
    """Gradient step ``z − (α / L)(AᴴA z − Aᴴy) + r`` with learnable ``α > 0`` (init 1)."""

    def __init__(self, step: float = 1.0):
        super().__init__()
        self.step = nn.Parameter(torch.tensor(_inv_softplus(step)))

    def forward(self, z, r, ctx):
        alpha = F.softplus(self.step) / operator_norm(ctx.op)
        return z - alpha * (ctx.op.normal(z) - ctx.aty) + r


class ProximalDC(nn.Module):
    """MoDL proximal step: CG on ``(AᴴA + μ I) x = Aᴴy + μ (z + r)``, learnable ``μ > 0``."""

    def __init__(self, mu: float = 1.0, n_iter: int = 10):
        super().__init__()
        if int(n_iter) < 1:
            raise ConfigError(f"ProximalDC needs n_iter >= 1, got {n_iter}")
        self.mu = nn.Parameter(torch.tensor(_inv_softplus(mu)))
        self.n_iter = int(n_iter)

    def forward(self, z, r, ctx):
        mu = F.softplus(self.mu)
        v = z + r
        ndim = len(ctx.op.in_shape)
        return conjugate_gradient(lambda x: ctx.op.normal(x) + mu * x, ctx.aty + mu * v, v,
                                  self.n_iter, ndim)


def make_dc(kind: str, **kwargs) -> nn.Module:
    """``"soft"`` → :class:`SoftDC`, ``"gradient"`` → :class:`GradientDC`,
    ``"prox"`` → :class:`ProximalDC`."""
    table = {"soft": SoftDC, "gradient": GradientDC, "prox": ProximalDC}
    if kind not in table:
        raise ConfigError(f"data consistency must be one of {DC_VARIANTS}, got {kind!r}")
    return table[kind](**kwargs)
