"""Registry of operator factories; every registered operator runs the same battery of checks
(tests/operators/test_battery.py): adjointness, linearity, normal = AᴴA, norm, H of H."""

from __future__ import annotations

from collections.abc import Callable

import torch

# name -> factory(dtype, generator) returning an operator whose tensors use that dtype
FACTORIES: dict[str, Callable] = {}
# relative tolerance of normal(x) against A_adjoint(A(x)): exact operators 1e-8; a Toeplitz
# embedding of the NUFFT normal is exact only up to the NUFFT's accuracy (issue: ≤ 1e-4)
NORMAL_TOL: dict[str, float] = {}


def register(name: str, normal_tol: float = 1e-8):
    def deco(fn):
        FACTORIES[name] = fn
        NORMAL_TOL[name] = normal_tol
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


def _radar_geom():
    th = torch.linspace(-0.05, 0.05, 12, dtype=torch.float64)
    fr = torch.linspace(9.75e9, 10.25e9, 10, dtype=torch.float64)
    return th, fr


@register("polar_radar_odd")
def _radar1(dtype, gen):
    from discofold.operators import PolarRadar

    th, fr = _radar_geom()
    return PolarRadar(th, fr, (17, 14), (19.2, 15.0))


@register("polar_radar_per_sample_mask")
def _radar2(dtype, gen):
    from discofold.operators import PolarRadar

    th, fr = _radar_geom()
    mask = torch.rand(2, 12, 10, generator=gen) > 0.5
    return PolarRadar(th, fr, (16, 16), (19.2, 19.2), mask=mask)


def _radial_traj(gen, spokes=9, readout=16):
    import math

    ang = torch.rand(spokes, generator=gen, dtype=torch.float64) * math.pi
    r = torch.linspace(-math.pi, math.pi * (1 - 2 / readout), readout, dtype=torch.float64)
    traj = torch.stack([r[None] * torch.cos(ang[:, None]), r[None] * torch.sin(ang[:, None])], -1)
    return traj.reshape(-1, 2)


@register("nufft_odd_nonsquare", normal_tol=1e-4)
def _nufft(dtype, gen):
    from discofold.operators import NUFFT

    return NUFFT(_radial_traj(gen), (15, 12))


@register("noncartesian_multicoil_batched_maps", normal_tol=1e-4)
def _noncart(dtype, gen):
    from discofold.operators import NonCartesianMRI

    return NonCartesianMRI(_radial_traj(gen), (13, 16), coil_maps=_maps((2, 3, 13, 16), gen, dtype))
