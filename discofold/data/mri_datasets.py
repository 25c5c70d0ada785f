"""torch Datasets yielding ``(y, op_params, target, meta)`` for MRI, from files or simulation.

- ``y``: measured k-space, complex64 ``(C, H, W)`` (multi-coil) or ``(H, W)`` (single-coil),
  zero where not measured; ``(C, K)`` / ``(K,)`` for non-Cartesian samples.
- ``op_params``: keyword arguments of the operator, ``CartesianMRI(**op_params)`` (``mask``
  ``(1, W)`` or ``(H, W)`` bool, ``coil_maps`` ``(C, H, W)`` or ``None``, ``image_shape``), or
  for non-Cartesian data ``trajectory`` ``(K, 2)``, ``image_shape``, ``coil_maps``.
  File data carries no coil maps (models estimate them): ``coil_maps`` is ``None``.
- ``target``: float32 ``(h, w)`` magnitude (root-sum-of-squares of the fully sampled coil images),
  or ``None`` when a file has none.
- ``meta``: dict of acquisition facts (pattern name, TRUE acceleration, num_low_frequencies, ...).

:func:`collate` batches samples with different masks (and patterns) per sample.
Simulated k-space avoids the inverse crime: images are built on a grid ``oversample`` times finer,
transformed, and the central k-space of the requested matrix is kept.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from ..commands._common import derive_seed
from ..errors import InputError
from ..operators import fft2c, ifft2c
from ..sampling import make_mask, seed_from
from .coils import birdcage_maps, rss
from .fastmri import FastMRIFile, center_crop_or_pad, read_mri_slice
from .images import ImageSource
from .noise import add_noise
from .phantoms import ellipse_kspace, random_ellipses, rasterize_ellipses, smooth_phase

__all__ = [
    "PatternSpec",
    "draw_pattern",
    "SimulatedMRIDataset",
    "SimulatedNonCartesianDataset",
    "MRIFileDataset",
    "collate",
]

_SEED_MIX = 0x9E3779B97F4A7C15


@dataclasses.dataclass(frozen=True)
class PatternSpec:
    """One entry of a pattern list: ``make_mask(name, shape, acceleration, **options)``."""

    name: str
    acceleration: float
    options: dict = dataclasses.field(default_factory=dict)


def _as_specs(patterns) -> list[PatternSpec]:
    if isinstance(patterns, (PatternSpec, tuple)) and not isinstance(patterns, list):
        patterns = [patterns]
    specs = []
    for p in patterns:
        if isinstance(p, PatternSpec):
            specs.append(p)
        elif isinstance(p, tuple) and len(p) in (2, 3):
            specs.append(PatternSpec(str(p[0]), float(p[1]), dict(p[2]) if len(p) == 3 else {}))
        else:
            raise InputError(f"a pattern must be PatternSpec or (name, acceleration[, options]), "
                             f"got {p!r}")
    if not specs:
        raise InputError("the pattern list is empty")
    return specs


def draw_pattern(specs: Sequence[PatternSpec], shape: Sequence[int], generator: torch.Generator):
    """Pick one spec uniformly with ``generator`` and draw its mask (a ``SamplingPattern``)."""
    i = int(torch.randint(0, len(specs), (1,), generator=generator)) if len(specs) > 1 else 0
    s = specs[i]
    return make_mask(s.name, tuple(shape), s.acceleration, generator=generator, **s.options)


def _item_generator(seed: int, index: int, epoch: int = 0) -> torch.Generator:
    """Generator of item ``index`` in epoch ``epoch`` of a simulation seeded with ``seed``.

    Epoch 0 keeps the historical seed ``(seed * _SEED_MIX + index) mod 2**63`` (validation sets
    and stored results stay as they are); epoch ``e > 0`` uses ``derive_seed(seed, e, index)``.
    """
    if int(epoch) < 0:
        raise InputError(f"epoch must be >= 0, got {epoch}")
    if int(epoch) == 0:
        value = (int(seed) * _SEED_MIX + int(index)) % 2**63
    else:
        value = derive_seed(seed, epoch, index)
    return torch.Generator().manual_seed(value)


def _op_mask(mask: torch.Tensor) -> torch.Tensor:
    """Pattern mask ``(W,)`` → ``(1, W)``; ``(H, W)`` unchanged (bool)."""
    mask = mask.to(torch.bool)
    return mask.unsqueeze(0) if mask.ndim == 1 else mask


def _pattern_meta(pattern) -> dict:
    return {"pattern": pattern.name, "acceleration": float(pattern.acceleration),
            "nominal_acceleration": float(pattern.nominal_acceleration),
            "num_low_frequencies": int(pattern.num_low_frequencies)}


class SimulatedMRIDataset(Dataset):
    """On-the-fly Cartesian MRI samples from random phantoms or natural images.

    Parameters
    ----------
    length : int
        Number of samples; sample ``i`` is a pure function of ``(seed, i)`` (and of the epoch
        ``e`` with :meth:`draw`, which training uses to see new data every epoch).
    shape : (H, W)
        Matrix.
    patterns : list of PatternSpec or (name, acceleration[, options])
        Each sample draws one of them uniformly, then its mask.
    source : "phantom" or ImageSource
        Random-ellipse phantoms with smooth phase, or natural images.
    num_coils : int or None
        Birdcage coils ``C``; ``None`` for single-coil data (no coil axis).
    snr_db : float or None
        Complex Gaussian noise on the measured samples (see :mod:`discofold.data.noise`).
    seed : int
    oversample : int
        Simulation grid refinement (>= 1; 1 reproduces the inverse crime).
    """

    def __init__(self, length: int, shape: Sequence[int], patterns, source="phantom",
                 num_coils: int | None = 8, snr_db: float | None = None, seed: int = 0,
                 oversample: int = 2):
        if int(length) < 0 or len(shape) != 2 or min(int(s) for s in shape) < 1:
            raise InputError(f"need length >= 0 and shape (H, W), got {length}, {shape}")
        if not (source == "phantom" or isinstance(source, ImageSource)):
            raise InputError(f"source must be 'phantom' or an ImageSource, got {source!r}")
        if int(oversample) < 1 or (num_coils is not None and int(num_coils) < 1):
            raise InputError(f"need oversample >= 1 and num_coils >= 1 or None, got "
                             f"{oversample}, {num_coils}")
        self.length, self.shape = int(length), (int(shape[0]), int(shape[1]))
        self.specs = _as_specs(patterns)
        self.source, self.num_coils, self.snr_db = source, num_coils, snr_db
        self.seed, self.oversample = int(seed), int(oversample)

    def __len__(self) -> int:
        return self.length

    def _image(self, fine, g) -> torch.Tensor:
        if self.source == "phantom":
            mag = rasterize_ellipses(random_ellipses(g), fine, supersample=2)
            return torch.polar(mag.float(), smooth_phase(fine, g))
        return self.source.sample(fine, g)

    def __getitem__(self, index: int):
        return self.draw(index)

    def draw(self, index: int, epoch: int = 0):
        """Item ``index`` as drawn in training epoch ``epoch`` (``(y, op_params, target, meta)``).

        Epoch 0 is ``self[index]``; epoch ``e > 0`` draws a new image, coil maps, mask and noise
        from a seed derived from ``(seed, e, index)`` (see :func:`_item_generator`), so the item
        is a pure function of ``(seed, epoch, index)``.
        """
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range ({self.length} samples)")
        g = _item_generator(self.seed, index, epoch)
        s, (h, w) = self.oversample, self.shape
        fine = (h * s, w * s)
        x = self._image(fine, g)
        coil_seed = int(torch.randint(0, 2**62, (1,), generator=g))
        maps = None
        if self.num_coils is not None:
            c = self.num_coils
            maps = birdcage_maps(self.shape, c, torch.Generator().manual_seed(coil_seed))
            x = birdcage_maps(fine, c, torch.Generator().manual_seed(coil_seed)) * x
        full = center_crop_or_pad(fft2c(x), self.shape) / s
        pattern = draw_pattern(self.specs, self.shape, g)
        mask = _op_mask(pattern.mask)
        kmask = mask if maps is None else mask.unsqueeze(0)
        y, sigma = add_noise(full * kmask, self.snr_db, g, mask=kmask)
        target = (ifft2c(full).abs() if maps is None else rss(ifft2c(full))).float()
        meta = {**_pattern_meta(pattern), "snr_db": self.snr_db, "noise_sigma": sigma,
                "index": index, "source": "phantom" if self.source == "phantom" else "images",
                "max": float(target.max())}
        op = {"mask": mask, "coil_maps": maps, "image_shape": self.shape}
        return (y * kmask).to(torch.complex64), op, target, meta


class SimulatedNonCartesianDataset(Dataset):
    """Single-coil non-Cartesian samples computed **analytically** from random ellipse phantoms.

    ``y = ellipse_kspace(ellipses, trajectory, shape)`` (the continuous object's k-space, no
    rasterisation, hence no inverse crime) plus optional noise; the target is the pixel-averaged
    magnitude phantom (``supersample=4``).  The analytic model is real (no phase) and has no
    coils: the k-space of a coil-weighted object has no closed form.

    Parameters
    ----------
    length : int
    shape : (H, W)
        Reconstruction matrix.
    trajectory : Tensor ``(K, 2)``
        Radians per pixel (e.g. from :func:`discofold.sampling.make_trajectory`).
    snr_db : float or None
    seed : int
    """

    def __init__(self, length: int, shape: Sequence[int], trajectory: torch.Tensor,
                 snr_db: float | None = None, seed: int = 0):
        if trajectory.ndim != 2 or trajectory.shape[1] != 2 or torch.is_complex(trajectory):
            raise InputError(f"trajectory must be real (K, 2), got {tuple(trajectory.shape)}")
        self.length, self.shape = int(length), (int(shape[0]), int(shape[1]))
        self.trajectory, self.snr_db, self.seed = trajectory.float(), snr_db, int(seed)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range ({self.length} samples)")
        g = _item_generator(self.seed, index)
        ell = random_ellipses(g)
        y = ellipse_kspace(ell, self.trajectory.double(), self.shape).to(torch.complex64)
        y, sigma = add_noise(y, self.snr_db, g)
        target = rasterize_ellipses(ell, self.shape, supersample=4).float()
        op = {"trajectory": self.trajectory, "image_shape": self.shape, "coil_maps": None}
        meta = {"pattern": "trajectory", "snr_db": self.snr_db, "noise_sigma": sigma,
                "index": index, "source": "phantom", "max": float(target.max())}
        return y, op, target, meta


def _collect_files(files) -> list[Path]:
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    out = []
    for f in files:
        p = Path(f)
        out += sorted(p.glob("*.h5")) if p.is_dir() else [p]
    if not out:
        raise InputError(f"no .h5 file found in {files}")
    return out


class MRIFileDataset(Dataset):
    """Slices of fastMRI-format files (Cartesian or non-Cartesian), read lazily.

    Parameters
    ----------
    files : path, folder or iterable of paths
        Files, or folders whose ``*.h5`` files are used (sorted).
    patterns : list of PatternSpec or (name, acceleration[, options]), optional
        Retrospective undersampling of fully sampled files (a file's own ``mask`` wins when
        ``use_file_mask``).  ``None``: files are used as they are.
    matrix : (H, W), optional
        Crop/pad k-space to this matrix in image space (see :func:`FastMRIFile.read_slice`).
    deterministic : bool
        Seed each mask from ``seed_from(file, slice)`` (evaluation); False draws fresh masks.
    mask_fn : callable ``(shape, generator) -> SamplingPattern``, optional
        Replaces ``patterns`` for custom masks.
    use_file_mask : bool
    """

    def __init__(self, files, patterns=None, matrix: Sequence[int] | None = None,
                 deterministic: bool = True, mask_fn: Callable | None = None,
                 use_file_mask: bool = True):
        self.files = _collect_files(files)
        self.specs = None if patterns is None else _as_specs(patterns)
        self.mask_fn, self.matrix = mask_fn, None if matrix is None else tuple(matrix)
        self.deterministic, self.use_file_mask = bool(deterministic), bool(use_file_mask)
        self.index: list[tuple[Path, int]] = []
        for path in self.files:
            with FastMRIFile(path) as f:
                self.index += [(path, i) for i in range(len(f))]

    def __len__(self) -> int:
        return len(self.index)

    def _pattern(self, path: Path, i: int, shape) -> object | None:
        g = torch.Generator()
        if self.deterministic:
            g.manual_seed(seed_from(path, i))
        else:
            g.seed()
        if self.mask_fn is not None:
            return self.mask_fn(shape, g)
        return None if self.specs is None else draw_pattern(self.specs, shape, g)

    def __getitem__(self, index: int):
        path, i = self.index[index]
        s = read_mri_slice(path, i, matrix=self.matrix)
        meta = {"file": str(path), "slice": i, "attrs": s.attrs, "max": s.attrs.get("max")}
        if s.trajectory is not None:
            op = {"trajectory": s.trajectory, "image_shape": s.matrix, "coil_maps": None}
            return s.kspace, op, s.target, {**meta, "pattern": s.attrs.get("pattern")}
        h, w = s.kspace.shape[-2:]
        if s.mask is not None and self.use_file_mask:
            mask = _op_mask(s.mask)
            meta.update(pattern=s.attrs.get("pattern", "file"),
                        acceleration=mask.expand(h, w).numel() / float(mask.expand(h, w).sum()),
                        num_low_frequencies=s.attrs.get("num_low_frequencies"))
        else:
            pattern = self._pattern(path, i, (h, w))
            if pattern is None:
                mask = torch.ones(1, w, dtype=torch.bool)
                meta.update(pattern="full", acceleration=1.0, num_low_frequencies=w)
            else:
                mask = _op_mask(pattern.mask)
                meta.update(_pattern_meta(pattern))
            if s.mask is not None:  # file mask ignored on request: never claim unmeasured data
                mask = mask & _op_mask(s.mask)
        kmask = mask if s.kspace.ndim == 2 else mask.unsqueeze(0)
        target = s.target
        if target is None and (s.mask is None or bool(s.mask.all())):
            full = ifft2c(s.kspace)
            target = (full.abs() if s.kspace.ndim == 2 else rss(full)).float()
        op = {"mask": mask, "coil_maps": None, "image_shape": (h, w)}
        return s.kspace * kmask, op, target, meta


def _stack_masks(masks: list[torch.Tensor]) -> torch.Tensor:
    if all(m.shape == masks[0].shape for m in masks):
        return torch.stack(masks)
    h = max(m.shape[-2] for m in masks)
    return torch.stack([m.expand(h, m.shape[-1]) for m in masks])


def _stack_optional(items: Iterable, what: str):
    items = list(items)
    if all(x is None for x in items):
        return None
    if any(x is None for x in items):
        raise InputError(f"cannot batch samples where only some have {what}")
    return torch.stack(items)


def collate(batch):
    """Batch ``(y, op_params, target, meta)`` samples; masks may differ per sample.

    Masks stack to ``(B, 1, W)`` or ``(B, H, W)`` (mixed 1-D/2-D masks are expanded to
    ``(B, H, W)``), which ``CartesianMRI`` broadcasts per batch entry.  ``meta`` becomes a
    dict of lists.
    """
    ys, ops, targets, metas = zip(*batch)
    op = {"image_shape": ops[0]["image_shape"]}
    if "trajectory" in ops[0]:
        op["trajectory"] = ops[0]["trajectory"]
        if any(not torch.equal(o["trajectory"], op["trajectory"]) for o in ops):
            raise InputError("cannot batch non-Cartesian samples with different trajectories")
    else:
        op["mask"] = _stack_masks([o["mask"] for o in ops])
    op["coil_maps"] = _stack_optional((o["coil_maps"] for o in ops), "coil maps")
    meta = {k: [m.get(k) for m in metas] for k in metas[0]}
    return torch.stack(ys), op, _stack_optional(targets, "a target"), meta
