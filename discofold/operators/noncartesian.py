"""Non-Cartesian (multi-coil) MRI: ``y_c = NUFFT(S_c x)`` (see docs/conventions.md).

How the density compensation ``dcf`` is used
---------------------------------------------
``A`` is the plain NUFFT of the coil images and ``A_adjoint`` its exact adjoint, so the operator
passes the adjointness test to rounding and ``A(x)`` simulates raw measurements.  ``normal`` is
``AᴴA`` (Toeplitz).  The weights enter only through two extra methods:

- ``A_dagger(y) = Aᴴ(w ⊙ y)``: the density-compensated adjoint (gridding reconstruction), an
  approximate inverse with the image's scale, for initial images and zero-filled baselines;
- ``weighted_normal(x) = Aᴴ W A x`` (Toeplitz with weights), the normal operator of the
  weighted least-squares problem ``½‖W^{1/2}(Ax − y)‖²``, whose gradient is
  ``weighted_normal(x) − A_dagger(y)`` (a preconditioned data-consistency step).
"""

from __future__ import annotations

import torch

from ..errors import InputError, ShapeError
from . import _toeplitz
from ._base import LinearOperator
from ._checks import check_complex, check_finite
from .nufft import NUFFT

__all__ = ["NonCartesianMRI"]


def _check_maps(coil_maps: torch.Tensor, image_shape) -> None:
    check_complex(coil_maps, "coil_maps")
    check_finite(coil_maps, "coil_maps")
    if coil_maps.ndim < 3 or tuple(coil_maps.shape[-2:]) != tuple(image_shape):
        raise ShapeError(
            f"coil_maps must have shape (..., C, H, W) = (..., C, {image_shape[0]}, "
            f"{image_shape[1]}) to match image_shape {tuple(image_shape)}, "
            f"got {tuple(coil_maps.shape)}"
        )


def _check_dcf(dcf, n_samples: int, device) -> torch.Tensor:
    dcf = torch.as_tensor(dcf, device=device)
    if torch.is_complex(dcf) or not dcf.is_floating_point():
        raise InputError(f"dcf must be a real floating-point tensor, got dtype {dcf.dtype}")
    if dcf.shape != (n_samples,):
        raise ShapeError(
            f"dcf must have shape (K,) = ({n_samples},) to match traj, got {tuple(dcf.shape)}"
        )
    if not bool(torch.isfinite(dcf).all()) or bool((dcf < 0).any()):
        raise InputError("dcf must be finite and non-negative")
    return dcf


class NonCartesianMRI(LinearOperator):
    """Single- or multi-coil non-Cartesian MRI forward operator (final).

    Parameters
    ----------
    traj : Tensor (K, 2)
        Trajectory in radians per pixel in ``[−π, π)`` (column 0 ↔ H, column 1 ↔ W).
    image_shape : (H, W)
    coil_maps : Tensor (..., C, H, W), complex, optional
        Sensitivities; ``None`` for single-coil data (no coil dimension in k-space).
    dcf : Tensor (K,), optional
        Density compensation weights (e.g. :func:`radial_dcf`, :func:`pipe_menon_dcf`); used by
        :meth:`A_dagger` and :meth:`weighted_normal` only (see the module docstring).
    **nufft_kwargs
        Passed to :class:`NUFFT` (``oversamp``, ``width``, ``backend``, ``eps``, ``accuracy``,
        ``toeplitz``).

    Shapes
    ------
    image ``(..., H, W)`` → k-space ``(..., C, K)`` (``(..., K)`` without coil maps).
    """

    name = "NonCartesianMRI"

    def __init__(self, traj, image_shape, coil_maps: torch.Tensor | None = None,
                 dcf: torch.Tensor | None = None, **nufft_kwargs):
        self.nufft = NUFFT(traj, image_shape, **nufft_kwargs)
        shape = self.nufft.image_shape
        k = self.nufft.out_shape[0]
        if coil_maps is not None:
            _check_maps(coil_maps, shape)
            coil_maps = coil_maps.to(self.nufft.traj.device)
        self.coil_maps = coil_maps
        self.dcf = None if dcf is None else _check_dcf(dcf, k, self.nufft.traj.device)
        self.image_shape = shape
        self.in_shape = shape
        if coil_maps is None:
            self.out_shape, self.batch_shape = (k,), ()
        else:
            self.out_shape = (int(coil_maps.shape[-3]), k)
            self.batch_shape = tuple(coil_maps.shape[:-3])
        self._cache_weighted: dict = {}
        # scalars derived from dcf by users of the operator (e.g. the models' dcf gains);
        # shared with shallow copies (coil-wise views), like the Toeplitz kernels
        self._cache_scale: dict = {}

    @property
    def traj(self) -> torch.Tensor:
        """The trajectory ``(K, 2)``."""
        return self.nufft.traj

    @property
    def num_coils(self) -> int | None:
        """Number of coils ``C`` (``None`` for single-coil)."""
        return None if self.coil_maps is None else int(self.coil_maps.shape[-3])

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.coil_maps is not None:
            x = x.unsqueeze(-3) * self.coil_maps.to(x.dtype)
        return self.nufft._forward(x)

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        x = self.nufft._adjoint(y)
        if self.coil_maps is not None:
            x = (x * self.coil_maps.to(y.dtype).conj()).sum(dim=-3)
        return x

    def _apply_kernel(self, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        if self.coil_maps is None:
            return _toeplitz.toeplitz_apply(x, kernel)
        maps = self.coil_maps.to(x.dtype)
        z = _toeplitz.toeplitz_apply(x.unsqueeze(-3) * maps, kernel)
        return (z * maps.conj()).sum(dim=-3)

    def _normal(self, x: torch.Tensor) -> torch.Tensor:
        if not self.nufft.toeplitz:
            return self._adjoint(self._forward(x))
        real = torch.float64 if x.dtype == torch.complex128 else torch.float32
        return self._apply_kernel(x, self.nufft.toeplitz_kernel(real))

    # ------------------------------------------------------------------ density compensation
    def _require_dcf(self, what: str) -> torch.Tensor:
        if self.dcf is None:
            raise InputError(f"NonCartesianMRI.{what} needs dcf weights; pass dcf=... "
                             "(e.g. radial_dcf(traj, image_shape) or pipe_menon_dcf)")
        return self.dcf

    def A_dagger(self, y: torch.Tensor) -> torch.Tensor:
        """Density-compensated adjoint ``Aᴴ(w ⊙ y)`` ``(..., C, K) → (..., H, W)``."""
        dcf = self._require_dcf("A_dagger")
        self._check(y, self.out_shape, True, f"{self.name} A_dagger input y")
        return self._adjoint(y * dcf.to(y.real.dtype))

    def weighted_normal(self, x: torch.Tensor) -> torch.Tensor:
        """``Aᴴ W A x`` with ``W = diag(dcf)``, by a Toeplitz embedding (kernel built once)."""
        dcf = self._require_dcf("weighted_normal")
        self._check(x, self.in_shape, True, f"{self.name} weighted_normal input x")
        real = torch.float64 if x.dtype == torch.complex128 else torch.float32
        if torch.float64 not in self._cache_weighted:
            self._cache_weighted[torch.float64] = _toeplitz.toeplitz_kernel(
                self.traj, self.image_shape, dcf)
        if real not in self._cache_weighted:
            self._cache_weighted[real] = self._cache_weighted[torch.float64].to(real)
        return self._apply_kernel(x, self._cache_weighted[real])
