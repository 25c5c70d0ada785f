"""Evaluation data: a folder (or file) of HDF5 files, or a simulation spec ``sim:...``.

Data specs
----------
``PATH``
    A folder of ``*.h5`` files (sorted by name) or one ``.h5`` file.  The family is detected
    from the first file: a ``kspace`` dataset is MRI (fastMRI layout), an ``echo`` dataset is
    radar (DESIGN.md, "Interchange formats").  All files must be of one family.
``sim:mri?n=4&size=64&coils=8``
    ``n`` simulated volumes (default 4) of ``slices`` slices (1), matrix ``size`` (64, or
    ``HxW``), ``coils`` birdcage coils (8; 0 or 1 = single-coil), ``source`` ``phantom`` or
    ``images`` (phantom), ``snr`` in dB (none), ``oversample`` (2, simulation grid refinement,
    no inverse crime), ``seed`` (0).  Volumes are fully sampled; masks are drawn at evaluation.
``sim:radar?n=4&geometry=S0&size=32``
    ``n`` frames (4) of geometry preset ``geometry`` (S0) at ``size`` pixels (32), scene
    ``points`` or ``satellite`` (points), echo-domain ``snr`` in dB (none), ``seed`` (0).
    ``extent`` (metres) replaces the preset's 19.2 m square window by a smaller or larger one
    with the same carrier, bandwidth and rotation; the unambiguous sampling then has
    proportionally fewer or more pulses and frequencies (9.6 m: about half of each).
    Frames are full-aperture; apertures are drawn at evaluation.

Each simulated volume ``v`` is a pure function of ``(seed, v)``, so a spec always gives the
same data.  Volumes are named after their spec's seed and index, ``sim-mri-s0-0000``,
``sim-mri-s0-0001``, ... (MRI) and ``sim-radar-S0-s0`` (radar), so two specs never give two
volumes one name (one name, one mask), and evaluation masks
are seeded from ``(name, slice)`` like those of files (:func:`discofold.sampling.seed_from`).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import parse_qsl

import torch

from ..commands._common import derive_seed
from ..data import (
    FastMRIFile,
    RadarH5Reader,
    SimulatedMRIDataset,
    SimulatedRadarDataset,
    file_family,
    make_geometry,
    radar_preset,
    rss,
)
from ..data.fastmri import MRISlice
from ..data.mri_datasets import PatternSpec
from ..data.radar_io import RadarFrame
from ..errors import InputError
from ..operators import ifft2c

__all__ = ["Volume", "EvalData", "load_data", "SIM_DEFAULTS"]

SIM_DEFAULTS = {
    "mri": {"n": "4", "slices": "1", "size": "64", "coils": "8", "source": "phantom",
            "snr": "none", "oversample": "2", "seed": "0"},
    "radar": {"n": "4", "geometry": "S0", "size": "32", "extent": "preset", "scene": "points",
              "snr": "none", "seed": "0"},
}
_FULL = [PatternSpec("equispaced", 1.0)]


@dataclass(frozen=True)
class Volume:
    """One MRI volume (slices) or one radar file/frame set; ``read(i)`` gives item ``i``.

    ``read`` returns an :class:`~discofold.data.fastmri.MRISlice` (with ``target`` filled in)
    for MRI and a :class:`~discofold.data.radar_io.RadarFrame` (with ``reference_image``) for
    radar.  ``name`` seeds the evaluation masks together with the item index.
    """

    name: str
    length: int
    read: Callable[[int], object]


@dataclass(frozen=True)
class EvalData:
    """Evaluation data: family (``"mri"``/``"radar"``), volumes, and where it came from."""

    family: str
    volumes: list[Volume]
    source: str
    files: list[Path] = field(default_factory=list)


# --------------------------------------------------------------------------- spec parsing
def _size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise InputError(f"sim spec: size must be N or HxW, got {text!r}") from None
    dims = dims * 2 if len(dims) == 1 else dims
    if len(dims) != 2 or min(dims) < 4:
        raise InputError(f"sim spec: size must be N or HxW with sizes >= 4, got {text!r}")
    return dims


def _int(opts: dict, key: str, low: int) -> int:
    try:
        value = int(opts[key])
    except ValueError:
        raise InputError(f"sim spec: {key} must be an integer, got {opts[key]!r}") from None
    if value < low:
        raise InputError(f"sim spec: {key} must be >= {low}, got {value}")
    return value


def _snr(opts: dict) -> float | None:
    text = opts["snr"].lower()
    if text in ("none", "inf", ""):
        return None
    try:
        return float(text)
    except ValueError:
        raise InputError(f"sim spec: snr must be a number in dB or 'none', got {text!r}") from None


def parse_sim_spec(spec: str) -> tuple[str, dict]:
    """``"sim:mri?n=4&size=64"`` → ``("mri", {...all options with defaults...})``."""
    body = spec[4:]
    kind, _, query = body.partition("?")
    if kind not in SIM_DEFAULTS:
        raise InputError(f"--data '{spec}': unknown simulation '{kind}'; use sim:mri or sim:radar")
    opts = dict(SIM_DEFAULTS[kind])
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in opts:
            close = difflib.get_close_matches(key, list(opts), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise InputError(f"--data '{spec}': unknown option '{key}'{hint}; valid: "
                             f"{', '.join(opts)}")
        opts[key] = value
    return kind, opts


# --------------------------------------------------------------------------- simulation
def _sim_mri(opts: dict) -> list[Volume]:
    n, slices = _int(opts, "n", 1), _int(opts, "slices", 1)
    size, coils = _size(opts["size"]), _int(opts, "coils", 0)
    seed, oversample = _int(opts, "seed", 0), _int(opts, "oversample", 1)
    if opts["source"] not in ("phantom", "images"):
        raise InputError(f"sim spec: source must be 'phantom' or 'images', got {opts['source']!r}")
    source = "phantom"
    if opts["source"] == "images":
        from ..data import ImageSource

        source = ImageSource()
    snr = _snr(opts)
    volumes = []
    for v in range(n):
        ds = SimulatedMRIDataset(slices, size, _FULL, source=source,
                                 num_coils=coils if coils > 1 else None, snr_db=snr,
                                 seed=derive_seed(seed, v) % 2**31, oversample=oversample)
        name = f"sim-mri-s{seed}-{v:04d}"
        volumes.append(Volume(name, slices, _sim_mri_reader(ds, name, snr)))
    return volumes


def _sim_mri_reader(ds: SimulatedMRIDataset, name: str, snr) -> Callable[[int], MRISlice]:
    def read(i: int) -> MRISlice:
        y, _, target, _ = ds[i]
        attrs = {"snr_db": snr, "max": float(target.max())}
        return MRISlice(y, None, None, target, ds.shape, attrs, name, i)
    return read


def _radar_geometry(name: str, size: int, extent: str):
    """Preset ``name`` at ``size`` pixels, optionally on a square window of ``extent`` metres."""
    geo = radar_preset(name, image_size=size)
    if extent == "preset":
        return geo
    e = float(extent)
    if not e > 0:
        raise InputError(f"sim spec: extent must be > 0 metres, got {extent!r}")
    f, a = geo.frequencies_hz, geo.angles_rad
    df = float(f[1] - f[0]) if f.numel() > 1 else 1.0
    da = float(a[1] - a[0]) if a.numel() > 1 else 0.0
    return make_geometry(float(f[f.numel() // 2]), df * f.numel(), da * a.numel() or 1e-3,
                         (size, size), extent_m=(e, e), name=name)


def _sim_radar(opts: dict) -> list[Volume]:
    n, size, seed = _int(opts, "n", 1), _int(opts, "size", 8), _int(opts, "seed", 0)
    try:
        geo = _radar_geometry(opts["geometry"], size, opts["extent"])
    except (KeyError, ValueError, InputError) as exc:
        raise InputError(f"sim spec: geometry {opts['geometry']!r}: {exc}") from None
    if opts["scene"] not in ("points", "satellite"):
        raise InputError(f"sim spec: scene must be 'points' or 'satellite', got {opts['scene']!r}")
    ds = SimulatedRadarDataset(geo, opts["scene"], n, pattern=None, snr_db=_snr(opts),
                               seed=seed, reference="nufft")
    attrs = {"extent_m": list(geo.extent_m), "image_shape": list(geo.image_shape),
             "scenario": geo.name, "snr_db": _snr(opts)}

    def read(i: int) -> RadarFrame:
        y, params, target, _ = ds[i]
        return RadarFrame(y, params["angles_rad"], params["frequencies_hz"], None, target, None,
                          None, dict(attrs))
    return [Volume(f"sim-radar-{geo.name}-s{seed}", n, read)]


# --------------------------------------------------------------------------- files
def _mri_file(path: Path) -> Volume:
    with FastMRIFile(path) as f:
        n = len(f)

    def read(i: int) -> MRISlice:
        with FastMRIFile(path) as f:
            sl = f.read_slice(i)
        if sl.target is not None:
            return sl
        if sl.trajectory is not None or (sl.mask is not None and not bool(sl.mask.all())):
            raise InputError(f"'{path}' slice {i}: no target (reconstruction_rss/_esc) and the "
                             "k-space is undersampled; evaluation needs a reference")
        full = ifft2c(sl.kspace.to(torch.complex64))
        target = (rss(full) if sl.multicoil else full.abs()).float()
        return replace(sl, target=target, mask=None)
    return Volume(path.name, n, read)


def _radar_file(path: Path) -> Volume:
    with RadarH5Reader(path) as r:
        n = len(r)

    def read(i: int) -> RadarFrame:
        with RadarH5Reader(path) as r:
            fr = r[i]
        if fr.reference_image is not None:
            return fr
        if fr.mask is not None and not bool(fr.mask.all()):
            raise InputError(f"'{path}' frame {i}: no 'reference_image' and the aperture is "
                             "sparse; evaluation needs a reference")
        from ..solvers.pipeline import radar_operator

        ref = radar_operator(fr).reference_image(fr.echo.to(torch.complex64))
        return replace(fr, reference_image=ref.to(torch.complex64))
    return Volume(path.name, n, read)


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.glob("*.h5") if p.is_file())
        if not files:
            raise InputError(f"--data folder '{path}' holds no .h5 files")
        return files
    if path.is_file():
        return [path]
    raise InputError(f"--data '{path}' does not exist (give a folder of .h5 files, a file, or "
                     "a spec like sim:mri?n=4&size=64)")


def load_data(spec: str | os.PathLike) -> EvalData:
    """Evaluation data from a folder/file path or a ``sim:`` spec (see the module docstring).

    Raises
    ------
    InputError
        Missing path, empty folder, mixed families, bad spec.
    FormatError
        A file that is neither MRI nor radar HDF5.
    """
    text = str(spec)
    if text.startswith("sim:"):
        kind, opts = parse_sim_spec(text)
        vols = _sim_mri(opts) if kind == "mri" else _sim_radar(opts)
        return EvalData(kind, vols, text)
    files = _files(Path(text))
    fams = {p: file_family(p, "--data file") for p in files}
    kinds = sorted(set(fams.values()))
    if len(kinds) > 1:
        other = next(p for p in files if fams[p] != fams[files[0]])
        raise InputError(f"--data '{text}' mixes MRI and radar files ('{files[0].name}' is "
                         f"{fams[files[0]]}, '{other.name}' is {fams[other]})")
    make = _mri_file if kinds[0] == "mri" else _radar_file
    return EvalData(kinds[0], [make(p) for p in files], text, files)
