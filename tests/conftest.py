"""Shared test settings.

The metric, model, solver and training tests use tiny tensors: one intra-op thread is faster and
steadier than thread start-up and contention on a shared 2-core CPU, so those folders run with
``torch.set_num_threads(1)`` (restored after each test); so does any test module elsewhere that
sets ``ONE_THREAD = True``.

Progress lines outside a terminal (``DISCOFOLD_PROGRESS_S``, :mod:`discofold._progress`) are off
in every test, so that a test that counts the lines of stderr does not depend on the speed of
the machine; the progress tests turn them on themselves.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

_HERE = Path(__file__).resolve().parent
_ONE_THREAD = {"inference", "metrics", "models", "solvers", "train"}


@pytest.fixture(autouse=True)
def _one_thread(request):
    parts = Path(request.node.path).resolve().relative_to(_HERE).parts
    flagged = getattr(request.module, "ONE_THREAD", False)
    if not flagged and (not parts or parts[0] not in _ONE_THREAD):
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _no_progress_lines(monkeypatch):
    monkeypatch.setenv("DISCOFOLD_PROGRESS_S", "0")
