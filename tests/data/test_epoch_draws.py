"""Simulated training data redrawn per epoch: ``draw(index, epoch)`` of the simulated datasets.

Epoch 0 is ``ds[index]`` (the historical seeds, replayed in test_mri_datasets and
test_radar_datasets); epoch ``e > 0`` replays the same draw order from
``derive_seed(seed, e, index)``, and everything drawn (image, coil maps, mask, noise; for radar
scene, aperture, noise) changes with the epoch.
"""

from __future__ import annotations

import math

import pytest
import torch

from discofold.commands._common import derive_seed
from discofold.data.blockcs import BlockCSPatches
from discofold.data.coils import birdcage_maps
from discofold.data.mri_datasets import SimulatedMRIDataset
from discofold.data.phantoms import random_ellipses, rasterize_ellipses, smooth_phase
from discofold.data.radar_datasets import SimulatedRadarDataset
from discofold.data.radar_scenes import point_scene
from discofold.data.radar_sim import make_geometry, simulate_echo
from discofold.errors import InputError
from discofold.operators import CartesianMRI

SHAPE = (37, 31)


def _mri(snr_db=None, seed=7):
    return SimulatedMRIDataset(3, SHAPE, [("random", 4)], num_coils=2, snr_db=snr_db,
                               seed=seed, oversample=1)


def _same_item(a, b) -> bool:
    (ya, pa, ta, ma), (yb, pb, tb, mb) = a, b
    same_ops = all((pa[k] is None and pb[k] is None) or
                   (isinstance(pa[k], torch.Tensor) and torch.equal(pa[k], pb[k])) or
                   pa[k] == pb[k] for k in pa)
    return torch.equal(ya, yb) and torch.equal(ta, tb) and same_ops and ma == mb


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.conj() * b).sum().abs() / (a.norm() * b.norm()))


def test_mri_epoch_zero_is_the_indexed_item_and_draws_are_pure():
    ds = _mri(snr_db=20.0)
    for i in range(3):
        assert _same_item(ds.draw(i), ds[i]) and _same_item(ds.draw(i, 0), ds[i])
        # a pure function of (seed, epoch, index): another instance, another order
        assert _same_item(_mri(snr_db=20.0).draw(i, 3), ds.draw(i, 3))
    with pytest.raises(InputError, match="epoch"):
        ds.draw(0, -1)
    with pytest.raises(IndexError):
        ds.draw(3, 1)


def test_mri_later_epoch_replays_the_draw_order_from_the_derived_seed():
    ds = _mri()
    y, op, target, _ = ds.draw(1, 2)
    g = torch.Generator().manual_seed(derive_seed(7, 2, 1))
    mag = rasterize_ellipses(random_ellipses(g), SHAPE, supersample=2)
    x = torch.polar(mag.float(), smooth_phase(SHAPE, g))
    coil_seed = int(torch.randint(0, 2**62, (1,), generator=g))
    assert torch.equal(op["coil_maps"], birdcage_maps(SHAPE, 2, torch.Generator()
                                                       .manual_seed(coil_seed)))
    ref = CartesianMRI(**op).A(x)
    assert float((y - ref).abs().max()) < 1e-5 * float(ref.abs().max())
    assert torch.allclose(target, x.abs(), atol=1e-5)


def test_mri_image_coils_mask_and_noise_change_with_the_epoch():
    clean, noisy = _mri(), _mri(snr_db=20.0)
    for i in range(3):
        y0, op0, t0, m0 = noisy.draw(i, 0)
        y1, op1, t1, m1 = noisy.draw(i, 1)
        assert (t0 - t1).norm() > 0.1 * t0.norm()  # another image
        assert not torch.equal(op0["coil_maps"], op1["coil_maps"])
        assert not torch.equal(op0["mask"], op1["mask"])
        # noise = noisy - clean at the same key (the noise is the last draw)
        n0 = (y0 - clean.draw(i, 0)[0]) / m0["noise_sigma"]
        n1 = (y1 - clean.draw(i, 1)[0]) / m1["noise_sigma"]
        both = (op0["mask"] & op1["mask"]).expand(SHAPE)
        assert int(both.sum()) > 100  # |correlation| of independent noise ~ 1 / sqrt(samples)
        assert _correlation(n0[:, both], n1[:, both]) < 3 / math.sqrt(2 * int(both.sum()))


def _geo():
    return make_geometry(10e9, 0.3e9, math.radians(2.0), (25, 20), extent_m=(9.6, 8.0),
                         name="tiny")


def _radar(snr_db=None):
    return SimulatedRadarDataset(_geo(), "points", length=3, pattern="random_pulses",
                                 acceleration=2.0, snr_db=snr_db, seed=5)


def test_radar_epoch_zero_is_the_indexed_item_and_draws_are_pure():
    ds = _radar(snr_db=10.0)
    for i in range(3):
        assert _same_item(ds.draw(i), ds[i]) and _same_item(ds.draw(i, 0), ds[i])
        assert _same_item(_radar(snr_db=10.0).draw(i, 2), ds.draw(i, 2))
    with pytest.raises(InputError, match="epoch"):
        ds.draw(0, -1)


def test_radar_scene_aperture_and_noise_change_with_the_epoch():
    clean, noisy = _radar(), _radar(snr_db=10.0)
    for i in range(3):
        s0, s1 = clean.make_scene(i, 0), clean.make_scene(i, 1)
        assert not torch.equal(s0.scatterers, s1.scatterers)
        # epoch 1's scene is the documented draw from derive_seed(seed, 1, i, 0)
        ref = point_scene(torch.Generator().manual_seed(derive_seed(5, 1, i, 0)),
                          radius_m=0.45 * min(clean.geometry.extent_m))
        assert torch.equal(s1.scatterers, ref.scatterers)
        y0, p0, t0, _ = noisy.draw(i, 0)
        y1, p1, t1, _ = noisy.draw(i, 1)
        assert (t0 - t1).norm() > 0.1 * t0.norm()
        assert not torch.equal(p0["mask"], p1["mask"])
        # the scene and aperture streams do not see the noise: noisy - clean is the noise
        assert torch.equal(p1["mask"], clean.draw(i, 1)[1]["mask"])
        assert torch.equal(y1[~p1["mask"]], torch.zeros_like(y1[~p1["mask"]]))
        clean1 = simulate_echo(s1, clean.geometry).to(torch.complex64)
        assert torch.allclose(clean.draw(i, 1)[0], clean1 * p1["mask"])
        n0 = y0 - clean.draw(i, 0)[0]
        n1 = y1 - clean.draw(i, 1)[0]
        both = p0["mask"] & p1["mask"]
        assert int(both.sum()) > 50  # |correlation| of independent noise ~ 1 / sqrt(samples)
        assert _correlation(n0[both], n1[both]) < 3 / math.sqrt(int(both.sum()))


def test_blockcs_flips_change_with_the_epoch_and_repeat():
    x = torch.arange(2 * 5 * 5, dtype=torch.float32).reshape(2, 5, 5)  # no symmetry
    ds = BlockCSPatches(x, flips=True, seed=3)
    assert torch.equal(ds.draw(1), ds[1]) and torch.equal(ds.draw(1, 0), ds[1])
    seen = {tuple(ds.draw(0, e).flatten().tolist()) for e in range(12)}
    assert len(seen) >= 3  # 8 dihedral images; 12 epochs show several of them
    assert torch.equal(BlockCSPatches(x, flips=True, seed=3).draw(0, 5), ds.draw(0, 5))
    plain = BlockCSPatches(x)
    assert all(torch.equal(plain.draw(0, e), x[0]) for e in range(3))
