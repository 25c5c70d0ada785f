"""Radar (ISAR) acquisition geometry, presets and the exact echo simulator.

Conventions (``docs/conventions.md``, DESIGN.md): pixel centres ``x_i = (i - H//2)·Lx/H``
(down-range) and ``y_j = (j - W//2)·Ly/W`` (cross-range); the echo of scatterers
``(x_k, y_k, σ_k)`` is ``s(θ_p, f_q) = Σ_k σ_k exp(-i·4π f_q/c·(x_k cos θ_p + y_k sin θ_p))``
with ``c = 299 792 458 m/s``.  Angles are in radians, frequencies in Hz, phase histories have
shape ``(..., P, F)``.

Unambiguous window (how the presets choose P and F)
---------------------------------------------------
The echo samples the spatial spectrum at ``k = (2f/c)(cos θ, sin θ)`` (cycles per metre).  Near
one aspect the samples form a lattice with radial step ``2Δf/c`` and tangential step
``(2f/c)·Δθ``.  A lattice with step ``δk`` is blind to shifts of ``1/δk``, so a window of side
``L`` is free of aliases when ``1/δk ≥ L`` in both directions:

* ``Δf ≤ c / (2 L)`` (range), and
* ``Δθ ≤ c / (2 f_max L)`` (cross-range, worst case at the highest frequency).

The presets take ``Δf = c/(2L)`` exactly (so ``F = round(B/Δf)`` equals the image height: range
is then an exact DFT of the pixel grid) and ``Δθ = Θ/P`` with ``P = ceil(Θ·2 f_max L / c)``.
Caveat: the alias shift is along the line of sight ``(cos θ, sin θ)``; for an axis-aligned
square window and an aspect ``θ`` it leaves the window by ``L(1 - cos θ)`` less, so a scatterer
closer than that to the edge (below one pixel for S0–S3) can alias at the extreme pulses.  For
the wide-angle S4 the alias direction turns with θ, so it spreads into side lobes instead of a
coherent ghost.  Pass ``oversampling > 1`` to :func:`make_geometry` for a strict margin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import InputError, ShapeError
from ..operators.radar import cell_widths

__all__ = [
    "SPEED_OF_LIGHT",
    "RadarGeometry",
    "make_geometry",
    "preset",
    "list_presets",
    "preset_table",
    "pixel_centres",
    "echo_from_scatterers",
    "echo_from_image",
    "reference_image",
    "density_weights",
    "add_noise",
    "simulate_echo",
]

SPEED_OF_LIGHT = 299_792_458.0  # m/s
_CHUNK_ELEMENTS = 1 << 22  # complex128 elements per temporary (64 MiB)

# name: (carrier Hz, bandwidth Hz, total angle deg, image size)
_PRESETS = {
    "S0": (10e9, 0.5e9, 2.9, 64),
    "S1": (10e9, 1e9, 5.7, 128),
    "S2": (10e9, 2e9, 11.5, 256),
    "S3": (16.7e9, 2e9, 6.9, 256),
    "S4": (10e9, 2e9, 30.0, 256),
}
_WINDOW_M = 19.2


@dataclass(frozen=True, eq=False)
class RadarGeometry:
    """Polar-format acquisition: angles × frequencies and the image window.

    Attributes
    ----------
    angles_rad : torch.Tensor
        Float64 ``(P,)`` aspect angles in radians.
    frequencies_hz : torch.Tensor
        Float64 ``(F,)`` frequencies in Hz, all > 0.
    image_shape : tuple of int
        ``(H, W)``: H pixels down-range, W cross-range.
    extent_m : tuple of float
        ``(Lx, Ly)`` window size in metres.
    name : str
        Preset or user label (stored as the ``scenario`` attribute).
    """

    angles_rad: torch.Tensor
    frequencies_hz: torch.Tensor
    image_shape: tuple[int, int]
    extent_m: tuple[float, float]
    name: str = "custom"

    def __post_init__(self) -> None:
        ang = torch.as_tensor(self.angles_rad, dtype=torch.float64).detach().cpu()
        freq = torch.as_tensor(self.frequencies_hz, dtype=torch.float64).detach().cpu()
        if ang.ndim != 1 or ang.numel() == 0 or freq.ndim != 1 or freq.numel() == 0:
            raise ShapeError(
                f"angles_rad and frequencies_hz must be non-empty 1-D, got shapes "
                f"{tuple(ang.shape)} and {tuple(freq.shape)}"
            )
        if not (torch.isfinite(ang).all() and torch.isfinite(freq).all()):
            raise InputError("angles_rad and frequencies_hz must be finite")
        if not bool((freq > 0).all()):
            raise InputError(f"frequencies_hz must be > 0, got min {float(freq.min())}")
        shape = tuple(int(s) for s in self.image_shape)
        extent = tuple(float(e) for e in self.extent_m)
        if len(shape) != 2 or min(shape) < 1:
            raise ShapeError(f"image_shape must be two positive ints, got {self.image_shape}")
        if len(extent) != 2 or not all(math.isfinite(e) and e > 0 for e in extent):
            raise InputError(f"extent_m must be two finite values > 0, got {self.extent_m}")
        object.__setattr__(self, "angles_rad", ang)
        object.__setattr__(self, "frequencies_hz", freq)
        object.__setattr__(self, "image_shape", shape)
        object.__setattr__(self, "extent_m", extent)

    @property
    def data_shape(self) -> tuple[int, int]:
        """``(P, F)``, the phase-history shape."""
        return (self.angles_rad.numel(), self.frequencies_hz.numel())

    def __repr__(self) -> str:
        p, f = self.data_shape
        return (
            f"RadarGeometry(name={self.name!r}, P={p}, F={f}, image_shape={self.image_shape}, "
            f"extent_m={self.extent_m})"
        )


def make_geometry(
    carrier_hz: float,
    bandwidth_hz: float,
    total_angle_rad: float,
    image_shape: tuple[int, int],
    extent_m: tuple[float, float] = (_WINDOW_M, _WINDOW_M),
    oversampling: float = 1.0,
    name: str = "custom",
) -> RadarGeometry:
    """Build an unambiguous geometry (see the module docstring for the derivation).

    ``Δf = c/(2·Lx·oversampling)``, ``F = max(1, round(B/Δf))``, frequencies
    ``f_q = f_c + (q - F//2)·Δf``; ``P = ceil(Θ·2·f_max·Ly·oversampling/c)``, angles
    ``θ_p = (p - P//2)·Θ/P`` (centred on 0).
    """
    if not (carrier_hz > 0 and bandwidth_hz > 0 and total_angle_rad > 0 and oversampling >= 1):
        raise InputError(
            "carrier_hz, bandwidth_hz, total_angle_rad must be > 0 and oversampling >= 1, got "
            f"{carrier_hz}, {bandwidth_hz}, {total_angle_rad}, {oversampling}"
        )
    lx, ly = (float(e) for e in extent_m)
    df = SPEED_OF_LIGHT / (2.0 * lx * oversampling)
    n_f = max(1, round(bandwidth_hz / df))
    freqs = carrier_hz + (torch.arange(n_f, dtype=torch.float64) - n_f // 2) * df
    if float(freqs[0]) <= 0:
        raise InputError(f"bandwidth {bandwidth_hz} Hz reaches 0 Hz around carrier {carrier_hz}")
    f_max = float(freqs[-1])
    n_p = max(1, math.ceil(total_angle_rad * 2.0 * f_max * ly * oversampling / SPEED_OF_LIGHT))
    angles = (torch.arange(n_p, dtype=torch.float64) - n_p // 2) * (total_angle_rad / n_p)
    return RadarGeometry(angles, freqs, tuple(image_shape), (lx, ly), name)


def list_presets() -> list[str]:
    """Names of the geometry presets (``S0`` … ``S4``)."""
    return sorted(_PRESETS)


def preset(
    name: str, *, total_angle_deg: float | None = None, image_size: int | None = None
) -> RadarGeometry:
    """A geometry preset with the 19.2 m × 19.2 m window.

    ==== ========= ========= =========== =======
    name carrier   bandwidth total angle image
    ==== ========= ========= =========== =======
    S0   10 GHz    0.5 GHz   2.9°        64×64
    S1   10 GHz    1 GHz     5.7°        128×128
    S2   10 GHz    2 GHz     11.5°       256×256
    S3   16.7 GHz  2 GHz     6.9°        256×256
    S4   10 GHz    2 GHz     30° (30–360) 256×256
    ==== ========= ========= =========== =======

    Parameters
    ----------
    total_angle_deg : float, optional
        Override of the total rotation (S4 is meant for 30°–360°).
    image_size : int, optional
        Override of the (square) image size; the sampling (P, F) does not change.
    """
    if name not in _PRESETS:
        raise InputError(f"unknown radar preset {name!r}; valid presets: {list_presets()}")
    fc, bw, angle_deg, size = _PRESETS[name]
    angle_deg = angle_deg if total_angle_deg is None else float(total_angle_deg)
    if not 0 < angle_deg <= 360:
        raise InputError(f"total_angle_deg must be in (0, 360], got {angle_deg}")
    size = size if image_size is None else int(image_size)
    return make_geometry(fc, bw, math.radians(angle_deg), (size, size), name=name)


def preset_table() -> str:
    """The presets as a Markdown table: carrier, bandwidth and total angle (the geometry), the
    default image shape and extent, the pixel size and the phase-history shape ``(P, F)``
    (pulses × frequencies) that :func:`preset` gives; the same text is in ``docs/formats.md``
    and ``discofold simulate radar --help``."""
    rows = ["| preset | carrier | bandwidth | total angle | image (H×W) | extent (m) | pixel (m) "
            "| data (P pulses × F frequencies) |", "|---|---|---|---|---|---|---|---|"]
    for name in list_presets():
        fc, bw, angle_deg, _ = _PRESETS[name]
        g = preset(name)
        (h, w), (lx, ly), (p, f) = g.image_shape, g.extent_m, g.data_shape
        rows.append(f"| {name} | {fc / 1e9:g} GHz | {bw / 1e9:g} GHz | {angle_deg:g}° | {h}×{w} "
                    f"| {lx:g} × {ly:g} | {lx / h:.3g} × {ly / w:.3g} | {p} × {f} |")
    return "\n".join(rows)


def pixel_centres(image_shape: tuple[int, int], extent_m: tuple[float, float]):
    """Float64 pixel centres ``(x (H,), y (W,))`` in metres (DESIGN.md convention)."""
    (h, w), (lx, ly) = image_shape, extent_m
    x = (torch.arange(h, dtype=torch.float64) - h // 2) * (lx / h)
    y = (torch.arange(w, dtype=torch.float64) - w // 2) * (ly / w)
    return x, y


def _as_geometry_arrays(geometry: RadarGeometry, device: torch.device | None = None):
    ang = geometry.angles_rad.to(device)
    freq = geometry.frequencies_hz.to(device)
    return ang, freq


def _wavenumbers(angles: torch.Tensor, freqs: torch.Tensor):
    """Flattened ``(P·F,)`` phase rates ``a = 4πf cosθ/c`` and ``b = 4πf sinθ/c`` (rad/m)."""
    scale = 4.0 * math.pi * freqs / SPEED_OF_LIGHT
    a = (torch.cos(angles)[:, None] * scale[None, :]).reshape(-1)
    b = (torch.sin(angles)[:, None] * scale[None, :]).reshape(-1)
    return a, b


def echo_from_scatterers(
    scatterers: torch.Tensor,
    angles_rad: torch.Tensor,
    frequencies_hz: torch.Tensor,
    gains: torch.Tensor | None = None,
) -> torch.Tensor:
    """Exact echo of point scatterers at continuous positions (direct sum, no gridding).

    Parameters
    ----------
    scatterers : torch.Tensor
        ``(N, 4)`` = x [m], y [m], Re σ, Im σ.
    angles_rad, frequencies_hz : torch.Tensor
        ``(P,)`` and ``(F,)``.
    gains : torch.Tensor, optional
        Real or complex ``(N, P)`` aspect-dependent factor multiplying σ at each angle.

    Returns
    -------
    torch.Tensor
        Complex128 ``(P, F)``.  Computed in chunks of scatterers to bound memory.
    """
    sc = torch.as_tensor(scatterers, dtype=torch.float64)
    if sc.ndim != 2 or sc.shape[-1] != 4:
        raise ShapeError(f"scatterers must have shape (N, 4), got {tuple(sc.shape)}")
    ang = torch.as_tensor(angles_rad, dtype=torch.float64, device=sc.device)
    freq = torch.as_tensor(frequencies_hz, dtype=torch.float64, device=sc.device)
    n, p, f = sc.shape[0], ang.numel(), freq.numel()
    if gains is not None and tuple(gains.shape) != (n, p):
        raise ShapeError(f"gains must have shape (N, P) = {(n, p)}, got {tuple(gains.shape)}")
    out = torch.zeros(p, f, dtype=torch.complex128, device=sc.device)
    cos, sin = torch.cos(ang), torch.sin(ang)
    rate = 4.0 * math.pi * freq / SPEED_OF_LIGHT
    step = max(1, _CHUNK_ELEMENTS // max(1, p * f))
    for s in range(0, n, step):
        blk = sc[s : s + step]
        r = blk[:, 0:1] * cos[None] + blk[:, 1:2] * sin[None]  # (n, P) projected range
        amp = torch.complex(blk[:, 2], blk[:, 3])[:, None].expand(-1, p)
        if gains is not None:
            amp = amp * gains[s : s + step].to(sc.device)
        phase = torch.polar(torch.ones((), dtype=torch.float64), -r[:, :, None] * rate)
        out += torch.einsum("np,npf->pf", amp, phase)
    return out


def _column_chunks(n_samples: int, size: int, batch: int):
    step = max(1, _CHUNK_ELEMENTS // max(1, size * max(1, batch)))
    return range(0, n_samples, step), step


def echo_from_image(image: torch.Tensor, geometry: RadarGeometry) -> torch.Tensor:
    """Direct-sum echo of a pixel image (each pixel a scatterer at its centre).

    ``image`` ``(..., H, W)`` complex → ``(..., P, F)`` complex128; exact (separable matrix
    products over chunks of samples, no FFT/NUFFT).
    """
    img = torch.as_tensor(image)
    if tuple(img.shape[-2:]) != geometry.image_shape:
        raise ShapeError(
            f"image must end in {geometry.image_shape}, got shape {tuple(img.shape)}"
        )
    lead = img.shape[:-2]
    img = img.reshape(-1, *geometry.image_shape).to(torch.complex128)
    ang, freq = _as_geometry_arrays(geometry, img.device)
    a, b = _wavenumbers(ang, freq)
    x, y = (t.to(img.device) for t in pixel_centres(geometry.image_shape, geometry.extent_m))
    out = torch.empty(img.shape[0], a.numel(), dtype=torch.complex128, device=img.device)
    starts, step = _column_chunks(a.numel(), max(geometry.image_shape), img.shape[0])
    one = torch.ones((), dtype=torch.float64, device=img.device)
    for s in starts:
        ex = torch.polar(one, -x[:, None] * a[None, s : s + step])  # (H, C)
        ey = torch.polar(one, -y[:, None] * b[None, s : s + step])  # (W, C)
        out[:, s : s + step] = ((img @ ey) * ex[None]).sum(-2)
    return out.reshape(*lead, *geometry.data_shape)


def density_weights(angles_rad: torch.Tensor, frequencies_hz: torch.Tensor) -> torch.Tensor:
    """Polar-area quadrature weights ``w_pq ∝ Δθ_p · f_q Δf_q``, ``(P, F)``, summing to 1.

    The same definition as ``discofold.operators.PolarRadar``'s density weights; for uniform
    steps ``w_pq = f_q / (P Σ_q f_q)``.
    """
    ang = torch.as_tensor(angles_rad, dtype=torch.float64)
    freq = torch.as_tensor(frequencies_hz, dtype=torch.float64)
    w = cell_widths(ang)[:, None] * (freq * cell_widths(freq))[None, :]
    return w / w.sum()


def reference_image(echo: torch.Tensor, geometry: RadarGeometry) -> torch.Tensor:
    """Density-compensated adjoint: the full-aperture reference image.

    ``x̂[i, j] = Σ_pq w_pq s_pq exp(+i·4π f_q/c·(x_i cos θ_p + y_j sin θ_p))`` with the
    polar-area weights of :func:`density_weights` (``∝ f``, summing to 1).  With this
    normalisation a scatterer σ on a pixel
    centre gives exactly σ at that pixel.  ``echo`` ``(..., P, F)`` → ``(..., H, W)``
    complex128; exact direct sum (chunked matrix products).
    """
    y = torch.as_tensor(echo)
    if tuple(y.shape[-2:]) != geometry.data_shape:
        raise ShapeError(f"echo must end in (P, F) = {geometry.data_shape}, got {tuple(y.shape)}")
    lead = y.shape[:-2]
    ang, freq = _as_geometry_arrays(geometry, y.device)
    weights = density_weights(ang, freq).reshape(-1)
    g = y.reshape(-1, weights.numel()).to(torch.complex128) * weights
    a, b = _wavenumbers(ang, freq)
    x, yy = (t.to(y.device) for t in pixel_centres(geometry.image_shape, geometry.extent_m))
    out = torch.zeros(g.shape[0], *geometry.image_shape, dtype=torch.complex128, device=y.device)
    starts, step = _column_chunks(a.numel(), max(geometry.image_shape), g.shape[0])
    one = torch.ones((), dtype=torch.float64, device=y.device)
    for s in starts:
        ex = torch.polar(one, x[:, None] * a[None, s : s + step])  # (H, C)
        ey = torch.polar(one, yy[:, None] * b[None, s : s + step])  # (W, C)
        out += ex[None] @ (g[:, s : s + step, None] * ey.T[None])
    return out.reshape(*lead, *geometry.image_shape)


def add_noise(
    echo: torch.Tensor,
    snr_db: float,
    generator: torch.Generator | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Add circular complex white Gaussian noise at an echo-domain SNR.

    SNR = mean |s|² over measured samples / noise variance (E|n|²), in dB.  Unmeasured samples
    (``mask`` False) are zeroed.  The noise is drawn on the CPU from ``generator``.
    """
    if not math.isfinite(snr_db):
        raise InputError(f"snr_db must be finite, got {snr_db}")
    m = None if mask is None else torch.as_tensor(mask, dtype=torch.bool).to(echo.device)
    power = (echo.abs() ** 2)[m.expand_as(echo)] if m is not None else echo.abs() ** 2
    var = float(power.mean()) / 10.0 ** (snr_db / 10.0) if power.numel() else 0.0
    real_dtype = torch.float64 if echo.dtype == torch.complex128 else torch.float32
    z = torch.randn((2, *echo.shape), generator=generator, dtype=torch.float64)
    noise = torch.complex(z[0], z[1]).to(echo.dtype).to(echo.device) * math.sqrt(var / 2.0)
    out = echo + noise
    if m is not None:
        out = out * m.to(real_dtype)
    return out


def simulate_echo(
    scene,
    geometry: RadarGeometry,
    *,
    snr_db: float | None = None,
    mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Exact echo of a scene (``RadarScene`` or ``(N, 4)`` scatterers) for a geometry.

    Returns complex128 ``(P, F)``: noise at ``snr_db`` (if given, seeded by ``generator``) and
    zeros where ``mask`` ``(P, F)`` is False.
    """
    scatterers = getattr(scene, "scatterers", scene)
    gains = scene.gains(geometry.angles_rad) if hasattr(scene, "gains") else None
    clean = echo_from_scatterers(scatterers, geometry.angles_rad, geometry.frequencies_hz, gains)
    if mask is not None and tuple(mask.shape) != geometry.data_shape:
        raise ShapeError(f"mask must have shape (P, F) = {geometry.data_shape}, got "
                         f"{tuple(mask.shape)}")
    if snr_db is not None:
        return add_noise(clean, snr_db, generator, mask)
    if mask is not None:
        return clean * torch.as_tensor(mask, dtype=torch.bool).to(torch.float64)
    return clean
