"""Mathematical tests of the iterative solvers against closed forms and dense references."""

from __future__ import annotations

import math

import pytest
import torch

from discofold.errors import DivergenceError, InputError
from discofold.solvers import cg_sense, fista, tv, zero_filled
from discofold.solvers.tv import gradient, gradient_adjoint, total_variation

from ._dense import Identity, random_dense

GEN = 7


def _gen(seed=GEN):
    return torch.Generator().manual_seed(seed)


def _crandn(*shape, seed=GEN):
    g = _gen(seed)
    return torch.complex(torch.randn(shape, generator=g, dtype=torch.float64),
                         torch.randn(shape, generator=g, dtype=torch.float64))


def test_cg_sense_matches_dense_tikhonov_solve():
    op = random_dense(40, (7, 5), seed=1)
    y = _crandn(3, 40)
    x, info = cg_sense(y, op, lam=0.1, max_iter=100, tol=1e-13, return_info=True)
    m = op.matrix
    ref = torch.linalg.solve(m.conj().T @ m + 0.1 * torch.eye(35, dtype=m.dtype), (y @ m.conj()).T)
    assert torch.allclose(x, ref.T.reshape(3, 7, 5), atol=1e-10)
    assert info["converged"] and info["iterations"] <= 40


def test_cg_sense_real_operator_and_callback():
    op = random_dense(30, (5, 4), seed=2, dtype=torch.float64)
    y = torch.randn(30, generator=_gen(), dtype=torch.float64)
    seen = []
    x = cg_sense(y, op, lam=0.05, max_iter=60, tol=1e-12,
                 callback=lambda k, xk, info: seen.append((k, info["residual"])))
    m = op.matrix
    ref = torch.linalg.solve(m.T @ m + 0.05 * torch.eye(20, dtype=m.dtype), m.T @ y)
    assert torch.allclose(x.reshape(-1), ref, atol=1e-10)
    assert [k for k, _ in seen] == list(range(1, len(seen) + 1))


def test_zero_filled_is_adjoint_and_dcf_normalised():
    op = random_dense(30, (5, 3), seed=3)
    y = _crandn(30)
    assert torch.allclose(zero_filled(y, op), op.A_adjoint(y))
    dcf = torch.rand(30, generator=_gen(), dtype=torch.float64) + 0.5
    z = op.A_adjoint(op.A(torch.ones(5, 3, dtype=torch.complex128)) * dcf)
    gain = torch.vdot(z.reshape(-1), torch.ones(15, dtype=z.dtype)).real / z.norm() ** 2
    assert torch.allclose(zero_filled(y, op, dcf=dcf), gain * op.A_adjoint(y * dcf))
    assert torch.allclose(zero_filled(y, op, dcf=7 * dcf), zero_filled(y, op, dcf=dcf))


def test_fista_identity_equals_soft_threshold():
    eye = Identity((37, 31))
    y = _crandn(2, 37, 31)
    mag = y.abs()
    ref = y * torch.clamp(mag - 0.5, min=0) / mag
    one = fista(y, eye, lam=0.5, transform="identity", step=1.0, max_iter=1)
    assert torch.equal(one, ref) or (one - ref).abs().max() < 1e-15
    many = fista(y, eye, lam=0.5, transform="identity", max_iter=30, tol=0)
    assert (many - ref).abs().max() < 1e-13
    yr = y.real
    real = fista(yr, Identity((37, 31), complex_input=False), lam=0.5, transform="identity",
                 step=1.0, max_iter=1)
    assert torch.allclose(real, torch.sign(yr) * torch.clamp(yr.abs() - 0.5, min=0))


def _lasso_objective(x, y, op, lam, wt=None):
    c = x if wt is None else wt.forward(x)
    return 0.5 * (op.A(x) - y).abs().square().sum() + lam * c.abs().sum()


@pytest.mark.parametrize("transform, shape", [("identity", (9, 8)), ("wavelet", (12, 8))])
def test_fista_reaches_lasso_optimum(transform, shape):
    # (the wavelet case uses sides divisible by 2**levels, where Ψ is square and ‖Ψx‖₁ = ‖c‖₁)
    op = random_dense(48, shape, seed=4)
    truth = torch.zeros(shape, dtype=torch.complex128)
    truth[2, 3], truth[6, 1], truth[4, 7] = 1.0, -0.7j, 0.5 + 0.5j
    y = op.A(truth) + 0.01 * _crandn(48, seed=5)
    lam = 0.02
    objs = []
    kw = dict(transform=transform, wavelet="db2", levels=2, penalise_approx=True)
    fista(y, op, lam, max_iter=150, tol=0, callback=lambda k, x, i: objs.append(
        float(i["objective"])), **kw)
    ref = fista(y, op, lam, max_iter=1000, tol=1e-13, **kw)
    from discofold.solvers.wavelets import WaveletTransform

    wt = WaveletTransform("db2", 2) if transform == "wavelet" else None
    f_ref = float(_lasso_objective(ref, y, op, lam, wt))
    assert abs(objs[-1] - f_ref) <= 1e-6 * f_ref
    # monotone-ish: never above the first value, and within 1e-3 of optimum after 2/3 of the run
    assert max(objs) <= objs[0] + 1e-12
    assert objs[100] - f_ref <= 1e-3 * f_ref
    # the reference is optimal: perturbations do not decrease the objective
    for seed in range(3):
        pert = ref + 1e-4 * _crandn(*shape, seed=seed)
        assert float(_lasso_objective(pert, y, op, lam, wt)) >= f_ref - 1e-12


