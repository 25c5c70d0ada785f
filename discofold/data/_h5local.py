"""Names of an HDF5 file resolved inside that file only (private; used by the readers).

HDF5 follows external links to any file on disk, and a dataset may keep its data in external
raw files or map other files (a virtual dataset); a soft link can hide an external link further
down its path (``kspace -> /g/kspace`` with ``g`` an external link).  An untrusted file may only
hold its own data, so :func:`local_get` walks a name one component at a time, reading each link
with ``getlink=True`` (which never follows it): hard links are entered, soft links are followed
within the file (at most :data:`MAX_SOFT_LINKS` of them, so a loop ends), and any other link
(external, user-defined) refuses the whole name.  The object found is refused as well when its
data lives outside the file.
"""

from __future__ import annotations

import os

import h5py

from ..errors import FormatError

__all__ = ["local_get", "MAX_SOFT_LINKS"]

MAX_SOFT_LINKS = 32  # soft links followed while resolving one name (HDF5's own default is 16)


class _Foreign(Exception):
    """The name leaves the file; the message says how."""


def _link(group: h5py.Group, part: str):
    try:
        return group.get(part, getlink=True)
    except TypeError:  # h5py: "Unknown link type" (a user-defined link)
        raise _Foreign(f"component '{part}' is a user-defined link") from None


def _walk(fh: h5py.File, name: str):
    """The object ``name`` names, or ``None``; raises :class:`_Foreign`."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    node, followed = fh["/"], 0
    while parts:
        part = parts.pop(0)
        if not isinstance(node, h5py.Group):
            return None
        link = _link(node, part)
        if link is None:
            return None
        if isinstance(link, h5py.SoftLink):
            followed += 1
            if followed > MAX_SOFT_LINKS:
                raise _Foreign(f"more than {MAX_SOFT_LINKS} soft links (a loop?)")
            parts = [p for p in link.path.split("/") if p not in ("", ".")] + parts
            node = fh["/"] if link.path.startswith("/") else node
            continue
        if isinstance(link, h5py.ExternalLink):
            raise _Foreign(f"component '{part}' is an external link to file "
                           f"'{link.filename}'")
        if not isinstance(link, h5py.HardLink):
            raise _Foreign(f"component '{part}' is a link of type {type(link).__name__}")
        node = node[part]
    return node


def _storage(obj) -> str:
    if not isinstance(obj, h5py.Dataset):
        return ""
    if obj.external:
        return "its data is stored in external raw files"
    if obj.is_virtual:
        return "it is a virtual dataset mapping other files"
    return ""


def local_get(fh: h5py.File, name: str, path: str | os.PathLike):
    """The object at ``name`` in ``fh`` (``None`` when absent), found without leaving the file.

    Parameters
    ----------
    fh : h5py.File
        An open file.
    name : str
        Absolute or relative (to the root) HDF5 path, e.g. ``"kspace"``.
    path : str or os.PathLike
        The file's path, for the message.

    Returns
    -------
    h5py.Dataset or h5py.Group or None

    Raises
    ------
    FormatError
        Some component of ``name`` (after following soft links) is an external or user-defined
        link, soft links nest too deep, or the dataset found stores its data outside the file.
    """
    try:
        obj = _walk(fh, name)
        reason = _storage(obj)
    except _Foreign as exc:
        reason = str(exc)
    if reason:
        raise FormatError(f"file '{path}', key '{name}': refused: {reason}; an untrusted file "
                          "may only hold its own data")
    return obj
