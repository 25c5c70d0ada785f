"""MRI Datasets: the simulated pipeline reproduces A(x) exactly, avoids the inverse crime,
hits the SNR; file datasets seed masks from (file, slice); collate mixes masks per sample."""

import math

import numpy as np
import pytest
import torch

import discofold.data.mri_datasets as md
from discofold.data.coils import birdcage_maps
from discofold.data.fastmri import write_mri_file
from discofold.data.mri_datasets import (
    MRIFileDataset,
    PatternSpec,
    SimulatedMRIDataset,
    SimulatedNonCartesianDataset,
    collate,
)
from discofold.data.phantoms import (
    ellipse_kspace,
    random_ellipses,
    rasterize_ellipses,
    smooth_phase,
)
from discofold.errors import InputError
from discofold.operators import CartesianMRI, fft2c
from discofold.sampling import make_mask, make_trajectory, seed_from

SHAPE = (37, 31)


def _generator(seed, index):
    return torch.Generator().manual_seed((seed * md._SEED_MIX + index) % 2**63)


def test_simulation_reproduces_operator_forward_exactly():
    ds = SimulatedMRIDataset(3, SHAPE, [("random", 4)], num_coils=5, seed=7, oversample=1)
    for i in range(3):
        y, op, target, meta = ds[i]
        g = _generator(7, i)  # replay the documented draw order
        mag = rasterize_ellipses(random_ellipses(g), SHAPE, supersample=2)
        x = torch.polar(mag.float(), smooth_phase(SHAPE, g))
        coil_seed = int(torch.randint(0, 2**62, (1,), generator=g))
        maps = birdcage_maps(SHAPE, 5, torch.Generator().manual_seed(coil_seed))
        assert torch.equal(op["coil_maps"], maps)
        ref = CartesianMRI(**op).A(x)
        assert float((y - ref).abs().max()) < 1e-5 * float(ref.abs().max())
        assert torch.allclose(target, x.abs(), atol=1e-5)  # RSS = |x| since sum |S|^2 = 1
        m = op["mask"].expand(SHAPE)
        assert meta["acceleration"] == pytest.approx(m.numel() / float(m.sum()))


def _analytic_error(oversample):
    ds = SimulatedMRIDataset(1, (48, 40), [("random", 1.0)], num_coils=None, seed=3,
                             oversample=oversample)
    y = ds[0][0]
    ell = random_ellipses(_generator(3, 0))  # the first draw of sample 0
    m0 = torch.arange(-8, 9, dtype=torch.float64)
    m1 = torch.arange(-6, 7, dtype=torch.float64)
    k = torch.stack(torch.meshgrid(2 * math.pi * m0 / 48, 2 * math.pi * m1 / 40, indexing="ij"),
                    -1)
    ana = ellipse_kspace(ell, k, (48, 40))
    sub = y[24 - 8 : 24 + 9, 20 - 6 : 20 + 7].to(torch.complex128)
    return float((sub - ana).norm() / ana.norm())


def test_oversampled_simulation_matches_analytic_kspace(monkeypatch):
    """No inverse crime: the simulated k-space is close to the continuous object's, and closer
    than the k-space of the same phantom rasterised on the reconstruction grid."""
    monkeypatch.setattr(md, "smooth_phase", lambda shape, g: torch.zeros(shape))
    crime, fine = _analytic_error(1), _analytic_error(4)
    assert fine < 0.005 and fine < 0.5 * crime, (fine, crime)


