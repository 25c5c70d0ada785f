"""Atomic file writes: write to a temporary file in the target folder, then rename.

A reader never sees a half-written file, and an existing file is never replaced unless the
caller asks for it.  Usage::

    with atomic_write("out.h5", overwrite=False) as tmp:
        with h5py.File(tmp, "w") as f:
            ...

If the body raises, the temporary file is removed and the target is left as it was.

The temporary file is ``.<name>.<host>-<pid>.<random>.tmp`` (``host``: 8 hex digits of a hash of
the machine's name).  A process killed with SIGKILL cannot remove it; the next write of the same
target removes such leftovers of *dead* writers of this machine (POSIX only), never the temporary
file of a live process, of another machine or of another target.

Links and special files: the final rename replaces a symbolic link at ``path`` by the new file (it
never writes into the link's target), and an existing ``path`` that is not a regular file (a
FIFO, a device, a socket) is refused.  :func:`open_nofollow` is the same rule for files that are
appended to in place (run logs); :func:`refuse_link` for a caller that checks up front.

Values: :func:`refuse_non_finite` keeps a writer from publishing NaN or Inf as a result.

Permissions: a published file gets ``0o666 & ~umask`` and a folder made by :func:`make_temp_dir`
``0o777 & ~umask`` (0644 / 0755 under the usual umask 022), as ``open`` and ``mkdir`` would
give; ``tempfile`` alone would leave 0600 / 0700.  A file replaced with ``overwrite`` gets the
same umask-derived mode, not the old file's.  The umask is read from the ``Umask:`` line of
``/proc/self/status`` (Linux >= 4.7), which changes nothing; elsewhere ``os.umask`` is set and
restored at once, set to 077 in between (a thread creating a file in that instant gets a
stricter mode, never a looser one).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError

__all__ = ["atomic_write", "check_writable", "make_temp_dir", "open_nofollow", "refuse_link",
           "refuse_non_finite"]


def _current_umask() -> int:
    """The process umask, read without changing it where the system allows (see the module
    docstring)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8) & 0o777
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o077)
    os.umask(old)
    return old


def make_temp_dir(prefix: str, dir: str | os.PathLike) -> Path:
    """:func:`tempfile.mkdtemp` in ``dir`` with the mode ``mkdir`` would give
    (``0o777 & ~umask``) instead of 0700; the caller renames it into place.

    Raises
    ------
    OSError
        As :func:`tempfile.mkdtemp`.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=dir))
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
                     | getattr(os, "O_NOFOLLOW", 0))
        try:
            os.fchmod(fd, 0o777 & ~_current_umask())
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.rmdir(path)
        raise
    return path


def check_writable(path: str | os.PathLike, overwrite: bool) -> Path:
    """Return ``path`` as a :class:`~pathlib.Path`, or raise if it exists and may not be replaced.

    Raises
    ------
    InputError
        If ``path`` exists and ``overwrite`` is false, is not a regular file (FIFO, device,
        socket, folder), or its folder does not exist.
    """
    path = Path(path)
    _refuse_special(path)
    if path.exists() and not overwrite:
        raise InputError(
            f"output file '{path}' already exists; pass overwrite=True (CLI: --overwrite) "
            "to replace it"
        )
    if not path.parent.is_dir():
        raise InputError(f"output folder '{path.parent}' of '{path}' does not exist")
    return path


def refuse_non_finite(path: str | os.PathLike, key: str, values) -> None:
    """Raise before writing ``values`` (a numpy array, in the dtype to be stored) to ``key`` of
    ``path`` if any of them is NaN or Inf.

    Raises
    ------
    InputError
        Naming the file, the key and how many values are not finite.
    """
    import numpy as np

    bad = values.size - int(np.count_nonzero(np.isfinite(values)))
    if bad:
        raise InputError(f"output file '{path}', key '{key}': {bad} of {values.size} values are "
                         "not finite (NaN or Inf; the result exceeds float32 or the computation "
                         "failed); nothing was written")


def _refuse_special(path: Path) -> None:
    """Refuse an existing ``path`` (itself, not a link's target) that is not a regular file."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (FIFO, device or socket)"
        raise InputError(f"output path '{path}' is {kind}; refusing to replace it")


def refuse_link(path: str | os.PathLike, what: str = "file") -> None:
    """Raise :class:`~discofold.errors.InputError` if ``path`` is a symbolic link.

    For files that are written or read in place inside a folder the tool owns (a run folder):
    a link there could send the write (or the read) to any file of the user."""
    if os.path.islink(path):
        raise InputError(f"{what} '{path}' is a symbolic link; discofold does not follow links "
                         "in the folders it writes (replace the link by a regular file)")


def open_nofollow(path: str | os.PathLike, mode: str = "a", newline: str | None = None):
    """Open the text file ``path`` for writing (``"w"``) or appending (``"a"``) without following
    a symbolic link at ``path`` and without opening a FIFO or device (UTF-8).

    Raises
    ------
    InputError
        ``path`` is a symbolic link or not a regular file.
    """
    if mode not in ("w", "a"):
        raise ValueError(f"mode must be 'w' or 'a', got {mode!r}")
    flags = (os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else 0)
             | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
             | getattr(os, "O_CLOEXEC", 0))
    refuse_link(path)  # where O_NOFOLLOW does not exist
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            refuse_link(path)
        if exc.errno == errno.ENXIO:  # a FIFO without a reader
            raise InputError(f"'{path}' is not a regular file (FIFO); refusing to write to it"
                             ) from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(f"'{path}' is not a regular file (FIFO, device or socket); "
                             "refusing to write to it")
        if mode == "w":
            os.ftruncate(fd, 0)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, mode, encoding="utf-8", newline=newline)


