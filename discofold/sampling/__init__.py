"""Sampling patterns: MRI masks (1-D fastMRI-style, 2-D), non-Cartesian trajectories, radar
apertures.  Every generator takes a ``torch.Generator`` or an int seed and never touches global
RNG state; every mask comes as a :class:`SamplingPattern` reporting the TRUE acceleration.

>>> from discofold.sampling import make_mask
>>> p = make_mask("poisson_2d", (96, 80), 4, generator=0)
>>> round(p.acceleration, 3), p.mask.shape
(4.0, torch.Size([96, 80]))
"""

from ._registry import FAMILIES, list_patterns, make_mask, make_trajectory
from ._types import SamplingPattern, default_center_fraction, seed_from
from .cartesian_1d import MaskFunc, column_mask, create_mask_for_mask_type
from .masks_2d import gaussian_2d, radial_2d, spiral_2d
from .poisson import poisson_2d, poisson_radius
from .radar import radar_aperture
from .trajectories import radial_trajectory, spiral_trajectory, voronoi_dcf

__all__ = [
    "SamplingPattern",
    "make_mask",
    "list_patterns",
    "make_trajectory",
    "FAMILIES",
    "seed_from",
    "default_center_fraction",
    "column_mask",
    "MaskFunc",
    "create_mask_for_mask_type",
    "gaussian_2d",
    "poisson_2d",
    "poisson_radius",
    "radial_2d",
    "spiral_2d",
    "radar_aperture",
    "radial_trajectory",
    "spiral_trajectory",
    "voronoi_dcf",
]
