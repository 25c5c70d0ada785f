"""discofold._progress: a tqdm bar in a terminal, a plain line every N seconds elsewhere."""

from __future__ import annotations

import io

import pytest

from discofold._progress import DEFAULT_S, Progress, interval, override_interval, progress
from discofold.errors import InputError


class _Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class _FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_every_interval_with_counts_rate_and_eta(monkeypatch):
    monkeypatch.setenv("DISCOFOLD_PROGRESS_S", "10")
    clock, out = _Clock(), io.StringIO()
    bar = Progress(8, "recon cg", "file", stream=out, clock=clock)
    for _ in range(3):  # 3 files in 6 s: no line before 10 s
        clock.t += 2
        bar.update()
    assert out.getvalue() == ""
    clock.t += 4  # 4 files in 10 s
    bar.update(loss=0.123456)
    lines = out.getvalue().splitlines()
    assert lines == ["recon cg: 4/8 files (50%), 0.4 files/s, elapsed 0:10, ETA 0:10, "
                     "loss=0.1235"]
    clock.t += 2
    bar.update()  # 2 s after the last line: none
    assert len(out.getvalue().splitlines()) == 1
    clock.t += 8
    bar.update(3)
    bar.close()  # changed since the last line: a last one
    lines = out.getvalue().splitlines()
    assert lines[1].startswith("recon cg: 8/8 files (100%), 0.4 files/s, elapsed 0:20")
    assert "ETA" not in lines[1] and "\r" not in out.getvalue()
    bar.close()
    assert len(out.getvalue().splitlines()) == 2  # closing twice writes nothing more


def test_resumed_total_unknown_and_short_work(monkeypatch):
    monkeypatch.setenv("DISCOFOLD_PROGRESS_S", "1")
    clock, out = _Clock(), io.StringIO()
    bar = Progress(100, "train varnet", "step", initial=90, stream=out, clock=clock)
    clock.t += 2
    bar.update(val_psnr_db=None)  # a None postfix is not shown
    # the rate counts only the steps done here (1 in 2 s), the ETA the 9 left
    assert out.getvalue() == ("train varnet: 91/100 steps (91%), 0.5 steps/s, elapsed 0:02, "
                              "ETA 0:18\n")
    out2 = io.StringIO()
    unknown = Progress(None, "", "batch", stream=out2, clock=clock)
    clock.t += 3700
    unknown.update(2)
    assert out2.getvalue() == "2 batches, 0.000541 batches/s, elapsed 1:01:40\n"
    out3 = io.StringIO()
    quick = Progress(5, "x", stream=out3, clock=clock)
    quick.update(5)
    quick.close()  # done within one interval: silent
    assert out3.getvalue() == ""


def test_quiet_zero_interval_and_terminal(monkeypatch):
    clock = _Clock()
    monkeypatch.setenv("DISCOFOLD_PROGRESS_S", "0")
    out = io.StringIO()
    bar = Progress(3, "eval", stream=out, clock=clock)
    clock.t += 100
    bar.update()
    bar.close()
    assert out.getvalue() == ""
    monkeypatch.setenv("DISCOFOLD_PROGRESS_S", "1")
    bar = Progress(3, "eval", stream=out, quiet=True, clock=clock)
    clock.t += 100
    bar.update()
    bar.close()
    assert out.getvalue() == ""
    tty = _FakeTTY()
    with Progress(3, "simulate mri", "file", stream=tty) as bar:
        bar.update(2, loss=0.5)
    assert "simulate mri" in tty.getvalue() and "\r" in tty.getvalue()  # the tqdm bar


def test_interval_from_environment_flag_and_errors(monkeypatch):
    monkeypatch.delenv("DISCOFOLD_PROGRESS_S")
    assert interval() == DEFAULT_S
    monkeypatch.setenv("DISCOFOLD_PROGRESS_S", " 2.5 ")
    assert interval() == 2.5
    with override_interval(0.5):
        assert interval() == 0.5
    with override_interval(None):
        assert interval() == 2.5
    assert interval() == 2.5
    for bad in ("soon", "-1", "nan", "inf"):
        monkeypatch.setenv("DISCOFOLD_PROGRESS_S", bad)
        with pytest.raises(InputError, match="DISCOFOLD_PROGRESS_S.*seconds >= 0"):
            interval()
    with pytest.raises(InputError, match="--progress-s"):
        with override_interval(-3):
            pass


def test_progress_wraps_an_iterable(monkeypatch, capsys):
    monkeypatch.setenv("DISCOFOLD_PROGRESS_S", "1e-9")
    assert list(progress(range(3), desc="demo", unit="image")) == [0, 1, 2]
    lines = capsys.readouterr().err.splitlines()
    assert [ln.split(",")[0] for ln in lines] == [f"demo: {i}/3 images ({p}%)"
                                                   for i, p in ((1, 33), (2, 67), (3, 100))]
