"""TensorBoard scalars of a run, ``train.tensorboard = true`` (private; used by :mod:`.loop`).

Written to ``RUN_DIR/tensorboard/`` with :class:`torch.utils.tensorboard.SummaryWriter`, next
to the CSV logs and from the same records (:class:`~discofold.train._logs.RunLog` hands them
on), against the optimiser step::

    train/loss, train/lr, train/grad_norm, train/samples_per_s   every train record
    val/loss, val/psnr_db, val/nmse_db                             every validation

Watch a run with ``tensorboard --logdir RUN_DIR/tensorboard``.  On resume the events after the
resumed step (written before a crash) are purged, as the CSV rows are; a run started again
with ``--overwrite`` purges the events of the run it replaces.  Needs the optional
``tensorboard`` package (``pip install 'discofold[tensorboard]'``); without it a run asking for
it stops before it starts, with one line naming the extra.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import require

__all__ = ["TensorBoardSink", "check_available", "FOLDER"]

FOLDER = "tensorboard"
#: record kind -> {record key: scalar tag}
_TAGS = {"train": {"loss": "train/loss", "lr": "train/lr", "grad_norm": "train/grad_norm",
                   "samples_per_s": "train/samples_per_s"},
         "val": {"val_loss": "val/loss", "val_psnr_db": "val/psnr_db",
                 "val_nmse_db": "val/nmse_db"}}


def check_available() -> None:
    """Raise :class:`~discofold.errors.MissingDependencyError` (naming the ``tensorboard``
    extra) when the ``tensorboard`` package cannot be imported."""
    require("tensorboard", "tensorboard", "train.tensorboard = true")


class TensorBoardSink:
    """Scalars of the train and validation records of a run, in ``folder/tensorboard``.

    Parameters
    ----------
    folder : Path
        The run folder.
    resume_step : int, optional
        The step a resumed run continues from: events after it are purged; a new run
        (``None``) purges every event of an earlier run in the same folder (``--overwrite``).
    """

    def __init__(self, folder: Path, resume_step: int | None = None):
        check_available()
        from torch.utils.tensorboard import SummaryWriter

        purge = 0 if resume_step is None else resume_step + 1
        self.writer = SummaryWriter(log_dir=str(Path(folder) / FOLDER), purge_step=purge,
                                    flush_secs=10)

    def write(self, kind: str, record: dict) -> None:
        """Add the scalars of a ``train`` or ``val`` record (others are ignored)."""
        step = record.get("step")
        for key, tag in _TAGS.get(kind, {}).items():
            value = record.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and \
                    math.isfinite(value):
                self.writer.add_scalar(tag, float(value), global_step=step)

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()
