"""``modulation = "counters" | "features" | "both" | "none"`` on every recursive model: each kind
builds, runs forward and backward with a gradient for every parameter, an untrained feature unit
leaves the model's output unchanged to 1e-2, and the scales follow the features of the pass."""

from __future__ import annotations

import pytest
import torch

from discofold.models import build, count_parameters, get_spec, list_models

from ._problems import make_problem

RECURSIVE = sorted(n for n in list_models() if get_spec(n).recursive)
KINDS = ("counters", "features", "both", "none")


def _problem(family: str):
    if family == "mri":
        return make_problem("mri", shape=(15, 13), coils=2)
    return make_problem(family)


def _model(name: str, kind: str):
    torch.manual_seed(0)
    return build(name, **get_spec(name).tiny, modulation=kind)


def _unit_owner(model):
    """The module holding the shared ``modulation`` attribute (the model or its Unrolled)."""
    return getattr(model, "unrolled", model)


def test_every_recursive_model_is_covered():
    assert {"r_unified", "r_unified_radar", "r_coast", "r_ista_net_plus"} <= set(RECURSIVE)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", RECURSIVE)
def test_forward_backward_every_parameter_gets_a_gradient(name, kind, capsys):
    pr = _problem(get_spec(name).family)
    model = _model(name, kind).train()
    out = model(pr.y, pr.op, pr.meta)
    assert out.shape[-2:] == pr.x.shape[-2:] and torch.isfinite(out).all()
    (out.abs() ** 2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"{name} ({kind}): no gradient for {missing}"
    unit = _unit_owner(model).modulation
    assert (unit is None) == (kind == "none")
    with capsys.disabled():
        n_unit = 0 if unit is None else count_parameters(unit)
        print(f"\n{name} modulation={kind}: {count_parameters(model):,} parameters "
              f"({n_unit:,} in the unit)")


@pytest.mark.parametrize("kind", ["features", "both"])
@pytest.mark.parametrize("name", RECURSIVE)
def test_untrained_feature_unit_leaves_the_model_unchanged(name, kind):
    pr = _problem(get_spec(name).family)
    model = _model(name, kind).eval()
    with torch.no_grad():
        with_unit = model(pr.y, pr.op, pr.meta)
        _unit_owner(model).modulation = None  # the same stages, unscaled
        without = model(pr.y, pr.op, pr.meta)
    rel = float((with_unit - without).norm() / without.norm())
    assert rel < 1e-2


@pytest.mark.parametrize("name", RECURSIVE)
def test_feature_scales_follow_the_pass_features(name):
    """Same counters, different inputs: the feature unit's scales differ, the counters' do not."""
    pr = _problem(get_spec(name).family)
    scales = {}
    for kind in ("counters", "features"):
        model = _model(name, kind).eval()
        seen: list[torch.Tensor] = []
        _unit_owner(model).modulation.register_forward_hook(
            lambda m, a, o, seen=seen: seen.append(o))
        with torch.no_grad():
            model(pr.y, pr.op, pr.meta)
            model(pr.op.A(pr.x.flip(-1)), pr.op, pr.meta)  # other images, same sampling
        half = len(seen) // 2
        scales[kind] = max(float((a - b).abs().max()) for a, b in zip(seen[:half], seen[half:]))
    assert scales["counters"] == 0.0
    assert scales["features"] > 1e-6
