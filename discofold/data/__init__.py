"""Phantoms, coil maps, noise, image sources, HDF5 formats and torch Datasets.

Formats and conventions: docs/conventions.md and DESIGN.md ("Interchange formats").
"""

from ._atomic import atomic_write
from .blockcs import BlockCSPatches, make_blockcs_split
from .radar_datasets import RadarFileDataset, SimulatedRadarDataset, simulate_radar_file
from .radar_io import (
    RadarH5Reader,
    convert_measured,
    read_radar_image,
    write_radar_h5,
    write_radar_image,
)
from .radar_scenes import RadarScene, point_scene, satellite_scene
from .radar_sim import RadarGeometry, make_geometry, reference_image, simulate_echo
from .radar_sim import preset as radar_preset

__all__ = [
    "atomic_write",
    "BlockCSPatches",
    "make_blockcs_split",
    "RadarGeometry",
    "radar_preset",
    "make_geometry",
    "RadarScene",
    "point_scene",
    "satellite_scene",
    "simulate_echo",
    "reference_image",
    "RadarH5Reader",
    "write_radar_h5",
    "write_radar_image",
    "read_radar_image",
    "convert_measured",
    "SimulatedRadarDataset",
    "RadarFileDataset",
    "simulate_radar_file",
]
