"""Phantoms, coil maps, noise, image sources, HDF5 formats and torch Datasets.

Formats and conventions: docs/conventions.md and DESIGN.md ("Interchange formats").
"""

from ._atomic import atomic_write
from ._family import file_family
from .blockcs import BlockCSPatches, make_blockcs_split
from .coils import birdcage_maps, rss
from .fastmri import (
    FastMRIFile,
    read_mri_slice,
    read_reconstruction,
    write_mri_file,
    write_reconstruction,
)
from .images import ImageSource
from .mri_datasets import (
    MRIFileDataset,
    PatternSpec,
    SimulatedMRIDataset,
    SimulatedNonCartesianDataset,
)
from .mri_datasets import collate as mri_collate
from .noise import add_noise
from .phantoms import ellipse_kspace, random_ellipses, random_phantom, shepp_logan
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
    "file_family",
    "shepp_logan",
    "random_phantom",
    "random_ellipses",
    "ellipse_kspace",
    "birdcage_maps",
    "rss",
    "add_noise",
    "ImageSource",
    "FastMRIFile",
    "read_mri_slice",
    "write_mri_file",
    "write_reconstruction",
    "read_reconstruction",
    "SimulatedMRIDataset",
    "SimulatedNonCartesianDataset",
    "MRIFileDataset",
    "PatternSpec",
    "mri_collate",
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
