"""Radar scenes: random point scatterers and a parametric satellite model.

A scene is a set of point scatterers stored as float64 ``(N, 4)`` = x [m], y [m], Re σ, Im σ
(DESIGN.md), optionally with aspect-dependent (specular) amplitudes: scatterer ``k`` then
returns ``σ_k · g_k(θ)`` with the lobe ``g_k(θ) = sinc(sin(θ - φ_k) / w_k)``
(``sinc(u) = sin(πu)/(πu)``), peak 1 when the line of sight is along the normal ``φ_k`` (either
face) and first null at ``|sin(θ - φ_k)| = w_k``.  Every generator takes a
``torch.Generator``; global RNG state is never touched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import InputError, ShapeError

__all__ = ["RadarScene", "SatelliteModel", "point_scene", "satellite_scene"]


@dataclass(frozen=True, eq=False)
class RadarScene:
    """Point scatterers with optional specular lobes.

    Attributes
    ----------
    scatterers : torch.Tensor
        Float64 ``(N, 4)`` = x [m], y [m], Re σ, Im σ.
    lobe_normal_rad : torch.Tensor, optional
        Float64 ``(N,)`` lobe directions φ in radians; NaN means isotropic.
    lobe_width_rad : torch.Tensor, optional
        Float64 ``(N,)`` lobe half-widths ``w`` (in sin θ) to the first null.
    """

    scatterers: torch.Tensor
    lobe_normal_rad: torch.Tensor | None = None
    lobe_width_rad: torch.Tensor | None = None

    def __post_init__(self) -> None:
        sc = torch.as_tensor(self.scatterers, dtype=torch.float64)
        if sc.ndim != 2 or sc.shape[1] != 4:
            raise ShapeError(f"scatterers must have shape (N, 4), got {tuple(sc.shape)}")
        object.__setattr__(self, "scatterers", sc)
        if (self.lobe_normal_rad is None) != (self.lobe_width_rad is None):
            raise InputError("lobe_normal_rad and lobe_width_rad must be given together")
        if self.lobe_normal_rad is not None:
            for name in ("lobe_normal_rad", "lobe_width_rad"):
                t = torch.as_tensor(getattr(self, name), dtype=torch.float64)
                if tuple(t.shape) != (sc.shape[0],):
                    raise ShapeError(f"{name} must have shape ({sc.shape[0]},), got "
                                     f"{tuple(t.shape)}")
                object.__setattr__(self, name, t)

    @property
    def aspect_dependent(self) -> bool:
        """Whether any scatterer has a specular lobe."""
        return self.lobe_normal_rad is not None and bool(
            torch.isfinite(self.lobe_normal_rad).any()
        )

    def gains(self, angles_rad: torch.Tensor) -> torch.Tensor | None:
        """Real ``(N, P)`` lobe gains ``g_k(θ_p)`` (1 for isotropic scatterers), or None."""
        if not self.aspect_dependent:
            return None
        ang = torch.as_tensor(angles_rad, dtype=torch.float64)
        phi, width = self.lobe_normal_rad[:, None], self.lobe_width_rad[:, None]
        g = torch.sinc(torch.sin(ang[None, :] - phi) / width)
        return torch.where(torch.isfinite(phi), g, torch.ones_like(g))

    def lobes(self) -> torch.Tensor:
        """Float64 ``(N, 2)`` = lobe normal, lobe width (NaN for isotropic scatterers)."""
        n = self.scatterers.shape[0]
        if self.lobe_normal_rad is None:
            return torch.full((n, 2), math.nan, dtype=torch.float64)
        return torch.stack([self.lobe_normal_rad, self.lobe_width_rad], dim=1)


def _complex_gaussian(n: int, generator: torch.Generator | None) -> torch.Tensor:
    z = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    return z / math.sqrt(2.0)  # CN(0, 1): E|σ|² = 1


def point_scene(
    generator: torch.Generator | None = None,
    radius_m: float = 8.0,
    num_range: tuple[int, int] = (5, 200),
) -> RadarScene:
    """Random point scatterers, uniform in a disk, with CN(0, 1) amplitudes.

    Parameters
    ----------
    generator : torch.Generator, optional
        Source of randomness.
    radius_m : float
        Disk radius in metres (centred on the rotation centre).
    num_range : (int, int)
        Inclusive range of the number of scatterers K ~ U{lo..hi}.
    """
    lo, hi = num_range
    if not (1 <= lo <= hi) or not radius_m > 0:
        raise InputError(f"need 1 <= lo <= hi and radius_m > 0, got {num_range}, {radius_m}")
    k = int(torch.randint(lo, hi + 1, (1,), generator=generator))
    u = torch.rand(k, 2, generator=generator, dtype=torch.float64)
    r, t = radius_m * torch.sqrt(u[:, 0]), 2 * math.pi * u[:, 1]
    pos = torch.stack([r * torch.cos(t), r * torch.sin(t)], dim=1)
    return RadarScene(torch.cat([pos, _complex_gaussian(k, generator)], dim=1))


@dataclass(frozen=True)
class SatelliteModel:
    """Body-frame dimensions (metres) of the parametric satellite; body x is the panel normal.

    The bus is a ``bus_size`` box; two solar panels (``panel_grid`` lattices of
    ``panel_size``) sit at ``±(panel_gap + …)`` along body y; a dish ring of ``dish_radius``
    sits in front of the bus (+x); a boom of ``boom_length`` trails behind it (-x).
    """

    bus_size: tuple[float, float] = (2.0, 1.6)
    bus_points_per_edge: int = 4
    panel_size: tuple[float, float] = (1.6, 4.5)  # (along x, along y)
    panel_grid: tuple[int, int] = (3, 8)
    panel_gap: float = 0.6
    dish_radius: float = 0.7
    dish_points: int = 12
    boom_length: float = 2.5
    boom_points: int = 6
    scale_jitter: float = 0.2
    amplitude_jitter: float = 0.3
    panel_lobe_width: float = 0.05  # in sin θ; ≈ 2.9° to the first null

    def parts(self) -> dict[str, tuple[torch.Tensor, float]]:
        """Body-frame positions ``(n, 2)`` and base amplitude of each part."""
        bx, by = self.bus_size[0] / 2, self.bus_size[1] / 2
        t = torch.linspace(-1, 1, self.bus_points_per_edge + 1, dtype=torch.float64)[:-1]
        bus = torch.cat([torch.stack([bx * t, -by + 0 * t], 1),
                         torch.stack([bx + 0 * t, by * t], 1),
                         torch.stack([-bx * t, by + 0 * t], 1),
                         torch.stack([-bx + 0 * t, -by * t], 1)])
        px, py = self.panel_size
        gx = torch.linspace(-px / 2, px / 2, self.panel_grid[0], dtype=torch.float64)
        gy = torch.linspace(0, py, self.panel_grid[1], dtype=torch.float64) + by + self.panel_gap
        lattice = torch.cartesian_prod(gx, gy)
        panels = torch.cat([lattice, lattice * torch.tensor([1.0, -1.0], dtype=torch.float64)])
        a = torch.arange(self.dish_points, dtype=torch.float64) * (2 * math.pi / self.dish_points)
        dish = torch.stack([bx + self.dish_radius * (1 + torch.cos(a)) + 0.3,
                            self.dish_radius * torch.sin(a)], 1)
        s = torch.linspace(0, 1, self.boom_points + 1, dtype=torch.float64)[1:]
        boom = torch.stack([-bx - self.boom_length * s, 0 * s], 1)
        return {"bus": (bus, 1.5), "panels": (panels, 0.6), "dish": (dish, 1.0),
                "boom": (boom, 0.8)}


def satellite_scene(
    generator: torch.Generator | None = None,
    model: SatelliteModel | None = None,
    aspect_dependent: bool = False,
    radius_m: float = 9.0,
) -> RadarScene:
    """A random instance of the parametric satellite.

    Random in-plane attitude ψ ~ U[0, 2π), scale ~ U[1 ± scale_jitter], amplitudes
    ``a·(1 + amplitude_jitter·N(0,1))·e^{iU[0,2π)}``.  With ``aspect_dependent`` the panel
    scatterers get specular lobes around the panel normal (body x rotated by ψ).  The scene is
    shrunk if needed so that every scatterer lies within ``radius_m`` of the centre.
    """
    model = model or SatelliteModel()
    parts = model.parts()
    pos = torch.cat([p for p, _ in parts.values()])
    base = torch.cat([torch.full((p.shape[0],), a, dtype=torch.float64)
                      for p, a in parts.values()])
    is_panel = torch.cat([torch.full((p.shape[0],), name == "panels")
                          for name, (p, _) in parts.items()])
    u = torch.rand(2, generator=generator, dtype=torch.float64)
    psi = 2 * math.pi * float(u[0])
    scale = 1.0 + model.scale_jitter * (2 * float(u[1]) - 1)
    rot = torch.tensor([[math.cos(psi), -math.sin(psi)], [math.sin(psi), math.cos(psi)]],
                       dtype=torch.float64)
    pos = scale * pos @ rot.T
    reach = float(pos.norm(dim=1).max())
    if reach > radius_m:
        pos = pos * (radius_m / reach)
    n = pos.shape[0]
    mag = base * (1 + model.amplitude_jitter * torch.randn(n, generator=generator,
                                                           dtype=torch.float64)).abs()
    ph = 2 * math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
    sc = torch.cat([pos, (mag * torch.cos(ph))[:, None], (mag * torch.sin(ph))[:, None]], 1)
    if not aspect_dependent:
        return RadarScene(sc)
    normal = torch.where(is_panel, torch.tensor(psi, dtype=torch.float64),
                         torch.tensor(math.nan, dtype=torch.float64))
    width = torch.full((n,), model.panel_lobe_width, dtype=torch.float64)
    return RadarScene(sc, normal, width)
