"""1-D column masks: fastMRI semantics, MaskFunc call convention, seeding helper."""

from __future__ import annotations

import zlib

import pytest
import torch

from discofold.errors import InputError
from discofold.sampling import (
    MaskFunc,
    column_mask,
    create_mask_for_mask_type,
    make_mask,
    seed_from,
)
from discofold.sampling.cartesian_1d import PATTERNS_1D

TABLE = {2: 0.16, 4: 0.08, 6: 0.06, 8: 0.04, 16: 0.02, 32: 0.01}


@pytest.mark.parametrize("pattern", PATTERNS_1D)
@pytest.mark.parametrize("w", [368, 369, 31])
@pytest.mark.parametrize("r", [4, 8])
def test_centre_follows_fastmri(pattern, w, r):
    p = column_mask(pattern, w, r, generator=0)
    nlf = max(round(w * TABLE[r]), 1 if pattern == "magic_fraction" else 0)
    start = (w - nlf + 1) // 2
    assert p.num_low_frequencies == nlf
    assert p.calibration == (slice(start, start + nlf),)
    assert bool(p.mask[start : start + nlf].all())
    if nlf:
        assert start <= w // 2 < start + nlf
    assert p.acceleration == pytest.approx(w / int(p.mask.sum()))


@pytest.mark.parametrize("r", [2, 4, 6, 8, 16, 32])
def test_default_center_fraction_table(r):
    p = column_mask("random", 640, r, generator=0)
    assert p.meta["center_fraction"] == TABLE[r]
    assert p.num_low_frequencies == round(640 * TABLE[r])


@pytest.mark.parametrize("w,r", [(368, 4), (369, 8), (100, 3)])
def test_equispaced_lines(w, r):
    for offset in range(r):
        p = column_mask("equispaced", w, r, offset=offset, center_fraction=0.0)
        expected = torch.arange(w) % r == offset
        assert torch.equal(p.mask, expected)
    # with a centre, the lines are kept and the centre is added
    p = column_mask("equispaced", w, r, generator=1)
    nlf = p.num_low_frequencies
    outside = torch.ones(w, dtype=torch.bool)
    outside[p.calibration[0]] = False
    idx = (p.mask & outside).nonzero().squeeze(1)
    assert set((idx % r).tolist()) == {int(idx[0]) % r}
    assert int(p.mask.sum()) >= nlf


@pytest.mark.parametrize("w,r", [(368, 4), (372, 8), (640, 4)])
def test_equispaced_fraction_meets_the_budget(w, r):
    cf = TABLE[r]
    nlf = round(w * cf)
    adjusted = r * (nlf - w) / (nlf * r - w)
    for seed in range(4):
        p = column_mask("equispaced_fraction", w, r, generator=seed)
        lines = column_mask("equispaced_fraction", w, r, generator=seed, center_fraction=cf)
        assert torch.equal(p.mask, lines.mask)
        # acceleration lines are round(offset + j * adjusted): gaps floor/ceil of adjusted
        outside = torch.ones(w, dtype=torch.bool)
        outside[p.calibration[0]] = False
        idx = (p.mask & outside).nonzero().squeeze(1).double()
        gaps = set(torch.diff(idx).tolist())
        lo, hi = int(adjusted), int(adjusted) + 1
        assert all(g in (lo, hi) or g > hi for g in gaps)  # > hi only across the centre
        # nlf + (W / adjusted) = W / R up to the lines hidden in the centre and rounding
        assert abs(int(p.mask.sum()) - w / r) <= nlf / adjusted + 2


def test_random_mask_expected_count_and_probability():
    w, r = 320, 4
    nlf = round(w * 0.08)
    prob = (w / r - nlf) / (w - nlf)
    masks = column_mask("random", w, r, generator=0, batch=400).mask
    counts = masks.sum(1).double()
    sd = (prob * (1 - prob) * (w - nlf)) ** 0.5
    assert abs(float(counts.mean()) - w / r) < 4 * sd / 400**0.5
    assert counts.std() > 0  # the true acceleration varies and is reported per sample
    per = column_mask("random", w, r, generator=0, batch=400).per_sample_acceleration()
    assert torch.allclose(per, w / counts)


