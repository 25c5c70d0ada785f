"""Interrupted and poisoned training through the real CLI: ``python -m discofold train`` killed
with SIGKILL or SIGINT at a random step and resumed to the weights of an uninterrupted run;
untrusted or foreign checkpoints given to ``eval`` and ``train --resume``; a NaN loss.

Every subprocess runs single-threaded (``OMP_NUM_THREADS=1``), as the in-process reference
runs of ``tests/train`` do, so an exact resume is bit for bit.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from discofold.train import load_checkpoint, load_config, train

from .._checkpoints import tampered
from .._cli import cli_lines as _cli

STEPS = 12
#: ~0.1 s per step on one core; a periodic checkpoint every 2 steps, no validation
SETS = [f"train.steps={STEPS}", "train.checkpoint_every=2", "train.val_every=1000",
        "data.val_length=0", "data.shape=[64, 61]"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
SEED = 20240610  # the kill steps are drawn from this seed


def _cmd(out: Path, *extra: str) -> list[str]:
    sets = [a for s in SETS for a in ("--set", s)]
    return [sys.executable, "-m", "discofold", "train", "--config", "tiny_mri", "--out", str(out),
            "--quiet", *sets, *extra]


def _run(out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd(out, *extra), env=ENV, capture_output=True, text=True,
                          timeout=300)


def _logged_step(out: Path) -> int:
    """The last training step written to ``out/log.jsonl`` (0 before the first)."""
    try:
        lines = (out / "log.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return 0
    steps = [0]
    for line in lines:
        with contextlib.suppress(ValueError):  # a line being written
            rec = json.loads(line)
            if rec.get("kind") == "train":
                steps.append(int(rec["step"]))
    return max(steps)


def _stop_at(out: Path, step: int, sig: int) -> tuple[int, int, str]:
    """Start a training run, send ``sig`` once ``step`` is logged; return (exit code, step
    logged when the signal was sent, stderr)."""
    # a shell that started us in the background (``cmd &``) ignores SIGINT, the child would
    # inherit that and Python would install no KeyboardInterrupt handler: restore the default
    proc = subprocess.Popen(_cmd(out), env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            seen = _logged_step(out)
            if seen >= step:
                proc.send_signal(sig)
                break
            time.sleep(0.003)
        rc = proc.wait(timeout=120)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rc not in (0, None), f"the run ended before step {step} was seen: {err}"
    return rc, seen, err


def _weights(path: Path) -> dict:
    return load_checkpoint(path)["state_dict"]


def _max_diff(a: dict, b: dict) -> float:
    assert list(a) == list(b)
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def _no_temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@contextlib.contextmanager
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """``last.pt`` of an uninterrupted run (in this process, single-threaded like the CLI runs:
    the same computation, without the start-up time of another process)."""
    out = tmp_path_factory.mktemp("train") / "straight"
    with _one_thread():
        result = train(load_config("tiny_mri", overrides=SETS), out, quiet=True)
    assert result.step == STEPS and not result.interrupted
    return result.last


def _kill_and_resume(reference: Path, out: Path, step: int, fault_log) -> float:
    rc, seen, _ = _stop_at(out, step, signal.SIGKILL)
    assert rc == -signal.SIGKILL
    kept = load_checkpoint(out / "last.pt")  # the last periodic checkpoint survived the kill
    assert kept["resumable"] and kept["step"] <= seen and kept["step"] % 2 == 0
    proc = _run(out, "--resume")
    assert proc.returncode == 0, proc.stderr
    diff = _max_diff(_weights(reference), _weights(out / "last.pt"))
    assert diff <= 1e-7, diff
    assert _no_temp_files(out) == []  # a temp file of the killed writer was removed on resume
    steps = [json.loads(r)["step"] for r in (out / "log.jsonl").read_text().splitlines()
             if json.loads(r)["kind"] == "train"]
    assert steps == list(range(1, STEPS + 1))  # the logs read like an uninterrupted run's
    fault_log.case("bitwise equal" if diff == 0 else f"max |diff| {diff:.1e}")
    return diff


def test_sigkill_at_a_random_step_then_resume_gives_the_same_weights(fault_log, reference,
                                                                     tmp_path):
    fault_log.describe("interrupted work: training killed (SIGKILL) and resumed",
                       f"subprocess `discofold train` ({STEPS} steps, checkpoint every 2) "
                       "SIGKILLed once a step drawn from a seeded RNG is logged, then "
                       "`--resume`d; final weights equal the uninterrupted run's (<= 1e-7), "
                       "logs read like it, no temp file left")
    step = random.Random(SEED).randint(3, STEPS - 3)  # step 2 wrote the first checkpoint
    diff = _kill_and_resume(reference, tmp_path / "run", step, fault_log)
    fault_log.measure("SIGKILL at step → max |weight diff| after resume", f"{step} → {diff:g}")


@pytest.mark.slow
def test_sigkill_at_several_random_steps(fault_log, reference, tmp_path):
    fault_log.describe("interrupted work: training killed (SIGKILL) and resumed",
                       "as above, at 4 more random steps, one of them killed twice")
    rng = random.Random(SEED + 1)
    for i in range(4):
        _kill_and_resume(reference, tmp_path / f"run{i}", rng.randint(3, STEPS - 3), fault_log)
    out = tmp_path / "twice"  # killed, resumed, killed again, resumed
    first, second = sorted(rng.sample(range(3, STEPS - 2), 2))
    _stop_at(out, first, signal.SIGKILL)
    proc = subprocess.Popen(_cmd(out, "--resume"), env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    while proc.poll() is None and _logged_step(out) < second:
        time.sleep(0.003)
    proc.kill()
    proc.wait()
    assert _run(out, "--resume").returncode == 0
    assert _max_diff(_weights(reference), _weights(out / "last.pt")) <= 1e-7
    fault_log.case("killed twice, equal weights")


def test_sigint_leaves_a_resumable_checkpoint(fault_log, reference, tmp_path):
    fault_log.describe("interrupted work: SIGINT (Ctrl-C) during training",
                       "real SIGINT sent to a subprocess `discofold train` at a random odd step "
                       "(between periodic checkpoints): exit 130, one line, last.pt at that step "
                       "loads and `train --resume` (in-process CLI) reaches the uninterrupted "
                       "run's weights")
    step = 2 * random.Random(SEED + 2).randint(1, STEPS // 2 - 2) + 1
    out = tmp_path / "run"
    rc, seen, err = _stop_at(out, step, signal.SIGINT)
    assert rc == 130 and len(err.strip().splitlines()) == 1, err
    assert re.search(r"interrupted at step \d+; resumable checkpoint .*--resume", err), err
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["resumable"] and seen <= ckpt["step"] <= seen + 1
    assert _no_temp_files(out) == []
    fault_log.case(f"exit 130, checkpoint at step {ckpt['step']}")
    with _one_thread():  # resumed through the CLI in this process (saves a start-up)
        rc, err = _cli("train", "--config", "tiny_mri", "--out", str(out), "--resume",
                       "--quiet", *[a for s in SETS for a in ("--set", s)])
    assert rc == 0, err
    diff = _max_diff(_weights(reference), _weights(out / "last.pt"))
    assert diff <= 1e-7
    fault_log.case("bitwise equal after resume" if diff == 0 else f"max |diff| {diff:.1e}")


# ----------------------------------------------------------------------------- checkpoints
class _Payload:
    """Unpickling this object would create the file ``marker`` (code execution)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _eval(ckpt: Path, tmp_path: Path) -> tuple[int, list[str]]:
    return _cli("eval", "--checkpoint", str(ckpt), "--data", "sim:mri?n=1&size=16", "--out",
                str(tmp_path / "eval"), "--quiet")


