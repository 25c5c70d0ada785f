"""Files and folders the tool writes honour the umask (issue 21, item 4).

Atomic writes go through a temporary file that :mod:`tempfile` creates 0600 and folders through
``mkdtemp`` (0700); what is published must get what ``open`` / ``mkdir`` would give instead:
``0o666 & ~umask`` and ``0o777 & ~umask`` (0644 / 0755 under umask 022, 0600 / 0700 under 077).
The end-to-end test runs the real CLI verbs (simulate, recon, train, eval, report) in process
under each umask.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
from pathlib import Path

import pytest

from discofold.cli import main
from discofold.data._atomic import _current_umask, atomic_write, make_temp_dir

UMASKS = [0o022, 0o077]


@pytest.fixture(params=UMASKS, ids=lambda u: f"umask{u:03o}")
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _cli(*argv: str) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main([*argv])
    assert rc == 0, err.getvalue()


def _check_tree(root: Path, umask: int) -> int:
    """Assert the mode of every file and folder under ``root`` (itself included); returns the
    number of files checked."""
    assert _mode(root) == 0o777 & ~umask, root
    n = 0
    for p in root.rglob("*"):
        want = (0o777 if p.is_dir() else 0o666) & ~umask
        assert _mode(p) == want, f"{p}: {_mode(p):04o} != {want:04o}"
        n += p.is_file()
    return n


def test_current_umask_reads_without_changing_it(umask):
    assert _current_umask() == umask
    assert os.umask(umask) == umask  # unchanged by the read


def test_atomic_write_and_temp_dir_modes(tmp_path, umask):
    with atomic_write(tmp_path / "a.bin") as tmp:
        tmp.write_bytes(b"x")
    assert _mode(tmp_path / "a.bin") == 0o666 & ~umask
    with atomic_write(tmp_path / "a.bin", overwrite=True) as tmp:
        tmp.write_bytes(b"y")
    assert _mode(tmp_path / "a.bin") == 0o666 & ~umask
    d = make_temp_dir(".t-", tmp_path)
    assert d.parent == tmp_path and _mode(d) == 0o777 & ~umask


def test_cli_outputs_honour_the_umask(tmp_path, umask):
    data, rec, run, ev = (tmp_path / n for n in ("data", "rec", "run", "ev"))
    _cli("simulate", "mri", "--n", "1", "--size", "16x12", "--slices", "1", "--coils", "2",
         "--pattern", "equispaced", "--acceleration", "2", "--out", str(data), "--quiet")
    _cli("recon", "--method", "zf", "--input", str(data), "--output", str(rec), "--quiet")
    _cli("train", "--config", "tiny_mri", "--out", str(run), "--quiet",
         *[a for s in ("train.steps=1", "train.val_every=1000", "data.val_length=0",
                       "train.device=cpu") for a in ("--set", s)])
    _cli("eval", "--checkpoint", str(run / "last.pt"), "--data",
         "sim:mri?n=1&size=16x12&coils=2&oversample=1", "--patterns", "equispaced",
         "--accelerations", "2", "--baseline", "none", "--out", str(ev), "--quiet")
    _cli("report", str(ev), "--quiet")
    assert (run / "last.pt").is_file() and (ev / "report.html").is_file()
    for root in (data, rec, run, ev):
        assert _check_tree(root, umask) >= 1
