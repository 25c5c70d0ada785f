"""The command line run in process, for tests (one copy instead of one per test module)."""

from __future__ import annotations

import contextlib
import io

from discofold.cli import main


def cli(*argv: str) -> tuple[int, str]:
    """``discofold ARGV`` in process: exit code and everything written to stderr (stdout is
    left to pytest's capture)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main([*argv])
    return rc, err.getvalue()


def cli_lines(*argv: str) -> tuple[int, list[str]]:
    """``discofold ARGV`` in process with stdout discarded: exit code and the stderr lines."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(list(argv))
    return rc, err.getvalue().strip().splitlines()


def simulate(out, kind: str, *extra: str) -> None:
    """``discofold simulate KIND --out OUT --n 1 --quiet EXTRA`` (asserting success)."""
    assert main(["simulate", kind, "--out", str(out), "--n", "1", "--quiet", *extra]) == 0