def test_fista_divergence_guard_names_iteration_and_step():
    op = random_dense(30, (6, 5), seed=6)
    y = _crandn(30)
    with pytest.raises(DivergenceError, match=r"iteration \d+ with step size 10"):
        fista(y, op, lam=0.01, transform="identity", step=10.0, max_iter=200)


def test_non_finite_input_rejected():
    op = random_dense(20, (4, 5), seed=6)
    y = _crandn(20)
    y[3] = float("nan")
    for solver in (cg_sense, zero_filled):
        with pytest.raises(InputError, match="non-finite"):
            solver(y, op)
    with pytest.raises(InputError, match="non-finite"):
        fista(y, op, 0.1)
    with pytest.raises(InputError, match="non-finite"):
        tv(y, op, 0.1)


def test_gradient_adjoint_and_tv_value():
    x = _crandn(2, 7, 6)
    g = _crandn(2, 2, 7, 6, seed=3)
    lhs = torch.vdot(gradient(x).reshape(-1), g.reshape(-1))
    rhs = torch.vdot(x.reshape(-1), gradient_adjoint(g).reshape(-1))
    assert abs(complex(lhs - rhs)) < 1e-12
    step = torch.zeros(5, 4, dtype=torch.complex128)
    step[2:] = 3j
    assert torch.allclose(total_variation(step), torch.tensor(12.0, dtype=torch.float64))


def _step_image(h=37, w=31, row=15, phase=0.7):
    y = torch.zeros(h, w, dtype=torch.complex128)
    y[row:] = 1
    return y * complex(math.cos(phase), math.sin(phase))


def test_tv_pdhg_denoising_matches_1d_closed_form_and_gap_shrinks():
    # an image constant along W with one step along H: the ROF solution is the 1-D one, each
    # plateau moving by λ/(its length) towards the other
    y = _step_image()
    lam = 2.0
    ref = torch.zeros_like(y)
    ref[:15], ref[15:] = 2 / 15, 1 - 2 / 22
    ref = ref * y[-1, 0]
    gaps = []

    def gap(k, x, info):
        q = info["dual"]["tv"]
        primal = 0.5 * (x - y).abs().square().sum() + lam * total_variation(x)
        dual = 0.5 * y.abs().square().sum() - 0.5 * (y - gradient_adjoint(q)).abs().square().sum()
        gaps.append(float(primal - dual))

    x = tv(y, Identity(y.shape), lam, max_iter=1000, tol=0, callback=gap)
    assert (x - ref).abs().max() < 5e-4
    assert min(gaps) >= -1e-9 and gaps[-1] < 1e-4 * gaps[0]


def test_tv_admm_agrees_with_pdhg_and_l1_term():
    y = _step_image(13, 11, 5) + 0.05 * _crandn(13, 11)
    eye = Identity(y.shape)
    a = tv(y, eye, 0.3, lam_l1=0.05, max_iter=3000, tol=1e-12)
    b = tv(y, eye, 0.3, lam_l1=0.05, method="admm", max_iter=400, tol=1e-12, cg_iter=10)
    assert (a - b).abs().max() < 1e-4


def test_batched_solvers_match_per_sample():
    op = random_dense(30, (6, 5), seed=8)
    y = _crandn(2, 30)
    for solve in (lambda v: cg_sense(v, op, lam=0.1, max_iter=50, tol=0),
                  lambda v: fista(v, op, 0.05, wavelet="db1", levels=1, max_iter=50, tol=0),
                  lambda v: tv(v, op, 0.05, max_iter=50, tol=0)):
        both = solve(y)
        for i in range(2):
            assert torch.allclose(both[i], solve(y[i]), atol=1e-10)


def test_cg_detects_an_inconsistent_adjoint():
    op = random_dense(30, (6, 5), seed=9)

    class Wrong(type(op)):
        def _adjoint(self, y):  # −Aᴴ: AᴴA is then negative definite
            return -super()._adjoint(y)

    bad = Wrong(op.matrix, (6, 5))
    with pytest.raises(DivergenceError, match=r"iteration 1 with step size"):
        cg_sense(_crandn(30), bad, lam=0.0)
