"""``discofold train``: exit codes and one-line messages, run-folder protection, resume."""

from __future__ import annotations

import json

import pytest

from discofold.cli import main
from discofold.train import load_checkpoint

SETS = ["--set", "train.steps=2", "--set", "train.val_every=1"]


def _train(out, *extra):
    return main(["train", "--config", "tiny_blockcs", "--out", str(out), "--quiet", *SETS,
                 *extra])


def test_train_resume_and_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out) == 0
    assert load_checkpoint(out / "last.pt")["step"] == 2
    assert (out / "best.pt").exists() and (out / "train.csv").exists()
    before = (out / "last.pt").read_bytes()
    assert _train(out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds a run" in err[0] and "--overwrite" in err[0]
    assert (out / "last.pt").read_bytes() == before  # nothing was touched
    # resume with another learning rate is another config: refused, one line
    assert _train(out, "--resume", "--set", "train.lr=0.5") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "differing keys: ['train.lr']" in err[0]
    assert (out / "last.pt").read_bytes() == before
    assert _train(out, "--resume") == 0  # already at the last step: nothing to do
    assert _train(out, "--overwrite") == 0
    assert load_checkpoint(out / "last.pt")["step"] == 2


def test_resume_may_extend_train_steps_but_not_shorten_them(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out) == 0
    assert _train(out, "--resume", "--set", "train.steps=4") == 0
    assert load_checkpoint(out / "last.pt")["step"] == 4
    assert '"steps": 4' in (out / "config.json").read_text()
    capsys.readouterr()
    assert _train(out, "--resume", "--set", "train.steps=3") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train.steps = 4" in err[0] and "not shorten" in err[0], err
    assert load_checkpoint(out / "last.pt")["step"] == 4


@pytest.mark.parametrize("made", [False, True])
def test_a_failure_in_the_first_step_leaves_no_debris(tmp_path, capsys, monkeypatch, made):
    from discofold.errors import InputError
    from discofold.train import loop

    def fail(self, batch):
        raise InputError("the first batch cannot be used")

    out = tmp_path / "runs" / "x"
    if made:
        out.mkdir(parents=True)
    with monkeypatch.context() as m:
        m.setattr(loop._Run, "train_step", fail)
        assert _train(out) == 2  # after the first validation wrote config.json, logs, best.pt
    assert "the first batch cannot be used" in capsys.readouterr().err
    assert out.is_dir() == made and (tmp_path / "runs").is_dir() == made
    assert not made or list(out.iterdir()) == []  # a folder of the user's is kept, emptied
    assert _train(out) == 0  # the fixed command needs no --overwrite


def test_a_divergence_in_the_first_step_keeps_its_log(tmp_path, capsys, monkeypatch):
    from discofold.train import loop

    def diverge(self, batch):
        raise loop._NonFinite(float("nan"))

    out = tmp_path / "run"
    monkeypatch.setattr(loop._Run, "train_step", diverge)
    assert _train(out) == 2
    assert "non-finite loss" in capsys.readouterr().err
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert records[-1]["kind"] == "diverged" and not (out / "last.pt").exists()


@pytest.mark.parametrize("args, message", [
    (["--set", "train.lr_rate=1"], "did you mean 'train.lr'?"),
    (["--config", "nope.toml"], "config file 'nope.toml' does not exist"),
    (["--resume"], "nothing to resume"),
])
def test_bad_input_gives_one_line_and_exit_code_2(tmp_path, capsys, args, message):
    base = ["train", "--out", str(tmp_path / "r"), "--quiet"]
    if "--config" not in args:
        base += ["--config", "tiny_blockcs"]
    assert main(base + args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "r" / "last.pt").exists()


def test_out_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert _train(f) == 2
    assert "is an existing file" in capsys.readouterr().err


def test_ctrl_c_exit_code_and_message(tmp_path, capsys, monkeypatch):
    import discofold.train.loop as loop

    original = loop._Run.after_step

    def interrupt(self, *a, **k):
        original(self, *a, **k)
        raise KeyboardInterrupt

    monkeypatch.setattr(loop._Run, "after_step", interrupt)
    assert _train(tmp_path / "run") == 130
    assert "interrupted at step 1" in capsys.readouterr().err
    assert load_checkpoint(tmp_path / "run" / "last.pt")["resumable"]
