"""Block compressed-sensing data: 33×33 luminance patches with a train/test split by image.

Images come from a folder (PNG/JPEG/TIFF/BMP, read with Pillow) and/or the sample images that
scikit-image ships; both are optional dependencies of the ``images`` extra.  Colour images are
reduced to their ITU-R BT.601 luma ``Y = 0.299 R + 0.587 G + 0.114 B`` (full range, in [0, 1];
``studio_swing=True`` gives MATLAB's ``rgb2ycbcr`` Y ``(16 + 65.481 R + 128.553 G + 24.966 B)/255``
as used by ISTA-Net/COAST).  Images are split into train and test sets *before* cutting
patches, so no image contributes to both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..commands._common import derive_seed
from ..errors import FormatError, InputError, require

__all__ = [
    "SKIMAGE_IMAGES",
    "luminance",
    "load_image_folder",
    "skimage_images",
    "extract_patches",
    "split_by_image",
    "BlockCSSplit",
    "make_blockcs_split",
    "BlockCSPatches",
]

SKIMAGE_IMAGES = (
    "astronaut", "brick", "camera", "cell", "chelsea", "clock", "coffee", "coins", "colorwheel",
    "grass", "gravel", "hubble_deep_field", "immunohistochemistry", "moon", "page", "rocket",
    "text",
)
_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
_BT601 = np.array([0.299, 0.587, 0.114])
_STUDIO = np.array([65.481, 128.553, 24.966])


def _unit_range(image: np.ndarray) -> np.ndarray:
    """Scale integer/bool images to [0, 1] by their dtype range; floats are kept as they are."""
    if image.dtype == np.bool_:
        return image.astype(np.float64)
    if image.dtype.kind in "ui":
        return image.astype(np.float64) / float(np.iinfo(image.dtype).max)
    if image.dtype.kind == "f":
        return image.astype(np.float64)
    raise InputError(f"image dtype {image.dtype} is not an image type (bool, int, float)")


def luminance(image, studio_swing: bool = False) -> np.ndarray:
    """BT.601 luma of an image, float64 ``(H, W)`` in [0, 1].

    Parameters
    ----------
    image : array ``(H, W)`` (grey), ``(H, W, 3)`` (RGB) or ``(H, W, 4)`` (RGBA, alpha dropped)
        Integer images are scaled by their dtype maximum, floats are taken as [0, 1].
    studio_swing : bool
        Return MATLAB ``rgb2ycbcr`` luma ``(16 + 219·Y')/255`` instead of full-range ``Y'``.
    """
    img = _unit_range(np.asarray(image))
    if img.ndim == 3 and img.shape[-1] in (3, 4):
        rgb = img[..., :3]
        if studio_swing:
            return (16.0 + rgb @ _STUDIO) / 255.0
        return rgb @ _BT601
    if img.ndim == 2:
        return (16.0 + 219.0 * img) / 255.0 if studio_swing else img
    raise InputError(f"image must be (H, W), (H, W, 3) or (H, W, 4), got shape {img.shape}")


def load_image_folder(folder: str | os.PathLike, studio_swing: bool = False) -> dict:
    """Luminance of every image file in ``folder`` (not recursive), keyed by file name.

    Needs Pillow (extra ``images``).  Raises :class:`~discofold.errors.FormatError` naming a
    file that cannot be decoded.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"image folder '{folder}' does not exist")
    pil = require("PIL.Image", "images", "reading image folders")
    out = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in _EXTENSIONS or not path.is_file():
            continue
        try:
            with pil.open(path) as im:
                im = im.convert("RGB") if im.mode in ("P", "CMYK", "YCbCr", "LA", "PA") else im
                arr = np.asarray(im)
        except (OSError, ValueError) as exc:
            raise FormatError(f"image file '{path}' cannot be read ({exc})") from exc
        out[path.name] = luminance(arr, studio_swing)
    return out


def skimage_images(names=None, studio_swing: bool = False) -> dict:
    """Luminance of scikit-image sample images (default :data:`SKIMAGE_IMAGES`).

    Raises :class:`~discofold.errors.MissingDependencyError` naming the ``images`` extra when
    scikit-image is not installed.
    """
    data = require("skimage.data", "images", "scikit-image sample images")
    out = {}
    for name in names or SKIMAGE_IMAGES:
        if name not in SKIMAGE_IMAGES:
            raise InputError(f"unknown scikit-image sample {name!r}; valid: {SKIMAGE_IMAGES}")
        out[f"skimage:{name}"] = luminance(getattr(data, name)(), studio_swing)
    return out


def extract_patches(image, block: int = 33, stride: int | None = None) -> np.ndarray:
    """Cut ``block × block`` patches from a 2-D image, float32 ``(N, block, block)``.

    Patches start at multiples of ``stride`` (default ``block``: non-overlapping) and lie fully
    inside the image; an image smaller than one block gives ``N = 0``.
    """
    img = np.asarray(image)
    stride = block if stride is None else int(stride)
    if img.ndim != 2 or block < 1 or stride < 1:
        raise InputError(f"need a 2-D image, block >= 1 and stride >= 1, got shape {img.shape}, "
                         f"block {block}, stride {stride}")
    h, w = img.shape
    if h < block or w < block:
        return np.zeros((0, block, block), dtype=np.float32)
    win = np.lib.stride_tricks.sliding_window_view(img, (block, block))[::stride, ::stride]
    return np.ascontiguousarray(win.reshape(-1, block, block), dtype=np.float32)


