"""Radar evidence benchmark: the whole pipeline at toy scale, and the measured-data path.

The smoke run checks mathematics the benchmark relies on, not only that files exist: the fan
operator's exact θ-shift equivariance, the joint-rotation identity (a θ-shifted echo images to
the rot90 of the image on an odd grid), and that a target rotation of 0° is the identity.
The measured-data tests write a synthetic echo matrix (point scatterers, exact simulator) in
the Yak-42 layout (frequency × pulse), convert it, and check the round trip against the
simulator, the imaging against the known scatterer, and that entropy/contrast rank a focused
image above a defocused one.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from discofold.data import RadarH5Reader, convert_measured
from discofold.data.radar_io import measured_geometry
from discofold.data.radar_sim import echo_from_scatterers
from discofold.metrics import image_contrast, image_entropy
from discofold.solvers.pipeline import recon_radar_frame

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "radar_evidence.py"


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_smoke_scale_runs_every_part(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--scale", "smoke", "--out",
                           str(tmp_path), "--threads", "1"], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    text = (tmp_path / "radar.md").read_text()
    for section in ("## Targets", "## T1", "## T2", "## Rotation", "## Mismatch"):
        assert section in text
    figs = tmp_path / "radar"
    for name in ("images_S0.png", "images_S2.png", "nmse_vs_ratio.png", "t1.png", "t2.png",
                 "rotation_joint.png", "rotation_target_only.png", "main.csv", "tuning.csv"):
        assert (figs / name).is_file(), name
    methods = {r["method"] for r in _rows(figs / "main.csv")}
    assert {"rd", "pfa", "zf", "omp", "fista", "tv", "ista_net_radar", "pfa_unet",
            "unified_radar", "r_unified_radar"} <= methods
    joint = _rows(figs / "rotation_joint.csv")
    assert max(float(r["fan_equivariance_rel_err"]) for r in joint) <= 1e-5
    for r in joint:
        if r.get("reference_rot90_rel_err"):
            assert float(r["reference_rot90_rel_err"]) <= 1e-4  # joint rotation = rot90
    target = _rows(figs / "rotation_target_only.csv")
    zero = [float(r["nmse_db_target_only_vs_rotated_image"]) for r in target
            if float(r["angle_deg"]) == 0]
    assert zero and max(zero) < -100  # no rotation: the two images coincide
    # every NMSE in the per-image table is a finite number of dB and the summary is its mean
    per = _rows(figs / "main_per_image.csv")
    assert all(math.isfinite(float(r["nmse_db"])) for r in per)
    summ = _rows(figs / "main.csv")[0]
    vals = [float(r["nmse_db"]) for r in per if r["method"] == summ["method"]
            and r["geometry"] == summ["geometry"] and r["scene"] == summ["scene"]]
    assert float(summ["nmse_db_mean"]) == pytest.approx(sum(vals) / len(vals), rel=1e-4)
    # --render-only rebuilds the same tables from the stored CSV files
    again = subprocess.run([sys.executable, str(SCRIPT), "--scale", "smoke", "--out",
                            str(tmp_path), "--render-only"], cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    redone = (tmp_path / "radar.md").read_text()
    start = text.index("## Main tables")
    assert redone[redone.index("## Main tables"):] == text[start:]


# ----------------------------------------------------------------------------- measured data
_FC, _BW, _SPAN = 10e9, 0.3e9, math.radians(3.0)
_P, _F = 37, 29  # odd, non-square


def _scene() -> torch.Tensor:
    """Two unit-ish point scatterers on pixel centres of the default measured grid."""
    geo = measured_geometry((_P, _F), _FC, _BW, _SPAN)
    dx, dy = (e / s for e, s in zip(geo.extent_m, geo.image_shape))
    return torch.tensor([[0.0, 0.0, 1.0, 0.0], [3 * dx, -4 * dy, 0.0, 0.6]],
                        dtype=torch.float64)


def _write_yak(path: Path, kind: str) -> np.ndarray:
    geo = measured_geometry((_P, _F), _FC, _BW, _SPAN)
    echo = echo_from_scatterers(_scene(), geo.angles_rad, geo.frequencies_hz).numpy()
    matrix = echo.T  # Yak-42 layout: rows = range frequencies, columns = pulses
    if kind == "npy":
        np.save(path, matrix)
    else:
        from scipy.io import savemat

        savemat(path, {"data": matrix, "note": np.zeros((1, 1))})
    return echo


@pytest.mark.parametrize("kind", ["npy", "mat"])
def test_measured_convert_round_trip(tmp_path, kind):
    src = tmp_path / f"yak.{kind}"
    echo = _write_yak(src, kind)
    out = convert_measured(src, tmp_path / "yak.h5", carrier_hz=_FC, bandwidth_hz=_BW,
                           angle_span_rad=_SPAN, key="data" if kind == "mat" else None)
    with RadarH5Reader(out) as reader:
        frame = reader[0]
    assert tuple(frame.echo.shape) == (_P, _F)
    np.testing.assert_allclose(frame.echo.numpy(), echo, rtol=0, atol=1e-5 * np.abs(echo).max())
    dth = float(frame.angles_rad[1] - frame.angles_rad[0])
    assert dth * _P == pytest.approx(_SPAN)
    df = float(frame.frequencies_hz[1] - frame.frequencies_hz[0])
    assert df * _F == pytest.approx(_BW)
    assert float(frame.frequencies_hz[_F // 2]) == pytest.approx(_FC)


def test_measured_chain_images_and_focus_metrics(tmp_path):
    src = tmp_path / "yak.npy"
    echo = _write_yak(src, "npy")
    out = convert_measured(src, tmp_path / "yak.h5", carrier_hz=_FC, bandwidth_hz=_BW,
                           angle_span_rad=_SPAN)
    with RadarH5Reader(out) as reader:
        frame = reader[0]
    img = recon_radar_frame(frame, "pfa", {})
    h, w = frame.attrs["image_shape"]
    # the strongest pixel is the unit scatterer at the centre, imaged to ~1 (PFA normalisation)
    peak = int(img.abs().argmax())
    assert divmod(peak, w) == (h // 2, w // 2)
    assert float(img.abs().max()) == pytest.approx(1.0, abs=0.1)
    # a defocused acquisition (random per-pulse phase) must score worse on both focus metrics
    gen = torch.Generator().manual_seed(3)
    phase = torch.rand(_P, generator=gen, dtype=torch.float64) * 2 * math.pi
    bad = torch.from_numpy(echo) * torch.polar(torch.ones(_P, dtype=torch.float64), phase)[:, None]
    frame_bad = dataclasses.replace(frame, echo=bad.to(torch.complex64))
    blurred = recon_radar_frame(frame_bad, "pfa", {})
    assert float(image_entropy(img)) < float(image_entropy(blurred))
    assert float(image_contrast(img)) > float(image_contrast(blurred))


def test_measured_chain_script(tmp_path):
    src = tmp_path / "yak.npy"
    _write_yak(src, "npy")
    done = subprocess.run([sys.executable, str(SCRIPT), "--measured", str(src), "--out",
                           str(tmp_path / "out"), "--carrier-hz", str(_FC), "--bandwidth-hz",
                           str(_BW), "--angle-span-deg", "3.0", "--fista-iters", "5",
                           "--threads", "1"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {r["method"]: r for r in _rows(tmp_path / "out" / "measured.csv")}
    assert set(rows) == {"rd", "pfa", "zf", "fista"}
    # entropy recomputed from the converted file agrees with the table
    with RadarH5Reader(tmp_path / "out" / "measured.h5") as reader:
        frame = reader[0]
    ent = float(image_entropy(recon_radar_frame(frame, "pfa", {})))
    assert float(rows["pfa"]["entropy"]) == pytest.approx(ent, rel=1e-4)
    assert (tmp_path / "out" / "measured.png").is_file()
