"""Natural-image source for MRI-like training data: image folders and scikit-image's images.

Images are read as grayscale float32 in ``[0, 1]`` (RGB → luminance with the Rec. 709 weights
of ``skimage.color.rgb2gray``), then randomly rotated by multiples of 90°, flipped, cropped to
the aspect ratio of the requested matrix and resized with an antialiased bilinear filter; a
smooth random phase (:func:`discofold.data.phantoms.smooth_phase`) makes them complex.

Reading image files needs Pillow and the built-in images need scikit-image (the ``images``
extra); without them :class:`~discofold.errors.MissingDependencyError` names the extra.  No image
file is shipped with discofold.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import FormatError, InputError, ShapeError, require
from .phantoms import as_generator, smooth_phase

__all__ = [
    "IMAGE_EXTENSIONS",
    "SKIMAGE_IMAGES",
    "list_image_files",
    "load_image",
    "skimage_image",
    "available_skimage_images",
    "augment",
    "ImageSource",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
# images stored inside the scikit-image package (no download needed)
SKIMAGE_IMAGES = (
    "camera", "astronaut", "coins", "moon", "brick", "grass", "gravel", "text", "page",
    "clock", "chelsea", "coffee", "hubble_deep_field", "immunohistochemistry", "rocket",
    "cell", "retina", "microaneurysms",
)
_LUMA = np.array([0.2125, 0.7154, 0.0721])


def _to_gray01(arr: np.ndarray, origin: str) -> torch.Tensor:
    """Array ``(H, W)``, ``(H, W, 3|4)`` of any numeric dtype → float32 ``(H, W)`` in [0, 1]."""
    arr = np.asarray(arr)
    if arr.dtype == bool:
        arr = arr.astype(np.float64)
    elif np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float64) / np.iinfo(arr.dtype).max
    elif np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
        if arr.size and arr.max() > 1.0:
            arr = arr / arr.max()
    else:
        raise FormatError(f"image '{origin}' has unsupported dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        arr = arr[..., :3] @ _LUMA
    elif arr.ndim == 3 and arr.shape[2] in (1, 2):
        arr = arr[..., 0]
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise FormatError(f"image '{origin}' has shape {arr.shape}; expected (H, W) or (H, W, 3)")
    return torch.from_numpy(np.clip(arr, 0.0, 1.0).astype(np.float32))


def list_image_files(folder: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Sorted image files (PNG/JPEG/TIFF/BMP, any case) under ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"image folder '{folder}' does not exist or is not a folder")
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern)
                  if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def load_image(path: str | os.PathLike) -> torch.Tensor:
    """Read an image file as grayscale float32 ``(H, W)`` in ``[0, 1]`` (needs Pillow)."""
    pil = require("PIL.Image", "images", "reading image files")
    try:
        with pil.open(path) as im:
            if im.mode == "P":
                im = im.convert("RGB")
            arr = np.array(im)
    except (OSError, ValueError, SyntaxError) as exc:
        raise FormatError(f"image file '{path}' cannot be read: {exc}") from exc
    return _to_gray01(arr, str(path))


@functools.lru_cache(maxsize=32)
def skimage_image(name: str) -> torch.Tensor:
    """One of scikit-image's images as grayscale float32 ``(H, W)`` in ``[0, 1]``."""
    data = require("skimage.data", "images", "the scikit-image example images")
    loader = getattr(data, name, None)
    if name not in SKIMAGE_IMAGES or loader is None:
        raise InputError(f"unknown scikit-image image '{name}'; valid: {', '.join(SKIMAGE_IMAGES)}")
    return _to_gray01(loader(), f"skimage.data.{name}")


@functools.lru_cache(maxsize=1)
def available_skimage_images() -> tuple[str, ...]:
    """The names in :data:`SKIMAGE_IMAGES` that load offline here (empty without scikit-image)."""
    try:
        require("skimage.data", "images", "the scikit-image example images")
    except ImportError:
        return ()
    ok = []
    for name in SKIMAGE_IMAGES:
        try:
            skimage_image(name)
        except (ImportError, OSError, ValueError, FormatError):
            continue
        ok.append(name)
    return tuple(ok)


def _randint(high: int, g) -> int:
    return int(torch.randint(0, high, (1,), generator=g)) if high > 1 else 0