def split_by_image(names, test_fraction: float = 0.2, generator=None):
    """Split image names into ``(train, test)`` lists by a seeded random permutation.

    ``round(n·test_fraction)`` names go to test, clipped so that both sets are non-empty when
    ``n >= 2`` and ``0 < test_fraction < 1``.  ``generator`` is a ``torch.Generator`` or seed.
    """
    names = sorted(set(names))
    if not 0 <= test_fraction <= 1:
        raise InputError(f"test_fraction must be in [0, 1], got {test_fraction}")
    if isinstance(generator, int) or generator is None:
        generator = torch.Generator().manual_seed(0 if generator is None else generator)
    n = len(names)
    n_test = round(n * test_fraction)
    if n >= 2 and 0 < test_fraction < 1:
        n_test = min(max(n_test, 1), n - 1)
    perm = torch.randperm(n, generator=generator).tolist()
    test = sorted(names[i] for i in perm[:n_test])
    train = sorted(names[i] for i in perm[n_test:])
    return train, test


@dataclass(frozen=True, eq=False)
class BlockCSSplit:
    """Patches of a by-image split.

    Attributes
    ----------
    train, test : torch.Tensor
        Float32 ``(N, block, block)`` luminance patches in [0, 1].
    train_images, test_images : list of str
        Names of the images in each set (disjoint).
    train_source, test_source : torch.Tensor
        Int64 ``(N,)``: index into ``train_images``/``test_images`` of each patch's image.
    """

    train: torch.Tensor
    test: torch.Tensor
    train_images: list
    test_images: list
    train_source: torch.Tensor
    test_source: torch.Tensor


def _patches_of(images: dict, names: list, block: int, stride) -> tuple:
    parts = [extract_patches(images[n], block, stride) for n in names]
    src = [np.full(len(p), i, dtype=np.int64) for i, p in enumerate(parts)]
    stack = np.concatenate(parts) if parts else np.zeros((0, block, block), np.float32)
    return torch.from_numpy(stack), torch.from_numpy(np.concatenate(src) if src else
                                                     np.zeros(0, np.int64))


def make_blockcs_split(
    images: dict | None = None,
    folder: str | os.PathLike | None = None,
    use_skimage: bool = False,
    block: int = 33,
    stride: int | None = None,
    test_fraction: float = 0.2,
    generator=None,
) -> BlockCSSplit:
    """Gather luminance images, split them by image, then cut patches.

    Parameters
    ----------
    images : dict name → 2-D array, optional
        Luminance images already in memory.
    folder : path, optional
        Image folder (see :func:`load_image_folder`).
    use_skimage : bool
        Add :func:`skimage_images`.
    block, stride : int
        Patch size (33 in ISTA-Net/COAST) and step (default ``block``).
    test_fraction : float
        Fraction of *images* in the test set.
    generator : torch.Generator or int, optional
        Seed of the split.
    """
    pool = dict(images or {})
    if folder is not None:
        pool.update(load_image_folder(folder))
    if use_skimage:
        pool.update(skimage_images())
    if not pool:
        raise InputError("no images: give images=, folder= or use_skimage=True")
    train_names, test_names = split_by_image(pool, test_fraction, generator)
    tr, tr_src = _patches_of(pool, train_names, block, stride)
    te, te_src = _patches_of(pool, test_names, block, stride)
    return BlockCSSplit(tr, te, train_names, test_names, tr_src, te_src)


class BlockCSPatches(torch.utils.data.Dataset):
    """Torch dataset over patches ``(N, b, b)``; item ``i`` is float32 ``(b, b)``.

    With ``flips=True`` each item is transformed by one of the 8 flips/90° rotations, chosen
    from ``(seed, i)`` (``self[i]``) or, in training epoch ``e > 0``, from ``(seed, e, i)``
    (:meth:`draw`), so that every epoch is repeatable and epochs differ.
    """

    def __init__(self, patches: torch.Tensor, flips: bool = False, seed: int = 0):
        if patches.ndim != 3 or patches.shape[-1] != patches.shape[-2]:
            raise InputError(f"patches must be (N, b, b), got {tuple(patches.shape)}")
        self.patches, self.flips, self.seed = patches, flips, int(seed)

    def __len__(self) -> int:
        return self.patches.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.draw(i)

    def draw(self, i: int, epoch: int = 0) -> torch.Tensor:
        """Patch ``i`` as seen in epoch ``epoch`` (float32 ``(b, b)``); epoch 0 is ``self[i]``."""
        if int(epoch) < 0:
            raise InputError(f"epoch must be >= 0, got {epoch}")
        x = self.patches[i]
        if not self.flips:
            return x
        seed = (self.seed * 1_000_003 + int(i) if int(epoch) == 0
                else derive_seed(self.seed, epoch, i))
        k = int(torch.randint(8, (1,), generator=torch.Generator().manual_seed(seed)))
        x = torch.rot90(x, k % 4, dims=(-2, -1))
        return x.flip(-1) if k >= 4 else x
