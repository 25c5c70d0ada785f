"""Simulated multi-coil MRI objects for the evidence benchmark, split by image.

An *object* is a fully sampled multi-coil k-space with its coil maps and RSS target, simulated
as :class:`discofold.data.SimulatedMRIDataset` does (image on a grid ``oversample`` times
finer, birdcage coils, central k-space kept, so no inverse crime).  Masks and noise are drawn
per use, so one object pool serves every pattern and every compared model.

The scikit-image pictures are split by image: :data:`TEST_IMAGES` and :data:`VAL_IMAGES` never
reach training.  Phantoms are procedural; the test and validation phantoms come from other seeds.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from discofold.data import ImageSource, add_noise, birdcage_maps, mri_collate, rss
from discofold.data.fastmri import center_crop_or_pad
from discofold.data.images import available_skimage_images, skimage_image
from discofold.data.phantoms import random_ellipses, rasterize_ellipses, smooth_phase
from discofold.models import AcquisitionMeta
from discofold.operators import CartesianMRI, NonCartesianMRI, fft2c, ifft2c
from discofold.sampling import make_mask, make_trajectory

__all__ = ["TEST_IMAGES", "VAL_IMAGES", "train_images", "MRIObject", "simulate",
           "object_pool", "fov_object", "cartesian_batch", "noncartesian_case", "SNR_DB"]

TEST_IMAGES = ("camera", "coins", "chelsea", "retina")
VAL_IMAGES = ("moon", "text")
SNR_DB = 40.0


def train_images() -> tuple[str, ...]:
    """scikit-image pictures available for training (all but the test and validation ones)."""
    held = set(TEST_IMAGES) | set(VAL_IMAGES)
    return tuple(n for n in available_skimage_images() if n not in held)


@dataclasses.dataclass
class MRIObject:
    """Fully sampled object: ``full`` (C, H, W) k-space, ``maps`` (C, H, W), ``target`` (H, W)."""

    full: torch.Tensor
    maps: torch.Tensor
    target: torch.Tensor
    fine: torch.Tensor  # complex image on the oversampled grid (for non-Cartesian data)
    fine_maps: torch.Tensor
    source: str


def simulate(fine_image: torch.Tensor, shape, coils: int, coil_seed: int, source: str,
             oversample: int = 2) -> MRIObject:
    """Object of matrix ``shape`` from a complex image on the ``oversample``-times finer grid."""
    fine = tuple(fine_image.shape)
    maps = birdcage_maps(shape, coils, torch.Generator().manual_seed(coil_seed))
    fmaps = birdcage_maps(fine, coils, torch.Generator().manual_seed(coil_seed))
    full = center_crop_or_pad(fft2c(fmaps * fine_image), tuple(shape)) / oversample
    target = rss(ifft2c(full)).float()
    return MRIObject(full.to(torch.complex64), maps, target, fine_image, fmaps, source)


def _fine_image(kind: str, names, shape, g: torch.Generator, oversample: int) -> torch.Tensor:
    fine = (shape[0] * oversample, shape[1] * oversample)
    if kind == "phantom":
        mag = rasterize_ellipses(random_ellipses(g), fine, supersample=2)
        return torch.polar(mag.float(), smooth_phase(fine, g))
    return ImageSource(skimage_names=names).sample(fine, g)


def object_pool(n: int, shape, coils: int, split: str, seed: int) -> list[MRIObject]:
    """``n`` objects, alternately natural images (of ``split``'s pictures) and phantoms.

    ``split``: ``"train"``, ``"val"`` or ``"test"``.  Test objects cycle through the test
    pictures so that each test image is a different picture where possible.
    """
    names = {"train": train_images(), "val": VAL_IMAGES, "test": TEST_IMAGES}[split]
    salt = {"train": 0, "val": 1, "test": 2}[split]
    out = []
    for i in range(n):
        g = torch.Generator().manual_seed(1_000_003 * seed + 7919 * salt + i)
        kind = "image" if i % 2 == 0 else "phantom"
        pick = (names[(i // 2) % len(names)],) if split != "train" else names
        img = _fine_image(kind, pick, shape, g, 2)
        coil_seed = int(torch.randint(0, 2**62, (1,), generator=g))
        out.append(simulate(img, shape, coils, coil_seed, kind if kind == "phantom"
                            else f"image:{pick[0] if len(pick) == 1 else 'train'}"))
    return out


def _crop_resize(img: torch.Tensor, centre, side: float, n: int) -> torch.Tensor:
    """Square crop of ``side`` pixels around ``centre`` of ``img``, resized to ``n × n``."""
    h, w = img.shape
    s = max(1, min(int(round(side)), h, w))
    i0 = int(min(max(round(centre[0] - s / 2), 0), h - s))
    j0 = int(min(max(round(centre[1] - s / 2), 0), w - s))
    x = img[i0:i0 + s, j0:j0 + s]
    return F.interpolate(x[None, None], size=(n, n), mode="bilinear", align_corners=False,
                         antialias=True)[0, 0]


def fov_object(name: str, base: int, n: int, mode: str, coils: int, seed: int) -> MRIObject:
    """E2 test object of picture ``name`` at ``n × n``.

    The reference field of view is a centred square of a third of the picture's short side,
    imaged at ``base`` pixels.  ``mode="sr"``: the same field with ``n`` finer pixels;
    ``mode="fov"``: the same pixel size over an ``n / base`` times larger field.
    """
    img = skimage_image(name)
    h, w = img.shape
    side0 = min(h, w) / 3.0
    side = side0 if mode == "sr" else side0 * n / base
    g = torch.Generator().manual_seed(seed)
    mag = _crop_resize(img, (h / 2, w / 2), side, 2 * n)
    fine = torch.polar(mag, smooth_phase((2 * n, 2 * n), g))
    return simulate(fine, (n, n), coils, seed, f"image:{name}")


def cartesian_batch(objs: list[MRIObject], specs, g: torch.Generator, snr_db=SNR_DB):
    """Masked, noisy measurements of ``objs``: ``(y, op, meta, target, masks)``.

    ``specs``: one ``(pattern, acceleration)`` per object (or one for all), masks drawn with
    ``g``.  The masks of a batch are stacked per sample (``CartesianMRI`` broadcasts them).
    """
    if isinstance(specs, tuple):
        specs = [specs] * len(objs)
    items = []
    for obj, (name, acc) in zip(objs, specs):
        pat = make_mask(name, tuple(obj.target.shape), acc, generator=g)
        mask = pat.mask.to(torch.bool)
        mask = mask.unsqueeze(0) if mask.ndim == 1 else mask
        kmask = mask.unsqueeze(0)
        y, _ = add_noise(obj.full * kmask, snr_db, g, mask=kmask)
        meta = {"pattern": pat.name, "num_low_frequencies": int(pat.num_low_frequencies)}
        items.append(((y * kmask).to(torch.complex64),
                      {"mask": mask, "coil_maps": obj.maps,
                       "image_shape": tuple(obj.target.shape)}, obj.target, meta))
    y, params, target, meta = mri_collate(items)
    op = CartesianMRI(params["mask"], coil_maps=params["coil_maps"],
                      image_shape=tuple(params["image_shape"]))
    pats = set(meta["pattern"])
    nlf = set(meta["num_low_frequencies"])
    m = AcquisitionMeta(pattern=pats.pop() if len(pats) == 1 else "mixed",
                        num_low_frequencies=nlf.pop() if len(nlf) == 1 else None)
    return y, op, m, target, params["mask"]


def noncartesian_case(obj: MRIObject, acceleration: float, g: torch.Generator,
                      snr_db=SNR_DB):
    """True non-Cartesian radial data of ``obj`` (NUFFT of the oversampled image).

    ``acceleration`` = ``H·W / K`` with ``K`` the number of samples (full spokes of ``H``
    readout points).  Returns ``(y (1, C, K), op, meta, target (1, H, W))``.
    """
    h, w = obj.target.shape
    spokes = max(1, round(h * w / (acceleration * h)))
    traj, dcf, _ = make_trajectory("radial", spokes, h, generator=g)
    s = obj.fine.shape[-1] // w
    fine_op = NonCartesianMRI(traj / s, tuple(obj.fine.shape), coil_maps=obj.fine_maps)
    y = fine_op.A(obj.fine[None].to(torch.complex64)) / s
    y, _ = add_noise(y, snr_db, g)
    op = NonCartesianMRI(traj, (h, w), coil_maps=obj.maps[None], dcf=dcf)
    return y.to(torch.complex64), op, AcquisitionMeta(pattern="radial_nufft"), obj.target[None]
