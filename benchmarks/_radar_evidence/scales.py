"""Scales of the radar evidence benchmark and the geometries they use.

A geometry is named by its preset (``S0`` … ``S4``: carrier, bandwidth and total angle, hence
the fan and the resolution) plus a square window of ``window`` metres imaged on ``image``
pixels.  ``P`` and ``F`` follow from the window (``discofold.data.radar_sim.make_geometry``:
unambiguous sampling), so a smaller window keeps the fan and the resolution of the preset and
only shrinks the scene (targets are drawn within 0.45 window of the centre).  The presets'
own window is 19.2 m.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from discofold.data import radar_preset
from discofold.data.radar_sim import RadarGeometry, make_geometry

__all__ = ["GeoSpec", "SCALES", "geometry", "full_circle_geometry"]


@dataclass(frozen=True)
class GeoSpec:
    """Preset name, window side (m) and image size (px)."""

    preset: str
    window: float
    image: int

    @property
    def label(self) -> str:
        return f"{self.preset} ({self.window:g} m, {self.image} px)"


def geometry(spec: GeoSpec) -> RadarGeometry:
    """The geometry of a :class:`GeoSpec` (the preset's fan over the given window)."""
    ref = radar_preset(spec.preset)
    freqs, angles = ref.frequencies_hz, ref.angles_rad
    n_f, n_p = freqs.numel(), angles.numel()
    carrier = float(freqs[n_f // 2])
    bandwidth = n_f * float(freqs[1] - freqs[0])
    span = n_p * float(angles[1] - angles[0])
    return make_geometry(carrier, bandwidth, span, (spec.image, spec.image),
                         (spec.window, spec.window), name=spec.preset)


def full_circle_geometry(pulses: int, freqs: int, image: int, window: float) -> RadarGeometry:
    """S4-type wide-angle data over the full circle: 10 GHz, 2 GHz, ``pulses`` angles
    ``θ_p = 2π p / P`` (angularly subsampled when ``P`` is below the unambiguous count),
    ``freqs`` frequencies, odd ``image`` so that 90° rotations map the grid onto itself."""
    import torch

    df = 2e9 / freqs
    f = 10e9 + (torch.arange(freqs, dtype=torch.float64) - freqs // 2) * df
    a = torch.arange(pulses, dtype=torch.float64) * (2 * math.pi / pulses)
    return RadarGeometry(a, f, (image, image), (window, window), "S4-circle")


def _scale(**kw) -> dict:
    return kw


# Each scale: what is trained (``models``: key -> (config, geometry, steps)), what is tested.
SCALES: dict[str, dict] = {
    "smoke": _scale(
        s0=GeoSpec("S0", 4.8, 16), s1=GeoSpec("S1", 1.2, 16), s2=GeoSpec("S2", 1.2, 16),
        t1_low=8, t1_test=(16, 24), n_test=1, n_val=1, n_pool=2, steps=1, fast_steps=1,
        batch=2, max_iter=3, fista_grid=(1e-3, 1e-2), tv_grid=((1e-3, 0.0),),
        omp_grid=(4,), ratios=(4.0,), snrs=(10.0,), scenes=("satellite",),
        rot_circle=(240, 8, 15, 1.2), rot_angles=(0, 90), target_angles=(0, 5, 90),
        perturbations=2, apertures=("gaps",),
        n_sweep=1, s2_models=("ista_net_radar", "pfa_unet", "unified_radar"),
        size="tiny", threads=None,
    ),
    "cpu-lite": _scale(
        s0=GeoSpec("S0", 19.2, 64), s1=GeoSpec("S1", 4.8, 64), s2=GeoSpec("S2", 4.8, 64),
        t1_low=32, t1_test=(64, 128), n_test=5, n_val=3, n_pool=36, steps=80, fast_steps=100,
        batch=2, max_iter=100, fista_grid=(3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1),
        tv_grid=((1e-4, 3e-3), (1e-3, 0.0), (1e-3, 3e-3), (1e-3, 1e-2), (1e-2, 3e-3)),
        omp_grid=(4, 8),
        ratios=(2.0, 4.0, 8.0), snrs=(20.0, 10.0, 0.0), scenes=("satellite", "points"),
        rot_circle=(1080, 32, 33, 4.8), rot_angles=(0, 30, 60, 90, 120, 180, 270),
        target_angles=tuple(range(0, 361, 10)), n_sweep=3,
        perturbations=None, apertures=("gaps", "periodic"),
        s2_models=("ista_net_radar", "pfa_unet", "unified_radar"), size="cpu", threads=2,
    ),
    "cpu": _scale(  # cpu-lite with 12x the training and more test images (32 min on 1 thread)
        s0=GeoSpec("S0", 19.2, 64), s1=GeoSpec("S1", 4.8, 64), s2=GeoSpec("S2", 4.8, 64),
        t1_low=32, t1_test=(64, 128), n_test=8, n_val=3, n_pool=144, steps=1000,
        fast_steps=1200,
        batch=2, max_iter=100, fista_grid=(3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1),
        tv_grid=((1e-4, 3e-3), (1e-3, 0.0), (1e-3, 3e-3), (1e-3, 1e-2), (1e-2, 3e-3)),
        omp_grid=(4, 8), ratios=(2.0, 4.0, 8.0), snrs=(20.0, 10.0, 0.0),
        scenes=("satellite", "points"), rot_circle=(1080, 32, 33, 4.8),
        rot_angles=(0, 30, 60, 90, 120, 180, 270), target_angles=tuple(range(0, 361, 10)),
        n_sweep=4, perturbations=None, apertures=("gaps", "periodic"),
        s2_models=("ista_net_radar", "pfa_unet", "unified_radar", "r_unified_radar"),
        size="cpu", threads=2,
    ),
    "paper": _scale(
        s0=GeoSpec("S0", 19.2, 64), s1=GeoSpec("S1", 19.2, 128), s2=GeoSpec("S2", 19.2, 256),
        t1_low=64, t1_test=(128, 256), n_test=50, n_val=8, n_pool=4000, steps=20000,
        fast_steps=20000, batch=4, max_iter=200, fista_grid=(1e-4, 3e-4, 1e-3, 3e-3, 1e-2),
        tv_grid=((1e-3, 0.0), (1e-3, 3e-3), (1e-2, 0.0), (1e-2, 3e-3)), omp_grid=(4, 8, 16),
        ratios=(2.0, 4.0, 8.0), snrs=(20.0, 10.0, 0.0), scenes=("satellite", "points"),
        rot_circle=(8640, 256, 257, 19.2), rot_angles=tuple(range(0, 360, 15)),
        target_angles=tuple(range(0, 361, 5)), n_sweep=50,
        perturbations=None, apertures=("gaps", "periodic"),
        s2_models=("ista_net_radar", "pfa_unet", "unified_radar", "r_unified_radar"),
        size="paper", threads=None,
    ),
}

# model sizes (``discofold.models.build`` arguments); radii are physical, set per window
MODEL_SIZES = {
    "tiny": {
        "unified_radar": dict(cascades=1, chans=4, pools=1, fan_chans=2, fan_levels=1,
                              kernel_shape=[3, 4]),
        "r_unified_radar": dict(stages=1, recursions=2, chans=4, pools=1, fan_chans=2,
                                fan_levels=1, kernel_shape=[3, 4]),
        "ista_net_radar": dict(phases=2, chans=4),
        "pfa_unet": dict(chans=4, num_pools=1),
    },
    "cpu": {
        "unified_radar": dict(cascades=3, chans=8, pools=2, fan_chans=4, fan_levels=1,
                              kernel_shape=[3, 4]),
        "r_unified_radar": dict(stages=1, recursions=3, chans=8, pools=2, fan_chans=4,
                                fan_levels=1, kernel_shape=[3, 4]),
        "ista_net_radar": dict(phases=5, chans=16),
        "pfa_unet": dict(chans=8, num_pools=2),
    },
    "paper": {
        "unified_radar": dict(cascades=6, chans=16, pools=4, fan_chans=16, fan_levels=3),
        "r_unified_radar": dict(stages=2, recursions=3, chans=16, pools=4, fan_chans=16,
                                fan_levels=3),
        "ista_net_radar": dict(phases=9, chans=32),
        "pfa_unet": dict(chans=32, num_pools=4),
    },
}


def model_args(name: str, size: str, spec: GeoSpec) -> dict:
    """Constructor arguments with radii scaled to the window: the fan radius covers about 2.5
    fan samples (spacing ``1/L`` cycles/m), the image radius about 3 pixels of the training
    grid (both in physical units, so they stay fixed when the grid or support changes)."""
    args = dict(MODEL_SIZES[size][name])
    if name in ("unified_radar", "r_unified_radar"):
        args.setdefault("fan_radius", 2.5 / spec.window)
        args.setdefault("radius", 3.0 * spec.window / spec.image)
    return args

