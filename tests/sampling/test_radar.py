"""Radar apertures: exact ratios and the structure each pattern promises."""

from __future__ import annotations

import pytest
import torch

from discofold.errors import InputError
from discofold.sampling import list_patterns, make_mask, radar_aperture

CASES = [((64, 48), 0.5), ((101, 37), 0.3), ((97, 64), 0.25), ((256, 128), 0.125), ((33, 17), 0.9)]


def _runs(v: torch.Tensor) -> int:
    """Number of maximal runs of True in a 1-D bool vector."""
    v = v.to(torch.int8)
    return int((torch.diff(torch.cat([torch.zeros(1, dtype=torch.int8), v])) == 1).sum())


@pytest.mark.parametrize("shape,ratio", CASES)
def test_pulse_patterns_exact(shape, ratio):
    p_, f_ = shape
    n = round(p_ * ratio)
    for name in ("random_pulses", "gaps", "periodic"):
        for seed in range(3):
            p = make_mask(name, shape, ratio=ratio, generator=seed)
            rows = p.mask.any(1)
            assert bool((p.mask.all(1) == rows).all())  # whole pulses only
            assert int(rows.sum()) == n
            assert p.acceleration == pytest.approx(p_ / n)
            assert p.meta["ratio"] == pytest.approx(n / p_)
            if name == "gaps":
                assert _runs(~rows) == p.meta["num_gaps"] and 1 <= p.meta["num_gaps"] <= 3
            if name == "periodic":
                d = torch.diff(rows.nonzero().squeeze(1))
                assert set(d.tolist()) <= {p_ // n, -(-p_ // n)}


@pytest.mark.parametrize("shape,ratio", CASES)
def test_band_and_2d_patterns_exact(shape, ratio):
    p_, f_ = shape
    for seed in range(3):
        sb = make_mask("random_subbands", shape, ratio=ratio, generator=seed, num_subbands=2)
        cols = sb.mask.any(0)
        assert bool((sb.mask.all(0) == cols).all())
        assert int(cols.sum()) == round(f_ * ratio)
        assert _runs(cols) == 2 or int(cols.sum()) == f_
        r2 = make_mask("random_2d", shape, ratio=ratio, generator=seed)
        assert int(r2.mask.sum()) == round(p_ * f_ * ratio)


def test_periodic_is_plain_decimation_when_it_divides():
    p = make_mask("periodic", (120, 8), 4, offset=0)
    assert torch.equal(p.mask.any(1).nonzero().squeeze(1), torch.arange(0, 120, 4))
    q = make_mask("periodic", (120, 8), 4, offset=3)
    assert torch.equal(q.mask.any(1).nonzero().squeeze(1), torch.arange(3, 120, 4))
    offsets = {make_mask("periodic", (120, 8), 4, generator=s).meta["offset"] for s in range(40)}
    assert offsets == {0, 1, 2, 3}
    with pytest.raises(InputError, match="offset"):
        make_mask("periodic", (120, 8), 4, offset=4)


def test_gap_count_can_be_forced_and_gaps_vary():
    lengths = set()
    for seed in range(20):
        p = make_mask("gaps", (200, 4), ratio=0.6, generator=seed, num_gaps=3)
        missing = ~p.mask[:, 0]
        assert _runs(missing) == 3 and int(missing.sum()) == 80
        lengths.add(tuple(missing.nonzero().squeeze(1)[:3].tolist()))
    assert len(lengths) > 10


def test_ratio_and_acceleration_agree_and_batches_differ():
    a = make_mask("random_pulses", (90, 30), 4, generator=1)
    b = make_mask("random_pulses", (90, 30), ratio=0.25, generator=1)
    assert torch.equal(a.mask, b.mask)
    assert a.acceleration == pytest.approx(90 / round(90 * 0.25))
    for name in list_patterns("radar"):
        batch = radar_aperture(name, (90, 30), 0.4, generator=2, batch=8)
        assert batch.mask.shape == (8, 90, 30)
        distinct = {tuple(m.flatten().nonzero().squeeze(1).tolist()) for m in batch.mask}
        # periodic only has ceil(P / n) = 3 possible offsets; the others are fully random
        assert len(distinct) >= 2 if name == "periodic" else len(distinct) == 8
        assert batch.calibration_mask.sum() == 0 and batch.num_low_frequencies == 0


def test_invalid_radar_inputs():
    with pytest.raises(InputError, match=r"\(0, 1\]"):
        make_mask("random_pulses", (64, 32), ratio=1.5)
    with pytest.raises(InputError, match=r"\(0, 1\]"):
        make_mask("random_pulses", (64, 32), 0.5)  # acceleration < 1
    with pytest.raises(InputError, match="0 samples"):
        make_mask("random_pulses", (64, 32), ratio=0.001)
    with pytest.raises(InputError, match="ratio="):
        make_mask("gaps", (64, 32))
    with pytest.raises(InputError, match="disagree"):
        make_mask("gaps", (64, 32), 4, ratio=0.5)
    with pytest.raises(InputError, match="num_gaps"):
        make_mask("gaps", (64, 32), ratio=0.98, num_gaps=3)  # only 1 pulse missing
    with pytest.raises(InputError, match="unexpected"):
        make_mask("random_2d", (64, 32), ratio=0.5, num_gaps=2)
