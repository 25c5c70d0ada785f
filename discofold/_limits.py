"""Bounds on the work an input may ask for, checked before the work starts; ``--limit`` raises them.

A small file can declare a huge job: a 6 KB HDF5 file whose chunks were never written can
declare gigabytes of k-space or a million slices, a checkpoint's stored config can ask for 10⁷
recursions, a zip member can inflate a hundredfold.  Every reader and loader checks the cost it
can compute from headers and configs against one of these limits and refuses with one line
that names the file, the key, the limit and the flag that raises it::

    discofold recon --limit memory=8GiB --limit slices=50000 ...

========================= ================ ====================================================
key                       default          bounds
========================= ================ ====================================================
``memory``                2 GiB            estimated peak memory of reconstructing one slice /
                                           frame of a file (read + operator work + output kept)
``slices``                10 000           slices / frames in one file
``chunk``                 64 MiB           uncompressed bytes of one HDF5 chunk of a dataset
``attributes``            1 000            attributes on one HDF5 object
``checkpoint_inflation``  64 MiB           bytes a checkpoint's zip members expand to beyond
                                           the file's own size (torch writes them uncompressed)
``count``                 100              loop counts of a checkpoint's model (recursions, …)
``depth``                 12               U-Net depths of a checkpoint's model
``parameters``            50 000 000       parameters of a checkpoint's model
``stencil``               2**25            values of one DISCO stencil (basis functions × grid
                                           points it covers) at the run's grid size
========================= ================ ====================================================

The table is process-wide; :func:`raised` changes it for the duration of a ``with`` block (the
CLI wraps each verb in it).  Byte limits accept binary suffixes (``KiB``, ``MiB``, ``GiB``,
``TiB``, or ``K``/``M``/``G``/``T``).
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator, Mapping

from .errors import InputError

__all__ = ["DEFAULTS", "BYTE_KEYS", "get", "raised", "parse_limit", "hint", "fmt",
           "check_stencil"]

DEFAULTS: dict[str, int] = {
    "memory": 2 << 30,
    "slices": 10_000,
    "chunk": 64 << 20,
    "attributes": 1_000,
    "checkpoint_inflation": 64 << 20,
    "count": 100,
    "depth": 12,
    "parameters": 50_000_000,
    "stencil": 1 << 25,
}
#: limits counted in bytes (shown with a binary unit, parsed with one)
BYTE_KEYS = frozenset({"memory", "chunk", "checkpoint_inflation"})
_CURRENT: dict[str, int] = dict(DEFAULTS)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def get(key: str) -> int:
    """The limit ``key`` now in force (a key of :data:`DEFAULTS`)."""
    return _CURRENT[key]


@contextlib.contextmanager
def raised(values: Mapping[str, int]) -> Iterator[None]:
    """Use ``values`` (keys of :data:`DEFAULTS`) as limits inside the ``with`` block."""
    unknown = sorted(set(values) - set(DEFAULTS))
    if unknown:
        raise InputError(f"--limit: unknown key(s) {unknown}; known: {', '.join(DEFAULTS)}")
    saved = dict(_CURRENT)
    _CURRENT.update({k: int(v) for k, v in values.items()})
    try:
        yield
    finally:
        _CURRENT.clear()
        _CURRENT.update(saved)


def parse_limit(text: str) -> tuple[str, int]:
    """``"memory=8GiB"`` → ``("memory", 8 * 2**30)`` (argparse type of ``--limit``)."""
    import argparse

    key, sep, value = str(text).partition("=")
    key = key.strip().replace("-", "_")
    if not sep or key not in DEFAULTS:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY one of "
                                         f"{', '.join(DEFAULTS)}, got {text!r}")
    m = re.fullmatch(r"\s*([0-9.eE+]+)\s*([kmgtKMGT]?)(?:i?[bB])?\s*", value)
    number = None
    if m and (key in BYTE_KEYS or not m.group(2)):
        with contextlib.suppress(ValueError):
            number = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if number is None or not math.isfinite(number) or number < 1 or number >= 2**63:
        unit = " (bytes; suffixes KiB, MiB, GiB, TiB)" if key in BYTE_KEYS else ""
        raise argparse.ArgumentTypeError(f"--limit {key}: expected a number >= 1{unit}, got "
                                         f"{value!r}")
    return key, int(number)


def fmt(key: str, value: float) -> str:
    """``value`` of limit ``key`` for a message: bytes with a binary unit, counts as integers."""
    if key not in BYTE_KEYS:
        return str(int(value))
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return f"{int(value)} bytes"


def _rounded_up(key: str, value: float) -> str:
    """``value`` rounded up to a short ``--limit`` value (``"7.7GiB"``, ``"20000"``)."""
    if key not in BYTE_KEYS or value < 1 << 10:
        return str(math.ceil(value))
    unit, size = next((u, s) for u, s in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20),
                                          ("KiB", 1 << 10)) if value >= s)
    return f"{math.ceil(value / size * 10) / 10:g}{unit}"


def hint(key: str, needed: float | None = None) -> str:
    """``"limit memory = 2 GiB; raise it with --limit memory=..."``, the end of a refusal."""
    want = "N" if needed is None else _rounded_up(key, needed)
    return (f"the limit {key} is {fmt(key, get(key))}; raise it with --limit {key}={want} if "
            "the input is trusted")


def check_stencil(layer: str, values: float, detail: str) -> None:
    """Refuse a DISCO stencil of more than ``stencil`` values before it is built.

    ``values`` is basis functions × the grid points the kernel covers (× output points where
    the stencil is not shared); ``detail`` says which grid and radius made it so large."""
    if values > get("stencil"):
        raise InputError(f"{layer}: the stencil would hold {int(values)} values ({detail}), "
                         f"more than allowed; refused before building it; "
                         f"{hint('stencil', values)}")
