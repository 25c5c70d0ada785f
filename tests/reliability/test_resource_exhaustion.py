"""The machine runs out: the disk fills up (``ENOSPC``) or torch runs out of memory while a
checkpoint is saved, or memory runs out during a training step or a reconstruction.  Every case
must end in one line on stderr naming what failed (the checkpoint file for a save), exit 2 as
for every other error of the machine or a user path (``discofold/cli.py``), no traceback, and no
partial or temporary file left.

The faults are injected in-process through the CLI's ``main``: ``open`` in the checkpoint writer
replaced by a file whose writes fail with ``ENOSPC`` (torch's real serialiser then meets the real
error), ``torch.save`` replaced by one raising what torch's own writer raises on a full disk
(``RuntimeError: [enforce fail at inline_container.cc] ...``, no errno) or
``torch.OutOfMemoryError``, and a model's forward raising ``torch.OutOfMemoryError``."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import pytest
import torch

import discofold.train.checkpoint as checkpoint_module
import discofold.train.loop as loop_module
from discofold.cli import main
from discofold.data import write_mri_file
from discofold.models._registry import get_spec

from .._checkpoints import untrained_checkpoint
from .._cli import cli_lines as _cli

ONE_THREAD = True  # one torch thread per test (tests/conftest.py)

ARGS = ["--config", "tiny_mri", "--quiet", "--set", "train.steps=2", "--set",
        "data.val_length=0", "--set", "train.val_every=100"]
CUDA_OOM = ("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of "
            "79.15 GiB of which 1.05 GiB is free. Of the allocated memory 75.2 GiB is allocated "
            "by PyTorch. If reserved but unallocated memory is large try setting "
            "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See "
            "documentation for Memory Management  (https://pytorch.org/docs/stable/notes/"
            "cuda.html#environment-variables)")
ZIP_WRITER = "[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598"


class _FullDisk(io.FileIO):
    """A real file on a disk with no space left: every write fails with ENOSPC."""

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _full_disk_open(path, mode="r", *args, **kwargs):
    assert "w" in mode
    return io.BufferedWriter(_FullDisk(path, "w"))


def _raises(exc: BaseException):
    def fake(*args, **kwargs):
        raise exc
    return fake


def _leftovers(run: Path) -> list[str]:
    return sorted(p.name for p in run.iterdir() if p.name.endswith(".tmp") or
                  p.name == "last.pt")


def _one_line(rc: int, err: list[str], *needles: str) -> None:
    assert rc == 2 and len(err) == 1 and "error:" in err[0], (rc, err)
    for needle in needles:
        assert needle in err[0], (needle, err[0])


CASES = {
    "disk full (real serialiser, ENOSPC from write)": (
        lambda mp: mp.setattr(checkpoint_module, "open", _full_disk_open, raising=False),
        "No space left on device"),
    "disk full (torch's zip writer, no errno)": (
        lambda mp: (mp.setattr(torch, "save", _raises(RuntimeError(ZIP_WRITER))),
                    mp.setattr(os, "statvfs", lambda p: os.statvfs_result((4096,) * 2 + (0,) * 8))),
        "No space left on device"),
    "I/O error (torch's zip writer, space left)": (
        lambda mp: mp.setattr(torch, "save", _raises(RuntimeError(ZIP_WRITER))),
        "Input/output error"),
    "ENOSPC raised by torch.save": (
        lambda mp: mp.setattr(torch, "save", _raises(OSError(errno.ENOSPC, "No space left on "
                                                             "device"))),
        "No space left on device"),
    "torch out of memory in torch.save": (
        lambda mp: mp.setattr(torch, "save", _raises(torch.OutOfMemoryError(CUDA_OOM))),
        "out of memory"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_checkpoint_save_failures_end_in_one_line(fault_log, tmp_path, monkeypatch, case):
    fault_log.describe("resource exhaustion: disk full or out of memory while saving a checkpoint",
                       "`discofold train` (in-process) whose checkpoint write meets ENOSPC "
                       "through the real serialiser, torch's errno-less zip-writer error with "
                       "and without space left, ENOSPC or torch.OutOfMemoryError from "
                       "torch.save: exit 2, one line naming last.pt, no last.pt or temporary "
                       "file left")
    inject, needle = CASES[case]
    inject(monkeypatch)
    run = tmp_path / "run"
    rc, err = _cli("train", "--out", str(run), *ARGS)
    _one_line(rc, err, needle, str(run / "last.pt"))
    assert "Traceback" not in err[0] and "PYTORCH_CUDA_ALLOC_CONF" not in err[0]
    assert _leftovers(run) == []
    fault_log.case("exit 2, one line naming last.pt")


def test_out_of_memory_in_a_training_step_is_one_line(fault_log, tmp_path, monkeypatch):
    fault_log.describe("resource exhaustion: out of memory during training or reconstruction",
                       "torch.OutOfMemoryError (CUDA wording) raised by the loss of a training "
                       "step and by the model's forward in `recon --checkpoint`: exit 2, one "
                       "line saying out of memory, without torch's allocator advice; no output")
    monkeypatch.setattr(loop_module, "compute_loss", _raises(torch.OutOfMemoryError(CUDA_OOM)))
    rc, err = _cli("train", "--out", str(tmp_path / "run"), *ARGS)
    _one_line(rc, err, "out of memory", "CUDA out of memory. Tried to allocate 2.00 GiB")
    assert "PYTORCH_CUDA_ALLOC_CONF" not in err[0]
    fault_log.case("train: exit 2, one line")
    monkeypatch.undo()

    ckpt = untrained_checkpoint(tmp_path / "tiny.pt", "tiny_mri")
    g = torch.Generator().manual_seed(0)
    k = torch.complex(torch.randn(2, 16, 15, generator=g), torch.randn(2, 16, 15, generator=g))
    source = write_mri_file(tmp_path / "in.h5", k[None].numpy())
    monkeypatch.setattr(get_spec("varnet").factory, "forward",
                        _raises(torch.OutOfMemoryError(CUDA_OOM)))
    out = tmp_path / "out.h5"
    rc, err = _cli("recon", "--checkpoint", str(ckpt), "--input", str(source), "--output",
                   str(out), "--quiet")
    _one_line(rc, err, "out of memory")
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]
    fault_log.case("recon: exit 2, one line, no output")


def test_debug_still_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "save", _raises(torch.OutOfMemoryError(CUDA_OOM)))
    with pytest.raises(MemoryError, match="last.pt"):
        main(["--debug", "train", "--out", str(tmp_path / "run"), *ARGS])
