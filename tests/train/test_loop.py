"""Training loop: exact resume, Ctrl-C checkpoint, NaN stop, exploding-LR check, schedule, logs."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch

from discofold.errors import CheckpointError, DivergenceError
from discofold.models import build
from discofold.train import load_checkpoint, load_config, train
from discofold.train._rng import find_generators
from discofold.train.loop import lr_factor
from discofold.train.losses import compute_loss

# tiny recursive MRI model: its recursion counts come from its own generator, so an exact
# resume needs that generator's state too
MRI = ["model.name=\"r_unified\"", "model.args={}", "train.steps=5", "train.checkpoint_every=2",
       "train.val_every=100", "train.loss=\"l1\"", "data.shape=[14, 13]"]
BLOCKCS = ["train.steps=5", "train.checkpoint_every=2", "train.val_every=100"]


def _cfg(name, extra=()):
    base = MRI if name == "tiny_mri" else BLOCKCS
    cfg = load_config(name, overrides=[*base, *extra])
    if cfg.model.name == "r_unified":
        import dataclasses

        from discofold.models import get_spec

        cfg = dataclasses.replace(cfg, model=dataclasses.replace(
            cfg.model, args=get_spec("r_unified").tiny))
    return cfg


def _weights(path):
    return load_checkpoint(path)["state_dict"]


def _assert_same(a, b):
    assert list(a) == list(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k


class _Stop(Exception):
    """A crash (like ``kill -9``): nothing is saved on the way out."""


def _raise_at(step, exc):
    def cb(s, loss):
        if s == step:
            raise exc
    return cb


@pytest.mark.parametrize("name", ["tiny_mri", "tiny_blockcs"])
def test_killed_and_resumed_run_reaches_the_same_weights(tmp_path, name):
    cfg = _cfg(name)
    assert find_generators(build(cfg.model.name, **cfg.model.args))  # recursion generators
    straight = train(cfg, tmp_path / "straight", quiet=True)
    assert straight.step == 5
    ref = load_checkpoint(straight.last)

    # crash after step 3: the last periodic checkpoint is step 2; resume from there
    with pytest.raises(_Stop):
        train(cfg, tmp_path / "crash", quiet=True, callbacks=[_raise_at(3, _Stop())])
    assert load_checkpoint(tmp_path / "crash" / "last.pt")["step"] == 2
    resumed = train(cfg, tmp_path / "crash", resume=True, quiet=True)
    assert resumed.step == 5
    got = load_checkpoint(resumed.last)
    _assert_same(ref["state_dict"], got["state_dict"])
    _assert_same(ref["optimizer"]["state"][0], got["optimizer"]["state"][0])
    assert ref["scheduler"] == got["scheduler"]
    # the resumed logs read like the uninterrupted ones (rows after step 2 were replaced)
    steps = [r["step"] for r in map(json.loads, (tmp_path / "crash" / "log.jsonl")
                                    .read_text().splitlines()) if r["kind"] == "train"]
    assert steps == [1, 2, 3, 4, 5]


def test_resume_without_the_recursion_generator_state_would_differ(tmp_path, monkeypatch):
    """The exact-resume test is sensitive: forgetting the models' generators changes the run."""
    import discofold.train._resume as resume

    cfg = _cfg("tiny_blockcs")
    ref = train(cfg, tmp_path / "ref", quiet=True)
    with pytest.raises(_Stop):
        train(cfg, tmp_path / "run", quiet=True, callbacks=[_raise_at(3, _Stop())])
    monkeypatch.setattr(resume, "restore", lambda state, gens: [])  # drop every saved RNG state
    res = train(cfg, tmp_path / "run", resume=True, quiet=True)
    a, b = _weights(ref.last), _weights(res.last)
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_ctrl_c_saves_a_resumable_checkpoint_and_resume_is_exact(tmp_path):
    cfg = _cfg("tiny_mri", ["train.checkpoint_every=100"])
    ref = train(cfg, tmp_path / "ref", quiet=True)
    res = train(cfg, tmp_path / "run", quiet=True,
                callbacks=[_raise_at(3, KeyboardInterrupt())])
    assert res.interrupted and res.step == 3
    ckpt = load_checkpoint(res.last)
    assert ckpt["step"] == 3 and ckpt["resumable"]
    done = train(cfg, tmp_path / "run", resume=True, quiet=True)
    assert done.step == 5 and not done.interrupted
    _assert_same(_weights(ref.last), _weights(done.last))


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    import discofold.train.loop as loop

    cfg = _cfg("tiny_blockcs")
    calls = []

    def nan_at_step_4(name, pred, target):  # the loss of the 4th training step is NaN
        if not torch.is_grad_enabled():  # validation (no_grad) is not a training step
            return compute_loss(name, pred, target)
        calls.append(1)
        value = compute_loss(name, pred, target)
        return value * math.nan if len(calls) == 4 else value

    monkeypatch.setattr(loop, "compute_loss", nan_at_step_4)
    with pytest.raises(DivergenceError, match=r"non-finite loss .* at step 4: training "
                       r"stopped before taking it; the last good checkpoint is"):
        train(cfg, tmp_path, quiet=True)
    kept = load_checkpoint(tmp_path / "last.pt")
    assert kept["step"] == 2
    assert all(torch.isfinite(v).all() for v in kept["state_dict"].values()
               if v.is_floating_point())
    records = [json.loads(r) for r in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert records[-1]["kind"] == "diverged" and records[-1]["step"] == 4
    # the kept checkpoint is the state after step 2 of an unpoisoned run
    monkeypatch.undo()
    with pytest.raises(_Stop):
        train(cfg, tmp_path / "two", quiet=True, callbacks=[_raise_at(3, _Stop())])
    _assert_same(_weights(tmp_path / "two" / "last.pt"), kept["state_dict"])


def test_an_exploding_learning_rate_is_caught_in_the_first_steps(tmp_path):
    cfg = _cfg("tiny_mri", ["train.lr=1e4", "train.loss=\"mse\"", "train.grad_clip=0",
                            "train.steps=20", "train.sanity_factor=10"])
    with pytest.raises(DivergenceError, match=r"learning rate train\.lr = 10000 is probably "
                                              r"too high"):
        train(cfg, tmp_path, quiet=True)


def test_resume_refuses_a_changed_config_or_a_missing_checkpoint(tmp_path):
    cfg = _cfg("tiny_blockcs", ["train.steps=2"])
    with pytest.raises(CheckpointError, match=r"nothing to resume"):
        train(cfg, tmp_path, resume=True, quiet=True)
    train(cfg, tmp_path, quiet=True)
    changed = _cfg("tiny_blockcs", ["train.steps=2", "train.lr=0.5"])
    with pytest.raises(CheckpointError, match=r"differing keys: \['train\.lr'\]"):
        train(changed, tmp_path, resume=True, quiet=True)


def test_logs_validation_and_best_checkpoint(tmp_path):
    cfg = _cfg("tiny_blockcs", ["train.steps=4", "train.val_every=2", "train.log_every=1"])
    res = train(cfg, tmp_path, quiet=True)
    with open(tmp_path / "train.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    for r in rows:
        assert math.isfinite(float(r["loss"])) and float(r["samples_per_s"]) > 0
    # the logged learning rate follows the cosine schedule
    lrs = [float(r["lr"]) for r in rows]
    assert lrs == pytest.approx([cfg.train.lr * lr_factor(s, cfg.train) for s in (1, 2, 3, 4)])
    with open(tmp_path / "val.csv") as f:
        val = list(csv.DictReader(f))
    assert [int(r["step"]) for r in val] == [0, 2, 4]  # step 0: the untrained model
    assert float(val[0]["elapsed_s"]) <= float(val[1]["elapsed_s"])
    best = min(float(r["val_loss"]) for r in val)
    assert res.best_val_loss == pytest.approx(best)
    assert load_checkpoint(res.best)["metrics"]["val_loss"] == pytest.approx(best)
    assert not load_checkpoint(res.best)["resumable"]
    assert json.loads((tmp_path / "config.json").read_text())["train"]["steps"] == 4


def test_cosine_and_step_schedules_match_torch_schedulers():
    cfg = _cfg("tiny_blockcs", ["train.steps=37", "train.lr=0.1"])
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=37)
    for s in range(37):
        assert cfg.train.lr * lr_factor(s, cfg.train) == pytest.approx(ref.get_last_lr()[0],
                                                                        abs=1e-12)
        opt.step()
        ref.step()
    step = _cfg("tiny_blockcs", ["train.schedule=step", "train.step_size=5", "train.gamma=0.3"])
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    ref = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.3)
    for s in range(23):
        assert lr_factor(s, step.train) == pytest.approx(ref.get_last_lr()[0], rel=1e-12)
        opt.step()
        ref.step()
    warm = _cfg("tiny_blockcs", ["train.warmup_steps=4", "train.schedule=none"])
    assert [lr_factor(s, warm.train) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
