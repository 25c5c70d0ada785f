"""Ellipse phantoms (random and Shepp–Logan), their analytic k-space, and smooth random phase.

Geometry (see docs/conventions.md)
----------------------------------
A phantom is a sum of uniform ellipses in the **normalised field of view** ``u ∈ [-1, 1)²``.
Coordinate ``u0`` runs along axis H (rows, downwards), ``u1`` along axis W (columns, to the
right).  Pixel ``n`` of an ``(H, W)`` image has its centre at
``u = (2 (n0 - H//2) / H, 2 (n1 - W//2) / W)``, so the image origin sits at index ``N // 2``
exactly as in the centred FFT and the NUFFT convention.

An ellipse set is a float tensor ``(E, 6)`` with columns
``[value, a, b, c0, c1, theta]``: intensity, semi-axes ``a`` and ``b`` (normalised units),
centre ``(c0, c1)``, and the angle ``theta`` (radians) from the ``u0`` axis to the ``a`` axis,
measured towards ``u1``.

Analytic k-space
----------------
The continuous Fourier transform of one ellipse is
``F(κ) = value · π a b · 2 J1(q)/q · exp(-i κ·c)``, ``q = |(a κ·e_a, b κ·e_b)|``.
A NUFFT frequency ``k`` (radians per pixel) corresponds to ``κ_d = k_d N_d / 2`` (radians per
normalised unit), and the discrete sum of the NUFFT/centred-FFT convention approximates the
integral with pixel area ``4 / (HW)``, hence :func:`ellipse_kspace` returns
``sqrt(HW)/4 · Σ_e F_e(κ)``: the k-space of the *continuous* object in the units of
``CartesianMRI`` / ``NonCartesianMRI`` without rasterisation (no inverse crime).
The analytic model is the real (magnitude) phantom; a smooth phase, when wanted, is applied to
rasterised images only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..errors import InputError, ShapeError

__all__ = [
    "shepp_logan_ellipses",
    "random_ellipses",
    "rasterize_ellipses",
    "ellipse_kspace",
    "smooth_phase",
    "shepp_logan",
    "random_phantom",
]

# Modified Shepp–Logan (Toft, 1996): value, a, b, x0, y0, phi [deg], x right, y up.
_TOFT = (
    (1.0, 0.69, 0.92, 0.0, 0.0, 0.0),
    (-0.8, 0.6624, 0.8740, 0.0, -0.0184, 0.0),
    (-0.2, 0.1100, 0.3100, 0.22, 0.0, -18.0),
    (-0.2, 0.1600, 0.4100, -0.22, 0.0, 18.0),
    (0.1, 0.2100, 0.2500, 0.0, 0.35, 0.0),
    (0.1, 0.0460, 0.0460, 0.0, 0.1, 0.0),
    (0.1, 0.0460, 0.0460, 0.0, -0.1, 0.0),
    (0.1, 0.0460, 0.0230, -0.08, -0.605, 0.0),
    (0.1, 0.0230, 0.0230, 0.0, -0.606, 0.0),
    (0.1, 0.0230, 0.0460, 0.06, -0.605, 0.0),
)


def as_generator(generator: torch.Generator | None) -> torch.Generator:
    """The generator given, or a fresh CPU generator with a non-deterministic seed.

    The global RNG state is never read or written.
    """
    if generator is None:
        generator = torch.Generator()
        generator.seed()
    elif not isinstance(generator, torch.Generator):
        raise InputError(f"generator must be a torch.Generator or None, got {type(generator)}")
    return generator


def _check_shape(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) != 2 or any(int(s) < 1 for s in shape):
        raise ShapeError(f"image shape must be (H, W) with H, W >= 1, got {tuple(shape)}")
    return int(shape[0]), int(shape[1])


def _check_ellipses(ellipses: torch.Tensor) -> torch.Tensor:
    if not isinstance(ellipses, torch.Tensor) or ellipses.ndim != 2 or ellipses.shape[1] != 6:
        got = tuple(ellipses.shape) if isinstance(ellipses, torch.Tensor) else type(ellipses)
        raise ShapeError(
            f"ellipses must be a tensor (E, 6) [value, a, b, c0, c1, theta], got {got}"
        )
    if torch.is_complex(ellipses) or not ellipses.is_floating_point():
        raise InputError(f"ellipses must be a real floating tensor, got dtype {ellipses.dtype}")
    if bool((ellipses[:, 1:3] <= 0).any()):
        raise InputError("ellipse semi-axes (columns 1 and 2) must be positive")
    return ellipses


def pixel_centres(shape: Sequence[int], dtype=torch.float64, device=None):
    """Normalised coordinates of pixel centres: ``u0`` ``(H,)`` and ``u1`` ``(W,)``."""
    h, w = _check_shape(shape)
    u0 = (torch.arange(h, dtype=dtype, device=device) - h // 2) * (2.0 / h)
    u1 = (torch.arange(w, dtype=dtype, device=device) - w // 2) * (2.0 / w)
    return u0, u1


def shepp_logan_ellipses(dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The modified (Toft) Shepp–Logan phantom as an ellipse set ``(10, 6)``.

    Converted from the usual ``(x right, y up, phi)`` table: ``c0 = -y0``, ``c1 = x0``,
    ``theta = phi + 90°``.
    """
    rows = [
        (v, a, b, -y0, x0, math.radians(phi) + math.pi / 2) for v, a, b, x0, y0, phi in _TOFT
    ]
    return torch.tensor(rows, dtype=dtype)


