"""Block-CS data: BT.601 luma, patch cutting, and the by-image train/test split."""

import sys

import numpy as np
import pytest
import torch

from discofold.data.blockcs import (
    BlockCSPatches,
    extract_patches,
    load_image_folder,
    luminance,
    make_blockcs_split,
    skimage_images,
    split_by_image,
)
from discofold.errors import InputError, MissingDependencyError


def test_luminance_bt601_full_and_studio_range():
    rgb = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    y = luminance(rgb)
    r, g, b = (rgb[..., i] / 255.0 for i in range(3))
    np.testing.assert_allclose(y, 0.299 * r + 0.587 * g + 0.114 * b, rtol=0, atol=1e-15)
    ys = luminance(rgb, studio_swing=True)
    np.testing.assert_allclose(ys, (16 + 65.481 * r + 128.553 * g + 24.966 * b) / 255, atol=1e-12)
    color = pytest.importorskip("skimage.color")
    np.testing.assert_allclose(ys, color.rgb2ycbcr(rgb)[..., 0] / 255.0, atol=1e-12)
    rgba = np.concatenate([rgb, np.zeros((5, 7, 1), np.uint8)], -1)
    np.testing.assert_array_equal(luminance(rgba), y)
    assert luminance(np.full((2, 3), 65535, np.uint16)).max() == 1.0
    with pytest.raises(InputError, match="shape"):
        luminance(np.zeros((2, 3, 5)))


def test_extract_patches_matches_slicing():
    img = np.arange(70 * 101, dtype=np.float64).reshape(70, 101)
    p = extract_patches(img, 33)
    assert p.shape == (2 * 3, 33, 33) and p.dtype == np.float32
    k = 0
    for i in range(0, 70 - 32, 33):
        for j in range(0, 101 - 32, 33):
            np.testing.assert_array_equal(p[k], img[i:i + 33, j:j + 33].astype(np.float32))
            k += 1
    q = extract_patches(img, 5, stride=4)
    assert q.shape[0] == len(range(0, 66, 4)) * len(range(0, 97, 4))
    np.testing.assert_array_equal(q[1], img[0:5, 4:9])
    assert extract_patches(img[:20], 33).shape == (0, 33, 33)


def _images(n=9, seed=1):
    rng = np.random.default_rng(seed)
    return {f"im{i}": rng.random((33 * (1 + i % 3) + i, 40 + 7 * i)) for i in range(n)}


def test_split_is_by_image_disjoint_and_seeded():
    imgs = _images()
    s = make_blockcs_split(imgs, test_fraction=0.3, generator=torch.Generator().manual_seed(5))
    assert not set(s.train_images) & set(s.test_images)
    assert set(s.train_images) | set(s.test_images) == set(imgs)
    assert len(s.test_images) == 3
    # every patch really comes from an image of its own split, and from no image of the other
    for patches, src, names, other in ((s.train, s.train_source, s.train_images, s.test_images),
                                       (s.test, s.test_source, s.test_images, s.train_images)):
        assert patches.shape[0] == sum(extract_patches(imgs[n]).shape[0] for n in names)
        pool_other = np.concatenate([extract_patches(imgs[n]) for n in other])
        for k in range(patches.shape[0]):
            own = extract_patches(imgs[names[int(src[k])]])
            assert any(np.array_equal(patches[k].numpy(), p) for p in own)
            assert not any(np.array_equal(patches[k].numpy(), p) for p in pool_other)
    t = make_blockcs_split(imgs, test_fraction=0.3, generator=torch.Generator().manual_seed(5))
    assert t.test_images == s.test_images and torch.equal(t.train, s.train)
    splits = {tuple(split_by_image(imgs, 0.3, seed)[1]) for seed in range(6)}
    assert len(splits) > 1
    train, test = split_by_image(["a", "b"], 0.01, 0)
    assert len(train) == 1 and len(test) == 1


def test_image_folder_reading(tmp_path):
    pil = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (40, 35, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (36, 50), dtype=np.uint8)
    pil.fromarray(rgb).save(tmp_path / "a.png")
    pil.fromarray(grey).save(tmp_path / "b.tif")
    (tmp_path / "notes.txt").write_text("not an image")
    got = load_image_folder(tmp_path)
    assert sorted(got) == ["a.png", "b.tif"]
    np.testing.assert_allclose(got["a.png"], luminance(rgb), atol=1e-15)
    np.testing.assert_array_equal(got["b.tif"], grey / 255.0)
    s = make_blockcs_split(folder=tmp_path, test_fraction=0.5, generator=0)
    assert s.train.shape[0] + s.test.shape[0] == 2


def test_skimage_images_and_missing_dependency(monkeypatch):
    pytest.importorskip("skimage.data")
    imgs = skimage_images(["camera", "astronaut"])
    assert imgs["skimage:camera"].shape == (512, 512)
    assert 0 <= imgs["skimage:astronaut"].min() and imgs["skimage:astronaut"].max() <= 1
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    with pytest.raises(MissingDependencyError, match=r"discofold\[images\]"):
        skimage_images(["camera"])


def test_patch_dataset_flips_are_dihedral_and_repeatable():
    x = torch.arange(2 * 5 * 5, dtype=torch.float32).reshape(2, 5, 5)
    ds = BlockCSPatches(x, flips=True, seed=3)
    orbit = [torch.rot90(x[1], k, (0, 1)) for k in range(4)]
    orbit += [o.flip(-1) for o in orbit]
    assert any(torch.equal(ds[1], o) for o in orbit)
    assert torch.equal(ds[1], BlockCSPatches(x, flips=True, seed=3)[1])
    assert torch.equal(BlockCSPatches(x)[0], x[0]) and len(ds) == 2
