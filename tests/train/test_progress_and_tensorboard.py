"""Runs you can watch: progress lines when stderr is a pipe, ``elapsed_s`` cumulative over
``--resume``, the TensorBoard writer, ``discofold report`` on a run still training."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from discofold.cli import main
from discofold.errors import MissingDependencyError
from discofold.train import load_checkpoint, load_config, train

TINY = ["--config", "tiny_mri", "--set", "train.steps=4"]
LINE = re.compile(r"^train varnet: (\d)/4 steps \(\d+%\), [\d.e+-]+ steps/s, elapsed \d+:\d\d"
                  r"(, ETA \d+:\d\d)?, loss=[\d.e+-]+, samples_s=[\d.]+, val_psnr_db=[\d.]+$")


def _cli(*args, env_s: str = "0.000001") -> subprocess.CompletedProcess:
    """``discofold ARGS`` in a subprocess, stdout and stderr pipes (not a terminal)."""
    env = {**os.environ, "DISCOFOLD_PROGRESS_S": env_s, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "discofold", *args], capture_output=True,
                          text=True, env=env, timeout=300, stdin=subprocess.DEVNULL)


def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def piped_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("progress") / "run"
    return out, _cli("train", *TINY, "--out", str(out))


def test_training_with_stderr_piped_prints_plain_progress_lines(piped_run):
    out, proc = piped_run
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr and "\x1b" not in proc.stderr  # no bar redrawn in place
    lines = proc.stderr.splitlines()
    assert [int(LINE.match(ln).group(1)) for ln in lines] == [1, 2, 3, 4], lines
    assert "ETA" in lines[0] and "ETA" not in lines[-1]
    assert proc.stdout.startswith("trained varnet for 4 steps")


def test_progress_off_with_zero_interval_and_quiet(tmp_path):
    proc = _cli("train", *TINY, "--set", "train.steps=1", "--out", str(tmp_path / "a"),
                env_s="0")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    proc = _cli("--progress-s", "1e-6", "train", *TINY, "--set", "train.steps=1", "--quiet",
                "--out", str(tmp_path / "b"))
    assert proc.returncode == 0 and proc.stderr == "" and proc.stdout == ""
    proc = _cli("train", *TINY, "--out", str(tmp_path / "c"), env_s="soon")
    assert proc.returncode == 2 and not (tmp_path / "c").exists()
    assert proc.stderr.strip().splitlines() == [
        "discofold train: error: DISCOFOLD_PROGRESS_S = 'soon': expected a number of seconds "
        ">= 0 (0 turns the progress lines outside a terminal off)"]


def test_other_verbs_print_progress_lines_outside_a_terminal(piped_run, tmp_path, monkeypatch,
                                                            capsys):
    monkeypatch.setenv("DISCOFOLD_PROGRESS_S", "0.000001")
    sims = tmp_path / "sims"
    assert main(["simulate", "mri", "--n", "3", "--size", "16", "--slices", "1", "--coils", "0",
                 "--out", str(sims)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert [ln.split(" (")[0] for ln in err] == [f"simulate mri: {i}/3 files" for i in (1, 2, 3)]
    assert main(["recon", "--method", "zf", "--input", str(sims), "--output",
                 str(tmp_path / "zf")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert [ln for ln in err if ln.startswith("recon zf: ")][-1].startswith(
        "recon zf: 3/3 files (100%), ")
    out, _ = piped_run
    proc = _cli("eval", "--checkpoint", str(out / "best.pt"), "--data",
                "sim:mri?n=2&size=16&coils=2", "--baseline", "none", "--out",
                str(tmp_path / "eval"))
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^eval .*: 2/2 items \(100%\), [\d.e+-]+ items/s, elapsed", proc.stderr,
                     re.M), proc.stderr


def test_elapsed_is_cumulative_across_resume(tmp_path):
    """Stopped at step 2 (Ctrl-C) after ~1 s of sleeping callbacks, resumed by the CLI: the
    resumed records go on from the first segment's clock; a checkpoint without a clock (an
    older discofold) goes on from the time its logs recorded."""
    cfg = load_config("tiny_mri", overrides=["train.steps=4"])

    def slow_then_stop(step, loss):
        time.sleep(0.5)
        if step == 2:
            raise KeyboardInterrupt

    out = tmp_path / "run"
    first = train(cfg, out, quiet=True, callbacks=[slow_then_stop])
    assert first.interrupted and first.step == 2
    spent = load_checkpoint(out / "last.pt")["elapsed_s"]
    assert spent >= 1.0
    proc = _cli("train", *TINY, "--resume", "--out", str(out), env_s="0")
    assert proc.returncode == 0, proc.stderr
    rows = _rows(out / "train.csv")
    elapsed = [float(r["elapsed_s"]) for r in rows]
    assert [r["step"] for r in rows] == ["1", "2", "3", "4"]
    assert all(b >= a for a, b in zip(elapsed, elapsed[1:])) and elapsed[2] > spent
    val = {r["step"]: float(r["elapsed_s"]) for r in _rows(out / "val.csv")}
    assert val["4"] > spent > val["2"]
    starts = [json.loads(ln) for ln in (out / "log.jsonl").read_text().splitlines()
              if '"start"' in ln]
    assert [s["elapsed_s"] for s in starts] == [0.0, spent]

    # a last.pt without its clock: the time comes from log.jsonl up to its step
    old = tmp_path / "old"
    train(cfg, old, quiet=True, callbacks=[slow_then_stop])
    ckpt = torch.load(old / "last.pt", weights_only=True)
    logged = max(json.loads(ln).get("elapsed_s", 0) for ln in
                 (old / "log.jsonl").read_text().splitlines() if json.loads(ln)["step"] <= 2)
    del ckpt["elapsed_s"]
    torch.save(ckpt, old / "last.pt")
    train(cfg, old, resume=True, quiet=True)
    starts = [json.loads(ln) for ln in (old / "log.jsonl").read_text().splitlines()
              if '"start"' in ln]
    assert starts[-1]["elapsed_s"] == pytest.approx(logged) and logged > 0.5
    assert float(_rows(old / "train.csv")[-1]["elapsed_s"]) > logged


def test_report_of_a_run_in_progress(piped_run, tmp_path):
    """A run folder as it is while training: a CSV line and a log record half written, no
    final validation; the report shows what is there and says the run is in progress."""
    src, _ = piped_run
    run = tmp_path / "live"
    run.mkdir()
    for name in ("config.json", "last.pt"):
        (run / name).write_bytes((src / name).read_bytes())
    train_lines = (src / "train.csv").read_text().splitlines()
    (run / "train.csv").write_text("\n".join(train_lines[:3]) + "\n3,0.5")  # steps 1, 2
    val_lines = (src / "val.csv").read_text().splitlines()
    (run / "val.csv").write_text("\n".join(val_lines[:3]) + "\n")  # steps 0, 2
    records = [ln for ln in (src / "log.jsonl").read_text().splitlines()
               if json.loads(ln)["step"] <= 2]
    (run / "log.jsonl").write_text("\n".join(records) + '\n{"kind": "train", "st')
    proc = _cli("report", str(run))
    assert proc.returncode == 0, proc.stderr
    md = (run / "report.md").read_text()
    assert "Run in progress: step 2 of 4" in md and "latest training loss" in md
    assert "Best validation loss" in md and (run / "learning.png").is_file()
    assert "Run in progress: step 2 of 4" in (run / "report.html").read_text()
    # stopped by Ctrl-C: said so instead
    (run / "log.jsonl").write_text("\n".join(records) + '\n{"kind": "interrupted", "step": 2}\n')
    assert main(["report", str(run), "--overwrite", "--quiet"]) == 0
    md = (run / "report.md").read_text()
    assert "was interrupted (Ctrl-C) at step 2" in md and "in progress" not in md
    # a finished run is not flagged
    assert main(["report", str(src), "--out", str(tmp_path / "done"), "--quiet"]) == 0
    md = (tmp_path / "done" / "report.md").read_text()
    assert "in progress" not in md and "final training loss" in md


def test_tensorboard_scalars_against_the_step(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    cfg = load_config("tiny_mri", overrides=["train.steps=4", "train.tensorboard=true"])
    train(cfg, out, quiet=True)
    acc = EventAccumulator(str(out / "tensorboard"))
    acc.Reload()
    assert set(acc.Tags()["scalars"]) == {"train/loss", "train/lr", "train/grad_norm",
                                          "train/samples_per_s", "val/loss", "val/psnr_db",
                                          "val/nmse_db"}
    rows = _rows(out / "train.csv")
    loss = acc.Scalars("train/loss")
    assert [e.step for e in loss] == [1, 2, 3, 4]
    assert [e.value for e in loss] == pytest.approx([float(r["loss"]) for r in rows], rel=1e-6)
    val = {int(r["step"]): float(r["val_psnr_db"]) for r in _rows(out / "val.csv")}
    assert {e.step: e.value for e in acc.Scalars("val/psnr_db")} == pytest.approx(val)
    # switching it off for the resume is allowed (it does not change the result)
    assert main(["train", "--config", "tiny_mri", "--set", "train.steps=4", "--resume",
                 "--quiet", "--out", str(out)]) == 0


def test_tensorboard_missing_is_one_line_naming_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard fails
    out = tmp_path / "run"
    assert main(["train", *TINY, "--set", "train.tensorboard=true", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'discofold[tensorboard]'" in err[0], err
    assert "train.tensorboard = true" in err[0] and not out.exists()
    cfg = load_config("tiny_mri", overrides=["train.tensorboard=true"])
    with pytest.raises(MissingDependencyError, match="discofold\\[tensorboard\\]"):
        train(cfg, out, quiet=True)
    assert not out.exists()