def _resume(ckpt: Path, tmp_path: Path) -> tuple[int, list[str]]:
    run = tmp_path / "resume"
    run.mkdir(exist_ok=True)
    (run / "last.pt").write_bytes(ckpt.read_bytes())
    sets = [a for s in SETS for a in ("--set", s)]
    return _cli("train", "--config", "tiny_mri", "--out", str(run), "--resume", "--quiet", *sets)


def test_a_pickle_payload_checkpoint_is_refused_by_eval_and_resume(fault_log, reference,
                                                                   tmp_path):
    fault_log.describe("untrusted checkpoints: pickle payload",
                       "a real checkpoint plus an object whose unpickling would create a marker "
                       "file, given to `discofold eval --checkpoint` and `train --resume`: exit 2, "
                       "one line, the marker never appears")
    marker = tmp_path / "payload_ran"
    evil = tampered(reference, tmp_path / "evil.pt", evil=_Payload(str(marker)))
    for verb in (_eval, _resume):
        rc, err = verb(evil, tmp_path)
        assert rc == 2 and len(err) == 1, err
        assert "pickled object" in err[0] and "nothing in it was run" in err[0], err
        assert not marker.exists()
        assert not (tmp_path / "eval").exists() or not any((tmp_path / "eval").iterdir())
        fault_log.case(f"{verb.__name__.strip('_')}: refused, payload not run")


