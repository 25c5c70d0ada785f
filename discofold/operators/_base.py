"""The abstract linear operator that every forward model in discofold derives from.

Modelled on sigpy's ``Linop`` and deepinv's ``LinearPhysics``: an operator knows the trailing
shapes of its input and output, has an adjoint and a normal operator, can test its own
adjointness and estimate its norm.  Leading (batch) dimensions pass through untouched.

Concrete operators implement ``_forward`` and ``_adjoint`` (and optionally ``_normal``); the
public ``A``/``A_adjoint``/``normal`` methods add the argument checks.
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod

import torch

from ..errors import InputError, ShapeError
from ._checks import check_complex, check_finite, check_trailing_shape

__all__ = ["LinearOperator"]


class LinearOperator(ABC):
    """Abstract linear operator ``A: X -> Y`` acting on the trailing dimensions of a tensor.

    Attributes
    ----------
    in_shape, out_shape : tuple of int
        Trailing shapes of the input ``x`` and output ``y = A(x)``.  Any leading dimensions are
        batch dimensions and must broadcast with :attr:`batch_shape`.
    batch_shape : tuple of int
        Leading shape carried by the operator itself (e.g. ``(B,)`` for one mask per sample);
        ``()`` when the operator is the same for every sample.
    complex_input, complex_output : bool
        Whether the operator acts on complex tensors (MRI, radar) or real ones (block CS).
    check_finite : bool
        Reject NaN/Inf in inputs (default ``True``; one extra pass over the data).
    """

    in_shape: tuple[int, ...] = ()
    out_shape: tuple[int, ...] = ()
    batch_shape: tuple[int, ...] = ()
    complex_input: bool = True
    complex_output: bool = True
    check_finite: bool = True
    name: str = "operator"

    # ------------------------------------------------------------------ to implement
    @abstractmethod
    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply ``A`` to a checked input of shape ``(..., *in_shape)``."""

    @abstractmethod
    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Apply ``Aᴴ`` to a checked input of shape ``(..., *out_shape)``."""

    def _normal(self, x: torch.Tensor) -> torch.Tensor:
        """Apply ``AᴴA``; override with a faster equivalent (e.g. a Toeplitz embedding)."""
        return self._adjoint(self._forward(x))

    # ------------------------------------------------------------------ public API
    def A(self, x: torch.Tensor) -> torch.Tensor:
        """Forward operator ``y = A x``; ``x`` has shape ``(..., *in_shape)``."""
        self._check(x, self.in_shape, self.complex_input, f"{self.name} input x")
        return self._forward(x)

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Adjoint operator ``x = Aᴴ y``; ``y`` has shape ``(..., *out_shape)``."""
        self._check(y, self.out_shape, self.complex_output, f"{self.name} adjoint input y")
        return self._adjoint(y)

    def normal(self, x: torch.Tensor) -> torch.Tensor:
        """Normal operator ``AᴴA x``; ``x`` has shape ``(..., *in_shape)``."""
        self._check(x, self.in_shape, self.complex_input, f"{self.name} normal input x")
        return self._normal(x)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.A(x)

    @property
    def H(self) -> LinearOperator:
        """The adjoint ``Aᴴ`` as an operator (``op.H.H`` is ``op``)."""
        return _Adjoint(self)

    @property
    def device(self) -> torch.device:
        """Device of the operator's tensors (CPU when it holds none)."""
        for value in vars(self).values():
            if isinstance(value, torch.Tensor):
                return value.device
            if isinstance(value, LinearOperator):
                return value.device
        return torch.device("cpu")

    def to(self, device: torch.device | str) -> LinearOperator:
        """Return a copy of the operator with all its tensors on ``device``."""
        new = copy.copy(self)
        for key, value in vars(self).items():
            if isinstance(value, torch.Tensor):
                setattr(new, key, value.to(device))
            elif isinstance(value, LinearOperator):
                setattr(new, key, value.to(device))
            elif isinstance(value, dict) and key.startswith("_cache"):
                setattr(new, key, {})
        return new

    # ------------------------------------------------------------------ checks
    def _check(self, x, trailing, want_complex: bool, name: str) -> None:
        if not isinstance(x, torch.Tensor):
            raise InputError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if want_complex:
            check_complex(x, name)
        elif torch.is_complex(x) or not x.is_floating_point():
            raise InputError(f"{name} must be a real floating-point tensor, got dtype {x.dtype}")
        check_trailing_shape(x, trailing, name)
        lead = tuple(x.shape[: x.ndim - len(trailing)])
        try:
            torch.broadcast_shapes(lead, self.batch_shape)
        except RuntimeError:
            raise ShapeError(
                f"{name} has batch shape {lead}, which does not broadcast with the operator's "
                f"batch shape {self.batch_shape} (from its mask or coil maps)"
            ) from None
        if x.device != self.device:
            raise InputError(
                f"{name} is on {x.device} but the operator is on {self.device}; "
                f"use op.to({str(x.device)!r})"
            )
        if self.check_finite:
            check_finite(x, name)

    # ------------------------------------------------------------------ diagnostics
    def _concrete(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """A concrete shape for random tests; operators with free (-1) sizes override this."""
        if any(s < 0 for s in shape):
            raise NotImplementedError(
                f"{type(self).__name__} has free dimensions {shape}; override _concrete"
            )
        return shape

    def _random(self, trailing, want_complex, dtype, generator) -> torch.Tensor:
        shape = (*self.batch_shape, *trailing)
        real = torch.float64 if dtype in (torch.float64, torch.complex128) else torch.float32
        if want_complex:
            re = torch.randn(shape, generator=generator, dtype=real)
            im = torch.randn(shape, generator=generator, dtype=real)
            return torch.complex(re, im).to(self.device)
        return torch.randn(shape, generator=generator, dtype=real).to(self.device)

    def adjointness_test(
        self, generator: torch.Generator | None = None, dtype: torch.dtype = torch.complex128
    ) -> float:
        """Relative error of ``⟨A x, y⟩ = ⟨x, Aᴴ y⟩`` for random ``x``, ``y``.

        Returns ``|⟨Ax, y⟩ − ⟨x, Aᴴy⟩| / max(|⟨Ax, y⟩|, |⟨x, Aᴴy⟩|)``; about 1e-15 in complex128
        and 1e-7 in complex64 for a correct operator.
        """
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        x = self._random(self._concrete(self.in_shape), self.complex_input, dtype, generator)
        y = self._random(self._concrete(self.out_shape), self.complex_output, dtype, generator)
        ax = self.A(x)
        lhs = torch.vdot(ax.reshape(-1), y.reshape(-1).to(ax.dtype))
        ahy = self.A_adjoint(y)
        rhs = torch.vdot(x.reshape(-1).to(ahy.dtype), ahy.reshape(-1))
        denom = max(abs(complex(lhs)), abs(complex(rhs)), 1e-300)
        return abs(complex(lhs) - complex(rhs)) / denom

    def compute_norm(
        self,
        max_iter: int = 100,
        tol: float = 1e-6,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.complex64,
    ) -> float:
        """Largest eigenvalue of ``AᴴA`` (= ‖A‖₂², the Lipschitz constant of ½‖Ax − y‖²).

        Power iteration on :meth:`normal` (deepinv's convention); with a batched operator the
        result is the largest over the batch.
        """
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        x = self._random(self._concrete(self.in_shape), self.complex_input, dtype, generator)
        dims = tuple(range(x.ndim - len(self.in_shape), x.ndim))
        x = x / x.abs().pow(2).sum(dim=dims, keepdim=True).sqrt()
        lam = 0.0
        for _ in range(max_iter):
            z = self.normal(x)
            norms = z.abs().pow(2).sum(dim=dims, keepdim=True).sqrt()
            new = float(norms.max())
            x = z / norms.clamp_min(1e-30)
            if lam > 0 and abs(new - lam) <= tol * lam:
                lam = new
                break
            lam = new
        if not math.isfinite(lam):
            raise InputError(f"{self.name}: power iteration produced a non-finite norm")
        return lam

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(in_shape={self.in_shape}, out_shape={self.out_shape}, "
            f"batch_shape={self.batch_shape})"
        )


class _Adjoint(LinearOperator):
    """``Aᴴ`` of an operator, as an operator of its own (final)."""

    def __init__(self, op: LinearOperator):
        self.op = op
        self.in_shape, self.out_shape = op.out_shape, op.in_shape
        self.batch_shape = op.batch_shape
        self.complex_input, self.complex_output = op.complex_output, op.complex_input
        self.check_finite = op.check_finite
        self.name = f"{op.name}.H"

    def _forward(self, x):
        return self.op._adjoint(x)

    def _adjoint(self, y):
        return self.op._forward(y)

    @property
    def H(self) -> LinearOperator:
        return self.op
