"""Numerical guards: a diverging solver stops with a message naming the iteration and the step
size (library and CLI), and non-finite input data or weights are refused before any work."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import discofold.solvers.pipeline as rm
from discofold.data import write_mri_file, write_radar_h5
from discofold.errors import DivergenceError, InputError
from discofold.operators import CartesianMRI, PolarRadar
from discofold.solvers import cg_sense, fista, tv, zero_filled

from .._cli import cli as _cli

STEP_RE = re.compile(r"diverged at iteration (\d+) with step size ([0-9.eE+-]+)")


ONE_THREAD = True  # one torch thread per test (tests/conftest.py)


def _problem(seed: int = 0):
    """Single-coil Cartesian MRI 13×11 with a random 2-D mask (‖A‖² = 1)."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(13, 11, generator=g) > 0.4
    op = CartesianMRI(mask, image_shape=(13, 11))
    x = torch.randn(13, 11, generator=g, dtype=torch.complex64)
    return op, op.A(x)


# --------------------------------------------------------------------------- library
@pytest.mark.parametrize("factor", [2.5, 10.0, 1e3])
def test_fista_with_too_large_a_step_stops_naming_iteration_and_step(fault_log, factor):
    fault_log.describe("numerical guard: diverging solver",
                       "FISTA with step = factor/L (factor 2.5, 10, 1000; stable needs <= 1/L)")
    op, y = _problem()
    step = factor / 1.0  # ‖A‖² = 1 for a single-coil Cartesian operator
    with pytest.raises(DivergenceError) as info:
        fista(y, op, 1e-3, transform="identity", step=step, max_iter=500)
    m = STEP_RE.search(str(info.value))
    assert m, str(info.value)
    assert float(m.group(2)) == pytest.approx(step, rel=1e-3)
    assert 1 <= int(m.group(1)) < 500
    fault_log.case("DivergenceError")
    x = fista(y, op, 1e-3, transform="identity", step=0.9, max_iter=50)  # control: stable
    assert bool(torch.isfinite(torch.view_as_real(x)).all())


def _radar(seed: int = 0):
    """PolarRadar 16 pulses × 12 frequencies, 10×9 image (‖A‖² of order P·F)."""
    g = torch.Generator().manual_seed(seed)
    op = PolarRadar(torch.linspace(-0.06, 0.06, 16, dtype=torch.float64),
                    torch.linspace(9.6e9, 10.4e9, 12, dtype=torch.float64), (10, 9), (3.0, 3.0))
    x = torch.zeros(10, 9, dtype=torch.complex64)
    x[torch.randint(0, 10, (5,), generator=g), torch.randint(0, 9, (5,), generator=g)] = 1
    return op, op.A(x)


def test_tv_with_a_wrong_operator_norm_stops(fault_log):
    fault_log.describe("numerical guard: diverging solver",
                       "TV-PDHG on a radar operator told ‖A‖² 10⁴ times too small")
    op, y = _radar()
    true = op.compute_norm(max_iter=50)
    with pytest.raises(DivergenceError) as info:
        tv(y, op, 1e-3 * true, L=true * 1e-4, max_iter=500)
    assert STEP_RE.search(str(info.value)), str(info.value)
    fault_log.case("DivergenceError")
    x = tv(y, op, 1e-3 * true, L=true, max_iter=50)  # control: the right norm is stable
    assert bool(torch.isfinite(torch.view_as_real(x)).all())


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_measurements_refused_by_every_solver(fault_log, bad):
    fault_log.describe("numerical guard: NaN/Inf input",
                       "one NaN/+Inf/-Inf measurement given to zero_filled, cg_sense, fista, tv")
    op, y = _problem(2)
    y = y.clone()
    y[3, 4] = complex(bad, 0.0)
    for solver in (zero_filled, lambda y, op: cg_sense(y, op), lambda y, op: fista(y, op, 0.1),
                   lambda y, op: tv(y, op, 0.1)):
        with pytest.raises(InputError, match="non-finite"):
            solver(y, op)
        fault_log.case("InputError")


