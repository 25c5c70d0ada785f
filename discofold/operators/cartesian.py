"""Cartesian MRI: ``y_c = M ⊙ F(S_c x)`` with the centred orthonormal FFT (docs/conventions.md)."""

from __future__ import annotations

import torch

from ..errors import InputError, ShapeError
from ._base import LinearOperator
from ._checks import check_broadcast, check_complex, check_finite
from ._fft import fft2c, ifft2c

__all__ = ["CartesianMRI"]


def _as_mask(mask: torch.Tensor) -> torch.Tensor:
    """Validate a sampling mask and return it as a bool tensor of shape ``(..., h, W)``."""
    if not isinstance(mask, torch.Tensor):
        mask = torch.as_tensor(mask)
    if torch.is_complex(mask):
        raise InputError(f"mask must be real (bool or 0/1), got dtype {mask.dtype}")
    if mask.ndim == 0:
        raise ShapeError("mask must have at least one dimension (W,) or (H, W), got a scalar")
    if mask.dtype != torch.bool:
        if not bool(torch.isfinite(mask).all()) or not bool(((mask == 0) | (mask == 1)).all()):
            raise InputError("mask must hold only 0 and 1 (or bool); found other values")
        mask = mask != 0
    if mask.ndim == 1:  # a 1-D column mask (W,) samples whole columns
        mask = mask.unsqueeze(0)
    if mask.numel() == 0 or not bool(mask.any()):
        raise InputError(f"mask of shape {tuple(mask.shape)} is empty: no sample is measured")
    if mask.ndim > 2 and not bool(mask.flatten(-2).any(-1).all()):
        raise InputError("mask is empty (no measured sample) for at least one batch entry")
    return mask


class CartesianMRI(LinearOperator):
    """Single- or multi-coil Cartesian MRI forward operator (final).

    ``A x = M ⊙ F(S_c x)`` for every coil ``c``, with ``F`` the centred orthonormal 2-D FFT.

    Parameters
    ----------
    mask : Tensor, bool or 0/1
        Sampling mask broadcasting to ``(H, W)``: ``(W,)`` or ``(1, W)`` for a 1-D column mask,
        ``(H, W)`` for a 2-D mask, ``(B, 1, W)`` or ``(B, H, W)`` for one mask per batch sample.
    coil_maps : Tensor, complex, optional
        Sensitivities ``(..., C, H, W)``; ``None`` for single-coil data (no coil dimension).
    image_shape : (H, W), optional
        Needed only when neither a 2-D mask nor coil maps fix ``H``.

    Shapes
    ------
    image ``(..., H, W)`` → k-space ``(..., C, H, W)`` (``(..., H, W)`` without coil maps).
    """

    name = "CartesianMRI"

    def __init__(self, mask, coil_maps: torch.Tensor | None = None, image_shape=None):
        mask = _as_mask(mask)
        h, w = mask.shape[-2:]
        if coil_maps is not None:
            check_complex(coil_maps, "coil_maps")
            check_finite(coil_maps, "coil_maps")
            if coil_maps.ndim < 3:
                raise ShapeError(
                    f"coil_maps must have shape (..., C, H, W), got {tuple(coil_maps.shape)}"
                )
            shape = tuple(coil_maps.shape[-2:])
        elif image_shape is not None:
            shape = tuple(int(s) for s in image_shape)
        elif h > 1:
            shape = (h, w)
        else:
            raise ShapeError(
                f"CartesianMRI cannot infer the image height from a 1-D mask of shape "
                f"{tuple(mask.shape)}; pass image_shape=(H, W) or coil_maps"
            )
        if len(shape) != 2:
            raise ShapeError(f"image_shape must be (H, W), got {shape}")
        check_broadcast(mask.shape[-2:], "mask", shape, "image shape (H, W)")
        if tuple(torch.broadcast_shapes(mask.shape[-2:], shape)) != shape:
            raise ShapeError(
                f"mask of shape {tuple(mask.shape)} does not broadcast to the image shape {shape}"
            )
        if coil_maps is not None and coil_maps.device != mask.device:
            mask = mask.to(coil_maps.device)
        self.mask = mask
        self.coil_maps = coil_maps
        self.image_shape = shape
        self.in_shape = shape
        mask_batch = tuple(mask.shape[:-2])
        if coil_maps is None:
            self.out_shape = shape
            self.batch_shape = mask_batch
        else:
            self.out_shape = (coil_maps.shape[-3], *shape)
            self.batch_shape = tuple(
                check_broadcast(mask_batch, "mask batch dims", coil_maps.shape[:-3],
                                "coil_maps batch dims")
            )

    @property
    def num_coils(self) -> int | None:
        """Number of coils ``C`` (``None`` for single-coil)."""
        return None if self.coil_maps is None else int(self.coil_maps.shape[-3])

    def _mask_k(self) -> torch.Tensor:
        """Mask shaped to broadcast against k-space (adds the coil axis when needed)."""
        return self.mask if self.coil_maps is None else self.mask.unsqueeze(-3)

    def _maps(self, dtype: torch.dtype) -> torch.Tensor:
        return self.coil_maps.to(dtype)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.coil_maps is not None:
            x = x.unsqueeze(-3) * self._maps(x.dtype)
        return fft2c(x) * self._mask_k()

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        x = ifft2c(y * self._mask_k())
        if self.coil_maps is not None:
            x = (x * self._maps(y.dtype).conj()).sum(dim=-3)
        return x

    def _normal(self, x: torch.Tensor) -> torch.Tensor:
        if self.coil_maps is None:
            return ifft2c(fft2c(x) * self.mask)
        maps = self._maps(x.dtype)
        z = ifft2c(fft2c(x.unsqueeze(-3) * maps) * self._mask_k())
        return (z * maps.conj()).sum(dim=-3)

    def _concrete(self, shape):
        return shape
