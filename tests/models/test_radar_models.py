"""Radar models (``unified_radar``, ``r_unified_radar``, ``ista_net_radar``) beyond the sweep.

The sweep (:mod:`tests.models.test_sweep`) already runs every radar model through forward and
backward with every parameter receiving a gradient, determinism under a fixed seed and a batch
with a mask per sample.  Here:

- the density-weighted data-consistency operator against a dense direct sum, and its norm on two
  resolutions and two spans;
- the pipelines with the learned parts switched off against a dense Landweber reference;
- the fan operator commutes with a rotation (shift along θ with the angles) on a full circle;
- the fan kernels have physical radii: nested fans give the same layer output inside;
- the same weights on two resolutions and two bandwidth/angle spans (degree-1 homogeneity,
  fan output independent of the pixel grid, image stencils in metres);
- recursion: stage parameters ≤ 35 % at equal depth, R_max = 2 runs at R = 4;
- inconsistent inputs raise errors naming the inconsistency.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from discofold.data.phantoms import random_phantom
from discofold.data.radar_sim import make_geometry
from discofold.errors import InputError, ShapeError
from discofold.layers import DiscoConv2d
from discofold.models import build, count_parameters, get_spec
from discofold.models._radar import DensityWeighted, fan_oversampling, radar_condition
from discofold.models.unified_radar import FanNO
from discofold.operators import CartesianMRI, PolarRadar
from discofold.sampling import make_mask

C = 299_792_458.0
WINDOW = 4.8  # m: fan spacing 1/4.8 = 0.21 cycles/m; 16 px = 0.3 m, 24 px = 0.2 m
SPANS = {"narrow": (10e9, 0.5e9, 2.9), "wide": (10e9, 1e9, 5.7)}  # S0 and S1 band / angle
CFG = dict(chans=4, pools=2, radius=0.6, fan_chans=4, fan_levels=2, fan_radius=0.5,
           kernel_shape=(3, 4))
RADAR = ["unified_radar", "r_unified_radar", "ista_net_radar"]


def _config(name):
    if name == "ista_net_radar":
        return dict(phases=2, chans=4)
    if name == "r_unified_radar":
        return dict(stages=1, recursions=2, **CFG)
    return dict(cascades=2, **CFG)


def _problem(span="narrow", size=16, batch=2, seed=0, acceleration=2.0):
    fc, bw, deg = SPANS[span]
    geo = make_geometry(fc, bw, math.radians(deg), (size, size), (WINDOW, WINDOW))
    g = torch.Generator().manual_seed(seed)
    pat = make_mask("random_pulses", geo.data_shape, acceleration, generator=g, batch=batch)
    op = PolarRadar(geo.angles_rad, geo.frequencies_hz, (size, size), (WINDOW, WINDOW),
                    mask=pat.mask)
    x = torch.stack([random_phantom((size, size), generator=g) for _ in range(batch)])
    return x, op.A(x), op


def _dense(op) -> torch.Tensor:
    """``(P F, H W)`` complex128 direct-sum matrix of the radar echo model (DESIGN.md)."""
    (h, w), (lx, ly) = op.image_shape, op.extent_m
    xi = (torch.arange(h, dtype=torch.float64) - h // 2) * lx / h
    yj = (torch.arange(w, dtype=torch.float64) - w // 2) * ly / w
    k = 4 * math.pi * op.frequencies_hz.double()[None, :] / C
    th = op.angles_rad.double()[:, None]
    a, b = (k * torch.cos(th)).reshape(-1), (k * torch.sin(th)).reshape(-1)
    phase = a[:, None, None] * xi[None, :, None] + b[:, None, None] * yj[None, None, :]
    return torch.polar(torch.ones_like(phase), -phase).reshape(a.numel(), h * w)


def _kappa(op) -> float:
    """``max(1, 1 / (a_pix A_fan))`` for a uniform fan: A_fan = P Δθ · Δρ Σ ρ."""
    th, rho = op.angles_rad.double(), 2 * op.frequencies_hz.double() / C
    area = th.numel() * float(th[1] - th[0]) * float(rho[1] - rho[0]) * float(rho.sum())
    return max(1.0, 1.0 / (area * op.pixel_size_m[0] * op.pixel_size_m[1]))


def _weights(op) -> torch.Tensor:
    return (op.density_weights * op.mask).reshape(op.mask.shape[0], -1)


# ---------------------------------------------------------------- data consistency
@pytest.mark.parametrize("span,size", [("narrow", 16), ("wide", 24)])
def test_density_weighted_operator_matches_the_dense_sum(span, size):
    x, y, op = _problem(span, size)
    wop = DensityWeighted(op)
    assert wop.kappa == pytest.approx(_kappa(op), rel=1e-9)
    a = _dense(op)
    wts = _weights(op)
    u = x.to(torch.complex128).reshape(2, -1)
    ref_n = ((a.conj().T @ ((wts / wop.kappa).T * (a @ u.T))).T).reshape(x.shape)
    ref_b = ((a.conj().T @ (wts.T * y.to(torch.complex128).reshape(2, -1).T)).T).reshape(x.shape)
    got_n, got_b = wop.normal(x), wop.weighted_adjoint(y)
    for got, ref in ((got_n, ref_n), (got_b, ref_b)):
        err = (got.to(torch.complex128) - ref).abs().max() / ref.abs().max()
        assert float(err) < 1e-4


@pytest.mark.parametrize("span,size", [("narrow", 16), ("narrow", 24), ("wide", 16)])
def test_weighted_normal_has_a_norm_of_order_one_on_every_geometry(span, size):
    _, _, op = _problem(span, size, batch=1, acceleration=1.0)
    a = _dense(op)
    wop = DensityWeighted(op)
    n = a.conj().T @ ((op.density_weights.reshape(-1, 1) / wop.kappa) * a)
    top = float(torch.linalg.eigvalsh(n).max())
    assert 0.9 < top < 2.5, top  # 1/(a_pix A_fan) alone would give 4.6 (wide, 16 px)


def _switch_off(model):
    """Zero regularisers (unified) / infinite thresholds (ISTA): only the physics remains."""
    class _Zero(nn.Module):
        def forward(self, z, ctx, scale=None):
            return torch.zeros_like(z)

    if hasattr(model, "unrolled"):
        for stage in model.unrolled.stages:
            stage.regulariser = _Zero()
    else:
        for phase in model.phases:
            phase.threshold.data.fill_(1e9)
    return model


def _landweber(op, y, u, steps):
    a, wop = _dense(op), DensityWeighted(op)
    wts, yy = _weights(op), y.to(torch.complex128).reshape(y.shape[0], -1)
    u = u.to(torch.complex128).reshape(y.shape[0], -1)
    rhs = (a.conj().T @ (wts.T * yy.T)).T
    for lam in steps:
        u = u - lam * ((a.conj().T @ ((wts / wop.kappa).T * (a @ u.T))).T - rhs)
    return u.reshape(y.shape[0], *op.image_shape)


@pytest.mark.parametrize("span,size", [("narrow", 16), ("wide", 24)])
def test_unified_radar_without_regularisers_is_landweber_from_the_filled_fan(span, size):
    _, y, op = _problem(span, size)
    model = _switch_off(build("unified_radar", seed=0, **_config("unified_radar"))).eval()
    with torch.no_grad():
        got = model(y, op)
        filled = model.fill_echo(y, op).to(torch.complex128)
    a = _dense(op)
    z0 = (a.conj().T @ (op.density_weights.reshape(-1, 1) * filled.reshape(2, -1).T)).T
    lams = [float(s.dc.weight.detach()) for s in model.unrolled.stages]
    ref = _landweber(op, y, z0, lams)
    assert float((got - ref).abs().max() / ref.abs().max()) < 1e-4


def test_ista_net_radar_with_infinite_thresholds_is_landweber_from_dc_adjoint():
    _, y, op = _problem("wide", 16)
    model = _switch_off(build("ista_net_radar", seed=0, phases=3, chans=4)).eval()
    with torch.no_grad():
        got = model(y, op)
    a, wts = _dense(op), _weights(op)
    u0 = (a.conj().T @ ((wts / wts.sum(1, keepdim=True)).T
                         * y.to(torch.complex128).reshape(2, -1).T)).T
    steps = [float(nn.functional.softplus(p.step.detach())) for p in model.phases]
    ref = _landweber(op, y, u0, steps)
    assert float((got - ref).abs().max() / ref.abs().max()) < 1e-4


# ---------------------------------------------------------------- the fan operator
def _circle_op(p=32, f=8, batch=2, shift=0, seed=0):
    """Uniform angles over 2π (rotated by ``shift`` steps) and radii 1..3 cycles/m."""
    angles = (torch.arange(p, dtype=torch.float64) + shift) * (2 * math.pi / p)
    freqs = torch.linspace(1.0, 3.0, f, dtype=torch.float64) * C / 2
    g = torch.Generator().manual_seed(seed)
    mask = make_mask("random_pulses", (p, f), 2.0, generator=g, batch=batch).mask
    return angles, freqs, mask


@pytest.mark.parametrize("levels,stride,shifts",
                         [(2, 1, (1, 3, 5, 12)), (2, 2, (4, 8, 12)), (0, 1, (1, 5))])
def test_fan_operator_commutes_with_a_rotation_on_a_full_circle(levels, stride, shifts):
    """Default (θ never subsampled): every shift commutes; stride 2: multiples of 2**levels."""
    angles, freqs, mask = _circle_op()
    cfg = dict(CFG, fan_levels=levels, fan_radius=0.8, fan_theta_stride=stride)
    model = build("unified_radar", seed=1, cascades=1, **cfg).eval()
    with torch.no_grad():  # the head starts at zero (identity fill): give it weights
        model.fan.head.weight.normal_(generator=torch.Generator().manual_seed(3))
    op = PolarRadar(angles, freqs, (9, 9), (3.0, 3.0), mask=mask)
    g = torch.Generator().manual_seed(5)
    y = torch.randn(2, 32, 8, dtype=torch.complex64, generator=g) * mask
    with torch.no_grad():
        base = model.fill_echo(y, op)
        assert float((base - y).abs().max()) > 0.1 * float(y.abs().max())  # something filled
        for s in shifts:
            rot = PolarRadar(angles + s * 2 * math.pi / 32, freqs, (9, 9), (3.0, 3.0),
                             mask=torch.roll(mask, s, dims=1))
            got = model.fill_echo(torch.roll(y, s, dims=1), rot)
            err = (got - torch.roll(base, s, dims=1)).abs().max() / base.abs().max()
            assert float(err) <= 1e-5, (s, float(err))


def test_fan_kernels_are_physical_nested_spans_agree_inside():
    """The same lift layer on a fan and on a twice wider / longer fan containing it."""
    dth, df, fc = math.radians(0.17), 31.25e6, 10e9
    fan = FanNO(4, 0, radius=0.5, kernel_shape=(3, 4))
    outs = []
    for p, f in ((17, 16), (35, 32)):
        angles = (torch.arange(p, dtype=torch.float64) - p // 2) * dth
        freqs = fc + (torch.arange(f, dtype=torch.float64) - f // 2) * df
        op = PolarRadar(angles, freqs, (8, 8), (WINDOW, WINDOW))
        x = torch.stack([torch.cos(op.kspace()[..., 0] * 0.7), torch.sin(op.kspace()[..., 1])])
        with torch.no_grad():
            outs.append(fan.down[0].lift_data(x[None].float(), op.angles_rad, FanNO.radii(op)))
    inner = outs[1][:, :, 9:26, 8:24]  # the narrow fan's samples inside the wide one
    h = 3  # > radius / spacing (0.5 / 0.208): away from the narrow fan's edges
    a, b = outs[0][..., h:-h, h:-h], inner[..., h:-h, h:-h]
    assert float((a - b).abs().max() / b.abs().max()) < 1e-5
    assert float((outs[0] - inner).abs().max() / b.abs().max()) > 1e-2  # edges do differ


# ---------------------------------------------------------------- same weights everywhere
@pytest.mark.parametrize("name", RADAR)
def test_same_weights_on_two_resolutions_and_two_spans(name):
    model = build(name, seed=0, **_config(name)).eval()
    for span in ("narrow", "wide"):
        _, y, op16 = _problem(span, 16)
        op24 = PolarRadar(op16.angles_rad, op16.frequencies_hz, (24, 24), op16.extent_m,
                          mask=op16.mask)
        with torch.no_grad():
            for op in (op16, op24):
                out = model(y, op)
                assert out.shape == (2, *op.image_shape)
                scaled = model(2.5 * y, op)  # degree-1 homogeneous: no hidden amplitude unit
                assert float((scaled - 2.5 * out).abs().max() / out.abs().max()) < 1e-4
                _check_metres(model, op)
            if name != "ista_net_radar":  # the fan stage does not see the pixel grid
                f16, f24 = model.fill_echo(y, op16), model.fill_echo(y, op24)
                assert torch.equal(f16, f24)
                assert torch.equal(f16[op16.mask], y[op16.mask])


def _check_metres(model, op):
    """Every image DISCO layer spans op.extent_m and its stencil covers its radius in metres."""
    convs = [m for m in model.modules() if isinstance(m, DiscoConv2d)]
    for conv in convs:
        assert conv.domain_length == op.extent_m
        half = conv.psi(op.image_shape).shape[-1] // 2
        px = op.pixel_size_m[1]
        assert half * px <= conv.radius + 1e-9 < (half + 1) * px


# ---------------------------------------------------------------- recursion
def test_recursive_stage_parameters_and_whole_model_counts():
    rec = build("r_unified_radar", seed=0, stages=2, recursions=3, **CFG)
    flat = build("unified_radar", seed=0, cascades=6, **CFG)
    ratio = count_parameters(rec.unrolled) / count_parameters(flat.unrolled)
    assert ratio <= 0.35, ratio
    whole = count_parameters(rec) / count_parameters(flat)
    assert ratio < whole < 1  # the shared fan operator is counted in both


def test_recursive_model_trained_with_r_max_2_runs_at_r_4():
    _, y, op = _problem("narrow", 16)
    model = build("r_unified_radar", seed=0, stages=1, recursions=2, **CFG)
    model.train()
    draws = set()
    for _ in range(6):
        draws.update(model.unrolled.draw_recursions())
    assert draws == {1, 2}
    model.eval()
    with torch.no_grad():
        two = model(y, op)
        model.set_recursions(4)
        four = model(y, op)
    assert model.unrolled.last_recursions == [4]
    assert torch.isfinite(four.abs()).all()
    assert float((four - two).abs().max()) > 1e-3 * float(two.abs().max())


def test_condition_is_the_true_ratio_and_snr():
    _, _, op = _problem("narrow", 16, acceleration=3.0)
    from discofold.models import AcquisitionMeta

    cond = radar_condition(op, AcquisitionMeta(snr_db=20.0), 2)
    ratio = op.mask.flatten(1).float().mean(1)
    torch.testing.assert_close(cond[:, 0], ratio)
    torch.testing.assert_close(cond[:, 1], torch.log(1 / ratio) / math.log(32))
    torch.testing.assert_close(cond[:, 2:], torch.tensor([[0.5, 1.0], [0.5, 1.0]]))


# ---------------------------------------------------------------- inconsistent inputs
@pytest.mark.parametrize("name", RADAR)
def test_inconsistent_inputs_are_named(name):
    model = build(name, seed=0, **get_spec(name).tiny).eval()
    _, y, op = _problem("narrow", 16)
    with pytest.raises(ShapeError, match=r"y must have shape \(B, 17, 16\) .*out_shape"):
        model(y[..., :-1], op)
    with pytest.raises(ShapeError, match=r"batch size 3 .* holds 2 masks"):
        model(torch.cat([y, y[:1]]), op)
    with pytest.raises(InputError, match=r"non-zero samples where op\.mask is False"):
        model(y + (~op.mask) * 0.1, op)
    with pytest.raises(InputError, match=r"meta\.acceleration \[8\.0, 8\.0\] disagrees with "
                                         r"op\.mask \(true acceleration \[2\.12"):
        model(y, op, {"acceleration": 8.0})
    with pytest.raises(InputError, match=r"meta\.pixel_size \[0\.1, 0\.1\] m disagrees"):
        model(y, op, {"pixel_size": 0.1})
    with pytest.raises(InputError, match=r"y \(the echo\) must be complex"):
        model(y.real, op)
    mri = CartesianMRI(torch.ones(17, 16, dtype=torch.bool), image_shape=(17, 16))
    with pytest.raises(InputError, match=r"needs a PolarRadar operator, got CartesianMRI"):
        model(y, mri)


def test_kappa_is_one_for_the_presets_and_grows_with_finer_pixels():
    _, _, op16 = _problem("narrow", 16, batch=1)
    op32 = PolarRadar(op16.angles_rad, op16.frequencies_hz, (32, 32), op16.extent_m)
    assert fan_oversampling(op16) == pytest.approx(1.0, abs=0.05)
    assert fan_oversampling(op32) == pytest.approx(_kappa(op32), rel=1e-9)
    assert 3.5 < fan_oversampling(op32) < 4.5  # 4x the pixels over the same window


def test_fan_theta_stride_is_checked():
    from discofold.errors import ConfigError

    with pytest.raises(ConfigError, match="theta_stride must be 1 or 2, got 3"):
        build("unified_radar", fan_theta_stride=3)
