"""Which interchange format an HDF5 file holds (DESIGN.md, "Interchange formats")."""

from __future__ import annotations

import os
from pathlib import Path

import h5py

from ..errors import FormatError

__all__ = ["file_family"]


def file_family(path: str | os.PathLike, label: str = "file") -> str:
    """``"mri"`` (a ``kspace`` dataset, fastMRI layout) or ``"radar"`` (an ``echo`` dataset).

    ``label`` starts the error messages (e.g. ``"--input"``), so a command can name its option.

    Raises
    ------
    FormatError
        Not a readable HDF5 file, or neither dataset.
    """
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            keys = {str(k) for k in f.keys()}
    except (OSError, RuntimeError, ValueError, TypeError, KeyError) as exc:  # corrupt file
        raise FormatError(f"{label} '{path}' is not a readable HDF5 file: {exc}") from None
    if "kspace" in keys:
        return "mri"
    if "echo" in keys:
        return "radar"
    raise FormatError(f"{label} '{path}': neither a 'kspace' (MRI) nor an 'echo' (radar) "
                      f"dataset; found {sorted(keys)}")