def random_ellipses(
    generator: torch.Generator | None = None,
    num: int | None = None,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """A random, non-negative ellipse phantom ``(E, 6)`` inside the unit disc.

    The first ellipse is a body of value 1; ``num - 1`` inner ellipses (default: 4–14) lie
    entirely inside it, with values in ``[-0.5, 1]`` rescaled so that the negative values sum to
    at least ``-0.9``: the phantom is ≥ 0.1 inside the body and 0 outside.
    """
    g = as_generator(generator)

    def rand(*size):
        return torch.rand(*size, generator=g, dtype=torch.float64)

    if num is None:
        num = 5 + int(torch.randint(0, 11, (1,), generator=g))
    if num < 1:
        raise InputError(f"number of ellipses must be >= 1, got {num}")
    body_a, body_b = 0.6 + 0.3 * rand(2)
    body_t = math.pi * float(rand(1))
    rows = [(1.0, float(body_a), float(body_b), 0.0, 0.0, body_t)]
    n_in = num - 1
    s = 0.75 * rand(n_in).sqrt()  # normalised radius of the centre inside the body
    ang = 2 * math.pi * rand(n_in)
    r_max = (1.0 - s) * min(float(body_a), float(body_b)) * 0.95
    axes = r_max[:, None] * (0.15 + 0.85 * rand(n_in, 2))
    values = -0.5 + 1.5 * rand(n_in)
    neg = values.clamp(max=0).sum()
    if neg < -0.9:
        values = torch.where(values < 0, values * (0.9 / -neg), values)
    ct, st = math.cos(body_t), math.sin(body_t)
    for i in range(n_in):
        pa, pb = s[i] * body_a * torch.cos(ang[i]), s[i] * body_b * torch.sin(ang[i])
        c0, c1 = pa * ct - pb * st, pa * st + pb * ct
        rows.append((float(values[i]), float(axes[i, 0]), float(axes[i, 1]), float(c0),
                     float(c1), math.pi * float(rand(1))))
    return torch.tensor(rows, dtype=dtype)


def _inside(ellipse: torch.Tensor, u0: torch.Tensor, u1: torch.Tensor) -> torch.Tensor:
    """Indicator of one ellipse at coordinates ``u0`` ``(..., 1)`` and ``u1`` ``(1, ...)``."""
    _, a, b, c0, c1, t = (float(v) for v in ellipse)
    d0, d1 = u0 - c0, u1 - c1
    pa = d0 * math.cos(t) + d1 * math.sin(t)
    pb = -d0 * math.sin(t) + d1 * math.cos(t)
    return (pa / a) ** 2 + (pb / b) ** 2 <= 1.0


def rasterize_ellipses(
    ellipses: torch.Tensor, shape: Sequence[int], supersample: int = 1
) -> torch.Tensor:
    """Rasterise an ellipse set to a real image ``(H, W)`` (dtype of ``ellipses``).

    Parameters
    ----------
    ellipses : Tensor ``(E, 6)``
        Ellipse set (see the module docstring).
    shape : (H, W)
        Matrix size.
    supersample : int
        Each pixel is the mean of ``supersample²`` point samples on a regular sub-grid (the box
        average of the continuous phantom as ``supersample → ∞``); 1 = point sampling.
    """
    ellipses = _check_ellipses(ellipses)
    h, w = _check_shape(shape)
    s = int(supersample)
    if s < 1:
        raise InputError(f"supersample must be >= 1, got {supersample}")
    u0, u1 = pixel_centres((h, w), dtype=ellipses.dtype, device=ellipses.device)
    off = (torch.arange(s, dtype=ellipses.dtype, device=ellipses.device) + 0.5) / s - 0.5
    v0 = (u0[:, None] + off[None, :] * (2.0 / h)).reshape(-1, 1)
    v1 = (u1[:, None] + off[None, :] * (2.0 / w)).reshape(1, -1)
    img = torch.zeros(h * s, w * s, dtype=ellipses.dtype, device=ellipses.device)
    for e in ellipses:
        img += float(e[0]) * _inside(e, v0, v1)
    return img.reshape(h, s, w, s).mean(dim=(1, 3))


def _jinc(q: torch.Tensor) -> torch.Tensor:
    """``2 J1(q) / q`` with the limit 1 at ``q = 0``."""
    small = q.abs() < 1e-6
    safe = torch.where(small, torch.ones_like(q), q)
    return torch.where(small, 1.0 - q**2 / 8.0, 2.0 * torch.special.bessel_j1(safe) / safe)


def ellipse_kspace(
    ellipses: torch.Tensor,
    k: torch.Tensor,
    shape: Sequence[int],
    pixel_box: bool = False,
) -> torch.Tensor:
    """Analytic k-space of an ellipse phantom at arbitrary frequencies.

    Parameters
    ----------
    ellipses : Tensor ``(E, 6)``
        Ellipse set (see the module docstring).
    k : Tensor ``(..., 2)``
        Frequencies in radians per pixel (NUFFT convention: column 0 ↔ H, column 1 ↔ W).
    shape : (H, W)
        Matrix that fixes the pixel size and the normalisation.
    pixel_box : bool
        Multiply by ``sinc(k0/2) sinc(k1/2)``, the transform of a one-pixel box: the k-space of
        the *pixel-averaged* phantom, which a supersampled rasterisation approximates.

    Returns
    -------
    Tensor ``(...)``, complex (complex128 for float64 input)
        ``sqrt(HW)/4 · Σ_e F_e(κ)`` with ``κ_d = k_d N_d / 2``; approximates
        ``NonCartesianMRI`` (and, on the grid, ``fft2c``) applied to the rasterised phantom.
    """
    ellipses = _check_ellipses(ellipses)
    h, w = _check_shape(shape)
    if k.shape[-1] != 2:
        raise ShapeError(f"k must have shape (..., 2), got {tuple(k.shape)}")
    k = k.to(ellipses.dtype)
    kap0, kap1 = k[..., 0] * (h / 2.0), k[..., 1] * (w / 2.0)
    out = torch.zeros(k.shape[:-1], dtype=torch.complex128 if k.dtype == torch.float64
                      else torch.complex64, device=k.device)
    for e in ellipses:
        val, a, b, c0, c1, t = (float(v) for v in e)
        ka = kap0 * math.cos(t) + kap1 * math.sin(t)
        kb = -kap0 * math.sin(t) + kap1 * math.cos(t)
        q = torch.sqrt((a * ka) ** 2 + (b * kb) ** 2)
        amp = val * math.pi * a * b * _jinc(q)
        out += amp * torch.exp(-1j * (kap0 * c0 + kap1 * c1))
    out = out * (math.sqrt(h * w) / 4.0)
    if pixel_box:
        out = out * torch.sinc(k[..., 0] / (2 * math.pi)) * torch.sinc(k[..., 1] / (2 * math.pi))
    return out


def smooth_phase(
    shape: Sequence[int],
    generator: torch.Generator | None = None,
    max_rad: float = math.pi,
    order: int = 3,
) -> torch.Tensor:
    """A smooth random phase map ``(H, W)`` float32, in radians, ``|phase| ≤ max_rad``.

    A sum of 2-D cosines with integer spatial frequencies ``0..order`` (cycles per field of
    view along each axis) and random amplitudes and offsets, scaled to peak ``max_rad``.
    """
    h, w = _check_shape(shape)
    u0, u1 = pixel_centres((h, w))
    g = as_generator(generator)
    p = torch.arange(order + 1, dtype=torch.float64)
    amp = torch.randn(order + 1, order + 1, generator=g, dtype=torch.float64)
    amp = amp / (1.0 + p[:, None] ** 2 + p[None, :] ** 2)
    off = 2 * math.pi * torch.rand(order + 1, order + 1, generator=g, dtype=torch.float64)
    arg = (math.pi / 2) * (p[:, None, None, None] * u0[:, None] + p[None, :, None, None] * u1)
    phase = (amp[..., None, None] * torch.cos(arg + off[..., None, None])).sum(dim=(0, 1))
    peak = phase.abs().max()
    if peak > 0:
        phase = phase * (max_rad * float(torch.rand(1, generator=g, dtype=torch.float64)) / peak)
    return phase.to(torch.float32)


def shepp_logan(shape: Sequence[int], supersample: int = 4) -> torch.Tensor:
    """The modified Shepp–Logan phantom ``(H, W)`` float32 (pixel-averaged with ``supersample``)."""
    return rasterize_ellipses(shepp_logan_ellipses(), shape, supersample).to(torch.float32)


def random_phantom(
    shape: Sequence[int],
    generator: torch.Generator | None = None,
    phase: bool = True,
    supersample: int = 2,
    max_phase_rad: float = math.pi,
) -> torch.Tensor:
    """A random ellipse phantom ``(H, W)`` complex64 with (optionally) a smooth random phase.

    For its analytic k-space, draw the ellipses with :func:`random_ellipses` and use
    :func:`ellipse_kspace` (magnitude model, no phase).
    """
    generator = as_generator(generator)
    ell = random_ellipses(generator)
    mag = rasterize_ellipses(ell, shape, supersample).to(torch.float32)
    if not phase:
        return mag.to(torch.complex64)
    return torch.polar(mag, smooth_phase(shape, generator, max_rad=max_phase_rad))
