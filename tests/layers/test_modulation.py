"""RecursionModulation: the MLP formula, dependence on the recursion index, gradients."""

from __future__ import annotations

import pytest
import torch

from discofold.errors import InputError, ShapeError
from discofold.layers.modulation import RecursionModulation


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
