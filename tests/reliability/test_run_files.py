"""The files of a run folder (``config.json``, ``last.pt``, logs) are never written through a
symbolic link, and ``train --overwrite`` loses nothing when the new run fails (issue 20, items
3 and 5)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from discofold.cli import main
from discofold.train._replace import BACKUP, recover_replaced
from discofold.train.loop import RUN_FILES

SETS = ["train.steps=2", "train.val_every=1000", "data.val_length=0", "train.device=cpu"]


def _train(out: Path, *extra: str) -> tuple[int, str]:
    err = io.StringIO()
    argv = ["train", "--config", "tiny_mri", "--out", str(out), "--quiet",
            *[a for s in SETS for a in ("--set", s)], *extra]
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(argv)
    return rc, err.getvalue().strip()


def _snapshot(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}


@pytest.fixture
def run_dir(tmp_path):
    out = tmp_path / "run"
    rc, err = _train(out)
    assert rc == 0, err
    return out


@pytest.mark.parametrize("name", ["config.json", "log.jsonl", "train.csv"])
def test_resume_refuses_a_linked_run_file(run_dir, tmp_path, name):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    (run_dir / name).unlink()
    (run_dir / name).symlink_to(victim)
    rc, err = _train(run_dir, "--resume", "--set", "train.steps=3")
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert name in err and "symbolic link" in err
    assert victim.read_text() == "keep me\n"


def test_fresh_run_refuses_a_linked_log(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    (out / "val.csv").symlink_to(victim)
    rc, err = _train(out)
    assert rc == 2 and "val.csv" in err, err
    assert victim.read_text() == "keep me\n"
    assert not (out / "last.pt").exists()


@pytest.mark.parametrize("why", ["missing data", "no cuda", "diverges"])
def test_failed_overwrite_restores_the_old_run(run_dir, why):
    before = _snapshot(run_dir)
    assert {"last.pt", "config.json", "log.jsonl"} <= set(before)
    # the new run fails before its first checkpoint
    sets = {"missing data": ["data.kind=mri_files", f"data.train_files=['{run_dir / 'no'}']",
                             f"data.val_files=['{run_dir / 'no'}']"],
            "no cuda": ["train.device=cuda:7"],
            "diverges": ["train.lr=1e30"]}[why]
    rc, err = _train(run_dir, "--overwrite", *[a for s in sets for a in ("--set", s)])
    assert rc != 0, err
    assert _snapshot(run_dir) == before
    assert not (run_dir / BACKUP).exists()


def test_successful_overwrite_replaces_the_run(run_dir):
    before = _snapshot(run_dir)
    rc, err = _train(run_dir, "--overwrite", "--set", "train.steps=3")
    assert rc == 0, err
    after = _snapshot(run_dir)
    assert after["last.pt"] != before["last.pt"]
    assert '"steps": 3' in after["config.json"].decode()
    assert not (run_dir / BACKUP).exists()


def test_recovery_after_a_killed_overwrite(run_dir):
    before = _snapshot(run_dir)
    # as left by a process killed after moving the old run aside, before its first checkpoint
    backup = run_dir / BACKUP
    backup.mkdir()
    for name in RUN_FILES:
        if (run_dir / name).exists():
            (run_dir / name).replace(backup / name)
    (run_dir / "log.jsonl").write_text("{}\n")  # the new run had begun its log
    assert recover_replaced(run_dir, RUN_FILES) == "restored"
    assert _snapshot(run_dir) == before and not backup.exists()
    # killed after the new run's first checkpoint: the old run goes
    backup.mkdir()
    (backup / "last.pt").write_bytes(b"old")
    assert recover_replaced(run_dir, RUN_FILES) == "discarded"
    assert not backup.exists() and _snapshot(run_dir) == before


def test_resume_after_a_torn_log_line(run_dir):
    """A crash in the middle of a log write leaves a torn last line; --resume drops it."""
    with (run_dir / "log.jsonl").open("a") as f:
        f.write('{"kind": "train", "step": 3, "lo')
    with (run_dir / "train.csv").open("a") as f:
        f.write("3,0.1")
    with (run_dir / "val.csv").open("a") as f:
        f.write("x,")
    rc, err = _train(run_dir, "--resume")  # the finished 2-step run: nothing left to train
    assert rc == 0, err
    lines = (run_dir / "log.jsonl").read_text().splitlines()
    assert all(json.loads(ln) for ln in lines)
    steps = [int(r.split(",")[0]) for r in (run_dir / "train.csv").read_text().splitlines()[1:]]
    assert steps == sorted(steps) and steps[-1] == 2
    assert (run_dir / "val.csv").read_text().splitlines()[-1] != "x,"
