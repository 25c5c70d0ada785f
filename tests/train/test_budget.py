"""Time budget: a clean stop with a final validation, cumulative clock over resume, cosine_time,
the log columns and the validation NMSE."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch

from discofold.errors import ConfigError
from discofold.train import load_checkpoint, load_config, train
from discofold.train._logs import TRAIN_COLUMNS, VAL_COLUMNS, RunLog
from discofold.train.loop import lr_factor, nmse_db

BUDGET = 2.0
# far more steps than the budget allows: the clock, not train.steps, ends these runs
LONG = ["train.steps=100000", f"train.time_budget_s={BUDGET}", "train.val_every=4",
        "train.checkpoint_every=1000", "train.log_every=1"]


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _records(folder, kind):
    lines = (folder / "log.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


@pytest.fixture(scope="module")
def budget_run(tmp_path_factory):
    cfg = load_config("tiny_blockcs", overrides=[*LONG, "train.schedule=\"cosine_time\""])
    out = tmp_path_factory.mktemp("budget")
    return cfg, out, train(cfg, out, quiet=True)


def test_the_budget_stops_the_run_cleanly_with_a_final_validation(budget_run):
    cfg, out, res = budget_run
    assert res.stopped_by_budget and not res.interrupted
    assert 1 <= res.step < cfg.train.steps
    last = load_checkpoint(res.last)
    assert last["resumable"] and last["step"] == res.step and last["elapsed_s"] >= BUDGET
    (budget,) = _records(out, "budget")
    assert budget["step"] == res.step and budget["elapsed_s"] >= BUDGET
    val = _rows(out / "val.csv")
    assert int(val[-1]["step"]) == res.step  # validated at the final step
    # best.pt holds the weights of the lowest validation loss, not the last ones
    best = min(val, key=lambda r: float(r["val_loss"]))
    ckpt = load_checkpoint(res.best)
    assert ckpt["step"] == int(best["step"])
    assert ckpt["metrics"]["val_loss"] == pytest.approx(float(best["val_loss"]))
    assert res.best_val_loss == pytest.approx(float(best["val_loss"]))


def test_elapsed_is_the_cumulative_wall_clock_and_step_s_the_step_duration(budget_run):
    cfg, out, res = budget_run
    rows = _rows(out / "train.csv")
    assert tuple(rows[0]) == TRAIN_COLUMNS
    assert [int(r["step"]) for r in rows] == list(range(1, res.step + 1))
    elapsed = [float(r["elapsed_s"]) for r in rows]
    steps = [float(r["step_s"]) for r in rows]
    assert all(b >= a for a, b in zip(elapsed, elapsed[1:]))
    assert all(s > 0 for s in steps)
    # the clock of the run holds every step (and more: setup, validation)
    assert elapsed[-1] >= sum(steps) - 1e-3
    val = _rows(out / "val.csv")
    assert tuple(val[0]) == VAL_COLUMNS
    for r in val:
        assert all(math.isfinite(float(r[k])) for k in VAL_COLUMNS if k != "best")
    v_elapsed = [float(r["elapsed_s"]) for r in val]
    assert all(b >= a for a, b in zip(v_elapsed, v_elapsed[1:]))


def test_cosine_time_follows_the_clock(budget_run):
    cfg, out, _ = budget_run
    rows = _rows(out / "train.csv")
    # the logged rate (for the next step) is the schedule at the logged time, and falls to 0
    for r in rows:
        factor = 0.5 * (1 + math.cos(math.pi * min(1.0, float(r["elapsed_s"]) / BUDGET)))
        assert float(r["lr"]) == pytest.approx(cfg.train.lr * factor, rel=1e-9, abs=1e-15)
    lrs = [float(r["lr"]) for r in rows]
    assert all(b <= a for a, b in zip(lrs, lrs[1:]))
    t = cfg.train
    assert [lr_factor(10, t, e) for e in (0.0, BUDGET / 2, BUDGET, 5 * BUDGET)] == \
        pytest.approx([1.0, 0.5, 0.0, 0.0], abs=1e-12)
    warm = load_config("tiny_blockcs", overrides=[*LONG, "train.schedule=cosine_time",
                                                  "train.warmup_steps=4"]).train
    assert [lr_factor(s, warm, BUDGET / 2) for s in range(5)] == \
        pytest.approx([0.25, 0.5, 0.75, 1.0, 0.5])


def test_resume_continues_the_budget(tmp_path):
    # last.pt is saved at every step, so also just before the clock crosses the budget
    every = [*LONG, "train.checkpoint_every=1"]
    cfg = load_config("tiny_blockcs", overrides=every)
    first = train(cfg, tmp_path, quiet=True)
    assert first.stopped_by_budget
    spent = load_checkpoint(first.last)["elapsed_s"]
    # the same budget is already spent: resuming takes no step
    again = train(cfg, tmp_path, resume=True, quiet=True)
    assert again.stopped_by_budget and again.step == first.step
    # a larger budget (a key that may change on resume) continues the clock where it stopped;
    # the step the budget stops at is logged even off the train.log_every grid
    more = load_config("tiny_blockcs", overrides=[*every, f"train.time_budget_s={spent + 1.0}",
                                                  "train.log_every=1000"])
    longer = train(more, tmp_path, resume=True, quiet=True)
    assert longer.stopped_by_budget and first.step < longer.step < 1000
    rows = _rows(tmp_path / "train.csv")
    assert [int(r["step"]) for r in rows] == [*range(1, first.step + 1), longer.step]
    elapsed = [float(r["elapsed_s"]) for r in rows]
    assert all(b >= a for a, b in zip(elapsed, elapsed[1:]))
    assert elapsed[-1] > spent
    assert int(_rows(tmp_path / "val.csv")[-1]["step"]) == longer.step
    assert load_checkpoint(longer.last)["elapsed_s"] >= spent + 1.0
    assert [r["step"] for r in _records(tmp_path, "budget")] == [first.step, longer.step]


@pytest.mark.parametrize("override, message", [
    ("train.time_budget_s=-1", r"'train\.time_budget_s' must be >= 0, got -1"),
    ("train.time_budget_s=inf", r"'train\.time_budget_s' must be a finite number"),
    ("train.time_budget_s=nan", r"'train\.time_budget_s' must be a finite number"),
    ("train.schedule=cosine_time", r"cosine_time' anneals over the time budget; set "
                                   r"train\.time_budget_s > 0"),
])
def test_bad_budgets_are_named(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("tiny_mri", overrides=[override])


def test_resume_rewrites_an_older_train_csv_with_the_current_columns(tmp_path):
    (tmp_path / "train.csv").write_text("step,loss,lr,grad_norm,samples_per_s,elapsed_s\n"
                                        "1,0.5,0.1,1,10,0.25\n2,0.4,0.1,1,10,0.5\n"
                                        "3,0.3,0.1,1,10,0.75\n")
    (tmp_path / "val.csv").write_text("step,val_loss,val_psnr_db,best\n2,0.3,20,True\n"
                                      "3,0.2,21,True\n")
    RunLog(tmp_path, resume_step=2)
    rows = _rows(tmp_path / "train.csv")
    assert tuple(rows[0]) == TRAIN_COLUMNS and [r["step"] for r in rows] == ["1", "2"]
    # the old elapsed_s was a step duration: it moves to step_s, the clock is unknown
    assert [(r["step_s"], r["elapsed_s"]) for r in rows] == [("0.25", ""), ("0.5", "")]
    val = _rows(tmp_path / "val.csv")
    assert tuple(val[0]) == VAL_COLUMNS
    assert [(r["step"], r["val_loss"], r["val_nmse_db"]) for r in val] == [("2", "0.3", "")]


# --------------------------------------------------------------------------- validation NMSE
def test_nmse_db_of_magnitudes_after_the_crop():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(3, 9, 7, generator=g) + 0.1
    eps = torch.tensor([0.1, 0.01, 0.5])
    pred = torch.zeros(3, 13, 10, dtype=torch.complex64)  # larger, complex: |crop| is compared
    phase = torch.exp(1j * torch.rand(3, 9, 7, generator=g))
    pred[:, 2:11, 1:8] = target * (1 + eps[:, None, None]) * phase
    assert nmse_db(pred, target) == pytest.approx(20 * torch.log10(eps).double(), abs=1e-4)


def test_nmse_db_of_radar_images_is_blind_to_a_complex_scale():
    g = torch.Generator().manual_seed(1)
    target = torch.randn(2, 8, 8, dtype=torch.complex128, generator=g)
    # an error orthogonal to the target: after the least-squares scale the NMSE is
    # ‖e‖² / (‖t‖² + ‖e‖²), whatever complex factor multiplies the estimate
    e = torch.randn(2, 8, 8, dtype=torch.complex128, generator=g)
    inner = (target.conj() * e).sum((-2, -1), keepdim=True)
    e = e - inner / target.abs().square().sum((-2, -1), keepdim=True) * target
    e = 0.3 * e / e.abs().square().sum((-2, -1), keepdim=True).sqrt() * \
        target.abs().square().sum((-2, -1), keepdim=True).sqrt()
    pred = (2 - 1.5j) * (target + e)
    ratio = 0.09 / (1 + 0.09)
    assert nmse_db(pred, target) == pytest.approx([10 * math.log10(ratio)] * 2, abs=1e-4)


def test_nmse_db_marks_empty_targets_and_broken_outputs():
    target = torch.ones(3, 5, 5)
    target[1] = 0
    pred = torch.ones(3, 5, 5)
    pred[2, 0, 0] = math.nan
    out = nmse_db(pred, target)
    assert out[0] < -200 and math.isnan(out[1]) and out[2] == math.inf
