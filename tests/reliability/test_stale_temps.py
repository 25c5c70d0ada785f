"""Stale temporary files: a writer SIGKILLed inside :func:`atomic_write` leaves its hidden
``.<name>.<host>-<pid>.<random>.tmp``; the next write of the same target removes it once that
process is dead, and never touches the temporary file of a live writer or anything else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from discofold.data._atomic import atomic_write

#: writes 64 MB into the temporary file of ``target``, says so, then waits to be killed
_WRITER = """
import sys, time
from discofold.data._atomic import atomic_write
with atomic_write(sys.argv[1], overwrite=True) as tmp:
    with open(tmp, "wb") as f:
        for _ in range(64):
            f.write(b"x" * 2**20)
        f.flush()
        print(tmp.name, flush=True)
        time.sleep(600)
"""


def _start_writer(target: Path) -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(target)],
                            stdout=subprocess.PIPE, text=True)
    name = proc.stdout.readline().strip()
    assert name, "the writer did not start"
    return proc, target.parent / name


def _write(target: Path, data: bytes) -> None:
    with atomic_write(target, overwrite=True) as tmp:
        tmp.write_bytes(data)


def test_a_killed_writers_temp_file_is_removed_by_the_next_write(fault_log, tmp_path):
    fault_log.describe("interrupted work: stale temporary file after SIGKILL",
                       "a subprocess is SIGKILLed inside atomic_write with 64 MB in its temp "
                       "file; while it lives, writes keep its temp; once dead, the next write of "
                       "the same target removes it; temps of other targets, of other machines "
                       "and look-alike names are kept")
    target = tmp_path / "out.h5"
    target.write_bytes(b"old")
    proc, tmp = _start_writer(target)
    try:
        assert tmp.name.startswith(".out.h5.") and f"-{proc.pid}." in tmp.name
        assert tmp.stat().st_size == 64 * 2**20
        _write(target, b"while alive")  # a live writer's temp file is never removed
        assert tmp.exists() and target.read_bytes() == b"while alive"
        fault_log.case("live writer's temp kept")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert tmp.exists() and target.read_bytes() == b"while alive"  # killed: nothing published
    host = tmp.name.split(".")[3].split("-")[0]
    keep = [f".out.h5.{host}-{proc.pid}.abc.tmp.bak", f".other.h5.{host}-{proc.pid}.abc.tmp",
            f".out.h5.00000000-{proc.pid}.abc.tmp", f".out.h5.{proc.pid}.abc.tmp",
            f"out.h5.{host}-{proc.pid}.abc.tmp", f".out.h5.x.{host}-{proc.pid}.abc.tmp"]
    for name in keep:
        (tmp_path / name).write_bytes(b"not ours")
    _write(target, b"new")
    assert not tmp.exists()
    assert target.read_bytes() == b"new"
    fault_log.case("dead writer's temp removed")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*keep, "out.h5"])
    fault_log.case(f"{len(keep)} look-alike names kept")
    for name in keep:
        (tmp_path / name).unlink()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