def test_a_checkpoint_of_another_model_or_version_is_refused(fault_log, reference, tmp_path):
    fault_log.describe("untrusted checkpoints: other model or config version",
                       "`eval` and `train --resume` given checkpoints of another config version, "
                       "format version, model or model configuration (other weight shapes): "
                       "exit 2 with one line naming the mismatch")
    small = load_checkpoint(reference)["state_dict"]
    resized = {k: torch.zeros(*v.shape[:-1], v.shape[-1] + 1) if v.ndim else v
               for k, v in small.items()}
    cases = [
        (_eval, dict(config_version=99), r"config version 99 .* uses config version 1"),
        (_resume, dict(config_version=99), r"config version 99"),
        (_eval, dict(format_version=7), r"format version 7"),
        (_resume, dict(model_name="ista_net_plus"), r"made for model 'ista_net_plus'"),
        (_eval, dict(state_dict=resized), r"tensors of other shapes .*another model config"),
        (_resume, dict(config=load_config("tiny_mri").to_json()), r"another config; differing"),
    ]
    for i, (verb, change, message) in enumerate(cases):
        bad = tampered(reference, tmp_path / f"bad{i}.pt", **change)
        rc, err = verb(bad, tmp_path)
        assert rc == 2 and len(err) == 1 and re.search(message, err[0]), (change.keys(), err)
        fault_log.case("refused: " + ", ".join(change))