def _magic_reference(w: int, r: int, offset: int) -> set[int]:
    """Frequencies f (DC = 0) that Defazio's offset sampling measures, outside any centre."""
    pos = offset + 1 if offset % 2 == 0 else offset + 2
    neg = offset + 2 if offset % 2 == 0 else offset - 1
    fs = {f for f in range(0, (w + 1) // 2) if f >= pos and (f - pos) % r == 0}
    fs |= {-(j + 1) for j in range(w - (w + 1) // 2) if j >= neg and (j - neg) % r == 0}
    return fs


@pytest.mark.parametrize("w", [368, 369])
@pytest.mark.parametrize("r", [4, 8])
def test_magic_offset_symmetry(w, r):
    for offset in range(r):
        m = column_mask("magic", w, r, offset=offset, center_fraction=0.0).mask
        got = {i - w // 2 for i in m.nonzero().squeeze(1).tolist()}
        assert got == _magic_reference(w, r, offset)
        # no conjugate pair (f, -f) is measured twice: the halves interleave
        assert not any(-f in got for f in got if f != 0)
        if r == 4:  # with conjugate symmetry the effective spacing is R / 2
            mags = sorted({abs(f) for f in got if 8 < abs(f) < w // 2 - 8})
            assert set(torch.diff(torch.tensor(mags)).tolist()) == {2}


@pytest.mark.parametrize("w,r", [(368, 4), (369, 8), (640, 6)])
def test_magic_fraction_hits_budget(w, r):
    p = column_mask("magic_fraction", w, r, generator=3)
    assert abs(int(p.mask.sum()) - round(w / r)) <= 0.1 * w / r + 1


def test_maskfunc_fastmri_convention():
    f = MaskFunc("random", [0.08, 0.04], [4, 8], seed=0)
    mask, nlf = f((1, 640, 368, 2), seed=(1, 2, 3))
    assert mask.shape == (1, 1, 368, 1) and mask.dtype == torch.float32
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert nlf in (round(368 * 0.08), round(368 * 0.04))
    again, nlf2 = f((1, 640, 368, 2), seed=(1, 2, 3))
    assert torch.equal(mask, again) and nlf == nlf2
    other, _ = f((1, 640, 368, 2), seed=(1, 2, 4))
    assert not torch.equal(mask, other)
    # seeded calls leave the object's own stream untouched
    g = MaskFunc("random", [0.08, 0.04], [4, 8], seed=0)
    g((1, 640, 368, 2), seed=9)
    assert torch.equal(f((5, 368, 2))[0], g((5, 368, 2))[0])
    assert f((2, 3, 5, 368, 2))[0].shape == (1, 1, 1, 368, 1)
    with pytest.raises(InputError, match="3 or more"):
        f((368, 2))
    with pytest.raises(InputError, match="must match"):
        MaskFunc("random", [0.08], [4, 8])
    assert create_mask_for_mask_type("magic", [0.08], [4]).pattern == "magic"


def test_maskfunc_draws_both_accelerations():
    f = MaskFunc("equispaced_fraction", [0.08, 0.04], [4, 8], seed=1)
    nlfs = {f((1, 200, 320, 2))[1] for _ in range(40)}
    assert nlfs == {round(320 * 0.08), round(320 * 0.04)}


def test_make_mask_1d_uses_last_axis_and_batches():
    p = make_mask("random", (640, 368), 4, generator=0, batch=3)
    assert p.mask.shape == (3, 368)
    assert not torch.equal(p.mask[0], p.mask[1])
    q = make_mask("random", 368, 4, generator=0)
    assert torch.equal(q.mask, p.mask[0])


def test_invalid_1d_inputs():
    with pytest.raises(InputError, match=">= 1"):
        column_mask("random", 368, 0.9)
    with pytest.raises(InputError, match="budget"):
        column_mask("random", 368, 4, center_fraction=0.5)
    with pytest.raises(InputError, match="budget"):
        make_mask("magic_fraction", (10, 368), 8, center_fraction=0.3)
    with pytest.raises(InputError, match="integer"):
        column_mask("equispaced", 368, 2.5)
    with pytest.raises(InputError, match="valid"):
        column_mask("magik", 368, 4)
    with pytest.raises(InputError, match="unexpected"):
        make_mask("random", (10, 368), 4, sigma=1.0)


def test_seed_from_is_stable_and_ignores_directory():
    assert seed_from("file1000001.h5", 17) == 3641441216  # fixed forever: evaluation masks
    assert seed_from("/data/knee/file1000001.h5", 17) == seed_from("file1000001.h5", 17)
    assert seed_from("file1000001.h5", 17) == zlib.crc32(b"file1000001.h5:17")
    assert seed_from("file1000001.h5", 18) != seed_from("file1000001.h5", 17)
    a = make_mask("random", 368, 4, generator=seed_from("f.h5", 3)).mask
    b = make_mask("random", 368, 4, generator=seed_from("g/f.h5", 3)).mask
    assert torch.equal(a, b)
