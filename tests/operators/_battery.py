"""Registry of operator factories; every registered operator runs the same battery of checks
(tests/operators/test_battery.py): adjointness, linearity, normal = AᴴA, norm, H of H."""

from __future__ import annotations

from collections.abc import Callable

import torch

# name -> factory(dtype, generator) returning an operator whose tensors use that dtype
FACTORIES: dict[str, Callable] = {}


def register(name: str):
    def deco(fn):
        FACTORIES[name] = fn
        return fn

    return deco


def _maps(shape, gen, dtype):
    c, h, w = shape[-3:]
    re = torch.randn(shape, generator=gen, dtype=torch.float64)
    im = torch.randn(shape, generator=gen, dtype=torch.float64)
    s = torch.complex(re, im)
    s = s / s.abs().pow(2).sum(-3, keepdim=True).sqrt()
    return s.to(dtype)


@register("cartesian_single_1d_odd")
def _cart1(dtype, gen):
    from discofold.operators import CartesianMRI

    mask = torch.rand(31, generator=gen) > 0.5
    mask[15] = True
    return CartesianMRI(mask, image_shape=(37, 31))


@register("cartesian_single_2d_even")
def _cart2(dtype, gen):
    from discofold.operators import CartesianMRI

    return CartesianMRI(torch.rand(32, 48, generator=gen) > 0.6)


@register("cartesian_multicoil_per_sample_2d")
def _cart3(dtype, gen):
    from discofold.operators import CartesianMRI

    mask = torch.rand(3, 37, 31, generator=gen) > 0.7
    return CartesianMRI(mask, _maps((4, 37, 31), gen, dtype))


@register("cartesian_multicoil_per_sample_1d_batched_maps")
def _cart4(dtype, gen):
    from discofold.operators import CartesianMRI

    mask = torch.rand(2, 1, 30, generator=gen) > 0.5
    return CartesianMRI(mask, _maps((2, 3, 25, 30), gen, dtype))


@register("blockcs_25")
def _bcs(dtype, gen):
    from discofold.operators import BlockCS, gaussian_block_matrix

    real = torch.float64 if dtype == torch.complex128 else torch.float32
    return BlockCS(gaussian_block_matrix(0.25, generator=gen, dtype=real))


@register("blockcs_small_block")
def _bcs2(dtype, gen):
    from discofold.operators import BlockCS, gaussian_block_matrix

    real = torch.float64 if dtype == torch.complex128 else torch.float32
    return BlockCS(gaussian_block_matrix(0.3, block=8, generator=gen, dtype=real), block=8)