def test_corrupted_checkpoint_bytes_end_in_a_checkpoint_error(fault_log, reference, tmp_path):
    fault_log.describe("untrusted checkpoints: corrupt bytes",
                       "300 seeded variants of a real checkpoint (1-20 random bytes overwritten, "
                       "truncated) and of random bytes, read by load_checkpoint: each loads or "
                       "raises CheckpointError, never another exception")
    import warnings

    from discofold.errors import CheckpointError

    rng = random.Random(SEED + 3)
    good = reference.read_bytes()
    path = tmp_path / "c.pt"
    for i in range(300):
        if i % 3 == 0:
            data = bytes(rng.randrange(256) for _ in range(rng.choice([1, 9, 64, 700])))
        else:
            data = bytearray(good)
            for _ in range(rng.randint(1, 20)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            if i % 3 == 2:
                data = data[:rng.randrange(len(data))]
        path.write_bytes(bytes(data))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Detected pickle protocol ..."
                load_checkpoint(path)
            fault_log.case("loaded (tensor bytes changed)")
        except CheckpointError:
            fault_log.case("CheckpointError")


def test_no_loader_uses_weights_only_false(fault_log):
    fault_log.describe("untrusted checkpoints: loading never unpickles code",
                       "every .py file of discofold/ is read: no `weights_only=False`, and every "
                       "`torch.load(` call passes `weights_only=True`")
    root = Path(__file__).resolve().parents[2] / "discofold"
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        assert not re.search(r"weights_only\s*=\s*False", text), path
        for call in re.finditer(r"torch\.load\(([^)]*)\)", text):
            assert "weights_only=True" in call.group(1), (path, call.group(0))
        fault_log.case("clean")


# ----------------------------------------------------------------------------- NaN
def test_a_nan_loss_through_the_cli_keeps_the_last_good_checkpoint(fault_log, tmp_path):
    fault_log.describe("numerical guard: NaN loss stops training",
                       "`discofold train --set train.lr=1e30` (weights explode, the loss of step "
                       "2 is NaN): exit 2, one line naming the step and the kept checkpoint and "
                       "blaming train.lr; last.pt is the finite state after step 1, equal to a "
                       "run stopped there")
    sets = ["train.steps=6", "train.checkpoint_every=1", "train.val_every=1000",
            "data.val_length=0", "train.lr=1e30"]
    out = tmp_path / "nan"
    with _one_thread():
        rc, err = _cli("train", "--config", "tiny_mri", "--out", str(out), "--quiet",
                       *[a for s in sets for a in ("--set", s)])
        assert rc == 2 and len(err) == 1, err
        assert re.search(r"non-finite loss or gradient \(nan\) at step 2: training stopped "
                         r"before taking it; the last good checkpoint is .*last\.pt.*train\.lr "
                         r"= 1e\+30 is probably too high", err[0]), err
        kept = load_checkpoint(out / "last.pt")
        assert kept["step"] == 1 and kept["resumable"]
        assert all(torch.isfinite(v).all() for v in kept["state_dict"].values()
                   if v.is_floating_point())
        records = [json.loads(r) for r in (out / "log.jsonl").read_text().splitlines()]
        assert (records[-1]["kind"], records[-1]["step"]) == ("diverged", 2)
        fault_log.case("exit 2, last good checkpoint kept")

        def stop(step, loss):
            raise _Crash

        cfg = load_config("tiny_mri", overrides=sets)
        with pytest.raises(_Crash):  # the same run stopped after step 1
            train(cfg, tmp_path / "one", quiet=True, callbacks=[stop])
    assert _max_diff(_weights(tmp_path / "one" / "last.pt"), kept["state_dict"]) == 0
    fault_log.case("kept checkpoint = state after the last good step")


class _Crash(Exception):
    pass


@pytest.mark.parametrize("lr, loss", [(1e4, "mse"), (1e30, "ssim")])
def test_a_bad_learning_rate_is_caught_in_the_first_steps(fault_log, tmp_path, lr, loss):
    fault_log.describe("numerical guard: bad learning rate",
                       "`discofold train --set train.lr=1e4` (MSE, no clipping: the loss "
                       "explodes) and `train.lr=1e30` (NaN): exit 2 within the first steps, "
                       "one line blaming train.lr")
    sets = [f"train.lr={lr}", f'train.loss="{loss}"', "train.grad_clip=0", "train.steps=20",
            "train.sanity_factor=10", "train.checkpoint_every=5", "train.val_every=1000",
            "data.val_length=0"]
    with _one_thread():
        rc, err = _cli("train", "--config", "tiny_mri", "--out", str(tmp_path / "r"), "--quiet",
                       *[a for s in sets for a in ("--set", s)])
    assert rc == 2 and len(err) == 1, err
    assert f"train.lr = {lr:g} is probably too high" in err[0], err
    steps = [json.loads(r).get("step", 0) for r in
             (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert max(steps) <= 20
    fault_log.case(f"stopped at step {max(steps)} of 20")