# --------------------------------------------------------------------------- CLI
@pytest.fixture
def mri_file(tmp_path):
    g = np.random.default_rng(3)
    x = g.standard_normal((2, 16, 14)) + 1j * g.standard_normal((2, 16, 14))
    k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=(-2, -1)), norm="ortho"),
                        axes=(-2, -1))
    mask = g.random(14) > 0.3
    return write_mri_file(tmp_path / "m.h5", (k * mask).astype(np.complex64), mask=mask)


@pytest.fixture
def radar_file(tmp_path):
    op, y = _radar(5)
    return write_radar_h5(tmp_path / "r.h5", y, op.angles_rad, op.frequencies_hz,
                          extent_m=(3.0, 3.0), image_shape=(10, 9))


@pytest.mark.parametrize("method", ["fista", "tv"])
def test_cli_recon_with_a_forced_step_stops_with_a_message(fault_log, mri_file, radar_file,
                                                            tmp_path, monkeypatch, method):
    fault_log.describe("numerical guard: diverging solver",
                       "discofold recon with the operator-norm estimate forced 10⁴x too small "
                       "(FISTA on MRI, TV on radar): exit 2, one line naming iteration and step, "
                       "old output intact")
    true = rm._norm_sq
    monkeypatch.setattr(rm, "_norm_sq", lambda op, like: true(op, like) / 1e4)
    out = tmp_path / "o.h5"
    out.write_bytes(b"old result")
    inp = mri_file if method == "fista" else radar_file  # TV on MRI (‖A‖ = 1) cannot diverge
    rc, err = _cli("recon", "--method", method, "--input", str(inp), "--output", str(out),
                   "--overwrite", "--iters", "300", "--quiet")
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert STEP_RE.search(err), err
    assert out.read_bytes() == b"old result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.h5", "o.h5", "r.h5"]
    fault_log.case("exit 2, DivergenceError, old output intact")


def test_cli_rejects_nan_data_and_weights(fault_log, mri_file, tmp_path):
    fault_log.describe("numerical guard: NaN/Inf input",
                       "recon on MRI and radar files with a NaN sample, and --lam nan/inf/-1: "
                       "exit 2, one line naming the file and key (or the flag)")
    rng = np.random.default_rng(4)
    k = (rng.standard_normal((2, 9, 8)) + 0j).astype(np.complex64)
    k[1, 4, 4] = np.nan
    nan_mri = write_mri_file(tmp_path / "nan_mri.h5", k)
    echo = (rng.standard_normal((6, 5)) + 0j).astype(np.complex64)
    echo[2, 3] = np.inf
    nan_radar = write_radar_h5(tmp_path / "nan_radar.h5", echo, np.linspace(-0.05, 0.05, 6),
                               np.linspace(9e9, 1e10, 5), extent_m=(3, 3), image_shape=(8, 8))
    for path, key in ((nan_mri, "kspace"), (nan_radar, "echo")):
        rc, err = _cli("recon", "--method", "zf", "--input", str(path), "--output",
                       str(tmp_path / f"o_{path.name}"), "--quiet")
        assert rc == 2 and len(err.strip().splitlines()) == 1, err
        assert path.name in err and f"'{key}'" in err and "non-finite" in err
        assert not (tmp_path / f"o_{path.name}").exists()
        fault_log.case("exit 2, one line")
    for lam in ("nan", "inf", "-1"):
        rc, err = _cli("recon", "--method", "cg", "--input", str(mri_file), "--output",
                       str(tmp_path / "o.h5"), "--lam", lam, "--quiet")
        assert rc == 2 and "--lam" in err and len(err.strip().splitlines()) == 1, err
        fault_log.case("exit 2, one line")
    assert not (tmp_path / "o.h5").exists()
