"""``discofold bench``: run the benchmark scripts of a source checkout.

::

    discofold bench [operators|layers|models|baselines|learning|mri|radar|all] [--quick]
                    [--scale cpu|paper] [--threads N]

The suites are the scripts ``benchmarks/<suite>.py`` of the repository (they are not part of the
installed package); each writes its tables to ``docs/benchmarks/<suite>.md``.  The
``benchmarks/`` folder is looked for in the current folder and its parents, then next to the
imported ``discofold`` package (an editable install of a checkout).  ``mri`` and ``radar`` are
the quality benchmarks at ``--scale cpu`` (minutes on a laptop) or ``paper``; they are reported
as not yet available while their scripts do not exist.  ``all`` runs every suite whose script
exists, in the order above.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from ..errors import DiscofoldError, InputError
from ._common import positive_int

__all__ = ["register", "run", "SUITES", "find_benchmarks"]

SUITES = ("operators", "layers", "models", "baselines", "learning", "mri", "radar")
_SCALED = ("mri", "radar")
_SCRIPTS = {"radar": "radar_evidence",  # suite -> benchmarks/<script>.py when not <suite>.py
            "mri": "mri_evidence"}


def register(subparsers) -> None:
    """Add the ``bench`` verb."""
    p = subparsers.add_parser(
        "bench", help="run the benchmark suites (from a source checkout)",
        description="Run benchmarks/<suite>.py of a source checkout; each writes "
        "docs/benchmarks/<suite>.md.")
    p.add_argument("suite", nargs="?", default="all", choices=(*SUITES, "all"),
                   help="benchmark suite (default: all)")
    p.add_argument("--quick", action="store_true", help="the short version of each suite")
    p.add_argument("--scale", choices=("cpu", "paper"), default="cpu",
                   help="size of the mri/radar quality benchmarks (default cpu)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="torch CPU threads passed to the scripts")
    p.set_defaults(func=run)


def _package_root() -> Path:
    return Path(__file__).resolve().parents[2]


def find_benchmarks(start: Path | None = None) -> Path:
    """The ``benchmarks/`` folder of the source checkout (see the module docstring).

    Raises
    ------
    InputError
        No checkout with a ``benchmarks/`` folder was found.
    """
    start = Path.cwd() if start is None else Path(start)
    for base in (start.resolve(), *start.resolve().parents, _package_root()):
        folder = base / "benchmarks"
        if folder.is_dir() and any((folder / f"{s}.py").is_file() for s in SUITES):
            return folder
    raise InputError("discofold bench runs the scripts in benchmarks/ of a source checkout; "
                     f"none was found from '{start}' or next to the installed package "
                     "(clone the repository and run the command inside it)")


def _command(script: Path, suite: str, args) -> list[str]:
    cmd = [sys.executable, str(script)]
    if args.quick:
        cmd.append("--quick")
    if suite in _SCALED:
        cmd += ["--scale", args.scale]
    if args.threads is not None:
        cmd += ["--threads", str(args.threads)]
    return cmd


def run(args: argparse.Namespace) -> int:
    """Run one suite or all of them; the exit status is that of the first failing script."""
    folder = find_benchmarks()
    suites = SUITES if args.suite == "all" else (args.suite,)
    todo = []
    for suite in suites:
        script = folder / f"{_SCRIPTS.get(suite, suite)}.py"
        if script.is_file():
            todo.append((suite, script))
        elif args.suite != "all":
            raise InputError(f"benchmark suite '{suite}' is not yet available in this checkout "
                             f"(no {script})")
        else:
            print(f"discofold bench: skipping '{suite}' (not yet available: no {script.name})",
                  file=sys.stderr)
    start = time.monotonic()
    for i, (suite, script) in enumerate(todo):
        cmd = _command(script, suite, args)
        # one line per suite, also in a log: which one, how many, time so far
        print(f"discofold bench: {suite} ({i + 1}/{len(todo)}, elapsed "
              f"{time.monotonic() - start:.0f} s): {' '.join(cmd[1:])}", file=sys.stderr,
              flush=True)
        done = subprocess.run(cmd, cwd=folder.parent, check=False)
        if done.returncode != 0:
            raise DiscofoldError(f"benchmark '{suite}' ({script}) failed with exit status "
                                 f"{done.returncode}")
    return 0
