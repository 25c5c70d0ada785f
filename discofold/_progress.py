"""Progress of long-running work on stderr, in a terminal and outside one (private).

The one implementation behind every verb that works through many items (``train`` steps,
``recon`` over a folder, ``eval``, ``simulate --n``, ``demo``) and behind
:func:`discofold.train.train`:

- stderr is a terminal: a tqdm bar (redrawn in place, removed at the end);
- stderr is not a terminal (``nohup``, a batch scheduler, a pipe, a log file): a plain line
  every :func:`interval` seconds, and a last one at the end of work that took longer than one
  interval::

      train varnet: 120/1000 steps (12%), 3.41 steps/s, elapsed 0:35, ETA 4:18, loss=0.1234

  so a log shows what is done, how fast and how long is left, without carriage returns;
- ``quiet``: nothing.

The interval is ``DISCOFOLD_PROGRESS_S`` seconds (default 10; ``0`` turns the plain lines off),
or ``discofold --progress-s S <verb>`` for one command.  Lines are written when an item
finishes, so an item that takes longer than the interval delays its line.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO, TypeVar

from tqdm import tqdm

from .errors import InputError

__all__ = ["Progress", "progress", "interval", "override_interval", "ENV", "DEFAULT_S"]

T = TypeVar("T")
ENV = "DISCOFOLD_PROGRESS_S"
DEFAULT_S = 10.0
_override: float | None = None


def _seconds(text, where: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise InputError(f"{where} = {str(text)[:40]!r}: expected a number of seconds >= 0 "
                         "(0 turns the progress lines outside a terminal off)")
    return value


def interval() -> float:
    """Seconds between two plain progress lines (0: none): ``--progress-s``, else
    ``DISCOFOLD_PROGRESS_S``, else :data:`DEFAULT_S`.

    Raises
    ------
    InputError
        ``DISCOFOLD_PROGRESS_S`` is not a number of seconds >= 0.
    """
    if _override is not None:
        return _override
    text = os.environ.get(ENV, "").strip()
    return _seconds(text, ENV) if text else DEFAULT_S


@contextlib.contextmanager
def override_interval(seconds: float | None) -> Iterator[None]:
    """Use ``seconds`` (checked as ``--progress-s``) instead of the environment inside the
    block; ``None`` changes nothing."""
    global _override
    before = _override
    if seconds is not None:
        _override = _seconds(seconds, "--progress-s")
    try:
        yield
    finally:
        _override = before


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


def _clock_text(seconds: float) -> str:
    """``75`` → ``"1:15"``, ``3725`` → ``"1:02:05"``."""
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def _plural(unit: str) -> str:
    """``"step"`` → ``"steps"``, ``"batch"`` → ``"batches"``."""
    if unit.endswith(("s", "x", "ch", "sh")):
        return unit + ("" if unit.endswith("s") else "es")
    return unit + "s"


def _value_text(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class Progress:
    """Progress of ``total`` units of work (see the module docstring for what is shown where).

    Parameters
    ----------
    total : int, optional
        Units to do (``None``: unknown; no percentage and no ETA).
    desc : str
        What is being done, starts every line (e.g. ``"recon cg"``).
    unit : str
        Name of one unit (``"step"``, ``"file"``).
    quiet : bool
        Show nothing.
    initial : int
        Units already done (a resumed run); the rate counts only the units done here.
    stream : text stream, optional
        Where to write (default ``sys.stderr`` at construction).
    clock : callable, optional
        Seconds, monotonic (default :func:`time.monotonic`; tests pass their own).
    """

    def __init__(self, total: int | None = None, desc: str = "", unit: str = "it", *,
                 quiet: bool = False, initial: int = 0, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.total, self.desc, self.unit = total, desc, unit
        self.n = self._initial = self._shown = int(initial)
        self.postfix: dict = {}
        self._stream = sys.stderr if stream is None else stream
        self._clock = clock
        self._t0 = self._last = clock()
        self._bar, self._every = None, 0.0
        if not quiet and _isatty(self._stream):
            self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit,
                             file=self._stream, dynamic_ncols=True, leave=False)
        elif not quiet:
            self._every = interval()

    def update(self, n: int = 1, **postfix) -> None:
        """``n`` more units done; ``postfix`` (e.g. ``loss=0.12``) is shown after the counts
        until replaced (a key given ``None`` is dropped)."""
        self.n += n
        if postfix:
            self.postfix.update(postfix)
            self.postfix = {k: v for k, v in self.postfix.items() if v is not None}
        if self._bar is not None:
            self._bar.update(n)
            if postfix:
                self._bar.set_postfix({k: _value_text(v) for k, v in self.postfix.items()},
                                      refresh=False)
        elif self._every > 0 and self._clock() - self._last >= self._every:
            self._emit()

    def line(self) -> str:
        """The plain progress line of the work so far."""
        elapsed = self._clock() - self._t0
        rate = (self.n - self._initial) / elapsed if elapsed > 0 else 0.0
        units = _plural(self.unit)
        if self.total:
            done = f"{self.n}/{self.total} {units} ({100 * self.n / self.total:.0f}%)"
        else:
            done = f"{self.n} {units}"
        parts = [done, f"{rate:.3g} {units}/s", f"elapsed {_clock_text(elapsed)}"]
        if self.total and rate > 0 and self.n < self.total:
            parts.append(f"ETA {_clock_text((self.total - self.n) / rate)}")
        parts += [f"{k}={_value_text(v)}" for k, v in self.postfix.items()]
        return (f"{self.desc}: " if self.desc else "") + ", ".join(parts)

    def _emit(self) -> None:
        self._last, self._shown = self._clock(), self.n
        try:
            print(self.line(), file=self._stream, flush=True)
        except (OSError, ValueError):  # a closed log or a broken pipe must not stop the work
            self._every = 0.0

    def close(self) -> None:
        """End the bar; outside a terminal, a last line if the work took longer than one
        interval and changed since the last line."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._every > 0 and self.n != self._shown and \
                self._clock() - self._t0 >= self._every:
            self._emit()
        self._every = 0.0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress(iterable: Iterable[T], total: int | None = None, desc: str = "",
             quiet: bool = False, unit: str = "file") -> Iterator[T]:
    """``iterable``, its progress shown by a :class:`Progress` (one unit per item; ``total``
    defaults to ``len(iterable)`` where it has one)."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    bar = Progress(total, desc, unit, quiet=quiet)
    return _counted(iterable, bar)


def _counted(iterable: Iterable[T], bar: Progress) -> Iterator[T]:
    with bar:
        for item in iterable:
            yield item
            bar.update()
