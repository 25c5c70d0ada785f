"""ESPIRiT coil maps (:mod:`discofold.solvers.espirit`) as mathematics: on simulated multi-coil
data the maps are unit-norm on the object, the coil images lie in their span, they equal the
simulated maps up to a per-pixel phase, CG-SENSE with them beats CG-SENSE with the ACS maps when
the calibration box is small, and they agree with sigpy's ``EspiritCalib`` (optional)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from discofold.data import birdcage_maps
from discofold.data.coils import rss
from discofold.data.fastmri import MRISlice
from discofold.data.phantoms import rasterize_ellipses, shepp_logan_ellipses
from discofold.errors import InputError
from discofold.metrics import psnr
from discofold.operators import CartesianMRI, fft2c
from discofold.solvers.espirit import espirit_maps
from discofold.solvers.pipeline import (
    calibration_box,
    estimate_coil_maps,
    mri_operator,
    reconstruct,
    slice_coil_maps,
)

ONE_THREAD = True  # one torch thread per test (tests/conftest.py)


def _data(shape, coils: int = 8, seed: int = 0):
    """Phantom ``x`` ``(H, W)``, true maps ``(C, H, W)``, full k-space, object support."""
    x = rasterize_ellipses(shepp_logan_ellipses(), shape, 2).to(torch.complex128)
    maps = birdcage_maps(shape, coils, generator=torch.Generator().manual_seed(seed),
                         dtype=torch.complex128)
    return x, maps, fft2c(x * maps), x.abs() > 0.05


def _column_mask(w: int, lines: int, step: int = 4) -> torch.Tensor:
    mask = torch.zeros(w, dtype=torch.bool)
    mask[::step] = True
    mask[w // 2 - lines // 2:w // 2 - lines // 2 + lines] = True
    return mask


def _phase_free_match(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """``|⟨S_est, S_ref⟩|`` per pixel: 1 where the maps agree up to a phase."""
    return (est.conj() * ref).sum(0).abs()


@pytest.mark.parametrize("shape", [(45, 38), (64, 64)])
def test_maps_are_unit_norm_and_span_the_coil_images(shape):
    x, maps, k, obj = _data(shape)
    raw = espirit_maps(k.to(torch.complex64), None, calib=(24, 24))
    assert raw.shape == (8, *shape) and raw.dtype == torch.complex64
    est = raw.to(torch.complex128)
    norm = (est.abs() ** 2).sum(0)
    assert torch.allclose(norm[obj], torch.ones_like(norm[obj]), atol=1e-4)
    assert bool(((norm < 1e-12) | ((norm - 1).abs() < 1e-4)).all())  # cropped pixels are 0
    coil = x * maps
    proj = est * (est.conj() * coil).sum(0)
    assert float((coil - proj).norm() / coil.norm()) < 0.02
    # phase of the first coil removed
    assert float(est[0].imag.abs().max()) < 1e-5 and float(est[0].real.min()) >= -1e-6


@pytest.mark.parametrize("shape", [(45, 38), (64, 64)])
def test_maps_match_the_simulated_maps_up_to_a_phase(shape):
    _, maps, k, obj = _data(shape, seed=1)
    est = espirit_maps(k.to(torch.complex64), None, calib=(24, 24)).to(torch.complex128)
    match = _phase_free_match(est, maps)[obj]
    assert float(match.min()) > 0.995 and float(match.mean()) > 0.9995


def test_power_iteration_and_column_mask_box():
    """Maps from the calibration box of a 1-D mask (all rows of 12 centre columns), by eigh and
    by power iteration, both match the truth; the box is the pipeline's ``calibration_box``."""
    shape = (45, 38)
    _, maps, k, obj = _data(shape, seed=2)
    mask = _column_mask(shape[1], 12, step=5)
    y = (k * mask).to(torch.complex64)
    rows, cols = calibration_box(mask, shape)
    exact = espirit_maps(y, mask).to(torch.complex128)
    boxed = espirit_maps(y, None, calib=(rows, cols)).to(torch.complex128)
    power = espirit_maps(y, mask, max_iter=60).to(torch.complex128)
    assert torch.allclose(exact, boxed)
    assert float(_phase_free_match(exact, maps)[obj].min()) > 0.99
    assert float((_phase_free_match(power, exact)[obj] - 1).abs().max()) < 1e-3


def test_blocks_of_rows_give_the_same_maps(monkeypatch):
    """``G`` is built and decomposed a block of rows at a time: 7-row blocks (45 = 6·7 + 3)
    give the maps of a single block."""
    import discofold.solvers.espirit as esp

    _, _, k, _ = _data((45, 38), coils=4, seed=7)
    y = k.to(torch.complex64)
    whole = espirit_maps(y, None, calib=(20, 16))
    monkeypatch.setattr(esp, "_CHUNK", 7 * 38 * 16)
    assert torch.allclose(espirit_maps(y, None, calib=(20, 16)), whole, atol=1e-6)


