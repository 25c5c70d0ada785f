"""Replacing a run (``train --overwrite``) without losing it when the new run fails.

The old run's files are moved into the hidden folder ``RUN_DIR/.discofold-replaced`` (a rename
inside the folder: nothing is copied) before the new run starts.  They are deleted only once the
new run has written its first ``last.pt``; if it fails before that (no CUDA, a missing data
file, a divergence in the first steps) they are moved back.  A process killed in between leaves
the hidden folder behind; :func:`recover_replaced` (called before every run) then puts the old
run back, or deletes it if the new run had already written ``last.pt``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["BACKUP", "replacing_run", "recover_replaced"]

BACKUP = ".discofold-replaced"


def _checkpointed(out: Path) -> bool:
    return (out / "last.pt").is_file() and not (out / "last.pt").is_symlink()


def _restore(out: Path, backup: Path, names: Sequence[str]) -> None:
    """Put the files of ``backup`` back into ``out`` (the new run's files of ``names`` go)."""
    for name in names:
        if (backup / name).exists() or (backup / name).is_symlink():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(out / name)
    for item in backup.iterdir():
        os.replace(item, out / item.name)
    backup.rmdir()


def recover_replaced(out: Path, names: Sequence[str]) -> str:
    """Finish a replacement a killed process left half done; returns what was done (``""``,
    ``"restored"`` or ``"discarded"``)."""
    backup = out / BACKUP
    if not backup.is_dir() or backup.is_symlink():
        return ""
    if _checkpointed(out):
        shutil.rmtree(backup)
        return "discarded"
    _restore(out, backup, names)
    return "restored"


@contextlib.contextmanager
def replacing_run(out: Path, names: Sequence[str]) -> Iterator[list[str]]:
    """Move the files ``names`` of ``out`` aside for the body (the new run); drop them if the
    body leaves a ``last.pt``, else restore them.  Yields the names moved."""
    recover_replaced(out, names)
    backup = out / BACKUP
    moved = [n for n in names if os.path.lexists(out / n)]
    if moved:
        backup.mkdir()
        for name in moved:
            os.replace(out / name, backup / name)
    try:
        yield moved
    finally:
        if moved:
            if _checkpointed(out):
                shutil.rmtree(backup, ignore_errors=True)
            else:
                _restore(out, backup, names)
