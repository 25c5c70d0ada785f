"""``lfista_radar`` is FISTA on the fine grid when its learned parts are switched off.

The reference is independent of the model's code: :func:`discofold.solvers.fista.fista` with the
pixel basis on a ``PolarRadar`` built on the fine grid with the mask, run for exactly ``K``
iterations with step ``1/L`` (``L`` exact, from the dense matrix) and threshold ``λ = τ·L``, then
imaged through the full aperture onto the file grid.
"""

from __future__ import annotations

import math

import pytest
import torch

from discofold.errors import ConfigError
from discofold.models import build
from discofold.operators import PolarRadar
from discofold.solvers.fista import fista

from ._problems import make_problem


def _exact_norm(fine) -> float:
    """``‖A_M‖²`` from the dense matrix of the fine operator (power iteration converges slowly)."""
    (h, w) = fine.image_shape
    n = h * w
    dense = fine.A(torch.eye(n, dtype=torch.complex128).reshape(n, h, w))
    return float(torch.linalg.matrix_norm(dense.reshape(n, -1), ord=2)) ** 2


def _fine_op(pr, i, up):
    op = pr.op
    (h, w) = op.image_shape
    return PolarRadar(op.angles_rad, op.frequencies_hz, (up * h, up * w), op.extent_m,
                      mask=op.mask[i])


def _reference(pr, i, iters, tau, up, adaptive=False):
    op = pr.op
    (h, w), ext = op.image_shape, op.extent_m
    geo = (op.angles_rad, op.frequencies_hz)
    mask = op.mask[i]
    fine = PolarRadar(*geo, (up * h, up * w), ext, mask=mask)
    y = pr.y[i].to(torch.complex128) * mask
    dens = fine.density_weights.double() * mask
    x0 = fine.A_adjoint(y * dens / dens.sum())
    s = float(x0.abs().max())
    if adaptive:  # thresholds relative to the floor ratio median|x0| / max|x0|
        tau = tau * float(x0.abs().flatten().median()) / s / 0.02
    lip = _exact_norm(fine) * 1.01
    c = fista(y / s, fine, lam=tau * lip, transform="identity", step=1 / lip, max_iter=iters,
              tol=0.0)
    full_fine = PolarRadar(*geo, (up * h, up * w), ext)
    return PolarRadar(*geo, (h, w), ext).reference_image(full_fine.A(c)) * s


@pytest.mark.parametrize("up,adaptive", [(1, False), (2, False), (2, True)])
def test_without_learned_parts_it_is_fista_on_the_fine_grid(up, adaptive):
    pr = make_problem("radar", size=12)
    iters, tau = 6, 0.02
    model = build("lfista_radar", iterations=iters, upsample=up, lam=tau, lam_start=tau,
                  chans=2, adaptive=adaptive).double()
    with torch.no_grad():
        model.gain.zero_()  # no context term: plain complex soft threshold
    exact = torch.tensor([_exact_norm(_fine_op(pr, i, up)) * 1.01 for i in range(2)])
    model._norm = lambda a_m, ah_m, x0: exact.to(x0.real.dtype)[:, None, None]
    y = pr.y.to(torch.complex128)
    with torch.no_grad():
        out = model(y, pr.op, pr.meta)
    for i in range(y.shape[0]):
        ref = _reference(pr, i, iters, tau, up, adaptive)
        err = float((out[i] - ref).abs().max() / ref.abs().max())
        assert err < 1e-6, (up, i, err)  # float32-initialised scalars


def test_power_iteration_approaches_the_norm_from_below():
    pr = make_problem("radar", size=12)
    exact = torch.tensor([_exact_norm(_fine_op(pr, i, 2)) for i in range(2)])
    model = build("lfista_radar", upsample=2, power_iters=400).double()
    fine = _fine_op(pr, 0, 2)
    m = pr.op.mask.to(torch.float64)
    full = PolarRadar(fine.angles_rad, fine.frequencies_hz, fine.image_shape, fine.extent_m)
    x0 = full.A_adjoint(pr.y.to(torch.complex128) * m)
    est = model._norm(lambda x: full.A(x) * m, lambda r: full.A_adjoint(r * m), x0)[:, 0, 0]
    ratio = est / 1.01 / exact
    assert bool((ratio <= 1 + 1e-9).all()) and bool((ratio > 0.97).all()), ratio


def test_initial_thresholds_follow_the_continuation():
    model = build("lfista_radar", iterations=10, lam=0.001, lam_start=0.004)
    tau = model.log_tau.detach().exp()
    assert math.isclose(float(tau[0]), 0.004, rel_tol=1e-6)
    assert math.isclose(float(tau[-1]), 0.001, rel_tol=1e-6)
    assert bool((tau[1:] <= tau[:-1] * (1 + 1e-6)).all())
    # FISTA's momentum sequence (t_k - 1) / t_{k+1}, starting at 0
    assert float(model.beta[0].detach()) == 0.0 and 0.0 < float(model.beta[-1].detach()) < 1.0


def test_scale_and_phase_equivariance():
    pr = make_problem("radar", size=12)
    model = build("lfista_radar", **{"iterations": 3, "chans": 4, "power_iters": 4}).double()
    y = pr.y.to(torch.complex128)
    with torch.no_grad():
        out = model(y, pr.op, pr.meta)
        g = 3.7 * complex(math.cos(0.9), math.sin(0.9))
        out2 = model(y * g, pr.op, pr.meta)
    assert float((out2 - g * out).abs().max() / out.abs().max()) < 1e-9


@pytest.mark.parametrize("kw", [dict(iterations=0), dict(lam=0.01, lam_start=0.001),
                                dict(lam=0.0), dict(upsample=0)])
def test_bad_arguments_are_config_errors(kw):
    with pytest.raises(ConfigError, match="lfista_radar"):
        build("lfista_radar", **kw)
