"""discofold._finite.all_finite against torch.isfinite(x).all(), including sum overflow."""

import pytest
import torch

from discofold._finite import all_finite


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.complex64])
def test_all_finite_agrees_with_the_elementwise_check(dtype):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 5, generator=g).to(dtype)
    assert all_finite(x)
    big = torch.full((4, 3), torch.finfo(torch.float32).max / 2, dtype=torch.float32).to(dtype)
    assert all_finite(big)  # the sum overflows to inf, every entry is finite
    for bad in (float("nan"), float("inf"), -float("inf")):
        y = x.clone()
        y[3, 2] = bad
        assert not all_finite(y)
    y = x.clone()
    y[0, 0], y[1, 1] = float("inf"), -float("inf")  # the sum is NaN
    assert not all_finite(y)
    assert all_finite(torch.empty(0, dtype=dtype))
    assert all_finite(torch.arange(5))
