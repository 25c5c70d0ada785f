"""SIGTERM during training: a request to stop after the current step (private; used by
:mod:`.loop`).

A scheduler, ``kill``, ``docker stop`` or ``systemd`` ends a process with SIGTERM, whose default
action ends it at once: every step since the last periodic checkpoint would be lost.  While
:func:`train` runs, :func:`stop_on_sigterm` replaces that action by a flag; the loop looks at it
after every step, writes ``last.pt`` and returns (the CLI then exits with 143 = 128 + SIGTERM).
A second SIGTERM while the first is being honoured ends the process the default way.  The
previous handler is put back when training returns; outside the main thread (where Python
cannot install handlers) nothing is changed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

__all__ = ["StopRequest", "stop_on_sigterm"]


class StopRequest:
    """Whether a SIGTERM asked the run to stop (``requested``)."""

    def __init__(self) -> None:
        self.requested = False

    def handle(self, signum: int, frame) -> None:
        if self.requested:  # asked twice: stop now, the default way
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.requested = True


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[StopRequest]:
    """Turn SIGTERM into :attr:`StopRequest.requested` for the duration of the block."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = signal.signal(signal.SIGTERM, request.handle)
    try:
        yield request
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