def _publish(tmp: Path, path: Path, overwrite: bool) -> None:
    """Move ``tmp`` to ``path`` atomically; without ``overwrite`` never clobber a file."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic and fails if ``path`` appeared meanwhile
    except FileExistsError:
        raise InputError(
            f"output file '{path}' appeared while it was being written; it was left untouched "
            "(pass overwrite=True to replace it)"
        ) from None
    except OSError:  # file systems without hard links: check, then rename
        if path.exists():
            raise InputError(
                f"output file '{path}' already exists; it was left untouched"
            ) from None
        os.replace(tmp, path)
        return
    tmp.unlink()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Context manager yielding a temporary path that becomes ``path`` on success.

    Parameters
    ----------
    path : str or os.PathLike
        Final file name.
    overwrite : bool
        Replace an existing ``path``.  Default: refuse with :class:`~discofold.errors.InputError`.

    Yields
    ------
    pathlib.Path
        An empty temporary file in the same folder as ``path`` (so the final rename is atomic).
        The body writes to it (it may truncate or recreate it).
    """
    path = check_writable(path, overwrite)
    _remove_stale_temps(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.{_HOST}-{os.getpid()}.", suffix=".tmp",
                                dir=path.parent)  # O_EXCL | O_NOFOLLOW, mode 0600
    tmp = Path(name)
    try:
        try:
            os.fchmod(fd, 0o666 & ~_current_umask())  # on the open file: no path to redirect
        finally:
            os.close(fd)
        yield tmp
        _publish(tmp, path, overwrite)
    except RuntimeError as exc:  # h5py's close after a failed write hides the OSError
        cause = _os_cause(exc)
        if cause is None:
            raise
        reason = os.strerror(cause.errno) if cause.errno else str(cause)
        raise OSError(cause.errno, f"{reason} (nothing written)", str(path)) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


_HOST = hashlib.sha1(socket.gethostname().encode(errors="replace")).hexdigest()[:8]


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (unknown counts as alive)."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: a process of another user
        return True
    return True


def _remove_stale_temps(path: Path) -> None:
    """Delete ``.<path.name>.<host>-<pid>.<random>.tmp`` siblings left by dead writers.

    Only exact matches for this target, written on this machine, whose ``pid`` no longer exists
    are removed; errors are ignored (cleaning up must never stop a write).
    """
    if os.name != "posix":  # os.kill(pid, 0) would not be a harmless probe elsewhere
        return
    pattern = re.compile(rf"\.{re.escape(path.name)}\.{_HOST}-([0-9]+)\.[a-z0-9_]+\.tmp")
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for name in names:
        m = pattern.fullmatch(name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            with contextlib.suppress(OSError):
                os.unlink(path.parent / name)


def _os_cause(exc: BaseException) -> OSError | None:
    """The first :class:`OSError` in the ``__context__``/``__cause__`` chain of ``exc``."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None
