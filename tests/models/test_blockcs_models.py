"""Block-CS unfolding models: ISTA-Net+, COAST and their recursive versions.

References are written here: the block operator as explicit loops over tiles, the ISTA-Net+
proximal map with ``F.conv2d``, and Landweber iterations for models whose residual branch is
switched off.
"""

from __future__ import annotations

import math
import types

import pytest
import torch
import torch.nn.functional as F

from discofold.errors import ConfigError, InputError, ShapeError
from discofold.models import build, count_parameters, get_spec, parameter_count
from discofold.models._blockcs_common import random_projection
from discofold.models.coast import COAST, RCOAST, CoastStage
from discofold.models.ista_net import IstaNetPlus, IstaPhase, RIstaNetPlus
from discofold.operators import BlockCS, gaussian_block_matrix

NAMES = ["ista_net_plus", "r_ista_net_plus", "coast", "r_coast"]
B = 33


def _op(ratio: float, seed: int, dtype=torch.float32) -> BlockCS:
    return BlockCS(gaussian_block_matrix(ratio, B, generator=seed, dtype=dtype), block=B)


def _image(batch=2, h=2 * B, w=3 * B, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, h, w, generator=g, dtype=torch.float64).to(dtype)


def _ref_A(x, phi):
    """Tile-by-tile loop: ``y[..., i, j, :] = Φ vec(tile_ij)``."""
    nh, nw = x.shape[-2] // B, x.shape[-1] // B
    y = x.new_zeros(*x.shape[:-2], nh, nw, phi.shape[0])
    for i in range(nh):
        for j in range(nw):
            tile = x[..., i * B:(i + 1) * B, j * B:(j + 1) * B].reshape(*x.shape[:-2], B * B)
            y[..., i, j, :] = tile @ phi.T
    return y


def _ref_At(y, phi):
    nh, nw = y.shape[-3:-1]
    x = y.new_zeros(*y.shape[:-3], nh * B, nw * B)
    for i in range(nh):
        for j in range(nw):
            x[..., i * B:(i + 1) * B, j * B:(j + 1) * B] = (y[..., i, j, :] @ phi).reshape(
                *y.shape[:-3], B, B)
    return x


def _landweber(y, phi, steps):
    x = _ref_At(y, phi)
    for rho in steps:
        x = x - rho * _ref_At(_ref_A(x, phi) - y, phi)
    return x


# ------------------------------------------------------------------ parameter counts
def test_paper_parameter_counts_exact():
    assert parameter_count("ista_net_plus", **get_spec("ista_net_plus").paper) == 336_978
    assert parameter_count("coast", **get_spec("coast").paper) == 1_122_024
    assert parameter_count("r_coast", **get_spec("r_coast").paper) == 281_674
    # breakdown: ISTA-Net+ phase, COAST stage, scale control, recursion modulation
    assert count_parameters(IstaPhase(32)) == 288 + 4 * 9216 + 288 + 2 == 37_442
    assert count_parameters(CoastStage(32, 3)) == 1 + 320 + 3 * 2 * 9248 + 289 == 56_098
    assert count_parameters(COAST(stages=1).scale_control) == 64
    assert count_parameters(RCOAST(stages=1).modulation) == 128 + 1056 == 1_184
    assert 9 * 37_442 == 336_978 and 20 * 56_098 + 64 == 1_122_024
    assert 5 * 56_098 + 1_184 == 281_674


@pytest.mark.parametrize("rec, full, depth", [("r_ista_net_plus", "ista_net_plus", 9),
                                               ("r_coast", "coast", 20)])
def test_recursive_parameters_at_most_35_percent(rec, full, depth):
    paper = get_spec(rec).paper
    assert paper["stages"] * paper["r_max"] == depth
    n_rec = parameter_count(rec, **paper)
    n_full = parameter_count(full, **get_spec(full).paper)
    assert n_rec <= 0.35 * n_full, (n_rec, n_full)


