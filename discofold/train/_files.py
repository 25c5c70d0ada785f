"""The data files a training config names, checked before a run folder exists (private; used
by :mod:`.config` and :mod:`.data`).

``data.train_files`` and ``data.val_files`` hold files or folders (whose ``*.h5`` files are
used, sorted).  :func:`file_paths` expands them and names the first entry that does not exist
or holds no file; :func:`mri_file_sizes` reads every MRI file's header (k-space matrix, target
size) once per file version; :func:`infer_mri_shape` is the ``data.shape`` that holds every
file, and :func:`check_mri_shape` refuses one smaller than a target, naming ``data.shape``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError

__all__ = ["file_paths", "mri_file_sizes", "infer_mri_shape", "check_mri_shape"]

#: (path, mtime_ns, size) -> (k-space matrix, target size or None): headers read once
_SIZES: dict[tuple[str, int, int], tuple[tuple[int, int], tuple[int, int] | None]] = {}


def file_paths(files: Sequence[str], key: str) -> list[Path]:
    """The files of ``files`` (folders expanded to their sorted ``*.h5``).

    Raises
    ------
    ConfigError
        An entry does not exist, or is a folder without ``.h5`` files; the message names
        ``key`` (``data.train_files``) and the entry.
    """
    out: list[Path] = []
    for entry in files:
        p = Path(entry)
        if p.is_dir():
            found = sorted(p.glob("*.h5"))
            if not found:
                raise ConfigError(f"config key '{key}': the folder '{p}' holds no .h5 file")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise ConfigError(f"config key '{key}': '{p}' does not exist")
    return out


def mri_file_sizes(files: Sequence[str], key: str):
    """``[(path, (H, W) k-space matrix, (h, w) target or None), ...]`` of every MRI file.

    Raises
    ------
    ConfigError
        See :func:`file_paths`.
    FormatError
        A file that is not in the fastMRI layout (naming the file and the key).
    """
    from ..data.fastmri import FastMRIFile

    out = []
    for path in file_paths(files, key):
        st = os.stat(path)
        stamp = (str(path), st.st_mtime_ns, st.st_size)
        if stamp not in _SIZES:
            with FastMRIFile(path) as f:
                _SIZES[stamp] = (tuple(int(v) for v in f.matrix), f.target_shape)
        out.append((path, *_SIZES[stamp]))
    return out


def infer_mri_shape(train_files: Sequence[str], val_files: Sequence[str]) -> tuple[int, int]:
    """``data.shape`` for MRI files: the largest k-space matrix, per axis, of all the files
    (smaller ones are zero-padded in image space, so no file loses anything)."""
    sizes = mri_file_sizes(train_files, "data.train_files") + \
        mri_file_sizes(val_files, "data.val_files")
    return (max(s[1][0] for s in sizes), max(s[1][1] for s in sizes))


def check_mri_shape(shape: Sequence[int], files: Sequence[str], key: str) -> None:
    """Refuse a file without a target (training and validation need one) and a ``data.shape``
    smaller than a file's target, with one line naming the key to change."""
    for path, matrix, target in mri_file_sizes(files, key):
        if target is None:
            raise ConfigError(f"config key '{key}': '{path}' holds no target "
                              "(reconstruction_rss / reconstruction_esc), which training "
                              "needs (fastMRI's test files hold none; use its train/val files)")
        if target[0] > shape[0] or target[1] > shape[1]:
            raise ConfigError(f"config key 'data.shape' is {list(shape)}, smaller than the "
                              f"target {list(target)} of '{path}' (its k-space matrix is "
                              f"{list(matrix)}); leave data.shape out to take it from the "
                              f"files, or set it to at least {list(target)}, e.g. --set "
                              f"data.shape='{list(matrix)}'")
