"""Data consistency on non-Cartesian trajectories is density compensated (and stays bounded)."""

from __future__ import annotations

import torch

from discofold.models import build, get_spec
from discofold.models._ops import DensityCompensated, coil_operator, dc_operator, dcf_gain

from ._problems import mri_problem, noncartesian_problem


def test_density_compensated_operator_is_w_half_a():
    p = noncartesian_problem(shape=(20, 18), spokes=13)
    cop = coil_operator(p.op)
    b = DensityCompensated(cop)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 2, 20, 18, dtype=torch.complex128, generator=g)
    y = torch.randn(2, 2, cop.out_shape[-1], dtype=torch.complex128, generator=g)
    w = cop.dcf.double() * b.gain
    assert torch.allclose(b.A(x), cop.A(x) * w.sqrt(), atol=1e-10)
    assert abs(float(b.compute_norm(max_iter=60, tol=1e-6)) - 1.0) < 1e-2  # ‖BᴴB‖ = 1
    lhs = torch.vdot(b.A(x).flatten(), y.flatten())
    rhs = torch.vdot(x.flatten(), b.A_adjoint(y).flatten())
    assert abs(lhs - rhs) <= 1e-9 * abs(lhs)
    dense = cop.A_adjoint(cop.A(x) * w)  # Aᴴ W A, no Toeplitz
    err = float((b.normal(x) - dense).abs().max() / dense.abs().max())
    assert err <= 1e-4, err  # Toeplitz embedding vs NUFFT round trip (both approximate)
    op, aty = dc_operator(cop, p.y)
    assert isinstance(op, DensityCompensated)
    assert torch.allclose(aty, cop.A_dagger(p.y) * b.gain)


def test_unrolled_models_stay_bounded_on_a_radial_trajectory():
    """Soft DC with a unit step on the plain ``AᴴA`` (norm ≫ 1 near the k-space centre) blew
    the image up by ~1e6 after a few cascades; density compensated, the untrained unified model
    (residual branches near zero) stays close to the gridding image."""
    p = noncartesian_problem(shape=(32, 30), spokes=40)
    cop = coil_operator(p.op)
    rss = (cop.A_dagger(p.y) * dcf_gain(cop)).abs().pow(2).sum(1).sqrt()
    for name in ("unified", "varnet"):
        tiny = dict(get_spec(name).tiny)
        tiny["cascades" if name == "unified" else "num_cascades"] = 4
        model = build(name, seed=0, **tiny).eval()
        with torch.no_grad():
            out = model(p.y, p.op, p.meta)
        assert bool(torch.isfinite(out).all())
        ratio = float(out.abs().norm() / rss.norm())
        assert 0.2 < ratio < 5.0, (name, ratio)


def test_models_do_not_depend_on_the_dcf_convention():
    """Weights as areas per grid cell or as fractions of k-space (H·W times smaller) give the
    same reconstruction: the models rescale the dcf (initial image by the least-squares gain,
    data consistency by ‖Aᴴ W A‖)."""
    from discofold.operators import NonCartesianMRI

    p = noncartesian_problem(shape=(24, 22), spokes=17)
    small = NonCartesianMRI(p.op.traj, (24, 22), coil_maps=p.op.coil_maps, dcf=p.op.dcf / 528)
    for name in ("unified", "varnet", "udno"):
        model = build(name, seed=0, **get_spec(name).tiny).eval()
        with torch.no_grad():
            a, b = model(p.y, p.op, p.meta), model(p.y, small, p.meta)
        assert float((a - b).abs().max() / a.abs().max()) < 1e-3, name


def test_untrained_unified_starts_near_the_gridding_image_and_improves_it():
    """Near-identity branches + density-compensated DC: at initialisation the unified model is
    at least as close to the truth as the (gain-scaled) gridding image on radial data."""
    p = noncartesian_problem(shape=(48, 48), spokes=30, coils=4)
    cop = coil_operator(p.op)
    grid = (cop.A_dagger(p.y) * dcf_gain(cop)).abs().pow(2).sum(1).sqrt()
    model = build("unified", seed=0, **get_spec("unified").tiny).eval()
    with torch.no_grad():
        out = model(p.y, p.op, p.meta).abs()
    err = lambda v: float((v - p.x.abs()).norm() / p.x.abs().norm())  # noqa: E731
    assert err(out) <= err(grid) * 1.05, (err(out), err(grid))


def test_fno_kspace_option_also_starts_at_zero_filling():
    """small_head finds the last layer of every backbone (UDNO and FNO alike): with the FNO
    k-space operator the untrained model is as close to the untrained UDNO variant as the
    near-identity start promises."""
    p = mri_problem()
    outs = []
    for kind in ("udno", "fno"):
        model = build("unified", seed=0, kspace=kind, **get_spec("unified").tiny).eval()
        with torch.no_grad():
            outs.append(model(p.y, p.op, p.meta))
    assert float((outs[0] - outs[1]).abs().max() / outs[0].abs().max()) < 0.05
