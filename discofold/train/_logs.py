"""Run logs: ``log.jsonl`` (every record) and ``train.csv`` / ``val.csv`` (one row per record).

On resume, records after the resumed step (written before a crash) are dropped first, so the
logs of a resumed run read like those of an uninterrupted one.

The logs are never written through a symbolic link (a link in place of a log is refused, naming
the file): appends use :func:`~discofold.data._atomic.open_nofollow`, rewrites
:func:`~discofold.data._atomic.atomic_write`.

Columns (``elapsed_s`` is wall-clock seconds since the run started, cumulative over resumes;
``step_s`` the duration of the logged step)::

    train.csv  step, loss, lr, grad_norm, samples_per_s, step_s, elapsed_s
    val.csv    step, elapsed_s, val_loss, val_psnr_db, val_nmse_db, best
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from ..data._atomic import atomic_write, open_nofollow, refuse_link

__all__ = ["RunLog", "TRAIN_COLUMNS", "VAL_COLUMNS", "logged_elapsed"]

TRAIN_COLUMNS = ("step", "loss", "lr", "grad_norm", "samples_per_s", "step_s", "elapsed_s")
VAL_COLUMNS = ("step", "elapsed_s", "val_loss", "val_psnr_db", "val_nmse_db", "best")


def _record(line: str) -> dict | None:
    """The JSON record of a log line; ``None`` for a blank line or one torn by a crash mid-write
    (it is dropped on resume, like the records after the resumed step)."""
    try:
        rec = json.loads(line) if line.strip() else None
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


def _step(row: dict) -> int | None:
    """The step of a CSV row; ``None`` for a row torn by a crash mid-write."""
    try:
        return int(row["step"])
    except (TypeError, ValueError):
        return None


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def logged_elapsed(folder: Path, step: int) -> float:
    """The largest ``elapsed_s`` that ``folder/log.jsonl`` records up to ``step`` (0 when none):
    the time already spent, for resuming from a checkpoint that does not store its clock (an
    older discofold)."""
    path = folder / "log.jsonl"
    if not path.is_file():
        return 0.0
    values = [rec.get("elapsed_s") for ln in path.read_text(encoding="utf-8").splitlines()
              if (rec := _record(ln)) is not None and isinstance(rec.get("step"), int)
              and rec["step"] <= step]
    return max([float(v) for v in values if isinstance(v, (int, float))
                and not isinstance(v, bool) and 0 <= v < math.inf], default=0.0)


class RunLog:
    """Appends records to the logs of a run folder (used by rank 0 only)."""

    def __init__(self, folder: Path, resume_step: int | None = None, sinks: tuple = ()):
        #: more logs handed every record (``write(kind, record)``, ``close()``): TensorBoard
        self.sinks = tuple(sinks)
        self.jsonl = folder / "log.jsonl"
        self.csv = {"train": (folder / "train.csv", TRAIN_COLUMNS),
                    "val": (folder / "val.csv", VAL_COLUMNS)}
        for p in (self.jsonl, *(c[0] for c in self.csv.values())):
            refuse_link(p, "run log")
        if resume_step is None:
            for p in (self.jsonl, *(c[0] for c in self.csv.values())):
                p.unlink(missing_ok=True)
        else:
            self._truncate(resume_step)
        for path, cols in self.csv.values():
            if not path.exists():
                with open_nofollow(path, "w", newline="") as f:
                    csv.writer(f).writerow(cols)

    def _truncate(self, step: int) -> None:
        if self.jsonl.exists():
            keep = [ln for ln in self.jsonl.read_text().splitlines()
                    if (rec := _record(ln)) is not None and rec.get("step", 0) <= step]
            with atomic_write(self.jsonl, overwrite=True) as tmp:
                tmp.write_text("".join(ln + "\n" for ln in keep), encoding="utf-8")
        for path, cols in self.csv.values():
            if path.exists():
                with path.open(newline="") as f:
                    rows = [r for r in csv.DictReader(f, restval="") if r.get("step")]
                if rows and "step_s" not in rows[0] and "lr" in rows[0]:
                    # train.csv of an older discofold: its elapsed_s was the step duration
                    rows = [{**r, "step_s": r.get("elapsed_s", ""), "elapsed_s": ""}
                            for r in rows]
                keep = [[r.get(c, "") for c in cols] for r in rows
                        if _step(r) is not None and _step(r) <= step]
                with atomic_write(path, overwrite=True) as tmp, \
                        tmp.open("w", newline="", encoding="utf-8") as f:  # current columns
                    csv.writer(f).writerows([list(cols), *keep])

    def write(self, kind: str, record: dict) -> None:
        """Append ``record`` (with ``kind``) to the JSONL log and, for train/val, the CSV."""
        rec = {"kind": kind, **{k: _clean(v) for k, v in record.items()}}
        with open_nofollow(self.jsonl, "a") as f:
            f.write(json.dumps(rec) + "\n")
        if kind in self.csv:
            path, cols = self.csv[kind]
            with open_nofollow(path, "a", newline="") as f:
                csv.writer(f).writerow([rec.get(c, "") for c in cols])
        for sink in self.sinks:
            sink.write(kind, record)

    def close(self) -> None:
        """Close the sinks (the files themselves are closed after every record)."""
        for sink in self.sinks:
            sink.close()
