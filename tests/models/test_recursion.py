"""Recursive unrolling: parameter savings, recursion draws, running past the trained depth, and
the recursion loop being exactly a repeated application of shared weights."""

from __future__ import annotations

import pytest
import torch

from discofold.models import build, count_parameters, get_spec, parameter_count
from discofold.models.unrolled import Unrolled

from ._problems import mri_problem

# (recursive model, config) vs (per-stage model, config) at the same test-time depth
PAIRS = [
    (("r_unified", {}), ("unified", {})),  # 2 stages x 3 recursions vs 6 cascades
    (("varnet", dict(num_cascades=2, recursions=3)), ("varnet", dict(num_cascades=6))),
]


def _stage_parameters(model) -> int:
    """Parameters of the unrolled stages (shared modulation included)."""
    return count_parameters(model.unrolled)


@pytest.mark.parametrize("recursive,plain", PAIRS, ids=["r_unified", "r_varnet"])
def test_recursive_stages_have_at_most_35_percent_of_the_parameters(recursive, plain, capsys):
    with torch.device("meta"):
        r_model, p_model = build(recursive[0], **recursive[1]), build(plain[0], **plain[1])
    depth_r = len(r_model.unrolled.stages) * r_model.unrolled.r_max
    assert depth_r == len(p_model.unrolled.stages)
    ratio = _stage_parameters(r_model) / _stage_parameters(p_model)
    whole = count_parameters(r_model) / count_parameters(p_model)
    with capsys.disabled():
        print(f"\n{recursive[0]} {recursive[1]}: stages {_stage_parameters(r_model):,} vs "
              f"{_stage_parameters(p_model):,} ({ratio:.1%}); whole model "
              f"{count_parameters(r_model):,} vs {count_parameters(p_model):,} ({whole:.1%})")
    assert ratio <= 0.35
    assert whole < 1.0


def test_parameter_count_matches_built_model():
    for name in ("r_unified", "varnet"):
        cfg = get_spec(name).tiny
        assert parameter_count(name, **cfg) == count_parameters(build(name, **cfg))


def test_training_draws_recursions_uniformly_with_its_own_generator():
    model = build("r_unified", seed=0, **get_spec("r_unified").tiny, ).train()
    unrolled: Unrolled = model.unrolled
    unrolled.r_max = 4
    unrolled.set_generator(torch.Generator().manual_seed(5))
    before = torch.random.get_rng_state()
    draws = torch.tensor([unrolled.draw_recursions() for _ in range(800)]).flatten()
    assert torch.equal(torch.random.get_rng_state(), before)  # global RNG untouched
    counts = torch.bincount(draws, minlength=5)[1:].float()
    assert int(draws.min()) == 1 and int(draws.max()) == 4
    # chi-square against U{1..4} (3 dof, 0.1 % critical value 16.3)
    chi2 = float(((counts - 200.0) ** 2 / 200.0).sum())
    assert chi2 < 16.3
    unrolled.set_generator(torch.Generator().manual_seed(5))
    again = torch.tensor([unrolled.draw_recursions() for _ in range(800)]).flatten()
    assert torch.equal(draws, again)
    unrolled.eval()
    assert unrolled.draw_recursions() == [4] * len(unrolled.stages)


def test_trained_with_rmax_2_runs_at_r_4():
    pr = mri_problem(shape=(15, 13), coils=2)
    cfg = dict(get_spec("r_unified").tiny, stages=2, recursions=2)
    model = build("r_unified", seed=0, **cfg).eval()
    calls, features = [], []
    for stage in model.unrolled.stages:
        stage.register_forward_hook(lambda m, a, o: calls.append(1))
    model.unrolled.modulation.register_forward_hook(lambda m, a, o: features.append(a[0]))
    with torch.no_grad():
        at2 = model(pr.y, pr.op, pr.meta)
        assert len(calls) == 2 * 2
        calls.clear()
        features.clear()
        model.set_recursions(4)
        at4 = model(pr.y, pr.op, pr.meta)
    assert len(calls) == 2 * 4 and model.unrolled.last_recursions == [4, 4]
    # [cond x 3, R_total / R_max, R_current / R_max]: R_total / R_max = 2, R_current / R_max
    # runs 0.5, 1, 1.5, 2 (beyond the trained range, as asked)
    assert [float(f[0, 3]) for f in features] == [2.0] * 8
    assert [float(f[0, 4]) for f in features] == [0.5, 1.0, 1.5, 2.0] * 2
    assert torch.isfinite(torch.view_as_real(at4)).all()
    assert not torch.allclose(at2, at4)


def test_recursion_is_the_repeated_stage_with_shared_weights():
    """With the modulation switched to identity scales, a 1-stage x 2-recursion model equals a
    2-cascade per-stage model whose cascades both hold the recursive stage's weights."""
    pr = mri_problem(shape=(15, 13), coils=2, pattern="poisson_2d", acceleration=2.5)
    tiny = {k: v for k, v in get_spec("r_unified").tiny.items() if k not in ("stages",
                                                                              "recursions")}
    rec = build("r_unified", seed=0, stages=1, recursions=2, **tiny).eval()
    per = build("unified", seed=1, cascades=2, **tiny).eval()
    per.kspace.load_state_dict(rec.kspace.state_dict())
    per.sens.load_state_dict(rec.sens.state_dict())
    for stage in per.unrolled.stages:
        stage.load_state_dict(rec.unrolled.stages[0].state_dict())
    for model in (rec, per):
        torch.nn.init.zeros_(model.unrolled.modulation.fc2.weight)  # scales = 1 exactly
    with torch.no_grad():
        a, b = rec(pr.y, pr.op, pr.meta), per(pr.y, pr.op, pr.meta)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6 * float(a.abs().max()))
    with torch.no_grad():
        rec.set_recursions(1)
        c = rec(pr.y, pr.op, pr.meta)
    assert float((a - c).abs().max()) > 1e-3 * float(a.abs().max())
