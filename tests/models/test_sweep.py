"""The sweep every registered model passes (timm-style), on tiny configurations on CPU.

For each model of :func:`discofold.models.list_models`, built with its registered ``tiny``
config on a tiny problem of its family (:mod:`tests.models._problems`):

- forward and backward; EVERY parameter receives a finite, non-zero gradient;
- the backward pass is the derivative: a central finite difference in float64 along the
  gradient matches ``‖∇L‖²``;
- deterministic under a fixed seed (weights, recursion draws and outputs);
- a batch with a different mask per sample equals the samples run one at a time;
- (MRI) inputs inconsistent with ``op`` or ``meta`` raise an error naming the inconsistency.
"""

from __future__ import annotations

import functools

import pytest
import torch

from discofold.errors import ConfigError, InputError, ShapeError
from discofold.models import AcquisitionMeta, build, get_spec, list_models

from ._problems import make_problem

MODELS = list_models()
MRI_MODELS = list_models("mri")


@functools.cache
def _problem(family: str):
    if family == "mri":
        return make_problem("mri", shape=(15, 13), coils=2)
    return make_problem(family)


def _tiny(name: str, seed: int = 0):
    return build(name, seed=seed, **get_spec(name).tiny)


def _double(model):
    """float64 / complex128 copy of every parameter (``Module.double`` skips complex ones)."""
    model.double()
    for p in model.parameters():
        if p.is_complex():
            p.data = p.data.to(torch.complex128)
    return model


def _loss(out, x):
    return (out - x.to(out.dtype)).abs().pow(2).mean()


@pytest.mark.parametrize("name", MODELS)
def test_forward_backward_every_parameter_gets_a_gradient(name):
    pr = _problem(get_spec(name).family)
    model = _tiny(name).train()
    out = model(pr.y, pr.op, pr.meta)
    assert out.shape == pr.x.shape and out.is_complex() == pr.x.is_complex()
    assert torch.isfinite(torch.view_as_real(out) if out.is_complex() else out).all()
    _loss(out, pr.x).backward()
    bad = [n for n, p in model.named_parameters()
           if p.grad is None or not torch.isfinite(p.grad).all() or float(p.grad.abs().max()) == 0]
    assert not bad, f"{name}: parameters without a (finite, non-zero) gradient: {bad}"


@pytest.mark.parametrize("name", MRI_MODELS)
def test_gradient_matches_finite_difference(name):
    pr = _problem("mri")
    model = _double(_tiny(name)).eval()
    y = pr.y.to(torch.complex128)
    op = type(pr.op)(pr.op.mask, coil_maps=pr.op.coil_maps.to(torch.complex128),
                     image_shape=pr.op.image_shape)
    params = [p for p in model.parameters()]
    loss = _loss(model(y, op, pr.meta), pr.x.to(torch.complex128))
    grads = torch.autograd.grad(loss, params)
    gnorm2 = sum(float((g.abs() ** 2).sum()) for g in grads)
    eps = 1e-6 / gnorm2**0.5
    with torch.no_grad():
        values = []
        for sign in (1.0, -1.0):
            for p, g in zip(params, grads):
                p.add_(sign * eps * g)
            values.append(float(_loss(model(y, op, pr.meta), pr.x.to(torch.complex128))))
            for p, g in zip(params, grads):
                p.sub_(sign * eps * g)
    fd = (values[0] - values[1]) / (2 * eps)
    assert fd == pytest.approx(gnorm2, rel=1e-4)


@pytest.mark.parametrize("name", MODELS)
def test_deterministic_under_a_fixed_seed(name):
    pr = _problem(get_spec(name).family)
    outs = []
    for _ in range(2):
        model = _tiny(name, seed=3).train()
        outs.append(model(pr.y, pr.op, pr.meta).detach())
    assert torch.equal(outs[0], outs[1])
    other = _tiny(name, seed=4).train()(pr.y, pr.op, pr.meta).detach()
    assert not torch.equal(outs[0], other)


@pytest.mark.parametrize("name", MODELS)
def test_batch_with_a_mask_per_sample_equals_one_at_a_time(name):
    pr = _problem(get_spec(name).family)
    model = _tiny(name).eval()
    with torch.no_grad():
        batch = model(pr.y, pr.op, pr.meta)
        for i in range(batch.shape[0]):
            alone = model(*pr.single(i))
            scale = float(alone.abs().max())
            torch.testing.assert_close(batch[i:i + 1], alone, rtol=0, atol=2e-5 * scale)


# ---------------------------------------------------------------- inconsistent inputs (MRI)
@pytest.mark.parametrize("name", MRI_MODELS)
def test_y_not_matching_the_operator_is_named(name):
    pr = _problem("mri")
    model = _tiny(name).eval()
    with pytest.raises(ShapeError, match=r"y must have shape .*out_shape"):
        model(pr.y[..., :-1], pr.op, pr.meta)


@pytest.mark.parametrize("name", MRI_MODELS)
def test_meta_acceleration_inconsistent_with_the_mask_is_named(name):
    pr = _problem("mri")
    model = _tiny(name).eval()
    wrong = AcquisitionMeta(pattern="equispaced", acceleration=8.0)
    expected = r"meta\.acceleration \[8\.0, 8\.0\] .*true acceleration \[2\.6, 2\.6\]"
    with pytest.raises(InputError, match=expected):
        model(pr.y, pr.op, wrong)


@pytest.mark.parametrize("name", ["varnet", "unified", "r_unified"])
def test_calibration_box_not_sampled_is_named(name):
    pr = _problem("mri")
    model = _tiny(name).eval()
    wrong = {"pattern": "equispaced", "calibration": (slice(0, 13),)}  # every column
    with pytest.raises(InputError, match=r"meta\.calibration .* not fully sampled by op\.mask"):
        model(pr.y, pr.op, wrong)


@pytest.mark.parametrize("name", MRI_MODELS)
def test_wrong_operator_family_and_meta_keys_are_named(name):
    pr = _problem("mri")
    bcs = make_problem("blockcs")
    model = _tiny(name).eval()
    with pytest.raises(InputError, match=r"needs an MRI operator .* got BlockCS"):
        model(bcs.y, bcs.op, None)
    with pytest.raises(InputError, match=r"meta has unknown keys \['accel'\]"):
        model(pr.y, pr.op, {"accel": 4})


def test_registry_errors_name_the_problem():
    with pytest.raises(ConfigError, match=r"unknown model 'varnett' \(did you mean 'varnet'\?\)"):
        build("varnett")
    with pytest.raises(ConfigError, match=r"unknown config keys \['chanz'\]"):
        build("varnet", chanz=3)
