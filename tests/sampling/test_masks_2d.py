"""2-D MRI masks: exact budgets, calibration, seeding, batches, Poisson-disc geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from discofold.errors import InputError
from discofold.sampling import list_patterns, make_mask, poisson_2d
from discofold.sampling import poisson as poisson_mod

PATTERNS_2D = ["gaussian_2d", "poisson_2d", "radial_2d", "spiral_2d"]
SIZES = [(37, 31), (64, 64), (96, 80), (256, 256)]


def test_registry_family_lists_the_four_2d_patterns():
    assert list_patterns("mri_2d") == PATTERNS_2D


@pytest.mark.parametrize("name", PATTERNS_2D)
@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("r", [4, 8])
def test_true_acceleration_and_calibration(name, shape, r):
    p = make_mask(name, shape, r, generator=11)
    h, w = shape
    n = int(p.mask.sum())
    assert p.mask.shape == shape and p.mask.dtype == torch.bool
    assert n == round(h * w / r)  # exact budget, calibration box included
    assert p.acceleration == pytest.approx(h * w / n, rel=1e-12)  # reported = true
    assert abs(p.acceleration / r - 1.0) <= 0.02
    assert p.nominal_acceleration == r
    box = p.calibration_mask
    assert bool(p.mask[box].all())
    # the box scales with the matrix: max(2, round(cf * N)) per axis, centred on the DC sample
    cf = {4: 0.08, 8: 0.04}[r]
    rows, cols = p.calibration
    assert rows.stop - rows.start == min(h, max(2, round(cf * h)))
    assert cols.stop - cols.start == min(w, max(2, round(cf * w)))
    assert rows.start <= h // 2 < rows.stop and cols.start <= w // 2 < cols.stop
    assert p.num_low_frequencies == cols.stop - cols.start


@pytest.mark.parametrize("name", PATTERNS_2D)
def test_seed_reproduces_and_batch_samples_differ(name):
    shape = (48, 41)
    a = make_mask(name, shape, 4, generator=5)
    b = make_mask(name, shape, 4, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.mask, b.mask)
    c = make_mask(name, shape, 4, generator=6)
    assert not torch.equal(a.mask, c.mask)
    batch = make_mask(name, shape, 4, generator=5, batch=3)
    assert batch.mask.shape == (3, *shape)
    assert torch.equal(batch.mask[0], a.mask)  # same generator stream
    for i in range(3):
        for j in range(i):
            assert not torch.equal(batch.mask[i], batch.mask[j])
    assert torch.allclose(batch.per_sample_acceleration(),
                          torch.full((3,), 48 * 41 / round(48 * 41 / 4), dtype=torch.float64))


@pytest.mark.parametrize("name", PATTERNS_2D)
def test_global_rng_untouched(name):
    t_state = torch.get_rng_state()
    n_state = np.random.get_state()[1].copy()  # noqa: NPY002 - checking the legacy global RNG
    make_mask(name, (40, 36), 4, generator=1)
    make_mask(name, (40, 36), 4)  # generator=None must not use the global RNG either
    assert torch.equal(torch.get_rng_state(), t_state)
    assert np.array_equal(np.random.get_state()[1], n_state)  # noqa: NPY002


def test_gaussian_variable_density_and_no_duplicates():
    # many draws: inclusion frequency falls off with |u| like the Gaussian weights
    h, w, r = 33, 29, 6
    masks = make_mask("gaussian_2d", (h, w), r, generator=0, batch=200).mask
    assert (masks.flatten(1).sum(1) == round(h * w / r)).all()  # w/o replacement: no collision
    freq = masks.double().mean(0)
    ky = (torch.arange(h) - h // 2) / (h / 2)
    kx = (torch.arange(w) - w // 2) / (w / 2)
    rho = torch.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)
    ring = lambda a, b: freq[(rho >= a) & (rho < b)].mean()  # noqa: E731
    assert ring(0.2, 0.4) > ring(0.4, 0.6) > ring(0.6, 0.8) > ring(0.8, 1.0)


def _sequential_dart_throwing(cand, radius, s, prio):
    """Slow reference: visit candidates in priority order, accept if far from all accepted."""
    coords = cand.nonzero().double()
    r = radius[cand]
    accepted = []
    for i in torch.argsort(prio).tolist():
        ok = all(
            float(torch.linalg.norm(coords[i] - coords[j])) >= s * 0.5 * float(r[i] + r[j])
            for j in accepted
        )
        if ok:
            accepted.append(i)
    out = torch.zeros(len(coords), dtype=torch.bool)
    out[accepted] = True
    return out


@pytest.mark.parametrize("s", [0.8, 1.3, 2.1])
def test_parallel_rounds_equal_sequential_dart_throwing(s):
    shape = (19, 16)
    cand = torch.ones(shape, dtype=torch.bool)
    cand[8:11, 7:9] = False
    radius = poisson_mod.poisson_radius(shape, 1.5)
    prio = torch.randperm(int(cand.sum()), generator=torch.Generator().manual_seed(2))
    reach = math.ceil(s * float(radius.max()))
    fast = poisson_mod._greedy(poisson_mod._Neighbours(shape, cand, radius, reach), s, prio)
    assert torch.equal(fast, _sequential_dart_throwing(cand, radius, s, prio))


@pytest.mark.parametrize("shape,r", [((37, 31), 4), ((64, 64), 8), ((96, 80), 4), ((70, 90), 8)])
def test_poisson_minimum_distance(shape, r):
    vd = 1.5
    p = poisson_2d(shape, r, generator=3, vd=vd)
    h, w = shape
    pts = (p.mask & ~p.calibration_mask).nonzero().double()
    # local radius recomputed here: s * (1 + vd * |u|), |u| = 1 at the edge midpoints
    u = torch.stack([(pts[:, 0] - h // 2) / (h / 2), (pts[:, 1] - w // 2) / (w / 2)], 1)
    rad = p.meta["radius_scale"] * (1.0 + vd * torch.linalg.norm(u, dim=1))
    d = torch.cdist(pts, pts)
    need = 0.5 * (rad[:, None] + rad[None, :])
    off = ~torch.eye(len(pts), dtype=torch.bool)
    assert bool((d[off] >= need[off] * (1 - 1e-12)).all())
    # and the disc is not trivially loose: some pair is within 1.5x its exclusion distance
    assert bool((d[off] < 1.5 * need[off]).any())
    assert p.meta["radius_scale"] * (1 + vd) > 1.0  # outer samples really are spread out


def test_poisson_density_decreases_outwards():
    p = poisson_2d((128, 112), 6, generator=0)
    h, w = 128, 112
    ky = (torch.arange(h) - h // 2) / (h / 2)
    kx = (torch.arange(w) - w // 2) / (w / 2)
    rho = torch.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)
    m = p.mask.double()
    inner, outer = m[(rho > 0.2) & (rho < 0.4)].mean(), m[(rho > 0.8) & (rho < 1.0)].mean()
    # density ~ 1 / r^2 with r = s (1 + 1.5 rho): expect about ((1 + 1.35) / (1 + 0.45))^2 = 2.6
    assert 1.8 < float(inner / outer) < 3.6


def test_radial_and_spiral_meta_counts_curves():
    p = make_mask("radial_2d", (64, 64), 8, generator=0)
    q = make_mask("radial_2d", (64, 64), 4, generator=0)
    assert q.meta["num_spokes"] > p.meta["num_spokes"] >= 2
    s = make_mask("spiral_2d", (64, 64), 4, generator=0)
    assert s.meta["num_interleaves"] >= 2
    # same first angle for the same seed: the R = 4 spokes contain the R = 8 ones (nested)
    assert bool((q.mask | ~p.mask).all())


@pytest.mark.parametrize("name", PATTERNS_2D)
def test_invalid_inputs_raise(name):
    with pytest.raises(InputError, match=">= 1"):
        make_mask(name, (32, 32), 0.5)
    with pytest.raises(InputError, match="budget"):
        make_mask(name, (32, 32), 8, center_fraction=0.5)
    with pytest.raises(InputError, match="shape"):
        make_mask(name, (32, 0), 4)
    with pytest.raises(InputError, match="unexpected"):
        make_mask(name, (32, 32), 4, bogus=1)
    with pytest.raises(InputError, match="batch"):
        make_mask(name, (32, 32), 4, batch=0)


def test_unknown_name_lists_valid_ones_and_suggests():
    with pytest.raises(InputError) as err:
        make_mask("poison_2d", (32, 32), 4)
    msg = str(err.value)
    assert "poisson_2d" in msg and "did you mean" in msg
    for name in list_patterns():
        assert name in msg
    with pytest.raises(InputError):
        list_patterns("nope")


def test_acceleration_one_and_zero_center():
    p = make_mask("gaussian_2d", (20, 18), 1, generator=0)
    assert bool(p.mask.all()) and p.acceleration == 1.0
    q = make_mask("poisson_2d", (30, 28), 3, generator=0, center_fraction=0.0)
    assert q.calibration_mask.sum() == 0 and q.mask.sum() == round(30 * 28 / 3)
