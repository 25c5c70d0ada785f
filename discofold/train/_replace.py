"""Replacing a run (``train --overwrite``) without losing it when the new run fails.

The old run's files are moved into the hidden folder ``RUN_DIR/.discofold-replaced`` (a rename
inside the folder: nothing is copied) before the new run starts.  They are deleted only once the
new run has written its first ``last.pt``; if it fails before that (no CUDA, a missing data
file, a divergence in the first steps) they are moved back.  A process killed in between leaves
the hidden folder behind; :func:`recover_replaced` (called before every run) then puts the old
run back, or deletes it if the new run had already written ``last.pt``.

A fresh run that fails before its first step (a calibration region too small for one of its
masks, a model that cannot run on the data) takes back the files it wrote, and the folder if it
made it (:func:`removed_on_early_failure`), so the corrected command needs no ``--overwrite``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

__all__ = ["BACKUP", "replacing_run", "recover_replaced", "EarlyFailure",
           "removed_on_early_failure"]

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



class EarlyFailure:
    """What :func:`removed_on_early_failure` asks of its body: ``started()``, true once the run
    has taken a step (set by the body; until then a failure counts as early)."""

    def __init__(self):
        self.started: Callable[[], bool] = lambda: False


@contextlib.contextmanager
def removed_on_early_failure(out: Path, names: Sequence[str], active: bool = True,
                             keep: tuple[type[BaseException], ...] = ()
                             ) -> Iterator[EarlyFailure]:
    """Delete the files ``names`` the body created in ``out`` (and ``out`` and the parents the
    body made, if left empty) when the body raises before its run has started, so a fresh
    run that fails in its setup or first step leaves nothing that blocks the corrected rerun.
    Exceptions of the types ``keep`` (a divergence, whose log is the evidence) keep the files;
    with ``active`` false (a resumed run, another rank) nothing is deleted."""
    guard = EarlyFailure()
    made = [d for d in (out, *out.parents) if not os.path.lexists(d)]  # deepest first
    before = {n for n in names if os.path.lexists(out / n)}
    try:
        yield guard
    except Exception as exc:
        if active and not guard.started() and not isinstance(exc, keep):
            for name in names:
                if name not in before:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(out / name)
            for folder in made:
                try:
                    folder.rmdir()
                except OSError:  # not empty: something else is there
                    break
        raise
