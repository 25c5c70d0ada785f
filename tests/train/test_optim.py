"""Per-layer learning rates: every parameter once, DISCO weights at their ``lr_scale``."""

from __future__ import annotations

import math

import pytest
import torch

from discofold.layers import DiscoConv2d
from discofold.models import build, get_spec
from discofold.train import parameter_groups


def test_every_parameter_appears_once_and_disco_weights_are_scaled():
    model = build("unified", seed=0, **get_spec("unified").tiny)
    groups = parameter_groups(model, 1e-3)
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    discos = [m for m in model.modules() if isinstance(m, DiscoConv2d)]
    assert discos
    for m in discos:
        expected = 1e-3 * m.kernel_size / (math.pi * m.radius ** 2)
        assert lr_of[id(m.weight)] == pytest.approx(expected)
    plain = [p for n, p in model.named_parameters() if n.endswith("head.weight")]
    assert plain and all(lr_of[id(p)] == pytest.approx(1e-3) for p in plain)
    one = parameter_groups(model, 1e-3, scaled=False)
    assert len(one) == 1 and one[0]["lr"] == 1e-3


def test_scaled_adam_changes_a_disco_kernel_like_a_plain_convolution():
    """One Adam step changes the discrete kernel of a DISCO layer by the same relative amount as
    a plain 3×3 convolution's (the reason for the scaling); with one rate it is ~lr_scale
    times smaller."""
    torch.manual_seed(0)
    disco = DiscoConv2d(4, 4, (3, 8), 0.05, (2.0, 2.0), bias=False)
    x = torch.randn(2, 4, 64, 64)

    def kernel():
        psi = disco.psi((64, 64))
        return torch.einsum("ock,kab->ocab", disco.weight, psi)

    def relative_change(scaled: bool) -> float:
        w0 = disco.weight.detach().clone()
        k0 = kernel().detach()
        opt = torch.optim.Adam(parameter_groups(disco, 1e-3, scaled=scaled))
        disco(x).pow(2).mean().backward()
        opt.step()
        change = float((kernel().detach() - k0).norm() / k0.norm())
        with torch.no_grad():
            disco.weight.copy_(w0)
        disco.weight.grad = None
        return change

    conv = torch.nn.Conv2d(4, 4, 3, padding=1, bias=False)
    c0 = conv.weight.detach().clone()
    opt = torch.optim.Adam(conv.parameters(), 1e-3)
    conv(x).pow(2).mean().backward()
    opt.step()
    plain = float((conv.weight.detach() - c0).norm() / c0.norm())
    scaled, unscaled = relative_change(True), relative_change(False)
    assert 0.2 < scaled / plain < 5.0, (scaled, plain)
    assert unscaled < scaled / 100, (unscaled, scaled)
