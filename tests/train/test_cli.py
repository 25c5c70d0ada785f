"""``discofold train``: exit codes and one-line messages, run-folder protection, resume."""

from __future__ import annotations

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
    # resume with more steps is another config: refused, one line
    assert main(["train", "--config", "tiny_blockcs", "--out", str(out), "--quiet", "--resume",
                 "--set", "train.steps=3", "--set", "train.val_every=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "differing keys: ['train.steps']" in err[0]
    assert _train(out, "--resume") == 0  # already at the last step: nothing to do
    assert _train(out, "--overwrite") == 0
    assert load_checkpoint(out / "last.pt")["step"] == 2


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
