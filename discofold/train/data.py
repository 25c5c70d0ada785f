"""Training data from a :class:`~discofold.train.config.DataConfig`, and batches as model inputs.

:func:`build_datasets` returns the training and validation datasets; every item is a pure
function of its key ``(epoch, index)`` (simulation seeded by ``(seed, index)`` in epoch 0 and
by ``(seed, epoch, index)`` after, so training sees new images, masks and noise every epoch;
files read as they are), so the data order is fixed by :class:`StepBatchSampler` alone and a
resumed run sees the same batches.  Validation sets ignore the epoch: they never change.

:class:`BatchAdapter` turns a collated batch ``(y, op_params, target, meta)`` into the model's
inputs ``(y, op, meta, target)``: it builds ``CartesianMRI(**op_params)``,
``NonCartesianMRI(...)``, ``PolarRadar(...)`` (the NUFFT is built once per geometry) or, for
block CS, a ``BlockCS`` operator and the measurements ``y = Φx``.  Block-CS sampling matrices
are drawn from a generator seeded by ``(seed, step)``, so every DDP rank uses the same matrix.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator

import torch
from torch.utils.data import Dataset, DistributedSampler, default_collate

from ..commands._common import derive_seed
from ..data import (
    BlockCSPatches,
    MRIFileDataset,
    RadarFileDataset,
    SimulatedMRIDataset,
    SimulatedRadarDataset,
    make_blockcs_split,
    mri_collate,
    radar_preset,
)
from ..data.mri_datasets import _as_specs, draw_pattern
from ..data.phantoms import random_phantom
from ..errors import ConfigError, InputError
from ..models import AcquisitionMeta
from ..operators import BlockCS, CartesianMRI, NonCartesianMRI, PolarRadar
from ..operators.blockcs import gaussian_block_matrix
from ._files import check_mri_shape, file_paths
from .config import DataConfig

__all__ = ["family_of", "build_datasets", "check_first_items", "collate_for", "StepBatchSampler",
           "BatchAdapter", "group_batches"]

_FAMILY = {"mri_simulated": "mri", "mri_files": "mri", "radar_simulated": "radar",
           "radar_files": "radar", "blockcs": "blockcs"}


def family_of(cfg: DataConfig) -> str:
    """``"mri"``, ``"radar"`` or ``"blockcs"``."""
    return _FAMILY[cfg.kind]


class _Keyed(Dataset):
    """Items indexed by ``(epoch, index)``; several sub-datasets are interleaved by index.

    ``parts[i % n][i // n]`` serves item ``i``, so a list of settings (SNRs, accelerations) is
    mixed evenly.  With ``redraw`` (training sets), key ``(e, i)`` serves
    ``parts[i % n].draw(i // n, e)`` for parts that have ``draw`` (simulations redraw image,
    mask and noise per epoch), and file datasets with retrospective masks redraw them per epoch
    from ``(seed, epoch, index)`` (see :meth:`mask_fn`).  Without ``redraw`` (validation sets)
    every key is read as epoch 0.
    """

    def __init__(self, parts: list, specs=None, seed: int = 0, limit: int | None = None,
                 redraw: bool = False, part_groups: list[int] | None = None):
        self.parts, self.specs, self.seed, self.limit = parts, specs, int(seed), limit
        self.redraw = bool(redraw)
        self.key = (0, 0)
        #: batch group of each part (items of different groups, e.g. matrix sizes, never share
        #: a batch); None: one group
        self.part_groups = part_groups

    def groups(self) -> list[int] | None:
        """Batch group of every item, or None when all items can share a batch."""
        if self.part_groups is None or len(set(self.part_groups)) < 2:
            return None
        n = len(self.parts)
        return [self.part_groups[i % n] for i in range(len(self))]

    def __len__(self) -> int:
        n = min(len(p) for p in self.parts) * len(self.parts)
        return n if self.limit is None else min(n, self.limit)

    def __getitem__(self, item):
        epoch, i = item if isinstance(item, tuple) else (0, item)
        epoch, i = (int(epoch) if self.redraw else 0), int(i)
        self.key = (epoch, i)
        n = len(self.parts)
        part = self.parts[i % n]
        if epoch and hasattr(part, "draw"):
            return part.draw(i // n, epoch)
        return part[i // n]

    def mask_fn(self, shape, _generator):
        g = torch.Generator().manual_seed(derive_seed(self.seed, *self.key))
        return draw_pattern(self.specs, shape, g)


def _snrs(cfg: DataConfig) -> list:
    return list(cfg.snr_db) or [None]


def _split_length(total: int, parts: int) -> int:
    return max(1, math.ceil(total / parts))


def _mri(cfg: DataConfig, length: int, seed: int, files, train: bool) -> Dataset:
    if cfg.kind == "mri_files":
        if not files:
            raise ConfigError("data.kind = 'mri_files' needs data.train_files (and val_files)")
        check_mri_shape(cfg.shape, files, "data.train_files" if train else "data.val_files")
        keyed = _Keyed([], _as_specs([tuple(p) for p in cfg.patterns]), seed, limit=length,
                       redraw=train)
        paths = file_paths(files, "data.train_files" if train else "data.val_files")
        keyed.parts = [MRIFileDataset(paths, matrix=cfg.shape, mask_fn=keyed.mask_fn,
                                      use_file_mask=False)]
        return keyed
    names = cfg.source.split("+")  # "phantom+images" mixes both sources evenly
    if not set(names) <= {"phantom", "images"}:
        raise ConfigError("data.source must be 'phantom', 'images' or 'phantom+images', got "
                          f"{cfg.source!r}")
    sources = []
    for name in names:
        if name == "images":
            from ..data import ImageSource

            sources.append(ImageSource())
        else:
            sources.append("phantom")
    # one batch group per (matrix size, coil count); parts are ordered group-major
    groups = [(tuple(sh), nc) for sh in (cfg.shapes or [cfg.shape])
              for nc in (cfg.coil_counts or [cfg.num_coils])]
    combos = [(g, src, s) for g in groups for src in sources for s in _snrs(cfg)]
    n = _split_length(length, len(combos))
    # a single group keeps the seeds of the single-shape configs (seed * 131 + source/SNR index)
    parts = [SimulatedMRIDataset(n, sh, [tuple(p) for p in cfg.patterns], source=src,
                                 num_coils=nc, snr_db=s, seed=seed * 131 + k,
                                 oversample=cfg.oversample)
             for k, ((sh, nc), src, s) in enumerate(combos)]
    return _Keyed(parts, redraw=train, part_groups=[groups.index(g) for g, _, _ in combos])


def _radar(cfg: DataConfig, length: int, seed: int, files, train: bool) -> Dataset:
    if cfg.kind == "radar_files":
        if not files:
            raise ConfigError("data.kind = 'radar_files' needs data.train_files (and val_files)")
        paths = file_paths(files, "data.train_files" if train else "data.val_files")
        return _Keyed([RadarFileDataset(paths)], limit=length, redraw=train)
    # "S0+S1" mixes geometries evenly (a repeated name weights it); batches must then hold
    # one sample (a batch shares one operator), see collate_for
    geos = [radar_preset(g, image_size=cfg.image_size) for g in cfg.geometry.split("+")]
    combos = [(geo, a, s) for geo in geos for a in cfg.accelerations for s in _snrs(cfg)]
    n = _split_length(length, len(combos))
    parts = [SimulatedRadarDataset(geo, cfg.scene, n, list(cfg.apertures), a, s,
                                   seed=seed * 131 + k, reference=cfg.reference)
             for k, (geo, a, s) in enumerate(combos)]
    return _Keyed(parts, redraw=train)


_SPLITS: dict = {}


def _blockcs(cfg: DataConfig, length: int, seed: int, train: bool) -> Dataset:
    b = cfg.block
    if cfg.images == "phantom":
        g = torch.Generator().manual_seed(derive_seed(seed, 7))
        patches = torch.stack([random_phantom((b, b), generator=g).abs().float()
                               for _ in range(length)])
    else:
        key = (cfg.images, b, cfg.seed)
        if key not in _SPLITS:  # one split serves the training and the validation set
            kwargs = {"use_skimage": True} if cfg.images == "skimage" else {"folder": cfg.images}
            _SPLITS.clear()
            _SPLITS[key] = make_blockcs_split(block=b, generator=cfg.seed, **kwargs)
        split = _SPLITS[key]
        patches = (split.train if train else split.test)[:length]
    return _Keyed([BlockCSPatches(patches, flips=cfg.flips and train, seed=seed)], redraw=train)


def build_datasets(cfg: DataConfig) -> tuple[Dataset, Dataset | None]:
    """Training and validation datasets.

    Validation is ``None`` when ``val_length == 0`` or, for file data, without ``val_files``.

    Raises
    ------
    ConfigError
        A file entry that does not exist (naming the key and the entry), an MRI file without a
        target, or a ``data.shape`` smaller than a file's target.
    """
    fam = family_of(cfg)
    out = []
    for train, length, files in ((True, cfg.train_length, cfg.train_files),
                                 (False, cfg.val_length, cfg.val_files)):
        seed = cfg.seed if train else derive_seed(cfg.seed, 1) % 2**31
        if length == 0 or (not train and fam != "blockcs" and cfg.kind.endswith("_files")
                           and not files):
            out.append(None)
        elif fam == "mri":
            out.append(_mri(cfg, length, seed, files, train))
        elif fam == "radar":
            out.append(_radar(cfg, length, seed, files, train))
        else:
            out.append(_blockcs(cfg, length, seed, train))
    if len(out[0]) == 0:
        raise ConfigError("the training dataset is empty (check data.train_files / images)")
    return out[0], out[1]


def check_first_items(cfg: DataConfig, datasets, adapter: BatchAdapter) -> None:
    """Draw the first item of each dataset and turn it into model inputs with ``adapter``, so
    that a bad setting (a pattern, a scene, a file, a calibration region too small for coil
    maps) fails before a run writes anything."""
    collate = collate_for(cfg)
    for train, ds in zip((True, False), datasets):
        if ds is not None and len(ds):
            adapter(collate([ds[0]]), 0, train=train)


def collate_for(cfg: DataConfig):
    """The collate function of the data family."""
    fam = family_of(cfg)
    if fam == "radar" and "+" in cfg.geometry:
        return _one_geometry_collate
    return mri_collate if fam == "mri" else default_collate


def _one_geometry_collate(items):
    shapes = {tuple(item[0].shape) for item in items}
    if len(shapes) > 1:
        raise ConfigError(f"a batch mixes radar geometries (echo shapes {sorted(shapes)}); with "
                          "several data.geometry values use train.batch_size = 1")
    return default_collate(items)


class StepBatchSampler:
    """Per-rank batches of ``(epoch, index)`` keys for steps ``start .. total - 1``.

    Epoch ``e`` is :class:`torch.utils.data.DistributedSampler`'s permutation for
    ``set_epoch(e)`` (seed ``seed``); rank ``r`` of ``world`` takes every ``world``-th index, so
    the union of the ranks' batches at a step is exactly the single-process batch of the same
    global size.  The order depends on the step only, which makes resuming exact.
    """

    def __init__(self, length: int, batch: int, world: int, rank: int, seed: int,
                 start: int, total: int, groups: list[int] | None = None):
        self.sampler = DistributedSampler(range(length), num_replicas=world, rank=rank,
                                          shuffle=True, seed=seed, drop_last=True)
        self.batch, self.start, self.total = int(batch), int(start), int(total)
        self.world, self.rank, self.seed, self.groups = int(world), int(rank), int(seed), groups
        if groups is not None and len(groups) != length:
            raise ConfigError(f"{len(groups)} batch groups for {length} items")
        if groups is None:
            self.per_epoch = len(self.sampler) // self.batch
        else:  # whole global batches inside each group
            sizes = torch.bincount(torch.as_tensor(groups))
            self.per_epoch = int((sizes // (self.batch * self.world)).sum())
        if self.per_epoch < 1:
            raise ConfigError(f"data.train_length {length} is smaller than one global batch "
                              f"({batch * world} samples)"
                              + (" per batch group (data.shapes x data.coil_counts)"
                                 if groups is not None else ""))
        self._epoch, self._order = -1, []

    def __len__(self) -> int:
        return max(0, self.total - self.start)

    def _grouped_order(self, epoch: int) -> list[list[int]]:
        """This rank's batches of epoch ``epoch``: global batches drawn within one group each
        (a permutation of the items, cut per group), in a permuted order, rank ``r`` taking
        every ``world``-th item of each global batch."""
        g = torch.Generator().manual_seed(self.seed + epoch)
        perm = torch.randperm(len(self.groups), generator=g).tolist()
        size = self.batch * self.world
        buckets: dict[int, list[int]] = {}
        for i in perm:
            buckets.setdefault(self.groups[i], []).append(i)
        batches = [b[j:j + size] for _, b in sorted(buckets.items())
                   for j in range(0, len(b) - size + 1, size)]
        order = torch.randperm(len(batches), generator=g).tolist()
        return [batches[k][self.rank::self.world] for k in order]

    def indices(self, step: int) -> list[tuple[int, int]]:
        epoch, pos = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            if self.groups is None:
                self.sampler.set_epoch(epoch)
                self._order = list(self.sampler)
            else:
                self._order = self._grouped_order(epoch)
            self._epoch = epoch
        if self.groups is not None:
            return [(epoch, i) for i in self._order[pos]]
        return [(epoch, i) for i in self._order[pos * self.batch:(pos + 1) * self.batch]]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start, self.total):
            yield self.indices(step)


def group_batches(ds, batch: int) -> list[list[int]]:
    """Sequential batches of ``ds`` (validation) that never mix batch groups: items in order,
    cut into batches of at most ``batch`` within each group."""
    groups = ds.groups() if hasattr(ds, "groups") else None
    if groups is None:
        idx = list(range(len(ds)))
        return [idx[j:j + batch] for j in range(0, len(idx), batch)]
    buckets: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        buckets.setdefault(g, []).append(i)
    return [b[j:j + batch] for _, b in sorted(buckets.items()) for j in range(0, len(b), batch)]


def _common(values) -> object | None:
    values = list(values)
    return values[0] if values and all(v == values[0] for v in values) else None


def _acs_maps(y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Coil maps ``(B, C, H, W)`` estimated from each sample's calibration box (files)."""
    from ..solvers.pipeline import estimate_coil_maps

    return torch.stack([estimate_coil_maps(y[i], m[0] if m.shape[-2] == 1 else m)
                        for i, m in enumerate(mask)])


def _acs_coil_maps(y: torch.Tensor, mask: torch.Tensor, meta: dict) -> torch.Tensor:
    """:func:`_acs_maps`, or a :class:`ConfigError` naming ``data.patterns`` when a drawn mask
    has no calibration box to estimate them from."""
    try:
        return _acs_maps(y, mask)
    except InputError as exc:
        names = sorted({str(p) for p in meta.get("pattern", []) if p is not None})
        raise ConfigError(f"{exc}; a mask drawn from data.patterns ({', '.join(names)}) "
                          "cannot serve multi-coil files: use patterns that sample the "
                          "k-space centre fully (the 1-D Cartesian ones, e.g. "
                          "equispaced_fraction)") from None


class BatchAdapter:
    """Collated batch → ``(y, op, meta, target)`` on ``device`` for the data family."""

    def __init__(self, cfg: DataConfig, device: torch.device, seed: int):
        self.cfg, self.family, self.device, self.seed = cfg, family_of(cfg), device, int(seed)
        self._radar_ops: dict = {}
        self._phis: dict = {}

    def __call__(self, batch, step: int, train: bool = True):
        if self.family == "mri":
            return self._mri(batch)
        if self.family == "radar":
            return self._radar(batch)
        return self._blockcs(batch, step, train)

    def _mri(self, batch):
        y, params, target, meta = batch
        dev = self.device
        maps = params.get("coil_maps")
        maps = None if maps is None else maps.to(dev)
        if "trajectory" in params:
            op = NonCartesianMRI(params["trajectory"].to(dev), tuple(params["image_shape"]),
                                 coil_maps=maps)
        else:
            if maps is None and y.ndim == 4:  # multi-coil files carry no maps: ACS estimate
                maps = _acs_coil_maps(y, params["mask"], meta).to(dev)
            op = CartesianMRI(params["mask"].to(dev), coil_maps=maps,
                              image_shape=tuple(params["image_shape"]))
        pattern = _common(meta.get("pattern", ["unknown"])) or "mixed"
        nlf = _common(meta.get("num_low_frequencies", [None]))
        m = AcquisitionMeta(pattern=str(pattern), num_low_frequencies=nlf)
        return y.to(dev), op, m, None if target is None else target.to(dev)

    def _radar(self, batch):
        y, params, target, meta = batch
        dev = self.device
        angles, freqs = params["angles_rad"][0], params["frequencies_hz"][0]
        shape = tuple(int(v) for v in params["image_shape"][0])
        extent = tuple(float(v) for v in params["extent_m"][0])
        key = (angles.numpy().tobytes(), freqs.numpy().tobytes(), shape, extent)
        if key not in self._radar_ops:
            if len(self._radar_ops) >= 4:  # a few geometries (data.geometry = "S0+S1")
                self._radar_ops.clear()
            self._radar_ops[key] = PolarRadar(angles.to(dev), freqs.to(dev), shape, extent)
        op = copy.copy(self._radar_ops[key])
        op.mask = params["mask"].to(dev)
        op.batch_shape = tuple(op.mask.shape[:-2])
        acc = torch.as_tensor(meta["acceleration"], dtype=torch.float32)
        pattern = _common(meta["pattern"]) or "mixed"
        m = AcquisitionMeta(pattern=str(pattern), acceleration=acc,
                            pixel_size=(extent[0] / shape[0], extent[1] / shape[1]))
        return y.to(dev), op, m, target.to(dev)

    def _blockcs(self, x, step: int, train: bool):
        cfg = self.cfg
        g = torch.Generator().manual_seed(derive_seed(self.seed, int(train), step))
        k = int(torch.randint(len(cfg.ratios), (1,), generator=g)) if len(cfg.ratios) > 1 else 0
        ratio = float(cfg.ratios[k])
        if cfg.random_projection and train:
            phi = gaussian_block_matrix(ratio, cfg.block, generator=g)
        else:
            if k not in self._phis:
                fixed = torch.Generator().manual_seed(derive_seed(cfg.seed, 99, k))
                self._phis[k] = gaussian_block_matrix(ratio, cfg.block, generator=fixed)
            phi = self._phis[k]
        op = BlockCS(phi.to(self.device), cfg.block)
        x = x.to(self.device)
        m = AcquisitionMeta(pattern="gaussian_block",
                            acceleration=cfg.block ** 2 / int(phi.shape[0]))
        return op.A(x), op, m, x