# ------------------------------------------------------------------ sweep on tiny configs
@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_every_parameter_gets_gradient(name):
    model = build(name, seed=0, **get_spec(name).tiny).train()
    op = _op(0.25, 1)
    y = op.A(_image())
    x = model(y, op, {"ratio": 0.25})
    assert x.shape == (2, 2 * B, 3 * B) and x.dtype == torch.float32
    x.square().mean().backward()
    missing = [n for n, p in model.named_parameters()
               if p.grad is None or not bool(torch.isfinite(p.grad).all())
               or float(p.grad.abs().max()) == 0.0]
    assert not missing, missing


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_under_seed(name):
    op = _op(0.1, 2)
    y = op.A(_image(seed=3))
    outs = []
    for _ in range(2):
        model = build(name, seed=7, **get_spec(name).tiny).train()
        outs.append(model(y, op, None))
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_same_weights_two_ratios(name):
    """One set of weights at two ratios (two Φ): with the residual branches off, every model is
    Landweber iteration at either ratio; with them on, the outputs still differ from it."""
    model = build(name, seed=0, **get_spec(name).tiny).eval()
    x_true = _image(batch=1, seed=5)
    for ratio, seed, meta in [(0.1, 3, {"ratio": 0.1}),
                              (0.4, 4, types.SimpleNamespace(acceleration=2.5))]:
        op = _op(ratio, seed)
        y = op.A(x_true)
        out = model(y, op, meta)
        assert out.shape == x_true.shape and bool(torch.isfinite(out).all())
    # switch the residual branches off: ISTA-Net+ via conv_G, COAST via tail_conv
    with torch.no_grad():
        for m in model.modules():
            for key in ("conv_G", "tail_conv"):
                if hasattr(m, key):
                    getattr(m, key).weight.zero_()
                    if getattr(m, key).bias is not None:
                        getattr(m, key).bias.zero_()
    for ratio, seed in [(0.1, 3), (0.4, 4)]:
        op = _op(ratio, seed, torch.float64)
        y = op.A(x_true.double())
        steps = [s.lambda_step.item() for s in _steps(model)]
        ref = _landweber(y, op.phi, steps)
        torch.testing.assert_close(model.double()(y, op, {"ratio": ratio}), ref,
                                   rtol=1e-10, atol=1e-10)
        model.float()


def _steps(model):
    """The stage modules in the order they run (eval recursions included)."""
    stages = list(model.phases if hasattr(model, "phases") else model.stages)
    if hasattr(model, "schedule"):
        counts = model.schedule.fixed or [model.schedule.r_max] * len(stages)
        return [s for s, r in zip(stages, counts) for _ in range(r)]
    return stages


# ------------------------------------------------------------------ ISTA-Net+ mathematics
def test_ista_phase_is_gradient_step_when_residual_is_off():
    torch.manual_seed(0)
    model = IstaNetPlus(phases=2, channels=4).double()
    with torch.no_grad():
        for phase in model.phases:
            phase.conv_G.weight.zero_()
        model.phases[0].step.raw.fill_(math.log(math.expm1(0.7)))
        model.phases[1].step.raw.fill_(math.log(math.expm1(1.3)))
    op = _op(0.25, 9, torch.float64)
    y = op.A(_image(batch=3, h=3 * B, w=B, dtype=torch.float64))
    x0 = _ref_At(y, op.phi)
    x1 = x0 - 0.7 * _ref_At(_ref_A(x0, op.phi) - y, op.phi)
    x2 = x1 - 1.3 * _ref_At(_ref_A(x1, op.phi) - y, op.phi)
    out, aux = model(y, op, {"ratio": 0.25}, return_aux=True)
    torch.testing.assert_close(aux["iterates"][0], x1, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out, x2, rtol=1e-12, atol=1e-12)


