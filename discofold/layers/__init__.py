"""Resolution-agnostic layers: DISCO convolutions (planar grid, point cloud, radar fan, sphere),
spectral convolution and recursion modulation.

The filter bases live in :mod:`discofold.layers._basis`.
"""

from discofold.layers._basis import basis_integrals, basis_size, evaluate_basis
from discofold.layers._quadrature import grid_cell_areas, grid_points, voronoi_areas
from discofold.layers.disco2d import DiscoConv2d
from discofold.layers.disco_fan import DiscoConvFan
from discofold.layers.disco_points import DiscoConvPoints
from discofold.layers.disco_s2 import DiscoConvS2, DiscoConvTransposeS2
from discofold.layers.modulation import RecursionModulation
from discofold.layers.spectral import FNOBlock, SpectralConv2d

__all__ = [
    "DiscoConv2d",
    "DiscoConvPoints",
    "DiscoConvFan",
    "DiscoConvS2",
    "DiscoConvTransposeS2",
    "SpectralConv2d",
    "FNOBlock",
    "RecursionModulation",
    "grid_points",
    "grid_cell_areas",
    "voronoi_areas",
    "basis_size",
    "evaluate_basis",
    "basis_integrals",
]
