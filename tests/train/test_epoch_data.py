"""Training data keyed by ``(epoch, index)``: simulated training sets are redrawn per epoch,
validation sets never change, validation sets hold at least 16 items, resume stays exact."""

from __future__ import annotations

import pytest
import torch

from discofold.train import bundled_configs, load_checkpoint, load_config, train
from discofold.train.data import build_datasets


def _equal(a, b) -> bool:
    """Items (tensors, dicts, lists, scalars, None) equal exactly."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


CASES = {"tiny_mri": ["data.snr_db=[30.0]"], "tiny_radar": [],
         "tiny_blockcs": ["data.flips=true"]}


@pytest.mark.parametrize("name", list(CASES))
def test_training_items_are_redrawn_per_epoch_and_validation_items_never(name):
    cfg = load_config(name, overrides=[*CASES[name], "data.train_length=4", "data.val_length=4"])
    train_ds, val_ds = build_datasets(cfg.data)
    n, again = len(train_ds.parts), build_datasets(cfg.data)[0]
    for i in range(2):
        assert _equal(train_ds[(0, i)], train_ds[i])  # epoch 0 is today's item i
        assert _equal(again[(2, i)], train_ds[(2, i)])  # a pure function of (epoch, index)
        assert _equal(train_ds[(1, i)], train_ds.parts[i % n].draw(i // n, 1))
        assert _equal(val_ds[(3, i)], val_ds[i]) and _equal(val_ds[(1, i)], val_ds[(0, i)])
    if name == "tiny_blockcs":  # only the flips are drawn: some epoch shows another one
        assert any(not _equal(train_ds[(e, 0)], train_ds[(0, 0)]) for e in range(1, 12))
    else:  # image/scene, mask/aperture and noise all change
        for i in range(2):
            (y0, p0, t0, _), (y1, p1, t1, _) = train_ds[(0, i)], train_ds[(1, i)]
            assert not torch.equal(t0, t1) and not torch.equal(p0["mask"], p1["mask"])
            assert not torch.equal(y0, y1)


def test_bundled_validation_sets_hold_at_least_16_items():
    """Every bundled config validates on >= 16 items (or not at all, ``val_length = 0``),
    except the tiny test configs; the (source, SNR) / (geometry, acceleration, SNR) split
    rounds up, so the simulated sets really hold ``val_length`` items or more."""
    for name in bundled_configs():
        d = load_config(name).data
        assert d.val_length == 0 or d.val_length >= 16, name
    for name in ("tiny_mri", "tiny_radar", "bundled_mri_unified", "bundled_radar_unified",
                 "mri_unified", "radar_unified", "mri_e1_unified"):
        cfg = load_config(name)
        assert cfg.data.kind.endswith("_simulated"), name
        _, val_ds = build_datasets(cfg.data)
        assert len(val_ds) >= cfg.data.val_length >= 16, name


class _Killed(Exception):
    """A crash (like ``kill -9``)."""


def test_resume_across_epochs_of_redrawn_data_is_exact(tmp_path):
    # 4 training items, batches of 2: steps 1..5 run through epochs 0, 1 and 2
    cfg = load_config("tiny_mri", overrides=[
        "train.steps=5", "train.checkpoint_every=2", "train.val_every=100", "train.loss=\"l1\"",
        "data.train_length=4", "data.val_length=0", "data.snr_db=[30.0]"])
    ref = load_checkpoint(train(cfg, tmp_path / "straight", quiet=True).last)

    def crash(step, loss):
        if step == 3:
            raise _Killed  # nothing is saved on the way out: resume from step 2's checkpoint

    with pytest.raises(_Killed):
        train(cfg, tmp_path / "crash", quiet=True, callbacks=[crash])
    got = load_checkpoint(train(cfg, tmp_path / "crash", resume=True, quiet=True).last)
    assert got["step"] == 5
    for k, v in ref["state_dict"].items():
        assert torch.equal(v, got["state_dict"][k]), k
