"""Adaptive depth at test time: the stopping rule stops at once on a fixed point, never exceeds
2 × r_max, stops per item with the stopped items frozen, reproduces the fixed depth when it
never stops early, and is reached through ``set_recursions("auto")`` on every recursive model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from discofold.errors import ConfigError
from discofold.models import build, get_spec, list_models
from discofold.models._adaptive import AdaptiveDepth, parse_recursions, run_stage
from discofold.models.unrolled import StageContext, Unrolled

from ._problems import make_problem

RECURSIVE = sorted(n for n in list_models() if get_spec(n).recursive)


def _problem(family: str):
    if family == "mri":
        return make_problem("mri", shape=(15, 13), coils=2)
    return make_problem(family)


class _Map(nn.Module):
    """An :class:`Unrolled` stage ``z -> factor · z`` (the identity for ``factor = 1``)."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, z, ctx, scale=None):
        return self.factor * z


def test_rule_stops_at_once_on_a_fixed_point():
    x = torch.randn(3, 5, 4)
    out, passes = run_stage(lambda z, t, j: z.clone(), x, 2, 4, AdaptiveDepth())
    assert torch.equal(out, x) and passes.tolist() == [1, 1, 1]


@pytest.mark.parametrize("r_max", [1, 3])
def test_rule_never_exceeds_twice_r_max(r_max):
    x = torch.randn(2, 6, dtype=torch.complex64)
    seen = []

    def step(z, total, current):
        seen.append((total, current))
        return 1.5 * z  # relative change 0.5 at every pass: never converges

    _, passes = run_stage(step, x, r_max, r_max, AdaptiveDepth(tol=1e-3))
    assert passes.tolist() == [2 * r_max] * 2
    # counters: the trained depth's for the first r_max passes, then the last one repeated
    assert seen == [(r_max, min(j, r_max)) for j in range(1, 2 * r_max + 1)]


def test_items_stop_separately_and_stopped_items_are_frozen():
    c = torch.tensor([0.0, 1.0, 4.0])[:, None]
    x = torch.ones(3, 8)

    def step(z, total, current):  # item b moves by c_b 2^-j: it stops when 2^-j c_b / |z| < tol
        return z + c * 0.5 ** current

    out, passes = run_stage(step, x, 3, 8, AdaptiveDepth(tol=1e-2))
    assert passes[0] == 1 and passes[1] < passes[2] <= 16
    for b in range(3):  # each item equals the same rule run on it alone
        alone, p = run_stage(lambda z, t, j, b=b: z + c[b:b + 1] * 0.5 ** j, x[b:b + 1], 3, 8,
                             AdaptiveDepth(tol=1e-2))
        assert torch.equal(out[b:b + 1], alone) and p.item() == passes[b]


def test_unrolled_identity_stage_stops_after_one_pass_and_doubling_at_the_cap():
    z = torch.randn(2, 3, 7, 5, dtype=torch.complex64)
    ctx = StageContext(op=None, aty=z)
    for factor, expected in ((1.0, 1), (2.0, 6)):
        net = Unrolled([_Map(factor), _Map(factor)], r_max=3).eval()
        net.set_recursions("auto")
        net(z, ctx)
        assert net.last_passes.tolist() == [[expected, expected]] * 2
        net.set_recursions(2)
        net(z, ctx)
        assert net.last_passes.tolist() == [[2, 2]] * 2  # fixed depth reported the same way


@pytest.mark.parametrize("name", RECURSIVE)
def test_every_recursive_model_takes_auto(name):
    pr = _problem(get_spec(name).family)
    torch.manual_seed(0)
    model = build(name, **get_spec(name).tiny).eval()
    with torch.no_grad():
        fixed = model(pr.y, pr.op, pr.meta)
        model.set_recursions(AdaptiveDepth(tol=1e-30, factor=1))  # never stops early
        same = model(pr.y, pr.op, pr.meta)
        r_max = _r_max(model)
        assert (model.last_passes == r_max).all()
        assert torch.allclose(same, fixed, rtol=1e-5, atol=1e-6)  # = the trained depth
        model.set_recursions("auto")
        model(pr.y, pr.op, pr.meta)
    passes = model.last_passes
    assert passes.shape == (pr.y.shape[0], _stages(model))
    assert int(passes.min()) >= 1 and int(passes.max()) <= 2 * r_max
    model.train()
    model(pr.y, pr.op, pr.meta)  # training draws its depths, the rule is not used
    assert (model.last_passes <= r_max).all()


def _r_max(model) -> int:
    return model.unrolled.r_max if hasattr(model, "unrolled") else model.schedule.r_max


def _stages(model) -> int:
    return len(model.unrolled.stages) if hasattr(model, "unrolled") else model.schedule.n_stages


@pytest.mark.parametrize("name", ["r_coast", "r_ista_net_plus"])
def test_blockcs_identity_stages_stop_after_one_pass(name, monkeypatch):
    pr = _problem("blockcs")
    model = build(name, **get_spec(name).tiny).eval()
    stages = model.stages if hasattr(model, "stages") else model.phases
    for stage in stages:
        ident = (lambda x, *a, **k: (x, None)) if name == "r_ista_net_plus" else (
            lambda x, *a, **k: x)
        monkeypatch.setattr(stage, "forward", ident)
    model.set_recursions("auto")
    with torch.no_grad():
        model(pr.y, pr.op, pr.meta)
    assert model.last_passes.tolist() == [[1] * len(stages)] * pr.y.shape[0]


def test_parse_recursions():
    assert parse_recursions(None) is None and parse_recursions("3") == 3
    assert parse_recursions("auto") == AdaptiveDepth()
    assert parse_recursions("AUTO:1e-4") == AdaptiveDepth(tol=1e-4)
    assert str(AdaptiveDepth()) == "auto" and str(AdaptiveDepth(1e-4)) == "auto:0.0001"
    for bad in ("0", "x", "auto:y", "auto:-1", "auto:nan"):
        with pytest.raises(ConfigError, match="recursions|adaptive"):
            parse_recursions(bad)