def _ref_phase(phase, x, y, phi):
    """ISTA-Net+ phase written out with F.conv2d and an explicit soft threshold."""
    conv = lambda t, w: F.conv2d(t, w.weight, padding=1)  # noqa: E731
    r = x - phase.lambda_step * _ref_At(_ref_A(x, phi) - y, phi)
    d = conv(r[:, None], phase.conv_D)
    f = conv(F.relu(conv(d, phase.conv1_forward)), phase.conv2_forward)
    theta = phase.soft_thr
    z = torch.where(f > theta, f - theta, torch.where(f < -theta, f + theta, torch.zeros_like(f)))
    back = lambda t: conv(F.relu(conv(t, phase.conv1_backward)), phase.conv2_backward)  # noqa
    out = r + conv(back(z), phase.conv_G)[:, 0]
    return out, back(f) - d


def test_ista_phase_against_reference_and_symmetry_constraint():
    torch.manual_seed(1)
    model = IstaNetPlus(phases=1, channels=3).double()
    with torch.no_grad():
        model.phases[0].soft_thr.fill_(0.05)
    op = _op(0.3, 4, torch.float64)
    y = op.A(_image(batch=2, h=B, w=2 * B, dtype=torch.float64))
    out, aux = model(y, op, None, return_aux=True)
    ref, sym = _ref_phase(model.phases[0], _ref_At(y, op.phi), y, op.phi)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(aux["symmetry"][0], sym, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(aux["constraint"], sym.pow(2).mean())


@pytest.mark.parametrize("cls", [IstaNetPlus, COAST])
def test_blockwise_equals_tile_by_tile(cls):
    """With ``blockwise`` the whole network is separable over tiles (Φ is block-diagonal)."""
    torch.manual_seed(2)
    model = cls(2, 4, blockwise=True).eval()
    op = _op(0.1, 6)
    y = op.A(_image(batch=1, h=2 * B, w=2 * B, seed=8))
    out = model(y, op, None)
    model.blockwise = False
    for i in range(2):
        for j in range(2):
            tile = model(y[:, i:i + 1, j:j + 1], op, None)
            torch.testing.assert_close(out[:, i * B:(i + 1) * B, j * B:(j + 1) * B], tile,
                                       rtol=1e-5, atol=1e-5)


def test_unbatched_measurements():
    model = build("coast", seed=0, **get_spec("coast").tiny).eval()
    op = _op(0.25, 1)
    y = op.A(_image(batch=1))
    torch.testing.assert_close(model(y[0], op, None), model(y, op, None)[0])


# ------------------------------------------------------------------ recursion
@pytest.mark.parametrize("cls", [RIstaNetPlus, RCOAST])
def test_recursion_schedule_and_r_above_r_max(cls):
    torch.manual_seed(3)
    model = cls(stages=2, r_max=2, channels=4, hidden=4)
    op = _op(0.25, 2)
    y = op.A(_image(batch=1, h=B, w=B))
    model.train()
    drawn = set()
    for _ in range(8):
        model(y, op, None)
        assert len(model.last_recursions) == 2
        drawn.update(model.last_recursions)
    assert drawn == {1, 2}
    model.eval()
    _, aux = model(y, op, None, return_aux=True)
    assert model.last_recursions == [2, 2] and len(aux["iterates"]) == 4
    model.set_recursions(4)
    out, aux = model(y, op, None, return_aux=True)
    assert model.last_recursions == [4, 4] and len(aux["iterates"]) == 8
    assert bool(torch.isfinite(out).all())
    model.set_recursions([1, 3])
    _, aux = model(y, op, None, return_aux=True)
    assert len(aux["iterates"]) == 4
    # with the residual off, R = 4 is 4 Landweber steps per stage with that stage's step
    model.set_recursions(4)
    with torch.no_grad():
        for m in model.modules():
            for key in ("conv_G", "tail_conv"):
                if hasattr(m, key):
                    getattr(m, key).weight.zero_()
                    if getattr(m, key).bias is not None:
                        getattr(m, key).bias.zero_()
    model.double()
    op64 = _op(0.25, 2, torch.float64)
    y64 = op64.A(_image(batch=1, h=B, w=2 * B, dtype=torch.float64))
    ref = _landweber(y64, op64.phi, [s.lambda_step.item() for s in _steps(model)])
    torch.testing.assert_close(model(y64, op64, None), ref, rtol=1e-10, atol=1e-10)
    with pytest.raises(ConfigError, match="recursions"):
        model.set_recursions([1, 2, 3])


def test_recursion_modulation_sees_position():
    """R-COAST: the CPMB scales differ between passes, so two passes of one stage differ from
    applying the stage twice with one fixed scale."""
    torch.manual_seed(4)
    model = RCOAST(stages=1, r_max=2, channels=4, blocks=1, hidden=4).eval().double()
    with torch.no_grad():
        model.modulation.fc2.weight.normal_(0, 1.0)
    op = _op(0.25, 2, torch.float64)
    y = op.A(_image(batch=1, h=B, w=B, dtype=torch.float64))
    v1 = model.modulation.features([op.ratio], 2, 1, 2).double()  # meta None: op.ratio
    v2 = model.modulation.features([op.ratio], 2, 2, 2).double()
    stage = model.stages[0]
    x = op.A_adjoint(y)
    x1 = stage(x, y, op, model.modulation(v1))
    x2 = stage(x1, y, op, model.modulation(v2))
    x2_same = stage(x1, y, op, model.modulation(v1))
    torch.testing.assert_close(model(y, op, None), x2, rtol=1e-10, atol=1e-10)
    assert (x2 - x2_same).abs().max().item() > 1e-6


# ------------------------------------------------------------------ inputs and helpers
def test_inconsistent_inputs_raise():
    model = build("ista_net_plus", seed=0, **get_spec("ista_net_plus").tiny)
    op = _op(0.25, 1)
    y = op.A(_image(batch=1))
    with pytest.raises(ShapeError, match="M=272"):
        model(y[..., :100], op, None)
    with pytest.raises(InputError, match="ratio of 0.1 but the operator samples 272/1089"):
        model(y, op, {"ratio": 0.1})
    with pytest.raises(InputError, match="BlockCS"):
        model(y, object(), None)
    with pytest.raises(InputError, match="real floating-point"):
        model(y.to(torch.complex64), op, None)


def test_random_projection_is_seeded():
    ops = [random_projection([0.1, 0.3], generator=torch.Generator().manual_seed(5))
           for _ in range(2)]
    assert ops[0].phi.shape[0] in (109, 327)
    torch.testing.assert_close(ops[0].phi, ops[1].phi, rtol=0, atol=0)
    eye = ops[0].phi @ ops[0].phi.T
    torch.testing.assert_close(eye, torch.eye(eye.shape[0]), rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["ista_net_plus", "coast"])
def test_gradient_steps_stay_positive_and_old_checkpoints_load(name):
    """ρ = softplus(raw) > 0 under any update; a state dict with the former unconstrained
    ``lambda_step`` loads with the same ρ (clamped at 1e-4 where it had gone negative)."""
    from discofold.train.checkpoint import load_state_strict

    model = build(name, seed=0, **get_spec(name).tiny)
    stages = _steps(model)
    with torch.no_grad():
        stages[0].step.raw.sub_(100.0)
    assert 0.0 < stages[0].lambda_step.item() < 1e-6
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("step.raw")}
    prefixes = [k[: -len("step.raw")] for k in model.state_dict() if k.endswith("step.raw")]
    for i, p in enumerate(prefixes):
        state[p + "lambda_step"] = torch.tensor([0.37 if i else -0.05])
    load_state_strict(model, state)
    values = [s.lambda_step.item() for s in _steps(model)]
    assert values[0] == pytest.approx(1e-4, rel=1e-3)
    assert all(v == pytest.approx(0.37, rel=1e-5) for v in values[1:])
