"""MRI metrics against scikit-image / fastMRI's evaluate.py definitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from discofold.errors import InputError, ShapeError
from discofold.metrics import SSIMLoss, nmse, psnr, ssim


def _volume(seed=0, shape=(3, 37, 31)):
    rng = np.random.default_rng(seed)
    target = np.abs(rng.standard_normal(shape)).cumsum(axis=-1) / 10  # smooth-ish, positive
    pred = target + 0.05 * rng.standard_normal(shape)
    return target, pred


def test_nmse_and_psnr_by_hand():
    target, pred = _volume()
    assert nmse(target, pred) == pytest.approx(
        np.linalg.norm(target - pred) ** 2 / np.linalg.norm(target) ** 2, rel=1e-12)
    mse = np.mean((target - pred) ** 2)
    assert psnr(target, pred) == pytest.approx(10 * np.log10(target.max() ** 2 / mse), rel=1e-12)
    per = nmse(target, pred, reduction="slice")
    ref = [np.sum((t - p) ** 2) / np.sum(t**2) for t, p in zip(target, pred)]
    assert np.allclose(per.numpy(), ref, rtol=1e-12)


def test_psnr_and_ssim_match_scikit_image():
    metrics = pytest.importorskip("skimage.metrics")
    target, pred = _volume(1)
    vmax = target.max()
    ref_ssim = np.mean([metrics.structural_similarity(t, p, data_range=vmax)
                        for t, p in zip(target, pred)])
    assert abs(ssim(target, pred) - ref_ssim) < 1e-5
    per = ssim(target, pred, reduction="slice")
    for k in range(3):
        ref = metrics.structural_similarity(target[k], pred[k], data_range=vmax)
        assert abs(float(per[k]) - ref) < 1e-10
    ref_psnr = metrics.peak_signal_noise_ratio(target, pred, data_range=vmax)
    assert abs(psnr(target, pred) - ref_psnr) < 1e-5
    per = psnr(target, pred, reduction="slice")
    for k in range(3):
        ref = metrics.peak_signal_noise_ratio(target[k], pred[k], data_range=vmax)
        assert abs(float(per[k]) - ref) < 1e-8


def test_identical_images():
    target, _ = _volume(2)
    assert ssim(target, target) == pytest.approx(1.0, abs=1e-12)
    assert nmse(target, target) == 0.0
    assert psnr(target, target) == float("inf")


def test_ssim_loss_equals_metric_and_is_differentiable():
    target, pred = _volume(3, (4, 20, 23))
    t = torch.from_numpy(target)
    p = torch.from_numpy(pred).requires_grad_(True)
    loss = SSIMLoss()(p, t, data_range=t.max())
    assert abs(float(loss.detach()) - (1 - ssim(target, pred))) < 1e-12
    loss.backward()
    assert p.grad is not None and bool(torch.isfinite(p.grad).all())
    # gradient check in float64 on a tiny case
    small_t = t[:1, :9, :10]
    small_p = p.detach()[:1, :9, :10].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda z: SSIMLoss()(z, small_t, 1.0), (small_p,))
    same = SSIMLoss()(t[:, None], t[:, None])
    assert abs(float(same)) < 1e-12


def test_bad_inputs():
    target, pred = _volume(4)
    with pytest.raises(ShapeError):
        nmse(target, pred[:, :-1])
    bad = pred.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="non-finite"):
        psnr(target, bad)
    with pytest.raises(InputError, match="complex"):
        ssim(target.astype(np.complex64), pred.astype(np.complex64))
    with pytest.raises(InputError, match="reduction"):
        nmse(target, pred, reduction="mean")
    with pytest.raises(ShapeError, match="7"):
        ssim(target[:, :5, :5], pred[:, :5, :5])
