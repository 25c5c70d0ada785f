"""Radar torch Datasets: simulated items agree with the simulator, files reproduce them."""

import math
import pickle

import pytest
import torch

from discofold.data.radar_datasets import (
    RadarFileDataset,
    SimulatedRadarDataset,
    simulate_radar_file,
)
from discofold.data.radar_io import RadarH5Reader
from discofold.data.radar_sim import make_geometry, reference_image, simulate_echo
from discofold.errors import InputError


def _geo():
    return make_geometry(10e9, 0.3e9, math.radians(2.0), (25, 20), extent_m=(9.6, 8.0),
                         name="tiny")


def _half_pulses(shape, acceleration, gen):
    keep = torch.randperm(shape[0], generator=gen)[: shape[0] // 2]
    m = torch.zeros(shape, dtype=torch.bool)
    m[keep] = True
    return m


def test_simulated_items_match_simulator_and_are_repeatable():
    ds = SimulatedRadarDataset(_geo(), "satellite", length=4, pattern=_half_pulses,
                               aspect_dependent=True, seed=7)
    y, params, target, meta = ds[2]
    scene = ds.make_scene(2)
    clean = simulate_echo(scene, ds.geometry)
    mask = params["mask"]
    assert mask.dtype == torch.bool and int(mask.sum()) == mask.shape[0] // 2 * mask.shape[1]
    assert torch.equal(y, (clean * mask).to(torch.complex64))
    assert torch.equal(target, reference_image(clean, ds.geometry).to(torch.complex64))
    assert meta["acceleration"] == pytest.approx(mask.numel() / int(mask.sum()))
    assert meta["pattern"] == "_half_pulses" and math.isnan(meta["snr_db"])
    assert torch.equal(params["image_shape"], torch.tensor([25, 20]))
    again = ds[2]
    assert torch.equal(again[0], y) and torch.equal(again[2], target)
    assert not torch.equal(ds[1][2], target)
    # the scene does not depend on the pattern: a full-aperture twin has the same target
    full = SimulatedRadarDataset(_geo(), "satellite", length=4, pattern=None,
                                 aspect_dependent=True, seed=7)
    y_full, p_full, t_full, m_full = full[2]
    assert torch.equal(t_full, target) and bool(p_full["mask"].all())
    assert torch.equal(y_full[mask], y[mask]) and m_full["pattern"] == "full"


def test_noise_and_loader_collate():
    ds = SimulatedRadarDataset(_geo(), "points", length=3, pattern=_half_pulses, snr_db=10.0,
                               seed=1)
    y, params, _, meta = ds[0]
    clean = simulate_echo(ds.make_scene(0), ds.geometry)
    m = params["mask"]
    n = (y.to(torch.complex128) - clean)[m]
    snr = 10 * math.log10(float((clean[m].abs() ** 2).mean() / (n.abs() ** 2).mean()))
    assert abs(snr - 10.0) < 0.6  # ~700 samples
    assert bool((y[~m] == 0).all()) and meta["snr_db"] == 10.0
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch[0].shape == (3, *ds.geometry.data_shape) and batch[2].shape == (3, 25, 20)
    assert batch[1]["mask"].shape == (3, *ds.geometry.data_shape)
    assert torch.equal(batch[0][0], y)


def test_patterns_from_sampling_registry():
    sampling = pytest.importorskip("discofold.sampling")
    names = ["random_pulses", "random_subbands"]
    assert set(names) <= set(sampling.list_patterns())
    ds = SimulatedRadarDataset(_geo(), "points", length=6, pattern=names, acceleration=2.0,
                               seed=3)
    seen = set()
    for i in range(6):
        y, params, _, meta = ds[i]
        m = params["mask"]
        assert meta["pattern"] in names
        assert meta["acceleration"] == pytest.approx(m.numel() / int(m.sum()))
        assert bool((y[~m] == 0).all())
        seen.add(meta["pattern"])
    assert seen == set(names)


def test_file_round_trip_and_retrospective_masks(tmp_path):
    ds = SimulatedRadarDataset(_geo(), "satellite", length=3, pattern=_half_pulses,
                               snr_db=20.0, aspect_dependent=True, seed=4)
    path = simulate_radar_file(tmp_path / "sim.h5", ds)
    with pytest.raises(InputError, match="overwrite"):
        simulate_radar_file(path, ds)
    files = RadarFileDataset(path)
    assert len(files) == 3
    for i in range(3):
        y, params, target, meta = files[i]
        y0, p0, t0, _ = ds[i]
        assert torch.equal(y, y0) and torch.equal(target, t0)
        assert torch.equal(params["mask"], p0["mask"])
        assert meta["snr_db"] == 20.0 and meta["frame"] == i
    with RadarH5Reader(path) as rd:  # the stored scene regenerates the clean echo
        fr = rd[1]
        clean = simulate_echo(ds.make_scene(1), ds.geometry)
        assert torch.allclose(simulate_echo(fr.scene, fr.geometry), clean, rtol=0,
                              atol=1e-10 * float(clean.abs().max()))
    retro = RadarFileDataset(path, pattern=_half_pulses)
    a, b = retro[1], RadarFileDataset(path, pattern=_half_pulses)[1]
    assert torch.equal(a[1]["mask"], b[1]["mask"])  # seeded from (file, frame)
    assert bool((a[1]["mask"] <= files[1][1]["mask"]).all())
    assert a[3]["acceleration"] >= files[1][3]["acceleration"]
    clone = pickle.loads(pickle.dumps(files))
    assert torch.equal(clone[0][0], files[0][0])
    files.close()


def test_file_dataset_requires_target(tmp_path):
    from discofold.data.radar_io import write_radar_h5

    path = write_radar_h5(tmp_path / "m.h5", torch.ones(4, 3, dtype=torch.complex64),
                          torch.zeros(4), torch.full((3,), 1e9), extent_m=(1, 1),
                          image_shape=(5, 2))
    with pytest.raises(InputError, match="reference_image"):
        RadarFileDataset(path)
    y, params, target, _ = RadarFileDataset(path, require_target=False)[0]
    assert target.shape == (5, 2) and bool(params["mask"].all())


def test_bad_arguments():
    with pytest.raises(InputError, match="scene"):
        SimulatedRadarDataset(_geo(), "cars")
    with pytest.raises(IndexError):
        SimulatedRadarDataset(_geo(), length=2)[2]
