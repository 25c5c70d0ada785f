"""Torch Datasets for radar: simulated on the fly, or read from radar HDF5 files.

Each item is ``(y, params, target, meta)``:

* ``y`` complex64 ``(P, F)``: the measured echo, zeros where not measured;
* ``params`` dict of what :class:`discofold.operators.PolarRadar` needs: ``angles_rad`` float64
  ``(P,)``, ``frequencies_hz`` float64 ``(F,)``, ``mask`` bool ``(P, F)``, ``image_shape``
  int64 ``(2,)``, ``extent_m`` float64 ``(2,)``;
* ``target`` complex64 ``(H, W)``: the full-aperture reference image (DESIGN.md);
* ``meta`` dict: ``pattern``, ``acceleration`` (true), ``snr_db`` (NaN = noise-free),
  ``scenario``, ``index`` (and ``file``, ``frame`` for files).

All tensors batch with the default ``DataLoader`` collate.  Randomness is drawn from
generators seeded by ``(seed, index)`` (simulation; ``(seed, epoch, index)`` for training
epochs ``> 0``, see :meth:`SimulatedRadarDataset.draw`) or ``(file name, frame)`` (files, as
fastMRI seeds evaluation masks), so items are repeatable in any order and in any worker.
Scene, aperture and noise use separate streams: the same index shows the same scene under
every pattern.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from ..commands._common import derive_seed
from ..errors import InputError, ShapeError
from .radar_io import RadarH5Reader, write_radar_h5
from .radar_scenes import RadarScene, point_scene, satellite_scene
from .radar_sim import RadarGeometry, add_noise, preset, reference_image, simulate_echo

__all__ = ["SimulatedRadarDataset", "RadarFileDataset", "simulate_radar_file"]

MaskSource = str | Sequence[str] | Callable | None


def _stream(seed: int, index: int, purpose: int, epoch: int = 0) -> torch.Generator:
    """Generator for one purpose (0 scene, 1 aperture, 2 noise) of item ``index`` in ``epoch``.

    Epoch 0 keeps the historical CRC-32 seeds; epoch ``e > 0`` uses
    ``derive_seed(seed, e, index, purpose)``.
    """
    if int(epoch) < 0:
        raise InputError(f"epoch must be >= 0, got {epoch}")
    if int(epoch) > 0:
        return torch.Generator().manual_seed(derive_seed(seed, epoch, index, purpose))
    key = f"{int(seed)}:{int(index)}:{purpose}".encode()
    return torch.Generator().manual_seed(zlib.crc32(key) * 7919 + purpose)


def _draw_mask(source: MaskSource, shape, acceleration, gen: torch.Generator):
    """``(mask bool (P, F), pattern name, true acceleration)`` from a name, list or callable."""
    if source is None:
        return torch.ones(shape, dtype=torch.bool), "full", 1.0
    if not callable(source):
        names = [source] if isinstance(source, str) else list(source)
        if not names:
            raise InputError("pattern list is empty")
        name = names[int(torch.randint(len(names), (1,), generator=gen))]
        from ..sampling import make_mask  # lazy: sampling is an independent subpackage

        pat = make_mask(name, tuple(shape), acceleration, generator=gen)
        return pat.mask.to(torch.bool), pat.name, float(pat.acceleration)
    out = source(tuple(shape), acceleration, gen)
    mask = getattr(out, "mask", out)
    mask = torch.as_tensor(mask).to(torch.bool)
    if tuple(mask.shape) != tuple(shape):
        raise ShapeError(f"mask callable returned shape {tuple(mask.shape)}, expected {shape}")
    name = getattr(source, "__name__", "custom")
    if not isinstance(out, torch.Tensor) and getattr(out, "name", None):
        name = out.name  # e.g. a SamplingPattern
    return mask, str(name), mask.numel() / max(1, int(mask.sum()))


def _reference(echo: torch.Tensor, geometry: RadarGeometry, method: str) -> torch.Tensor:
    if method == "exact":
        return reference_image(echo, geometry)
    from ..operators.radar import PolarRadar  # NUFFT path (fast, ~1e-5 relative accuracy)

    op = PolarRadar(geometry.angles_rad, geometry.frequencies_hz, geometry.image_shape,
                    geometry.extent_m)
    return op.reference_image(echo)


def _params(geometry: RadarGeometry, mask: torch.Tensor) -> dict:
    return {
        "angles_rad": geometry.angles_rad.clone(),
        "frequencies_hz": geometry.frequencies_hz.clone(),
        "mask": mask,
        "image_shape": torch.tensor(geometry.image_shape, dtype=torch.int64),
        "extent_m": torch.tensor(geometry.extent_m, dtype=torch.float64),
    }


class SimulatedRadarDataset(torch.utils.data.Dataset):
    """Radar samples simulated on the fly with the exact echo simulator.

    Parameters
    ----------
    geometry : RadarGeometry or str
        Geometry or preset name (``"S0"`` … ``"S4"``).
    scene : {"points", "satellite"} or callable
        Scene type, or ``scene(generator) -> RadarScene``.
    length : int
        Number of items.
    pattern : str, list of str, callable or None
        Aperture pattern name(s) for :func:`discofold.sampling.make_mask` (one drawn per item
        from a list), a callable ``f((P, F), acceleration, generator)`` returning a bool mask
        (or an object with ``.mask``), or None for the full aperture.
    acceleration : float
        Nominal acceleration passed to the pattern.
    snr_db : float, optional
        Echo-domain SNR of the added noise (over measured samples); None = noise-free.
    aspect_dependent : bool
        Specular panel lobes for satellite scenes.
    seed : int
        Base seed; item ``i`` depends only on ``(seed, i)``, and on the epoch ``e`` when drawn
        with :meth:`draw` (training sees a new scene, aperture and noise every epoch).
    reference : {"exact", "nufft"}
        Direct-sum reference image, or the faster NUFFT one of ``PolarRadar``.
    """

    def __init__(self, geometry: RadarGeometry | str = "S0", scene: str | Callable = "points",
                 length: int = 1000, pattern: MaskSource = "random_pulses",
                 acceleration: float = 4.0, snr_db: float | None = None,
                 aspect_dependent: bool = False, seed: int = 0, reference: str = "exact"):
        self.geometry = preset(geometry) if isinstance(geometry, str) else geometry
        if not callable(scene) and scene not in ("points", "satellite"):
            raise InputError(f"scene must be 'points', 'satellite' or a callable, got {scene!r}")
        if reference not in ("exact", "nufft"):
            raise InputError(f"reference must be 'exact' or 'nufft', got {reference!r}")
        if int(length) < 0:
            raise InputError(f"length must be >= 0, got {length}")
        self.scene, self.length, self.pattern = scene, int(length), pattern
        self.acceleration, self.snr_db, self.seed = acceleration, snr_db, int(seed)
        self.aspect_dependent, self.reference = aspect_dependent, reference

    def __len__(self) -> int:
        return self.length

    def make_scene(self, index: int, epoch: int = 0) -> RadarScene:
        """The (repeatable) scene of item ``index`` in epoch ``epoch``."""
        gen = _stream(self.seed, index, 0, epoch)
        if callable(self.scene):
            return self.scene(gen)
        if self.scene == "points":
            return point_scene(gen, radius_m=0.45 * min(self.geometry.extent_m))
        return satellite_scene(gen, aspect_dependent=self.aspect_dependent,
                               radius_m=0.45 * min(self.geometry.extent_m))

    def sample(self, index: int, epoch: int = 0) -> tuple:
        """``(y, params, target, meta, scene)`` of item ``index`` (complex128 y and target).

        Epoch 0 is the item of ``self[index]``; epoch ``e > 0`` draws its scene, aperture and
        noise from seeds derived from ``(seed, e, index)``.
        """
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} items")
        geo = self.geometry
        scene = self.make_scene(index, epoch)
        clean = simulate_echo(scene, geo)
        mask, name, accel = _draw_mask(self.pattern, geo.data_shape, self.acceleration,
                                       _stream(self.seed, index, 1, epoch))
        if self.snr_db is None:
            y = clean * mask
        else:
            y = add_noise(clean, self.snr_db, _stream(self.seed, index, 2, epoch), mask)
        target = _reference(clean, geo, self.reference)
        meta = {"pattern": name, "acceleration": accel, "scenario": geo.name, "index": index,
                "snr_db": math.nan if self.snr_db is None else float(self.snr_db)}
        return y, _params(geo, mask), target, meta, scene

    def draw(self, index: int, epoch: int = 0) -> tuple:
        """Item ``index`` of epoch ``epoch`` as ``self[index]`` gives it (complex64 y, target)."""
        y, params, target, meta, _ = self.sample(index, epoch)
        return y.to(torch.complex64), params, target.to(torch.complex64), meta

    def __getitem__(self, index: int) -> tuple:
        return self.draw(index)


class RadarFileDataset(torch.utils.data.Dataset):
    """Frames of radar HDF5 files (lazy per-frame reads; files opened read-only per worker).

    Parameters
    ----------
    paths : path or sequence of paths
    pattern : like :class:`SimulatedRadarDataset`, optional
        Retrospective aperture applied on top of the stored mask, seeded from
        ``(file name, frame)``; None keeps the stored data.
    acceleration : float
        Nominal acceleration of ``pattern``.
    require_target : bool
        Refuse files without ``reference_image`` (default).  When False, such frames give an
        all-zero target.
    """

    def __init__(self, paths, pattern: MaskSource = None, acceleration: float = 4.0,
                 require_target: bool = True):
        paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        self.paths = [Path(p) for p in paths]
        self.pattern, self.acceleration = pattern, acceleration
        self.index: list[tuple[int, int]] = []
        for k, path in enumerate(self.paths):
            with RadarH5Reader(path) as rd:
                if require_target and "reference_image" not in rd._file:
                    raise InputError(f"{path}: key 'reference_image' is missing; pass "
                                     "require_target=False to read files without targets")
                self.index += [(k, i) for i in range(len(rd))]
        self._readers: dict[int, RadarH5Reader] = {}

    def __len__(self) -> int:
        return len(self.index)

    def __getstate__(self) -> dict:  # open handles do not travel to worker processes
        state = self.__dict__.copy()
        state["_readers"] = {}
        return state

    def _reader(self, k: int) -> RadarH5Reader:
        if k not in self._readers:
            self._readers[k] = RadarH5Reader(self.paths[k])
        return self._readers[k]

    def close(self) -> None:
        """Close every open file."""
        for rd in self._readers.values():
            rd.close()
        self._readers.clear()

    def __getitem__(self, index: int) -> tuple:
        k, frame = self.index[index]
        fr = self._reader(k)[frame]
        geo = fr.geometry
        stored = fr.mask if fr.mask is not None else torch.ones(geo.data_shape, dtype=torch.bool)
        name, accel = "stored", stored.numel() / max(1, int(stored.sum()))
        mask = stored
        if self.pattern is not None:
            gen = torch.Generator().manual_seed(zlib.crc32(f"{self.paths[k].name}:{frame}"
                                                           .encode()))
            extra, name, _ = _draw_mask(self.pattern, geo.data_shape, self.acceleration, gen)
            mask = stored & extra
            accel = mask.numel() / max(1, int(mask.sum()))
        y = fr.echo * mask
        h, w = geo.image_shape
        target = fr.reference_image if fr.reference_image is not None else \
            torch.zeros(h, w, dtype=torch.complex64)
        meta = {"pattern": name, "acceleration": accel, "scenario": geo.name, "index": index,
                "snr_db": float(fr.attrs.get("snr_db", math.nan)),
                "file": str(self.paths[k]), "frame": frame}
        return y, _params(geo, mask), target, meta


def simulate_radar_file(path: str | os.PathLike, dataset: SimulatedRadarDataset,
                        indices: Sequence[int] | None = None, overwrite: bool = False) -> Path:
    """Write items of a simulated dataset as one radar HDF5 file (frames = items).

    Stores the measured echo, the per-frame masks, the reference images, the scatterers
    (zero-padded) and their specular lobes, with attrs ``snr_db`` and ``scenario``.  Atomic;
    refuses to overwrite unless ``overwrite=True``.
    """
    indices = list(range(len(dataset))) if indices is None else list(indices)
    if not indices:
        raise InputError("no items to write")
    items = [dataset.sample(i) for i in indices]
    geo = dataset.geometry
    return write_radar_h5(
        path, torch.stack([it[0] for it in items]), geo.angles_rad, geo.frequencies_hz,
        extent_m=geo.extent_m, image_shape=geo.image_shape,
        mask=torch.stack([it[1]["mask"] for it in items]), snr_db=dataset.snr_db,
        scenario=geo.name, reference_image=torch.stack([it[2] for it in items]),
        scatterers=[it[4].scatterers for it in items],
        scatterer_lobes=[it[4].lobes() for it in items], overwrite=overwrite)
