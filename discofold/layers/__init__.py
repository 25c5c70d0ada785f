"""Resolution-agnostic layers: DISCO convolutions (planar grid, point cloud, radar fan, sphere),
spectral convolution and recursion modulation.

The filter bases live in :mod:`discofold.layers._basis`.
"""

from discofold.layers._basis import basis_integrals, basis_size, evaluate_basis

__all__ = [
    "basis_size",
    "evaluate_basis",
    "basis_integrals",
]