def test_snr_is_achieved_and_noise_only_on_measured_samples():
    clean = SimulatedMRIDataset(8, SHAPE, [("equispaced", 3)], num_coils=3, seed=1)
    noisy = SimulatedMRIDataset(8, SHAPE, [("equispaced", 3)], num_coils=3, seed=1, snr_db=12.0)
    snrs = []
    for i in range(8):
        y0, op, _, _ = clean[i]
        y1, op1, _, meta = noisy[i]
        assert torch.equal(op["mask"], op1["mask"])
        m = op["mask"].expand(SHAPE)
        n = (y1 - y0)[:, m]
        assert float((y1 - y0)[:, ~m].abs().max()) == 0.0
        snrs.append(10 * math.log10(float((y0[:, m].abs() ** 2).mean() / (n.abs() ** 2).mean())))
        assert meta["noise_sigma"] > 0
    assert sum(snrs) / 8 == pytest.approx(12.0, abs=0.15)


def test_patterns_mix_deterministic_and_collate_per_sample_masks():
    specs = [("equispaced", 4), PatternSpec("poisson_2d", 3.0), ("gaussian_2d", 5, {})]
    ds = SimulatedMRIDataset(12, SHAPE, specs, num_coils=2, seed=0)
    batch = [ds[i] for i in range(12)]
    assert len({b[3]["pattern"] for b in batch}) >= 2
    y2, _, _, _ = ds[5]
    assert torch.equal(y2, batch[5][0]) and not torch.equal(batch[4][0], batch[5][0])
    y, op, target, meta = collate(batch)
    assert y.shape == (12, 2, *SHAPE) and op["mask"].shape == (12, *SHAPE)
    assert target.shape == (12, *SHAPE) and len(meta["pattern"]) == 12
    # the batched operator acts per sample exactly like each sample's own operator
    x = torch.randn(12, *SHAPE, dtype=torch.complex64)
    ab = CartesianMRI(**op).A(x)
    for b in range(12):
        assert torch.allclose(ab[b], CartesianMRI(**batch[b][1]).A(x[b]), atol=1e-6)
    same = collate([ds[i] for i in range(12) if batch[i][3]["pattern"] == "equispaced"][:2])
    assert same[1]["mask"].shape[-2] == 1


def test_image_source_simulation(tmp_path):
    pytest.importorskip("skimage")
    from discofold.data.images import ImageSource

    ds = SimulatedMRIDataset(2, (32, 24), [("random", 2)], source=ImageSource(
        skimage_names=["camera"]), num_coils=None, seed=0)
    y, op, target, meta = ds[1]
    assert y.shape == (32, 24) and op["coil_maps"] is None and meta["source"] == "images"
    assert float(target.max()) <= 1.05 and float(target.min()) >= 0


def test_noncartesian_simulation_is_analytic_and_consistent_with_target():
    traj, _, _ = make_trajectory("radial", 9, 24)
    ds = SimulatedNonCartesianDataset(2, (40, 36), traj, seed=5)
    y, op, target, meta = ds[1]
    ell = random_ellipses(_generator(5, 1))
    assert torch.equal(y, ellipse_kspace(ell, traj.double(), (40, 36)).to(torch.complex64))
    # the target's dense NUDFT (pixel-averaged phantom) agrees at low |k| up to the pixel box
    k = traj.double()
    low = k.norm(dim=1) < math.pi / 3
    n0 = torch.arange(40, dtype=torch.float64) - 20
    n1 = torch.arange(36, dtype=torch.float64) - 18
    ph = k[low, 0, None, None] * n0[:, None] + k[low, 1, None, None] * n1[None, :]
    dense = (target.double() * torch.exp(-1j * ph)).sum((1, 2)) / math.sqrt(40 * 36)
    box = torch.sinc(k[low, 0] / (2 * math.pi)) * torch.sinc(k[low, 1] / (2 * math.pi))
    ref = y[low].to(torch.complex128) * box
    assert float((dense - ref).norm() / ref.norm()) < 0.02
    assert op["image_shape"] == (40, 36) and torch.equal(op["trajectory"], traj)
    noisy = SimulatedNonCartesianDataset(2, (40, 36), traj, snr_db=5.0, seed=5)[1]
    n = noisy[0] - y
    snr = 10 * math.log10(float((y.abs() ** 2).mean() / (n.abs() ** 2).mean()))
    assert snr == pytest.approx(5.0, abs=0.6)  # one draw of 216 samples


