"""Helpers shared by the CLI verbs: output folders, overwrite checks, seeds, progress bars.

Kept small and generic so that every verb (``simulate``, ``recon``, ``train``, ``eval``) handles
its output the same way:

- :func:`add_output_args` adds ``--out``, ``--overwrite`` and ``--quiet``;
- :func:`add_limit_args` adds ``--limit KEY=VALUE`` (repeatable), which raises a bound of
  :mod:`discofold._limits` for the verb (applied by :func:`discofold.cli.main`);
- :func:`prepare_out_dir` creates the output folder or says clearly why it cannot be used;
- :func:`check_new_files` refuses, *before anything is written*, to replace existing files
  unless ``--overwrite`` was given (the writers themselves are atomic, see
  :func:`discofold.data.atomic_write`, so an interrupted run leaves no partial file);
- :func:`progress` shows the progress of an iterable on stderr: a tqdm bar in a terminal, a
  plain line every ``DISCOFOLD_PROGRESS_S`` seconds elsewhere, nothing with ``--quiet``
  (:mod:`discofold._progress`, shared with training);
- :func:`derive_seed` gives item ``i`` of a run its own stable seed from ``(--seed, i)``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from .. import _limits
from .._progress import progress
from ..errors import InputError

__all__ = [
    "add_output_args",
    "add_limit_args",
    "prepare_out_dir",
    "check_new_files",
    "progress",
    "derive_seed",
    "parse_shape",
    "positive_int",
]


def add_output_args(parser: argparse.ArgumentParser, out_help: str = "output folder") -> None:
    """Add ``--out DIR`` (required), ``--overwrite`` and ``--quiet`` to ``parser``."""
    parser.add_argument("--out", required=True, metavar="DIR", help=out_help)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing output files (default: refuse)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar and no summary line")


def add_limit_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--limit KEY=VALUE`` (repeatable): raise a bound on the work an input may ask for."""
    parser.add_argument(
        "--limit", action="append", type=_limits.parse_limit, default=[], dest="limits",
        metavar="KEY=VALUE",
        help="raise a bound on the work a file or checkpoint may ask for, checked before work "
        "starts (repeatable): " + ", ".join(f"{k} (default {_limits.fmt(k, v)})"
                                           for k, v in _limits.DEFAULTS.items())
        + "; bytes take KiB/MiB/GiB suffixes, e.g. --limit memory=8GiB")


def prepare_out_dir(path: str | os.PathLike) -> Path:
    """Create the output folder ``path`` if needed and check that files can be written to it.

    Raises
    ------
    InputError
        ``path`` is an existing file, cannot be created, or is not writable.
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out '{out}' is an existing file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out '{out}': cannot create the folder ({exc.strerror})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise InputError(f"--out '{out}': the folder is not writable")
    return out


def check_new_files(paths: Sequence[Path], overwrite: bool) -> None:
    """Refuse up front if any of ``paths`` exists and ``overwrite`` is false.

    The message names the first existing file and how many there are, so a run never writes
    half of its files and then stops on an existing one.
    """
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise InputError(f"output file '{existing[0]}'{more} already exists; nothing was "
                         "written; pass --overwrite to replace")
    for p in existing:
        if p.is_dir():
            raise InputError(f"output path '{p}' is a folder; cannot replace it by a file")


def derive_seed(seed: int, *index: int) -> int:
    """Stable 63-bit seed for item ``index`` of a run seeded with ``seed``.

    Independent of Python's hash salt, the platform and the order items are made in
    (BLAKE2b of ``"seed:i:j..."``), so re-running a command reproduces each file exactly.
    """
    key = ":".join(str(int(v)) for v in (seed, *index)).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") >> 1


def parse_shape(text: str) -> tuple[int, int]:
    """``"128"`` → ``(128, 128)``, ``"96x80"`` → ``(96, 80)`` (argparse type)."""
    parts = str(text).lower().replace("×", "x").split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or HxW, got {text!r}") from None
    if len(dims) == 1:
        dims = dims * 2
    if len(dims) != 2 or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"expected N or HxW with positive sizes, got {text!r}")
    return dims


def positive_int(text: str) -> int:
    """argparse type: an int >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value
