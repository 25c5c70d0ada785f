"""``discofold recon --checkpoint … --recursions N|auto``: adaptive depth end to end on tiny
untrained recursive checkpoints (a recursive E2E-VarNet with the feature modulation, and the
``tiny_radar`` recursive fan-DISCO model), with the passes per image in ``recon_passes``."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from .._checkpoints import untrained_checkpoint
from .._cli import cli as _cli
from .._cli import simulate as _simulate

ONE_THREAD = True  # one torch thread per test (tests/conftest.py)
SHAPE = (21, 19)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("recon_recursions")
    _simulate(root / "mri", "mri", "--size", f"{SHAPE[0]}x{SHAPE[1]}", "--slices", "3",
              "--coils", "2", "--pattern", "equispaced", "--acceleration", "3")
    _simulate(root / "radar", "radar", "--preset", "S0", "--size", "32", "--frames", "2",
              "--pattern", "random_pulses", "--ratio", "0.5")
    mri = untrained_checkpoint(root / "r_varnet.pt", "tiny_mri", overrides=[
        "model.args.recursions=2", "model.args.modulation=features"])
    return {"mri_ckpt": mri, "radar_ckpt": untrained_checkpoint(root / "radar.pt", "tiny_radar"),
            "mri": root / "mri" / "mri_00000.h5", "radar": root / "radar" / "radar_00000.h5"}


def _recon(ckpt, inp, out, *extra) -> tuple[int, str]:
    return _cli("recon", "--checkpoint", str(ckpt), "--input", str(inp), "--output", str(out),
                "--quiet", *extra)


@pytest.mark.parametrize("kind,n,cap", [("mri", 3, 2 * 2 * 2), ("radar", 2, 1 * 2 * 2)])
def test_auto_records_the_passes_of_every_image(setup, tmp_path, kind, n, cap):
    """cap = stages · 2 · r_max (r_varnet: 2 stages × r_max 2; tiny_radar: 1 stage × 2)."""
    out = tmp_path / "auto.h5"
    assert _recon(setup[f"{kind}_ckpt"], setup[kind], out, "--recursions", "auto") == (0, "")
    with h5py.File(out, "r") as f:
        attrs = dict(f.attrs)
    passes = np.asarray(attrs["recon_passes"])
    assert passes.dtype == np.int32 and passes.shape == (n,)
    assert passes.min() >= 1 and passes.max() <= cap
    assert json.loads(attrs["recon_params"]) == {"recursions": "auto"}


def test_auto_with_a_tolerance_that_never_stops_runs_to_the_cap(setup, tmp_path):
    out = tmp_path / "cap.h5"
    rc, err = _recon(setup["radar_ckpt"], setup["radar"], out, "--recursions", "auto:1e-30")
    assert (rc, err) == (0, "")
    with h5py.File(out, "r") as f:
        assert list(f.attrs["recon_passes"]) == [4, 4]
        assert json.loads(f.attrs["recon_params"]) == {"recursions": "auto:1e-30"}


def test_fixed_recursions_write_no_passes(setup, tmp_path):
    out = tmp_path / "fixed.h5"
    assert _recon(setup["radar_ckpt"], setup["radar"], out, "--recursions", "3") == (0, "")
    with h5py.File(out, "r") as f:
        assert "recon_passes" not in f.attrs
        assert json.loads(f.attrs["recon_params"]) == {"recursions": 3}


@pytest.mark.parametrize("ckpt,value,match", [
    ("radar_ckpt", "often", "positive integer, 'auto' or 'auto:TOL'"),
    ("radar_ckpt", "auto:-1", "tol > 0"),
])
def test_bad_recursions_are_refused(setup, tmp_path, ckpt, value, match):
    rc, err = _recon(setup[ckpt], setup["radar"], tmp_path / "x.h5", "--recursions", value)
    assert rc == 2 and match in err
    assert not (tmp_path / "x.h5").exists()


def test_recursions_needs_a_checkpoint(setup, tmp_path):
    rc, err = _cli("recon", "--method", "zf", "--input", str(setup["mri"]), "--output",
                   str(tmp_path / "zf.h5"), "--recursions", "auto")
    assert rc == 2 and "--recursions only applies with --checkpoint" in err
