"""``unified`` with ``state="sense"``: one image per item, MoDL data consistency through the
SENSE operator built with the model's own coil maps.

References are dense: the SENSE operator is checked sample for sample against the operator
that made the data, and one proximal cascade against a dense solve of
``(AᴴA + μ I) x = Aᴴy + μ z`` built column by column from the operator.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from discofold.errors import ConfigError
from discofold.metrics import psnr
from discofold.models import build, get_spec
from discofold.models._blocks import reduce_coils
from discofold.models._ops import coil_operator, dc_operator, initial_adjoint
from discofold.models.unified import sense_operator

from ._problems import mri_problem, noncartesian_problem

_TINY_SENSE = dict(get_spec("unified").tiny, state="sense", dc="prox", kspace="none",
                   sens_chans=0)


def _maps(op, batch):
    return op.coil_maps.expand(batch, *op.coil_maps.shape[-3:])


@pytest.mark.parametrize("problem", [mri_problem, noncartesian_problem])
def test_sense_operator_with_the_true_maps_is_the_acquisition(problem):
    pr = problem()
    sop = sense_operator(pr.op, _maps(pr.op, pr.x.shape[0]))
    torch.testing.assert_close(sop.A(pr.x), pr.y, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sop.A_adjoint(pr.y), pr.op.A_adjoint(pr.y), rtol=1e-5,
                               atol=1e-6)


class _Zero(nn.Module):
    def forward(self, z, ctx, scale=None):
        return torch.zeros_like(z)


def _dense_normal(op, shape, batch) -> torch.Tensor:
    """``AᴴA`` of each item as an ``(B, N, N)`` matrix, column by column."""
    n = shape[0] * shape[1]
    cols = []
    for j in range(n):
        e = torch.zeros(batch, n, dtype=torch.complex128)
        e[:, j] = 1
        cols.append(op.normal(e.reshape(batch, *shape).to(torch.complex64)).reshape(batch, n))
    return torch.stack(cols, dim=-1).to(torch.complex128)


def test_one_proximal_cascade_is_the_dense_tikhonov_solve():
    pr = mri_problem(shape=(9, 7), pattern="random", acceleration=2.0)
    mu = 0.3
    model = build("unified", seed=0, **dict(_TINY_SENSE, cascades=1, cg_iters=80,
                                            mu=mu)).eval()
    model.unrolled.stages[0].regulariser = _Zero()
    with torch.no_grad():
        out = model(pr.y, pr.op, pr.meta)
        maps = model.sens(pr.y, pr.op, pr.meta)
        sop, aty = dc_operator(sense_operator(pr.op, maps), pr.y)
        z0 = reduce_coils(initial_adjoint(coil_operator(pr.op), pr.y), maps)
    b, n = pr.x.shape[0], 9 * 7
    lhs = _dense_normal(sop, (9, 7), b) + mu * torch.eye(n, dtype=torch.complex128)
    rhs = (aty + mu * z0).reshape(b, n, 1).to(torch.complex128)
    ref = torch.linalg.solve(lhs, rhs).reshape(b, 9, 7)
    err = float((out.to(torch.complex128) - ref).norm() / ref.norm())
    assert err < 1e-4, err


@pytest.mark.parametrize("pattern", ["equispaced", "poisson_2d"])
def test_untrained_sense_model_starts_at_or_above_zero_filling(pattern):
    pr = mri_problem(shape=(32, 28), pattern=pattern, acceleration=4.0, coils=4)
    model = build("unified", seed=0, **_TINY_SENSE).eval()
    with torch.no_grad():
        out = model(pr.y, pr.op, pr.meta)
    zf = initial_adjoint(coil_operator(pr.op), pr.y).abs().pow(2).sum(1).sqrt()
    start, ref = float(psnr(pr.x.abs(), out.abs())), float(psnr(pr.x.abs(), zf))
    assert start >= ref - 0.5, (start, ref)


def test_sense_model_runs_on_noncartesian_data_and_trains():
    pr = noncartesian_problem()
    model = build("unified", seed=0, **_TINY_SENSE)
    out = model(pr.y, pr.op, pr.meta)
    assert out.shape == pr.x.shape and torch.isfinite(torch.view_as_real(out)).all()
    (out - pr.x).abs().mean().backward()
    grads = [p.grad for p in model.unrolled.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_single_coil_data_run_as_the_coil_state():
    pr = mri_problem(coils=0)
    a = build("unified", seed=0, **_TINY_SENSE).eval()
    b = build("unified", seed=0, **dict(_TINY_SENSE, state="coil")).eval()
    with torch.no_grad():
        torch.testing.assert_close(a(pr.y, pr.op, pr.meta), b(pr.y, pr.op, pr.meta))


def test_unknown_state_is_a_config_error():
    with pytest.raises(ConfigError, match="state"):
        build("unified", seed=0, **dict(_TINY_SENSE, state="image"))


def test_operator_maps_are_the_maps_the_operator_carries():
    pr = mri_problem(pattern="poisson_2d", acceleration=3.0)
    model = build("unified", seed=0, **dict(_TINY_SENSE, maps="operator")).eval()
    b = pr.x.shape[0]
    torch.testing.assert_close(model.coil_maps(pr.y, pr.op, pr.meta, b), _maps(pr.op, b))
    calib = build("unified", seed=0, **_TINY_SENSE).eval()
    assert not torch.allclose(calib.coil_maps(pr.y, pr.op, pr.meta, b), _maps(pr.op, b))
    # with the true maps, one long proximal cascade from noise-free data recovers the image
    # far better than with maps from the calibration box
    errs = {}
    for source in ("operator", "calibration"):
        m = build("unified", seed=0, **dict(_TINY_SENSE, maps=source, cascades=1, cg_iters=200,
                                            mu=1e-4)).eval()
        m.unrolled.stages[0].regulariser = _Zero()
        with torch.no_grad():
            errs[source] = float((m(pr.y, pr.op, pr.meta) - pr.x).norm() / pr.x.norm())
    assert errs["operator"] < 0.1 and errs["operator"] < 0.5 * errs["calibration"], errs


def test_unknown_map_source_is_a_config_error():
    with pytest.raises(ConfigError, match="maps"):
        build("unified", seed=0, **dict(_TINY_SENSE, maps="espirit"))


def test_placeholder_maps_fall_back_to_the_calibration_estimate_per_item():
    from discofold.models.sens import is_placeholder, placeholder_maps
    from discofold.operators import CartesianMRI

    pr = mri_problem(pattern="equispaced", acceleration=3.0)
    h, w = pr.x.shape[-2:]
    true = _maps(pr.op, 2)
    maps = torch.stack([true[0], placeholder_maps(true.shape[1], h, w)])
    assert is_placeholder(maps).tolist() == [False, True]
    op = CartesianMRI(pr.op.mask, coil_maps=maps, image_shape=(h, w))
    model = build("unified", seed=0, **dict(_TINY_SENSE, maps="operator")).eval()
    calib = build("unified", seed=0, **_TINY_SENSE).eval()
    got = model.coil_maps(pr.y, op, pr.meta, 2)
    torch.testing.assert_close(got[0], true[0])
    torch.testing.assert_close(got[1], calib.coil_maps(pr.y, op, pr.meta, 2)[1])
