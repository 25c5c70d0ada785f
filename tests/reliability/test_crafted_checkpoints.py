"""Crafted checkpoints and model arguments: a checkpoint whose entries have the right names but
the wrong types or forms (``format_version`` a tensor, ``step`` a string, ``state_dict = 5``, a
stored config that is not JSON, ``chans = -1``), and a resumable ``last.pt`` whose training
state is missing or malformed (no ``optimizer``, an RNG state of the wrong size, an optimiser
moment of another shape).  ``eval``, ``recon --checkpoint`` and ``train --resume`` must end in
one line naming the file and the entry, exit 2, never a traceback; the checks run once, where
checkpoints are read (``discofold.train.checkpoint`` and ``discofold.train._resume``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from discofold.data import write_mri_file
from discofold.train import load_checkpoint

from .._checkpoints import tampered
from .._cli import cli_lines as _cli

ONE_THREAD = True  # one torch thread per test (tests/conftest.py)

SETS = ["--set", "train.steps=2", "--set", "data.val_length=0", "--set", "train.val_every=100"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("crafted")
    run = root / "run"
    rc, err = _cli("train", "--config", "tiny_mri", "--out", str(run), "--quiet", *SETS)
    assert rc == 0, err
    g = torch.Generator().manual_seed(0)
    k = torch.complex(torch.randn(2, 16, 15, generator=g), torch.randn(2, 16, 15, generator=g))
    return {"root": root, "run": run, "last": run / "last.pt",
            "input": write_mri_file(root / "in.h5", k[None].numpy())}


def _args(ckpt: dict, **change) -> str:
    cfg = json.loads(ckpt["config"])
    cfg["model"]["args"].update(change)
    return json.dumps(cfg)


def _entries(ckpt: dict) -> dict:
    """Crafted top-level entries: name → (changes for :func:`tampered`, key the line names)."""
    return {
        "format_version tensor": (dict(format_version=torch.tensor([1, 1])), "format_version"),
        "config_version tensor": (dict(config_version=torch.tensor([1, 2])), "config_version"),
        "model_name tensor": (dict(model_name=torch.tensor([1])), "model_name"),
        "step text": (dict(step="x"), "step"),
        "step tensor": (dict(step=torch.tensor([1, 2])), "step"),
        "step negative": (dict(step=-5), "step"),
        "step beyond int64": (dict(step=10**30), "step"),
        "step NaN": (dict(step=float("nan")), "step"),
        "state_dict = 5": (dict(state_dict=5), "state_dict"),
        "state_dict int keys": (dict(state_dict={1: torch.zeros(1)}), "state_dict"),
        "config = 5": (dict(config=5), "config"),
        "config not JSON": (dict(config="{"), "config"),
        "config a list": (dict(config="[1]"), "config"),
        "metrics = 5": (dict(metrics=5), "metrics"),
        "resumable text": (dict(resumable="yes"), "resumable"),
        "chans = -1": (dict(config=_args(ckpt, chans=-1)), "model.args.chans"),
        "chans text": (dict(config=_args(ckpt, chans="x")), "model.args.chans"),
        "chans 2.5": (dict(config=_args(ckpt, chans=2.5)), "model.args.chans"),
        "sens_chans = -3": (dict(config=_args(ckpt, sens_chans=-3)), "model.args.sens_chans"),
        "pools = -1": (dict(config=_args(ckpt, pools=-1)), "model.args.pools"),
    }


def _training_state(ckpt: dict) -> dict:
    """Crafted training states of a resumable checkpoint: name → (changes, key named)."""
    rng, opt = ckpt["rng"], ckpt["optimizer"]
    moments = {i: {**s, "exp_avg": torch.zeros(3)} if i == 0 else s
               for i, s in opt["state"].items()}
    return {
        "no optimizer": (dict(optimizer=None), "optimizer"),
        "optimizer = 5": (dict(optimizer=5), "optimizer"),
        "optimizer param_groups = 5": (dict(optimizer={**opt, "param_groups": 5}),
                                       "optimizer.param_groups"),
        "optimizer lr text": (dict(optimizer={**opt, "param_groups": [
            {**g, "lr": "fast"} for g in opt["param_groups"]]}), "optimizer.param_groups[0].lr"),
        "optimizer moment of another shape": (dict(optimizer={**opt, "state": moments}),
                                              "optimizer.state[0].exp_avg"),
        "scheduler = 5": (dict(scheduler=5), "scheduler"),
        "scheduler last_epoch text": (dict(scheduler={**ckpt["scheduler"], "last_epoch": "x"}),
                                      "scheduler.last_epoch"),
        "no rng": (dict(rng=None), "rng"),
        "rng torch of 3 bytes": (dict(rng={**rng, "torch": torch.zeros(3, dtype=torch.uint8)}),
                                 "rng.torch"),
        "rng torch float": (dict(rng={**rng, "torch": torch.zeros(5056)}), "rng.torch"),
        "rng numpy missing": (dict(rng={k: v for k, v in rng.items() if k != "numpy"}),
                              "rng.numpy"),
        "rng numpy keys short": (dict(rng={**rng, "numpy": {**rng["numpy"], "keys": torch.zeros(
            3, dtype=torch.int64)}}), "rng.numpy.keys"),
        "rng python state short": (dict(rng={**rng, "python": {**rng["python"],
                                                               "internal": [1, 2]}}),
                                   "rng.python.internal"),
        "rng python word out of range": (dict(rng={**rng, "python": {**rng["python"], "internal": [
            2**40] * len(rng["python"]["internal"])}}), "rng"),
        "rng model generator short": (dict(rng={**rng, "generators": {
            k: torch.zeros(2, dtype=torch.uint8) for k in rng["generators"]}}),
            "rng.generators."),
        "best_val_loss text": (dict(best_val_loss="x"), "best_val_loss"),
        "elapsed_s tensor": (dict(elapsed_s=torch.tensor([1.0, 2.0])), "elapsed_s"),
        "first_loss text": (dict(first_loss="x"), "first_loss"),
    }


def _crafted(src: Path, dst: Path, changes: dict) -> Path:
    dropped = [k for k, v in changes.items() if v is None]  # None: the entry is removed
    tampered(src, dst, **{k: v for k, v in changes.items() if v is not None})
    if dropped:
        ckpt = torch.load(dst, weights_only=True)
        for k in dropped:
            ckpt.pop(k)
        torch.save(ckpt, dst)
    return dst


def _one_line(rc: int, err: list[str], path: Path, key: str, what: str) -> None:
    assert rc == 2 and len(err) == 1 and "error:" in err[0], (what, rc, err)
    assert str(path) in err[0] and f"'{key}" in err[0], (what, key, err[0])
    assert "Traceback" not in err[0]


def test_crafted_entries_end_in_one_line(fault_log, setup, tmp_path):
    fault_log.describe("untrusted checkpoints: entries of the wrong type or form",
                       "a trained tiny_mri last.pt with one entry crafted (format_version / "
                       "config_version / model_name a tensor; step a string, a tensor, -5, "
                       "1e30, NaN; state_dict = 5 or with int keys; config 5, not JSON, a JSON "
                       "list; metrics 5; resumable a string; stored model.args chans = -1, "
                       "'x', 2.5, sens_chans = -3, pools = -1) given to `eval`, `recon "
                       "--checkpoint` and `train --resume`: exit 2, one line naming the file "
                       "and the entry")
    base = load_checkpoint(setup["last"])
    for i, (name, (changes, key)) in enumerate(sorted(_entries(base).items())):
        bad = _crafted(setup["last"], tmp_path / f"c{i}.pt", changes)
        rc, err = _cli("eval", "--checkpoint", str(bad), "--data", "sim:mri?n=1&size=16x15",
                       "--out", str(tmp_path / "eval"), "--baseline", "none", "--quiet")
        _one_line(rc, err, bad, key, f"eval {name}")
        fault_log.case("eval: exit 2, one line")
        rc, err = _cli("recon", "--checkpoint", str(bad), "--input", str(setup["input"]),
                       "--output", str(tmp_path / "out.h5"), "--quiet")
        _one_line(rc, err, bad, key, f"recon {name}")
        assert not (tmp_path / "out.h5").exists()
        fault_log.case("recon: exit 2, one line, no output")
        # resume compares the stored config with the run's first: the line names model.args
        resume_key = "model.args" if key.startswith("model.args") else key
        _resume_refused(setup, tmp_path / f"run{i}", changes, resume_key, name)
        fault_log.case("train --resume: exit 2, one line")


def _resume_refused(setup, run: Path, changes: dict, key: str, name: str) -> None:
    shutil.copytree(setup["run"], run)
    _crafted(setup["last"], run / "last.pt", changes)
    before = (run / "last.pt").read_bytes()
    rc, err = _cli("train", "--config", "tiny_mri", "--out", str(run), "--resume", "--quiet",
                   *SETS)
    _one_line(rc, err, run / "last.pt", key, f"resume {name}")
    assert (run / "last.pt").read_bytes() == before  # the crafted file is not replaced


def test_crafted_training_state_ends_in_one_line(fault_log, setup, tmp_path):
    fault_log.describe("untrusted checkpoints: malformed training state on resume",
                       "a trained tiny_mri last.pt whose optimizer / scheduler / rng entry is "
                       "missing, a number, or has a part of another type, size or shape (an "
                       "RNG state of 3 bytes or float, numpy keys of 3 words, a Python state "
                       "of 2 words or of words beyond 32 bits, a model generator state of 2 "
                       "bytes, an Adam moment of another shape, a learning rate as text), or "
                       "whose best_val_loss / elapsed_s / first_loss is not a number, given to "
                       "`train --resume` with the same config: exit 2, one line naming the file "
                       "and the entry, last.pt untouched")
    base = load_checkpoint(setup["last"])
    assert base["optimizer"]["state"], "the run took optimiser steps"
    for i, (name, (changes, key)) in enumerate(sorted(_training_state(base).items())):
        _resume_refused(setup, tmp_path / f"run{i}", changes, key, name)
        fault_log.case("exit 2, one line")
    # the untouched checkpoint still resumes (here: at its end, nothing left to run)
    rc, err = _cli("train", "--config", "tiny_mri", "--out", str(setup["run"]), "--resume",
                   "--quiet", *SETS)
    assert rc == 0, err


@pytest.mark.parametrize("value", ["-1", "0", "2.5", "\"x\"", "true"])
def test_model_args_of_another_kind_end_in_one_line(fault_log, tmp_path, value):
    fault_log.describe("CLI abuse: model arguments of another kind",
                       "`train --set model.args.chans=V` with V = -1, 0, 2.5, \"x\", true "
                       "(a negative, zero, fractional, textual or boolean width): exit 2, one "
                       "line naming model.args.chans, before any file is written")
    out = tmp_path / "run"
    rc, err = _cli("train", "--config", "tiny_mri", "--out", str(out), "--quiet",
                   "--set", f"model.args.chans={value}", *SETS)
    assert rc == 2 and len(err) == 1 and "'model.args.chans'" in err[0], err
    assert not out.exists() or not any(out.iterdir())
    fault_log.case("exit 2, one line")
