"""Reading a small text file the user names (a weights or settings file), with bounds.

A path given on the command line may be anything: ``/dev/zero`` (reads until memory runs out),
a FIFO (opening it waits for a writer forever), a folder, a huge file.  :func:`read_small_text`
opens without blocking, refuses whatever is not a regular file, and reads at most ``max_bytes``.
"""

from __future__ import annotations

import os
import stat

from ..errors import InputError

__all__ = ["read_small_text", "MAX_TEXT_BYTES"]

MAX_TEXT_BYTES = 1 << 20  # 1 MiB: the bundled weights file is a few kB


def _check(fd: int, path, what: str, max_bytes: int) -> None:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file (a FIFO, " \
            "device or socket)"
        raise InputError(f"{what} '{path}' is {kind}; refusing to read it")
    if st.st_size > max_bytes:
        raise InputError(f"{what} '{path}' is {st.st_size} bytes, more than the limit of "
                         f"{max_bytes} bytes; refusing to read it")


def read_small_text(path: str | os.PathLike, what: str = "file",
                    max_bytes: int = MAX_TEXT_BYTES) -> str:
    """The UTF-8 text of the regular file ``path``, at most ``max_bytes`` long.

    Parameters
    ----------
    path : str or os.PathLike
    what : str
        How the messages name the file, e.g. ``"--params file"``.
    max_bytes : int
        Largest size accepted (checked before reading, and again while reading).

    Raises
    ------
    InputError
        ``path`` cannot be opened, is not a regular file (FIFO, device, socket, folder), is
        larger than ``max_bytes`` or is not UTF-8 text; the message names it.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise InputError(f"{what} '{path}' cannot be opened: {exc.strerror}") from None
    try:
        _check(fd, path, what, max_bytes)
        os.set_blocking(fd, True)
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputError(f"{what} '{path}' grew beyond the limit of {max_bytes} bytes while "
                         "being read; refusing it")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} '{path}' is not UTF-8 text ({exc.reason} at byte "
                         f"{exc.start})") from None
