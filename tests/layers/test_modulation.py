"""RecursionModulation: the MLP formula, dependence on the recursion index, gradients, and the
feature-conditioned kinds (their formula, dependence on the features, near-identity start)."""

from __future__ import annotations

import pytest
import torch

from discofold.errors import ConfigError, InputError, ShapeError
from discofold.layers.modulation import RecursionModulation, make_modulation, pool_features


def _reference(mod: RecursionModulation, v: torch.Tensor) -> torch.Tensor:
    """1 + W2 relu(W1 v + b1) + b2, written with explicit matrix products."""
    h = torch.clamp(v @ mod.fc1.weight.T + mod.fc1.bias, min=0.0)
    return 1.0 + h @ mod.fc2.weight.T + mod.fc2.bias


def test_features_layout():
    v = RecursionModulation.features(
        [4.0, 0.25], r_total=3, r_current=torch.tensor([1, 2, 3]), r_max=6
    )
    expected = torch.tensor(
        [[4.0, 0.25, 0.5, 1 / 6], [4.0, 0.25, 0.5, 2 / 6], [4.0, 0.25, 0.5, 0.5]]
    )
    assert torch.allclose(v, expected)
    v0 = RecursionModulation.features([], 2, 1, 4)
    assert torch.allclose(v0, torch.tensor([[0.5, 0.25]]))


def test_formula_init_and_index_dependence():
    torch.manual_seed(0)
    mod = RecursionModulation(n_condition=1, channels=5, hidden=7)
    with torch.no_grad():  # random second layer so that the test is not about the init
        mod.fc2.weight.normal_()
    cond = torch.tensor([[4.0], [8.0]])
    outs = [mod(RecursionModulation.features(cond, 4, r, 4)) for r in (1, 2, 3, 4)]
    for r, out in zip((1, 2, 3, 4), outs):
        v = RecursionModulation.features(cond, 4, r, 4)
        assert torch.allclose(out, _reference(mod, v), atol=1e-6)
        assert out.shape == (2, 5)
    diffs = [float((outs[i + 1] - outs[i]).abs().max().detach()) for i in range(3)]
    assert min(diffs) > 1e-4  # every recursion index gives different scales
    fresh = RecursionModulation(3, 16)
    s = fresh(RecursionModulation.features([0.1, 0.2, 0.3], 5, 2, 8))
    assert float((s - 1).abs().max()) < 0.1  # starts near 1
    s1 = fresh(RecursionModulation.features([0.1, 0.2, 0.3], 5, 3, 8))
    assert not torch.equal(s, s1)  # already index dependent at init


def test_gradcheck():
    torch.manual_seed(1)
    mod = RecursionModulation(2, 3, hidden=6).double()
    v = torch.randn(4, 4, dtype=torch.float64, requires_grad=True)
    params = tuple(mod.parameters())
    assert torch.autograd.gradcheck(lambda x, *p: mod(x), (v, *params))


def test_errors():
    mod = RecursionModulation(2, 3)
    with pytest.raises(ShapeError, match=r"\(B, 4\)"):
        mod(torch.zeros(2, 3))
    with pytest.raises(InputError, match="NaN"):
        mod(torch.tensor([float("inf"), 0.0, 0.0, 0.0]))
    with pytest.raises(InputError, match="r_max"):
        RecursionModulation.features([1.0], 1, 1, 0)
    with pytest.raises(ShapeError, match="do not match"):
        RecursionModulation.features(torch.zeros(3, 1), torch.tensor([1, 2]), 1, 4)


# ---------------------------------------------------------------- feature-conditioned kinds
def _unit(kind: str, seed: int = 0) -> RecursionModulation:
    torch.manual_seed(seed)
    return RecursionModulation(n_condition=1, channels=6, hidden=8, kind=kind)


def test_pool_features_is_a_bounded_channel_mean():
    f = torch.randn(3, 5, 7, 4, dtype=torch.float64)
    m = f.mean(dim=(2, 3))
    assert torch.allclose(pool_features(f), m / (1 + m.abs()))
    z = torch.randn(2, 5, 6, 6, dtype=torch.complex128)
    phase = torch.exp(1j * torch.tensor(0.7, dtype=torch.float64))
    assert torch.allclose(pool_features(z * phase), pool_features(z))  # global phase invariant
    assert float(pool_features(1e6 * f).abs().max()) < 1.0


@pytest.mark.parametrize("kind", ["features", "both"])
def test_feature_kinds_follow_their_formula(kind):
    mod = _unit(kind)
    with torch.no_grad():  # random last layers so that the test is not about the init
        for p in mod.parameters():
            p.normal_()
    v = RecursionModulation.features([0.3], 3, 2, 4)
    f = torch.randn(4, 6, 5, 3)
    u = torch.cat([pool_features(f), v.expand(4, -1)], dim=1)
    if kind == "features":
        expected = _reference(mod, u)
    else:
        h = torch.clamp(u @ mod.feat1.weight.T + mod.feat1.bias, min=0.0)
        expected = _reference(mod, v.expand(4, -1)) * (1 + h @ mod.feat2.weight.T + mod.feat2.bias)
    assert torch.allclose(mod(v, f), expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["features", "both"])
def test_feature_unit_depends_on_the_features_not_only_on_the_counters(kind):
    mod = _unit(kind)
    v = RecursionModulation.features([0.3], 3, 2, 4)
    f1 = torch.randn(2, 6, 9, 9, generator=torch.Generator().manual_seed(1))
    f2 = f1 + torch.linspace(-1, 1, 6)[None, :, None, None]  # other channel means
    s1, s2 = mod(v, f1), mod(v, f2)
    assert float((s1 - s2).abs().max()) > 1e-5  # untrained already
    assert torch.allclose(mod(v, f1[:1]), s1[:1])  # per item: its own features only
    counters = _unit("counters")
    assert torch.equal(counters(v, f1), counters(v, f2))  # the counters unit never sees them


@pytest.mark.parametrize("kind", ["counters", "features", "both"])
def test_untrained_units_start_near_one(kind):
    mod = _unit(kind)
    v = RecursionModulation.features([0.3], 3, 2, 4)
    s = mod.bind(v)
    s = s(torch.randn(2, 6, 8, 8)) if callable(s) else s
    assert float((s - 1).abs().max()) < 0.1


def test_bind_and_parameter_counts():
    c, f, b = _unit("counters"), _unit("features"), _unit("both")
    v = RecursionModulation.features([0.3], 3, 2, 4)
    assert isinstance(c.bind(v), torch.Tensor) and callable(f.bind(v))
    count = [sum(p.numel() for p in m.parameters()) for m in (c, f, b)]
    counters = (3 * 8 + 8) + (8 * 6 + 6)
    assert count == [counters, counters + 6 * 8, counters + (9 * 8 + 8) + (8 * 6 + 6)]
    assert set(c.state_dict()) <= set(b.state_dict())  # "both" keeps the counters' names
    assert make_modulation("none", 1, 6) is None


def test_feature_kind_errors():
    mod = _unit("features")
    v = RecursionModulation.features([0.3], 3, 2, 4)
    with pytest.raises(InputError, match="needs the features"):
        mod(v)
    with pytest.raises(ShapeError, match=r"\(N, 6"):
        mod(v, torch.zeros(2, 5, 3, 3))
    with pytest.raises(ShapeError, match="multiple"):
        mod(v.expand(2, -1), torch.zeros(3, 6, 3, 3))
    with pytest.raises(ConfigError, match="counters, features, both, none"):
        RecursionModulation(1, 6, kind="feature")