def _write_volume(path, seed, slices=3, coils=4, shape=SHAPE, **kw):
    rng = np.random.default_rng(seed)
    img = rng.standard_normal((slices, coils, *shape)) + 1j * rng.standard_normal(
        (slices, coils, *shape))
    k = fft2c(torch.from_numpy(img.astype(np.complex64))).numpy()
    target = np.sqrt((np.abs(img) ** 2).sum(1)).astype(np.float32)
    write_mri_file(path, k, target=target, **kw)
    return k, target


def test_file_dataset_masks_seeded_from_file_and_slice(tmp_path):
    k, target = _write_volume(tmp_path / "vol_a.h5", 0)
    _write_volume(tmp_path / "vol_b.h5", 1, slices=2)
    ds = MRIFileDataset(tmp_path, patterns=[("random", 4)])
    assert len(ds) == 5
    y, op, tgt, meta = ds[1]
    expect = make_mask("random", SHAPE, 4, generator=seed_from(tmp_path / "vol_a.h5", 1)).mask
    assert torch.equal(op["mask"][0], expect)
    assert np.array_equal(y.numpy(), k[1] * expect.numpy())
    assert np.array_equal(tgt.numpy(), target[1]) and meta["slice"] == 1
    again = MRIFileDataset([tmp_path / "vol_a.h5", tmp_path / "vol_b.h5"], [("random", 4)])
    for i in range(5):
        assert torch.equal(again[i][1]["mask"], ds[i][1]["mask"])
    fresh = MRIFileDataset(tmp_path, [("random", 4)], deterministic=False)
    assert any(not torch.equal(fresh[0][1]["mask"], fresh[0][1]["mask"]) for _ in range(3))
    y, op, tgt, meta = collate([ds[0], ds[4]])
    assert op["mask"].shape == (2, 1, SHAPE[1]) and op["coil_maps"] is None


def test_file_dataset_file_mask_matrix_and_noncartesian(tmp_path):
    mask = np.zeros(SHAPE[1], bool)
    mask[::2] = True
    rng = np.random.default_rng(2)
    k = (rng.standard_normal((2, *SHAPE)) * mask).astype(np.complex64)
    write_mri_file(tmp_path / "u.h5", k, mask=mask, attrs={"pattern": "equispaced"})
    y, op, tgt, meta = MRIFileDataset(tmp_path / "u.h5", [("random", 8)], matrix=(20, 31))[0]
    assert y.shape == (20, 31) and torch.equal(op["mask"][0], torch.from_numpy(mask))
    assert meta["pattern"] == "equispaced" and meta["acceleration"] == pytest.approx(31 / 16)
    assert tgt is None
    _write_volume(tmp_path / "f.h5", 3, slices=1, coils=2)
    y, op, tgt, meta = MRIFileDataset(tmp_path / "f.h5")[0]
    assert meta["acceleration"] == 1.0 and bool(op["mask"].all())
    kn = (rng.standard_normal((1, 2, 50)) + 0j).astype(np.complex64)
    traj = rng.uniform(-3, 3, (50, 2)).astype(np.float32)
    write_mri_file(tmp_path / "n.h5", kn, trajectory=traj, matrix=(16, 12))
    y, op, tgt, meta = MRIFileDataset(tmp_path / "n.h5")[0]
    assert np.array_equal(op["trajectory"].numpy(), traj) and op["image_shape"] == (16, 12)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no .h5"):
        MRIFileDataset(tmp_path / "empty")


def test_bad_arguments():
    with pytest.raises(InputError, match="pattern"):
        SimulatedMRIDataset(2, SHAPE, ["random"])
    with pytest.raises(InputError, match="source"):
        SimulatedMRIDataset(2, SHAPE, [("random", 2)], source="noise")
    with pytest.raises(InputError, match="empty"):
        SimulatedMRIDataset(2, SHAPE, [])
