"""Radar metrics: invariance to a complex scale, closed forms, detection on known peaks."""

from __future__ import annotations

import cmath
import math

import pytest
import torch

from discofold.errors import InputError, ShapeError
from discofold.metrics import (
    align_scale,
    detect_scatterers,
    image_contrast,
    image_entropy,
    radar_correlation,
    radar_nmse_db,
    radar_psnr,
    radar_ssim,
)


def _pair(seed=0, shape=(2, 23, 19)):
    g = torch.Generator().manual_seed(seed)
    ref = torch.complex(torch.randn(shape, generator=g, dtype=torch.float64),
                        torch.randn(shape, generator=g, dtype=torch.float64))
    noise = torch.complex(torch.randn(shape, generator=g, dtype=torch.float64),
                          torch.randn(shape, generator=g, dtype=torch.float64))
    return ref, ref + 0.3 * noise


@pytest.mark.parametrize("metric", [radar_nmse_db, radar_psnr, radar_ssim, radar_correlation])
def test_invariant_to_complex_scale(metric):
    ref, est = _pair()
    base = metric(ref, est)
    scaled = metric(ref, est * (0.003 * cmath.exp(1.1j)))
    assert torch.allclose(torch.as_tensor(base), torch.as_tensor(scaled), atol=1e-9)


def test_closed_forms():
    ref, est = _pair(1, (17, 21))
    alpha = (est.conj() * ref).sum() / (est.abs() ** 2).sum()
    err = (alpha * est - ref).abs().square()
    assert torch.allclose(align_scale(ref, est), alpha * est)
    assert radar_nmse_db(ref, est) == pytest.approx(
        10 * math.log10(float(err.sum() / ref.abs().square().sum())), rel=1e-12)
    assert radar_psnr(ref, est) == pytest.approx(
        10 * math.log10(float(ref.abs().max() ** 2 / err.mean())), rel=1e-12)
    assert radar_correlation(ref, est) == pytest.approx(
        float((est.conj() * ref).sum().abs() / (est.norm() * ref.norm())), rel=1e-12)
    # identical (up to scale) images
    assert radar_nmse_db(ref, 2j * ref) < -250
    assert radar_ssim(ref, -ref) == pytest.approx(1.0, abs=1e-12)
    assert radar_correlation(ref, 1j * ref) == pytest.approx(1.0, abs=1e-12)


def test_entropy_and_contrast():
    img = torch.zeros(8, 9, dtype=torch.complex128)
    img[2, 3] = 3j
    assert image_entropy(img) == pytest.approx(0.0, abs=1e-12)
    flat = torch.ones(8, 9)
    assert image_entropy(flat) == pytest.approx(math.log(72), rel=1e-12)
    assert image_contrast(flat) == pytest.approx(0.0, abs=1e-12)
    # one bright pixel among n: std/mean of power = sqrt(n - 1)
    assert image_contrast(img) == pytest.approx(math.sqrt(71), rel=1e-12)
    batch = torch.stack([img, flat.to(img.dtype)])
    assert torch.allclose(image_entropy(batch), torch.tensor([0.0, math.log(72)],
                                                             dtype=torch.float64), atol=1e-12)


def _blob(h, w, ci, cj, amp, width=1.0):
    i = torch.arange(h, dtype=torch.float64)[:, None]
    j = torch.arange(w, dtype=torch.float64)[None, :]
    return amp * torch.exp(-((i - ci) ** 2 + (j - cj) ** 2) / (2 * width**2))


def test_detection_on_synthetic_peaks():
    h, w, dx, dy = 41, 37, 0.1, 0.2
    res = (0.3, 0.4)
    img = torch.zeros(h, w, dtype=torch.float64)
    # true scatterers: two clear, one 40 dB down (missed); one spurious peak (false alarm)
    true_px = [(10.0, 12.0, 1.0), (30.3, 25.0, 0.8), (20.0, 5.0, 0.01)]
    for ci, cj, a in true_px:
        img += _blob(h, w, ci, cj, a)
    img += _blob(h, w, 5.0, 30.0, 0.5)
    pts = torch.tensor([[(ci - h // 2) * dx, (cj - w // 2) * dy] for ci, cj, _ in true_px],
                       dtype=torch.float64)
    out = detect_scatterers(img * cmath.exp(0.4j), pts, (dx, dy), res, threshold_db=-20)
    assert out["pd"] == pytest.approx(2 / 3)
    assert out["false_alarms"] == 1 and out["n_peaks"] == 3
    # the 0.3-pixel offset of the second scatterer is recovered by the parabolic refinement
    assert out["rmse_cells"] < 0.1 * dx / res[0] * 3
    coarse = detect_scatterers(img, pts, (dx, dy), res, refine=False)
    assert coarse["rmse_cells"] == pytest.approx(math.sqrt((0.3 * dx / res[0]) ** 2 / 2), rel=1e-9)
    # a shifted truth by more than one resolution cell is not matched
    far = detect_scatterers(img, pts + torch.tensor([0.5, 0.0]), (dx, dy), res)
    assert far["pd"] == 0 and far["false_alarms"] == 3 and math.isnan(far["rmse_cells"])


def test_bad_inputs():
    ref, est = _pair()
    with pytest.raises(ShapeError):
        radar_psnr(ref, est[..., :-1])
    with pytest.raises(InputError, match="zero"):
        radar_nmse_db(torch.zeros_like(ref), est)
    with pytest.raises(ShapeError):
        detect_scatterers(ref, torch.zeros(3, 3), (1, 1), (1, 1))
    with pytest.raises(InputError, match="dynamic_range"):
        radar_ssim(ref, est, dynamic_range_db=0)
