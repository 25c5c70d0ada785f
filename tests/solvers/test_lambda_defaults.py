"""Noise estimate from k-space and the noise-following default weights of the MRI baselines."""

from __future__ import annotations

import json
import math

import pytest
import torch

from discofold.cli import main
from discofold.data import FastMRIFile
from discofold.data.noise import complex_randn
from discofold.errors import InputError
from discofold.metrics import psnr
from discofold.operators import CartesianMRI, NonCartesianMRI, PolarRadar
from discofold.sampling import make_mask
from discofold.solvers.noise import estimate_noise_sigma, sampled_fraction
from discofold.solvers.pipeline import load_params, recon_mri_slice, relative_lam


def _simulate(tmp_path, snr: float, size: str, coils: int = 8, seed: int = 3) -> FastMRIFile:
    out = tmp_path / f"sim{snr:g}_{size}_{coils}"
    assert main(["simulate", "mri", "--out", str(out), "--n", "1", "--slices", "1", "--size",
                 size, "--coils", str(coils), "--snr-db", f"{snr:g}", "--seed", str(seed),
                 "--quiet"]) == 0
    return FastMRIFile(next(out.glob("*.h5")))


@pytest.mark.parametrize("snr, coils", [(10.0, 8), (20.0, 1)])
def test_noise_estimate_recovers_sigma_on_an_odd_non_square_slice(tmp_path, snr, coils):
    f = _simulate(tmp_path, snr, "75x61", coils)
    sl = f.read_slice(0)
    op = CartesianMRI(sl.mask, image_shape=sl.matrix)
    sigma = estimate_noise_sigma(sl.kspace, op)
    assert sigma == pytest.approx(float(f.attrs["noise_sigma"]), rel=0.15)


def test_noise_estimate_non_cartesian_outer_samples():
    g = torch.Generator().manual_seed(0)
    n_spokes, n_read = 40, 64
    r = torch.linspace(-math.pi, math.pi * (1 - 2 / n_read), n_read)
    ang = torch.arange(n_spokes) * math.pi / n_spokes
    traj = torch.stack([r[None] * torch.cos(ang[:, None]), r[None] * torch.sin(ang[:, None])],
                       dim=-1).reshape(-1, 2)
    op = NonCartesianMRI(traj, (33, 29))
    r2 = (torch.arange(33.0)[:, None] - 16) ** 2 + (torch.arange(29.0)[None, :] - 14) ** 2
    x = torch.exp(-r2 / 32).to(torch.complex64)  # a smooth blob: no outer spectrum
    sigma = 0.05
    y = op.A(x) + sigma * complex_randn(traj.shape[:1], g)
    assert estimate_noise_sigma(y, op) == pytest.approx(sigma, rel=0.15)


def test_noise_estimate_is_none_without_a_k_space():
    op = PolarRadar(torch.linspace(-0.05, 0.05, 8, dtype=torch.float64),
                    torch.linspace(9.5e9, 10.5e9, 8, dtype=torch.float64), (8, 8), (4.0, 4.0))
    y = torch.ones(8, 8, dtype=torch.complex64)
    assert estimate_noise_sigma(y, op) is None
    with pytest.raises(InputError, match="noise rule"):
        relative_lam({"lam_sigma": 1.0}, y, op)


def test_sampled_fraction_counts_measured_samples_per_pixel():
    cols = torch.zeros(31, dtype=torch.bool)
    cols[::4] = True  # a column mask: every row of 8 of the 31 columns
    assert sampled_fraction(CartesianMRI(cols, image_shape=(37, 31))) == pytest.approx(8 / 31)
    traj = torch.zeros(100, 2)
    assert sampled_fraction(NonCartesianMRI(traj, (20, 10))) == pytest.approx(0.5)


def test_default_lam_grows_with_the_noise_and_lam_overrides_it():
    g = torch.Generator().manual_seed(1)
    mask = make_mask("poisson_2d", (48, 40), 4.0, generator=g).mask
    op = CartesianMRI(mask)
    noise = complex_randn((48, 40), g) * mask
    lams = []
    for m in ("cg", "fista", "tv"):
        params = load_params("mri", m)
        assert "lam_sigma" in params and "lam" not in params
        lams = [relative_lam(params, s * noise, op) for s in (0.01, 0.03, 0.1)]
        assert 0 < lams[0] < lams[1] < lams[2]
        assert relative_lam({**params, "lam": 0.5}, noise, op) == 0.5


@pytest.mark.parametrize("snr", [10.0, 40.0])
def test_default_weights_beat_zero_filling(tmp_path, snr):
    sl = _simulate(tmp_path, snr, "64").read_slice(0)
    zf = psnr(sl.target, recon_mri_slice(sl, "zf", {}))
    for m in ("cg", "fista", "tv"):
        got = psnr(sl.target, recon_mri_slice(sl, m, load_params("mri", m)))
        assert got > zf + 0.5, (m, got, zf)


def test_recon_cli_records_the_rule_and_lam_replaces_it(tmp_path):
    from discofold.data import read_reconstruction

    f = _simulate(tmp_path, 20.0, "48x40", coils=1)
    inp = f.path
    f.close()
    params = {}
    for name, extra in (("rule", []), ("fixed", ["--lam", "0.02"])):
        out = tmp_path / f"{name}.h5"
        assert main(["recon", "--method", "cg", "--input", str(inp), "--output", str(out),
                     "--quiet", *extra]) == 0
        params[name] = json.loads(read_reconstruction(out)[1]["recon_params"])
    assert params["rule"]["lam_sigma"] > 0 and "lam" not in params["rule"]
    assert params["fixed"]["lam"] == 0.02
    assert not {"lam_sigma", "lam_power", "lam_rho_power"} & set(params["fixed"])
