"""Building blocks of the hostile-file tests: valid MRI / radar layouts as plain dicts that a
test mutates and then writes with raw h5py (no validating writer in between), plus the checks that
every outcome must pass."""

from __future__ import annotations

import contextlib
import io
import resource
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from discofold.cli import main
from discofold.data import FastMRIFile, RadarH5Reader
from discofold.errors import DiscofoldError


@dataclass
class Declared:
    """A dataset declared with ``shape`` but never written (chunked: no storage is allocated)."""

    shape: tuple
    dtype: str = "complex64"


@dataclass
class Spec:
    """A file to write: datasets (arrays or :class:`Declared`) and root attrs."""

    data: dict = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)

    def copy(self) -> Spec:
        return Spec({k: (v.copy() if isinstance(v, np.ndarray) else v)
                     for k, v in self.data.items()}, dict(self.attrs))


def _cplx(rng, shape) -> np.ndarray:
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def mri_spec(variant: str, seed: int = 0) -> Spec:
    """A valid fastMRI-layout file: ``"multicoil"`` (1-D mask, RSS target), ``"singlecoil"``
    (2-D mask, ESC target) or ``"noncartesian"`` (trajectory + attr matrix)."""
    rng = np.random.default_rng(seed)
    if variant == "noncartesian":
        traj = rng.uniform(-np.pi, np.pi, (13, 2)).astype(np.float32)
        traj[:4] = 0.05 * rng.standard_normal((4, 2))  # samples near the centre (coil maps)
        return Spec({"kspace": _cplx(rng, (2, 2, 13)), "trajectory": traj},
                    {"matrix": np.array([9, 7]), "acquisition": "nc", "max": 1.0})
    if variant == "multicoil":
        mask = np.zeros(7, bool)
        mask[1:6] = True
        k = _cplx(rng, (2, 3, 9, 7)) * mask
        return Spec({"kspace": k, "mask": mask,
                     "reconstruction_rss": rng.random((2, 8, 6)).astype(np.float32)},
                    {"max": 1.0, "norm": 2.0, "acquisition": "CORPD", "acceleration": 1.4})
    mask = np.ones((9, 7), bool)
    mask[::2, ::3] = False
    return Spec({"kspace": _cplx(rng, (3, 9, 7)) * mask, "mask": mask.astype(np.uint8),
                 "reconstruction_esc": rng.random((3, 9, 7)).astype(np.float32)},
                {"max": 1.0, "acquisition": "CORPDFS", "pattern": "random"})


def radar_spec(seed: int = 0) -> Spec:
    """A valid radar file: 2 frames of 5 pulses × 4 frequencies, 6×6 image, ground truth."""
    rng = np.random.default_rng(seed)
    lobes = np.full((2, 3, 2), np.nan)  # NaN lobes = isotropic scatterers (allowed)
    sc = rng.uniform(-1, 1, (2, 3, 4))
    return Spec({"echo": _cplx(rng, (2, 5, 4)), "angles_rad": np.linspace(-0.05, 0.05, 5),
                 "frequencies_hz": np.linspace(9.5e9, 10.5e9, 4),
                 "mask": rng.random((2, 5, 4)) > 0.3, "reference_image": _cplx(rng, (2, 6, 6)),
                 "scatterers": sc, "scatterer_lobes": lobes},
                {"extent_m": np.array([4.0, 4.0]), "image_shape": np.array([6, 6]),
                 "snr_db": 20.0, "scenario": "fuzz"})


def write_raw(path: Path, spec: Spec) -> Path:
    """Write ``spec`` with plain h5py (whatever it holds, valid or not)."""
    with h5py.File(path, "w") as f:
        for key, value in spec.data.items():
            if isinstance(value, Declared):
                chunks = tuple(1 for _ in value.shape[:-1]) + (min(64, value.shape[-1]),)
                f.create_dataset(key, shape=value.shape, dtype=value.dtype, chunks=chunks)
            else:
                f.create_dataset(key, data=value)
        for key, value in spec.attrs.items():
            f.attrs[key] = value
    return path


def read_all(path: Path, kind: str, **limits) -> None:
    """Open with the discofold reader of ``kind`` and read every slice / frame."""
    if kind == "mri":
        with FastMRIFile(path, **limits) as f:
            for i in range(len(f)):
                f.read_slice(i)
    else:
        with RadarH5Reader(path, **limits) as r:
            for i in range(len(r)):
                r[i]


def read_outcome(path: Path, kind: str, **limits) -> DiscofoldError | None:
    """``None`` if the file reads, the :class:`DiscofoldError` otherwise (anything else
    propagates and fails the test: a crash inside h5py/numpy/torch)."""
    try:
        read_all(path, kind, **limits)
    except DiscofoldError as exc:
        return exc
    return None


def cli_recon(inp: Path, out: Path, method: str = "zf", *extra: str) -> tuple[int, str]:
    """``discofold recon`` in-process; returns ``(exit code, stderr)``."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(["recon", "--method", method, "--input", str(inp), "--output", str(out),
                   "--quiet", *extra])
    return rc, err.getvalue()


@contextlib.contextmanager
def memory_bound(max_traced: int, max_rss_growth: int):
    """Fail if the body allocates more than ``max_traced`` bytes through Python/numpy
    (tracemalloc peak) or raises the process peak RSS by more than ``max_rss_growth`` bytes."""
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss0
    assert peak <= max_traced, f"traced peak {peak} bytes > {max_traced}"
    assert growth <= max_rss_growth, f"peak RSS grew by {growth} bytes > {max_rss_growth}"