def _cg_psnr(y, mask, maps, truth, lam: float = 0.001) -> float:
    op = CartesianMRI(mask[None], coil_maps=maps, image_shape=tuple(truth.shape))
    x = reconstruct(y, op, "cg", {"lam": lam, "max_iter": 30})
    return psnr(truth, rss(x.unsqueeze(-3) * maps))


@pytest.mark.parametrize("lines, margin", [(5, 5.0), (8, 2.0)])
def test_cg_sense_with_espirit_beats_acs_maps_on_a_small_box(lines, margin, capsys):
    """64×64, 8 coils, every 4th column plus ``lines`` centre lines (a box of 5 and 9 lines),
    30 dB SNR: CG-SENSE PSNR (magnitude against the true RSS) with ESPIRiT maps is higher than
    with the ACS maps by ``margin`` dB, and both beat zero filling."""
    shape = (64, 64)
    x, maps, k, _ = _data(shape, seed=3)
    g = torch.Generator().manual_seed(4)
    sigma = float(k.abs().std()) * 10 ** (-30 / 20)
    noise = torch.randn(k.shape, generator=g, dtype=torch.complex128) * sigma
    mask = _column_mask(shape[1], lines)
    y = ((k + noise) * mask).to(torch.complex64)
    truth = rss(x * maps).float()
    zf_op = CartesianMRI(mask[None], image_shape=shape)
    zf = psnr(truth, rss(reconstruct(y, zf_op, "zf", {})))
    acs = _cg_psnr(y, mask, estimate_coil_maps(y, mask), truth)
    esp = _cg_psnr(y, mask, espirit_maps(y, mask), truth)
    nbox = calibration_box(mask, shape)[1]
    with capsys.disabled():
        print(f"\n[espirit] box {nbox.stop - nbox.start} lines: PSNR zf {zf:.2f} dB, "
              f"CG-SENSE ACS maps {acs:.2f} dB, ESPIRiT maps {esp:.2f} dB")
    assert esp > acs + margin and acs > zf
    if lines == 5:  # a kernel nearly as wide as the box (6×4 on 5 lines) is what fails
        assert _cg_psnr(y, mask, espirit_maps(y, mask, kernel_width=(6, 4)), truth) < acs


def test_too_small_calibration_box_is_refused():
    _, _, k, _ = _data((40, 36), coils=4)
    y = k.to(torch.complex64)
    with pytest.raises(InputError, match=r"region is 40×3 k-space lines.*at least 4×4"):
        espirit_maps(y, _column_mask(36, 3, step=36))
    with pytest.raises(InputError, match=r"region is 40×5 k-space lines.*6×6 kernel needs "
                                         r"at least 6×6"):
        espirit_maps(y, _column_mask(36, 5, step=36), kernel_width=6)
    with pytest.raises(InputError, match="holds only zeros"):
        espirit_maps(torch.zeros_like(y), None)


def test_pipeline_option_and_non_cartesian_refusal():
    shape = (45, 38)
    _, maps, k, obj = _data(shape, coils=4, seed=5)
    mask = _column_mask(shape[1], 10)
    sl = MRISlice(kspace=(k * mask).to(torch.complex64), mask=mask, trajectory=None,
                  target=None, matrix=shape, attrs={}, file="sim.h5", slice_index=0)
    assert torch.equal(slice_coil_maps(sl), estimate_coil_maps(sl.kspace, mask))
    op = mri_operator(sl, maps="espirit")
    assert torch.equal(op.coil_maps, espirit_maps(sl.kspace, mask))
    with pytest.raises(InputError, match="unknown coil-map method 'bart'"):
        slice_coil_maps(sl, method="bart")
    nc = dataclasses.replace(sl, mask=None, trajectory=torch.zeros(10, 2),
                             kspace=torch.zeros(4, 10, dtype=torch.complex64))
    with pytest.raises(InputError, match="non-Cartesian"):
        slice_coil_maps(nc, method="espirit")


def test_agrees_with_sigpy_espirit_calib():
    """sigpy's ``EspiritCalib`` (numpy, power iteration) on the same centred 24×24 calibration
    box: the same maps, phase convention (first coil real) and cropped support included."""
    app = pytest.importorskip("sigpy.mri.app")
    shape = (45, 38)
    _, _, k, obj = _data(shape, seed=6)
    ours = espirit_maps(k.to(torch.complex64), None, calib=(24, 24), kernel_width=6)
    theirs = app.EspiritCalib(k.numpy().astype(np.complex64), calib_width=24, kernel_width=6,
                              thresh=0.02, crop=0.95, max_iter=100, show_pbar=False).run()
    theirs = torch.from_numpy(np.asarray(theirs)).to(torch.complex128)
    assert float(_phase_free_match(ours.to(torch.complex128), theirs)[obj].min()) > 0.9999
    # on the whole grid (background included: a smaller eigen-gap, slower power iteration)
    assert torch.allclose(ours.to(torch.complex128), theirs, atol=1e-3)
