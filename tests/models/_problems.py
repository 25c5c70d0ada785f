"""Tiny ``(x, y, op, meta)`` problems for every model family, used by the model sweep.

``make_problem(family, ...)`` returns a :class:`Problem`; extend ``_BUILDERS`` for a new family.
Every problem has a batch of ``batch`` samples with a different mask per sample (except block
CS, whose operator is one sampling matrix) and uses odd, non-square sizes where the family
allows it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from discofold.data.coils import birdcage_maps
from discofold.data.phantoms import random_phantom
from discofold.models import AcquisitionMeta
from discofold.operators import (
    BlockCS,
    CartesianMRI,
    NonCartesianMRI,
    PolarRadar,
    gaussian_block_matrix,
    measurements_for_ratio,
)
from discofold.sampling import make_mask, make_trajectory

MRI_SHAPE = (23, 19)


@dataclass
class Problem:
    """Ground truth ``x``, data ``y``, operator, meta, and a builder of one sample alone."""

    x: torch.Tensor
    y: torch.Tensor
    op: object
    meta: AcquisitionMeta
    single: object = None  # single(i) -> (y_i, op_i, meta_i) with batch 1


def _images(shape, batch, g) -> torch.Tensor:
    return torch.stack([random_phantom(shape, generator=g) for _ in range(batch)])


def _column(mask: torch.Tensor) -> torch.Tensor:
    """Per-sample 1-D masks (B, W) → (B, 1, W) for the operator."""
    return mask[:, None, :] if mask.ndim == 2 else mask


def mri_problem(shape=MRI_SHAPE, batch=2, seed=0, pattern="equispaced", acceleration=3.0,
                coils=3) -> Problem:
    """Multi-coil Cartesian MRI with a different mask per sample."""
    g = torch.Generator().manual_seed(seed)
    x = _images(shape, batch, g)
    maps = birdcage_maps(shape, coils, generator=g) if coils else None
    pat = make_mask(pattern, shape, acceleration, generator=g, batch=batch)
    mask = _column(pat.mask) if pat.mask.ndim == 2 else pat.mask
    op = CartesianMRI(mask, coil_maps=maps, image_shape=shape)
    y = op.A(x)
    meta = AcquisitionMeta.from_pattern(pat)

    def single(i):
        opi = CartesianMRI(mask[i:i + 1], coil_maps=maps, image_shape=shape)
        acc = float(meta.acceleration[i])
        return y[i:i + 1], opi, AcquisitionMeta(pattern=pattern, acceleration=acc,
                                                calibration=meta.calibration)

    return Problem(x, y, op, meta, single)


def noncartesian_problem(shape=(20, 18), batch=2, seed=0, coils=2, spokes=9) -> Problem:
    """Multi-coil radial MRI (one trajectory for the batch)."""
    g = torch.Generator().manual_seed(seed)
    x = _images(shape, batch, g)
    maps = birdcage_maps(shape, coils, generator=g)
    traj, dcf, _ = make_trajectory("radial", spokes, max(shape))
    op = NonCartesianMRI(traj, shape, coil_maps=maps, dcf=dcf)
    y = op.A(x)
    return Problem(x, y, op, AcquisitionMeta(pattern="radial"))


def radar_problem(batch=2, seed=0, size=16, extent=2.4, angle_deg=5.7) -> Problem:
    """Polar-format radar, per-sample random-pulse apertures, 10 GHz / 1 GHz."""
    from discofold.data.radar_sim import make_geometry

    g = torch.Generator().manual_seed(seed)
    geo = make_geometry(10e9, 1e9, math.radians(angle_deg), (size, size), (extent, extent))
    p, f = len(geo.angles_rad), len(geo.frequencies_hz)
    pat = make_mask("random_pulses", (p, f), 2.0, generator=g, batch=batch)
    op = PolarRadar(geo.angles_rad, geo.frequencies_hz, (size, size), (extent, extent),
                    mask=pat.mask)
    x = _images((size, size), batch, g)
    y = op.A(x)
    meta = AcquisitionMeta(pattern="random_pulses", acceleration=pat.per_sample_acceleration(),
                           pixel_size=(extent / size, extent / size))

    def single(i):
        opi = PolarRadar(geo.angles_rad, geo.frequencies_hz, (size, size), (extent, extent),
                         mask=pat.mask[i:i + 1])
        return y[i:i + 1], opi, AcquisitionMeta(
            pattern="random_pulses", acceleration=float(meta.acceleration[i]),
            pixel_size=meta.pixel_size)

    return Problem(x, y, op, meta, single)


def blockcs_problem(batch=2, seed=0, ratio=0.25, block=33, blocks=(1, 1)) -> Problem:
    """Block CS on real images (one Gaussian sampling matrix for the batch)."""
    g = torch.Generator().manual_seed(seed)
    m = measurements_for_ratio(ratio, block)
    phi = gaussian_block_matrix(ratio, block, generator=g)
    op = BlockCS(phi, block)
    shape = (block * blocks[0], block * blocks[1])
    x = _images(shape, batch, g).abs().float()
    y = op.A(x)
    meta = AcquisitionMeta(pattern="gaussian_block", acceleration=block * block / m)

    def single(i):
        return y[i:i + 1], op, meta

    return Problem(x, y, op, meta, single)


_BUILDERS = {"mri": mri_problem, "radar": radar_problem, "blockcs": blockcs_problem}


def make_problem(family: str, **kwargs) -> Problem:
    """A tiny problem of ``family`` (``"mri"``, ``"radar"``, ``"blockcs"``)."""
    return _BUILDERS[family](**kwargs)
