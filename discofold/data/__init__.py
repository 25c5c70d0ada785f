"""Phantoms, coil maps, noise, image sources, HDF5 formats and torch Datasets.

Formats and conventions: docs/conventions.md and DESIGN.md ("Interchange formats").
"""

from ._atomic import atomic_write

__all__ = [
    "atomic_write",
]
