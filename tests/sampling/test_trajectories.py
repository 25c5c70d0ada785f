"""Non-Cartesian trajectories: range, convention, density compensation against Voronoi areas."""

from __future__ import annotations

import math

import pytest
import torch

from discofold.errors import InputError
from discofold.sampling import make_trajectory, radial_trajectory, spiral_trajectory, voronoi_dcf


@pytest.mark.parametrize("angles", ["golden", "uniform"])
@pytest.mark.parametrize("half", [False, True])
@pytest.mark.parametrize("n", [64, 65])
def test_radial_range_and_geometry(angles, half, n):
    for gen in (None, 0, 1, 2):
        traj, dcf, meta = radial_trajectory(21, n, angles=angles, half=half, generator=gen)
        assert traj.shape == (21 * n, 2) and traj.dtype == torch.float32
        assert dcf.shape == (21 * n,) and dcf.dtype == torch.float32
        assert float(traj.min()) >= -math.pi and float(traj.max()) < math.pi
        k = traj.double().reshape(21, n, 2)
        th = meta["angles_rad"]
        # every spoke is a straight line through the origin at its angle
        cross = k[..., 0] * torch.sin(th)[:, None] - k[..., 1] * torch.cos(th)[:, None]
        assert float(cross.abs().max()) < 1e-5
        if angles == "uniform":
            period = 2 * math.pi if half else math.pi
            d = torch.diff(torch.sort(th).values)
            assert torch.allclose(d, torch.full_like(d, period / 21))


def test_radial_spoke_on_axis_lies_on_cartesian_grid():
    n = 48
    traj, _, _ = radial_trajectory(4, n, angles="uniform")
    spoke0 = traj[:n].double()  # angle 0: along rows
    expected = 2 * math.pi * (torch.arange(n, dtype=torch.float64) - n // 2) / n
    assert torch.allclose(spoke0[:, 0], expected.clamp(max=math.pi), atol=2e-7)
    assert float(spoke0[:, 1].abs().max()) == 0.0


@pytest.mark.parametrize("half", [False, True])
def test_radial_dcf_proportional_to_radius(half):
    traj, dcf, meta = radial_trajectory(32, 64, angles="uniform", half=half)
    r = torch.linalg.norm(traj.double(), dim=1)
    d = dcf.double()
    ratio = d[r > 1e-9] / r[r > 1e-9]
    assert float(ratio.std() / ratio.mean()) < 1e-6
    dt = (math.pi if half else 2 * math.pi) / 64
    # the DC sample gets its share of the disc of radius dt / 2 (full: pi (dt/2)^2 over 32 spokes)
    dc_share = math.pi * (dt / 2) ** 2 / 32 / (2 * math.pi) ** 2
    assert torch.allclose(d[r <= 1e-9], torch.full_like(d[r <= 1e-9], dc_share), rtol=1e-6)
    # the weights tile the disc of radius ~pi: sum = pi / 4 of the square up to O(dt)
    assert float(d.sum()) == pytest.approx(math.pi / 4, rel=3 * dt / math.pi)


def test_golden_radial_dcf_uses_angular_gaps():
    traj, dcf, meta = radial_trajectory(13, 40, angles="golden")
    th = torch.sort(meta["angles_rad"]).values
    gaps = torch.diff(torch.cat([th, th[:1] + math.pi]))
    width = 0.5 * (gaps + torch.roll(gaps, 1))
    order = torch.argsort(torch.argsort(meta["angles_rad"]))
    t = torch.linalg.norm(traj.double().reshape(13, 40, 2)[:, 1], dim=-1)  # |t| of sample 1
    expected = t * (2 * math.pi / 40) * width[order] / (2 * math.pi) ** 2
    assert torch.allclose(dcf.double().reshape(13, 40)[:, 1], expected, rtol=1e-5)


def test_radial_dcf_matches_voronoi_areas():
    traj, dcf, _ = radial_trajectory(48, 64, angles="uniform")
    vor = voronoi_dcf(traj).double()
    r = torch.linalg.norm(traj.double(), dim=1)
    inner = (r > 0.15 * math.pi) & (r < 0.85 * math.pi)
    rel = (vor[inner] - dcf.double()[inner]).abs() / dcf.double()[inner]
    assert float(rel.max()) < 0.02


def test_voronoi_dcf_on_a_cartesian_grid_gives_cell_areas():
    n = 24
    k = 2 * math.pi * (torch.arange(n, dtype=torch.float64) - n // 2) / n
    grid = torch.stack(torch.meshgrid(k, k, indexing="ij"), -1).reshape(-1, 2)
    w = voronoi_dcf(grid).double().reshape(n, n)
    cell = torch.full((n - 2, n - 2), 1.0 / n**2, dtype=torch.float64)
    assert torch.allclose(w[1:-1, 1:-1], cell, rtol=1e-6)


@pytest.mark.parametrize("alpha", [1.0, 2.0])
def test_spiral_range_density_and_dcf(alpha):
    traj, dcf, meta = spiral_trajectory(6, 400, 5.0, alpha=alpha, generator=3)
    assert traj.shape == (2400, 2) and traj.dtype == torch.float32
    assert float(traj.min()) >= -math.pi and float(traj.max()) < math.pi
    r = torch.linalg.norm(traj.double(), dim=1).reshape(6, 400)
    tau = torch.arange(400, dtype=torch.float64) / 400
    assert torch.allclose(r, math.pi * tau**alpha, atol=1e-5)
    assert bool((dcf > 0).all())
    assert float(dcf.double().sum()) == pytest.approx(math.pi / 4, rel=0.06)
    assert meta["edge_gap_rad"] == pytest.approx(math.pi * alpha / 30)
    # variable density: with alpha = 2, samples are denser (smaller cells) near the centre
    if alpha == 2.0:
        cell = dcf.double().reshape(6, 400)
        assert float(cell[:, 50:100].mean()) < float(cell[:, 300:350].mean())


def test_trajectory_registry_and_errors():
    a = make_trajectory("radial", 8, 32, angles="uniform")[0]
    assert torch.equal(a, radial_trajectory(8, 32, angles="uniform")[0])
    with pytest.raises(InputError, match="spiral"):
        make_trajectory("spiarl", 8, 32)
    with pytest.raises(InputError):
        radial_trajectory(0, 32)
    with pytest.raises(InputError):
        radial_trajectory(8, 32, angles="random")
    with pytest.raises(InputError):
        spiral_trajectory(4, 100, 0.0)