def augment(
    image: torch.Tensor,
    shape: Sequence[int],
    generator: torch.Generator | None = None,
    min_scale: float = 0.5,
    flips: bool = True,
    rot90: bool = True,
) -> torch.Tensor:
    """Random 90° rotation, flips, crop (aspect of ``shape``) and antialiased resize.

    Parameters
    ----------
    image : Tensor ``(H, W)`` real
    shape : (h, w)
        Output matrix.
    generator : torch.Generator, optional
    min_scale : float in (0, 1]
        The crop side is a uniform fraction in ``[min_scale, 1]`` of the largest crop with the
        aspect ratio ``h / w`` that fits the (rotated) image.
    flips, rot90 : bool
        Enable random flips along each axis / random multiples of 90°.

    Returns
    -------
    Tensor ``(h, w)`` float32
    """
    if image.ndim != 2 or torch.is_complex(image):
        raise ShapeError(f"image must be real (H, W), got {image.dtype} {tuple(image.shape)}")
    if len(shape) != 2 or min(shape) < 1:
        raise ShapeError(f"shape must be (h, w) with h, w >= 1, got {tuple(shape)}")
    if not 0 < min_scale <= 1:
        raise InputError(f"min_scale must be in (0, 1], got {min_scale}")
    g, (h, w) = as_generator(generator), (int(shape[0]), int(shape[1]))
    x = image.to(torch.float32)
    if rot90:
        x = torch.rot90(x, _randint(4, g), dims=(0, 1))
    if flips:
        for dim in (0, 1):
            if _randint(2, g):
                x = x.flip(dim)
    big_h, big_w = x.shape
    fit = min(big_h / h, big_w / w)
    frac = min_scale + (1 - min_scale) * float(torch.rand(1, generator=g, dtype=torch.float64))
    ch = min(big_h, max(1, round(h * fit * frac)))
    cw = min(big_w, max(1, round(w * fit * frac)))
    i0, j0 = _randint(big_h - ch + 1, g), _randint(big_w - cw + 1, g)
    x = x[i0 : i0 + ch, j0 : j0 + cw]
    if (ch, cw) != (h, w):
        x = F.interpolate(x[None, None], size=(h, w), mode="bilinear", align_corners=False,
                          antialias=True)[0, 0]
    return x.contiguous()


class ImageSource:
    """A pool of grayscale images (files and/or scikit-image images) to draw training images from.

    Parameters
    ----------
    folders : iterable of paths
        Image folders (searched recursively).
    skimage_names : "default", None or iterable of str
        scikit-image images to include; ``"default"``: all of :func:`available_skimage_images`.
    max_phase_rad : float
        Peak of the smooth random phase; 0 gives real images.
    """

    def __init__(
        self,
        folders: Iterable[str | os.PathLike] = (),
        skimage_names: str | Iterable[str] | None = "default",
        max_phase_rad: float = math.pi,
    ):
        self.files = [p for folder in folders for p in list_image_files(folder)]
        if skimage_names == "default":
            names = available_skimage_images()
        else:
            names = tuple(skimage_names or ())
        self.skimage_names = tuple(names)
        self.max_phase_rad = float(max_phase_rad)
        if not self.files and not self.skimage_names:
            raise InputError(
                "ImageSource has no image: give image folders with PNG/JPEG/TIFF files or "
                "install scikit-image (pip install 'discofold[images]')"
            )

    def __len__(self) -> int:
        return len(self.files) + len(self.skimage_names)

    def base_image(self, index: int) -> torch.Tensor:
        """Image ``index`` (files first, then scikit-image names) as float32 ``(H, W)``."""
        if not 0 <= index < len(self):
            raise InputError(f"image index {index} out of range ({len(self)} images)")
        if index < len(self.files):
            return _load_cached(str(self.files[index]))
        return skimage_image(self.skimage_names[index - len(self.files)])

    def sample(
        self,
        shape: Sequence[int],
        generator: torch.Generator | None = None,
        index: int | None = None,
        min_scale: float = 0.5,
    ) -> torch.Tensor:
        """A random augmented image ``(h, w)`` complex64 with a smooth random phase."""
        generator = as_generator(generator)
        if index is None:
            index = _randint(len(self), generator)
        mag = augment(self.base_image(index), shape, generator, min_scale=min_scale)
        if self.max_phase_rad == 0:
            return mag.to(torch.complex64)
        return torch.polar(mag, smooth_phase(shape, generator, max_rad=self.max_phase_rad))


@functools.lru_cache(maxsize=64)
def _load_cached(path: str) -> torch.Tensor:
    return load_image(path)
