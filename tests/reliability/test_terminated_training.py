"""Training ended from outside: SIGTERM (``kill``, a scheduler, ``docker stop``) must leave a
resumable ``last.pt`` at the step it arrived, and a run SIGKILLed inside its first checkpoint
write (so with logs but no ``last.pt``) must be refused with a message that names the option
that starts it again, which must then work.

The signals are real: sent to (or raised by) a ``python -m discofold train`` subprocess that
runs single-threaded, as the in-process reference run does, so the resumed weights are compared
with an uninterrupted run's.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from discofold.train import load_checkpoint

from .._cli import cli_lines as _cli

ONE_THREAD = True  # one torch thread per test (tests/conftest.py): the in-process runs

STEPS = 12
SETS = [f"train.steps={STEPS}", "train.checkpoint_every=4", "train.val_every=1000",
        "data.val_length=0", "data.shape=[32, 31]"]
ARGS = ["--config", "tiny_mri", "--quiet", *[a for s in SETS for a in ("--set", s)]]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
SEED = 20261204

#: the real torch.save, then the file cut in half and the process SIGKILLed: a crash inside
#: the first checkpoint write (atomic_write's temporary file is left behind)
_DIES_IN_FIRST_SAVE = """
import os, signal, sys
import torch
real = torch.save
def dying_save(obj, f, *args, **kwargs):
    real(obj, f, *args, **kwargs)
    name = f if isinstance(f, (str, os.PathLike)) else (f.flush(), f.name)[1]
    os.truncate(name, os.path.getsize(name) // 2)
    os.kill(os.getpid(), signal.SIGKILL)
torch.save = dying_save
from discofold.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _logged_step(out: Path) -> int:
    steps = [0]
    with contextlib.suppress(FileNotFoundError):
        for line in (out / "log.jsonl").read_text().splitlines():
            with contextlib.suppress(ValueError):  # a line being written
                rec = json.loads(line)
                if rec.get("kind") == "train":
                    steps.append(int(rec["step"]))
    return max(steps)


def _weights(path: Path) -> dict:
    return load_checkpoint(path)["state_dict"]


def _temps(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.endswith(".tmp"))


def test_sigterm_writes_a_final_checkpoint_that_resumes(fault_log, tmp_path):
    fault_log.describe("interrupted work: SIGTERM during training",
                       "real SIGTERM sent to a subprocess `discofold train` at a random step "
                       "between periodic checkpoints: exit 143, one line, a last.pt at that "
                       "step that loads, a 'terminated' log record, no temporary file; "
                       "`train --resume` reaches the uninterrupted run's weights")
    ref = tmp_path / "ref"
    rc, err = _cli("train", "--out", str(ref), *ARGS)
    assert rc == 0, err
    step = random.Random(SEED).choice([s for s in range(2, STEPS - 2) if s % 4])
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "discofold", "train", "--out", str(out),
                             *ARGS], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    try:
        while proc.poll() is None and time.monotonic() < deadline and _logged_step(out) < step:
            time.sleep(0.003)
        seen = _logged_step(out)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143 and len(err.strip().splitlines()) == 1, (proc.returncode, err)
    assert "stopped by SIGTERM at step" in err and "--resume" in err, err
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["resumable"] and seen <= ckpt["step"] <= seen + 1 < STEPS, (seen, ckpt["step"])
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert records[-1]["kind"] == "terminated" and records[-1]["step"] == ckpt["step"]
    assert _temps(out) == []
    fault_log.case(f"exit 143, checkpoint at step {ckpt['step']}")
    rc, err = _cli("train", "--out", str(out), "--resume", *ARGS)
    assert rc == 0, err
    a, b = _weights(ref / "last.pt"), _weights(out / "last.pt")
    diff = max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].numel())
    assert diff <= 1e-7, diff
    fault_log.case("resumed to the uninterrupted weights" if diff == 0 else
                   f"resumed, max |diff| {diff:.1e}")


def test_sigterm_handler_is_removed_after_training(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    rc, err = _cli("train", "--out", str(tmp_path / "run"), *ARGS[:2], "--quiet",
                   "--set", "train.steps=1", "--set", "data.val_length=0")
    assert rc == 0, err
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_run_killed_inside_its_first_checkpoint_can_be_started_again(fault_log, tmp_path):
    fault_log.describe("interrupted work: SIGKILL inside the first checkpoint write",
                       "a subprocess `discofold train` SIGKILLed inside its first torch.save "
                       "(half-written temporary file, logs but no last.pt): `train` and "
                       "`train --resume` exit 2 with one line naming --overwrite; `train "
                       "--overwrite` then completes and leaves no temporary file")
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", _DIES_IN_FIRST_SAVE, "train", "--out",
                           str(out), *ARGS], env=ENV, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not (out / "last.pt").exists() and (out / "log.jsonl").exists() and _temps(out)
    for extra in ([], ["--resume"]):
        rc, err = _cli("train", "--out", str(out), *ARGS, *extra)
        assert rc == 2 and len(err) == 1 and "--overwrite" in err[0], (extra, err)
        assert "first checkpoint" in err[0], err
        fault_log.case(f"train {' '.join(extra) or '(no flag)'}: exit 2, names --overwrite")
    rc, err = _cli("train", "--out", str(out), *ARGS, "--overwrite")
    assert rc == 0, err
    assert load_checkpoint(out / "last.pt")["step"] == STEPS and _temps(out) == []
    assert torch.isfinite(torch.cat([v.flatten().double() for v in
                                     _weights(out / "last.pt").values()])).all()
    fault_log.case("--overwrite: completed, no temporary file")
