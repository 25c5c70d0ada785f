"""Natural-image source: file reading, dihedral augmentation, antialiased resize, phase."""

import sys

import numpy as np
import pytest
import torch

from discofold.data.images import (
    ImageSource,
    augment,
    list_image_files,
    load_image,
    skimage_image,
)
from discofold.errors import FormatError, InputError, MissingDependencyError

Image = pytest.importorskip("PIL.Image")


def _dihedral(x):
    out = []
    for k in range(4):
        r = torch.rot90(x, k, dims=(0, 1))
        out += [r, r.flip(0), r.flip(1), r.flip(0).flip(1)]
    return out


def test_load_png_tiff_rgb_exact(tmp_path):
    rng = np.random.default_rng(0)
    g8 = rng.integers(0, 256, (13, 17), dtype=np.uint8)
    Image.fromarray(g8).save(tmp_path / "a.png")
    g16 = rng.integers(0, 65536, (9, 11), dtype=np.uint16)
    Image.fromarray(g16).save(tmp_path / "b.tif")
    rgb = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "sub_c.PNG")
    (tmp_path / "notes.txt").write_text("x")
    assert torch.equal(load_image(tmp_path / "a.png"), torch.from_numpy(g8 / 255).float())
    assert torch.allclose(load_image(tmp_path / "b.tif"),
                          torch.from_numpy(g16 / 65535).float(), atol=1e-7)
    luma = rgb.astype(np.float64) / 255 @ np.array([0.2125, 0.7154, 0.0721])
    assert torch.allclose(load_image(tmp_path / "sub_c.PNG"), torch.from_numpy(luma).float(),
                          atol=1e-6)
    assert [p.name for p in list_image_files(tmp_path)] == ["a.png", "b.tif", "sub_c.PNG"]


def test_bad_image_and_missing_dependency(tmp_path, monkeypatch):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(FormatError, match="bad.png"):
        load_image(tmp_path / "bad.png")
    with pytest.raises(InputError, match="does not exist"):
        list_image_files(tmp_path / "nope")
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    with pytest.raises(MissingDependencyError, match=r"discofold\[images\]"):
        load_image(tmp_path / "bad.png")


def test_augment_full_crop_is_a_dihedral_transform():
    x = torch.rand(24, 24, generator=torch.Generator().manual_seed(0))
    group = _dihedral(x)
    seen = set()
    for seed in range(30):
        y = augment(x, (24, 24), torch.Generator().manual_seed(seed), min_scale=1.0)
        hits = [i for i, t in enumerate(group) if torch.equal(y, t)]
        assert hits, "output is not a rotation/flip of the input"
        seen.add(min(hits))
    assert len(seen) >= 4  # several different transforms are drawn


def test_resize_is_antialiased_and_preserves_linear_ramps():
    i = torch.arange(64, dtype=torch.float32)
    ramp = (0.3 + 0.01 * i[:, None] + 0.004 * i[None, :]).contiguous()
    y = augment(ramp, (32, 32), None, min_scale=1.0, flips=False, rot90=False)
    j = torch.arange(32, dtype=torch.float32)
    expect = 0.3 + 0.01 * (2 * j[:, None] + 0.5) + 0.004 * (2 * j[None, :] + 0.5)
    assert torch.allclose(y[2:-2, 2:-2], expect[2:-2, 2:-2], atol=1e-5)
    # antialiasing: a Nyquist checkerboard averages out instead of aliasing to a constant 0 or 1
    checker = ((i[:, None] + i[None, :]) % 2).contiguous()
    z = augment(checker, (16, 16), None, min_scale=1.0, flips=False, rot90=False)
    assert torch.allclose(z[2:-2, 2:-2], torch.full((12, 12), 0.5), atol=1e-5)


def test_crop_aspect_and_seed(tmp_path):
    x = torch.rand(50, 80)
    a = augment(x, (37, 21), torch.Generator().manual_seed(4))
    b = augment(x, (37, 21), torch.Generator().manual_seed(4))
    c = augment(x, (37, 21), torch.Generator().manual_seed(5))
    assert a.shape == (37, 21) and torch.equal(a, b) and not torch.equal(a, c)
    # crop of an exact constant stays constant at any scale
    ones = augment(torch.full((50, 80), 0.7), (31, 45), torch.Generator().manual_seed(1))
    assert torch.allclose(ones, torch.full_like(ones, 0.7), atol=1e-6)


def test_image_source_folder_and_phase(tmp_path):
    rng = np.random.default_rng(1)
    for k in range(3):
        Image.fromarray(rng.integers(0, 256, (40, 30), dtype=np.uint8)).save(tmp_path / f"{k}.png")
    src = ImageSource([tmp_path], skimage_names=None)
    assert len(src) == 3
    z = src.sample((21, 19), torch.Generator().manual_seed(0))
    assert z.dtype == torch.complex64 and z.shape == (21, 19)
    real = ImageSource([tmp_path], skimage_names=None, max_phase_rad=0.0)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    mag = real.sample((21, 19), g1, index=1)
    assert float(mag.imag.abs().max()) == 0.0
    expected = augment(load_image(tmp_path / "1.png"), (21, 19), g2)
    assert torch.equal(mag.real, expected)
    with pytest.raises(InputError, match="no image"):
        ImageSource([], skimage_names=None)


def test_skimage_images_match_rgb2gray():
    data = pytest.importorskip("skimage.data")
    color = pytest.importorskip("skimage.color")
    assert torch.equal(skimage_image("camera"), torch.from_numpy(data.camera() / 255).float())
    ref = torch.from_numpy(color.rgb2gray(data.astronaut())).float()
    assert torch.allclose(skimage_image("astronaut"), ref, atol=1e-6)
    src = ImageSource(skimage_names=["camera", "coins"])
    assert len(src) == 2 and src.sample((16, 16)).shape == (16, 16)
    with pytest.raises(InputError, match="valid: camera"):
        skimage_image("lena")
