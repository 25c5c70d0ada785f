"""Files that fastMRI's own loader opens (issue 21, item 3).

fastMRI's ``SliceDataset._retrieve_metadata`` (``fastmri/data/mri_data.py``) reads the dataset
``ismrmrd_header`` (encoded / recon ``matrixSize`` and the ``kspace_encoding_step_1`` limits, from
which it computes the padding), ``kspace.shape[0]`` and every attr; ``__getitem__`` reads
``kspace[slice]``, ``mask`` if present and ``reconstruction_rss`` / ``_esc`` if present.
``_fastmri_metadata`` below repeats that code line by line (it runs everywhere); where fastMRI
itself is installed (``pip install --no-deps fastmri`` plus pandas, PyYAML, requests, which
``mri_data`` imports), the real ``SliceDataset`` and ``VarNetDataTransform`` open the files too.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import xml.etree.ElementTree as etree
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from discofold.cli import main
from discofold.data import FastMRIFile, read_reconstruction, write_mri_file
from discofold.data._ismrmrd import header_xml, recon_size
from discofold.errors import InputError

H, W = 20, 14
NS = "http://www.ismrm.org/ISMRMRD"


def _et_query(root, qlist) -> str:  # fastmri.data.mri_data.et_query
    s = "."
    for el in qlist:
        s = s + f"//ismrmrd_namespace:{el}"
    value = root.find(s, {"ismrmrd_namespace": NS})
    if value is None:
        raise RuntimeError("Element not found")
    return str(value.text)


def _fastmri_metadata(fname: Path) -> tuple[dict, int]:
    """``SliceDataset._retrieve_metadata`` of fastMRI, unchanged but for names."""
    with h5py.File(fname, "r") as hf:
        et_root = etree.fromstring(hf["ismrmrd_header"][()])
        enc = ["encoding", "encodedSpace", "matrixSize"]
        enc_size = tuple(int(_et_query(et_root, enc + [a])) for a in "xyz")
        rec = ["encoding", "reconSpace", "matrixSize"]
        recon = tuple(int(_et_query(et_root, rec + [a])) for a in "xyz")
        lims = ["encoding", "encodingLimits", "kspace_encoding_step_1"]
        enc_limits_center = int(_et_query(et_root, lims + ["center"]))
        enc_limits_max = int(_et_query(et_root, lims + ["maximum"])) + 1
        padding_left = enc_size[1] // 2 - enc_limits_center
        padding_right = padding_left + enc_limits_max
        num_slices = hf["kspace"].shape[0]
        metadata = {"padding_left": padding_left, "padding_right": padding_right,
                    "encoding_size": enc_size, "recon_size": recon, **hf.attrs}
    return metadata, num_slices


def _cli(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main([*argv])
    return rc, err.getvalue()


@pytest.fixture(scope="module")
def layouts(tmp_path_factory) -> dict[str, Path]:
    """The three ``--layout``s of the same volumes (noisy, 1-D mask), multi- and single-coil."""
    root = tmp_path_factory.mktemp("layouts")
    out = {}
    for coils in ("3", "0"):
        for layout in ("combined", "fastmri-train", "fastmri-test"):
            folder = root / f"{layout}-{coils}"
            rc, err = _cli("simulate", "mri", "--n", "2", "--size", f"{H}x{W}", "--slices", "2",
                           "--coils", coils, "--pattern", "equispaced_fraction",
                           "--acceleration", "2", "--snr-db", "20", "--layout", layout,
                           "--out", str(folder), "--quiet")
            assert rc == 0, err
            out[f"{layout}-{coils}"] = folder
    return out


@pytest.mark.parametrize("coils", ["3", "0"])
def test_every_layout_has_what_fastmri_reads(layouts, coils):
    multi = coils == "3"
    target_key = "reconstruction_rss" if multi else "reconstruction_esc"
    for layout in ("combined", "fastmri-train", "fastmri-test"):
        for fname in sorted(layouts[f"{layout}-{coils}"].iterdir()):
            meta, n = _fastmri_metadata(fname)
            assert n == 2
            assert meta["encoding_size"] == (H, W, 1) and meta["recon_size"] == (H, W, 1)
            assert (meta["padding_left"], meta["padding_right"]) == (0, W)  # every column
            assert meta["patient_id"] == fname.stem and meta["acquisition"].startswith(
                f"simulated_{'multicoil' if multi else 'singlecoil'}")
            assert meta["max"] > 0 and meta["norm"] > meta["max"]
            with h5py.File(fname, "r") as f:
                assert f["kspace"].dtype == np.complex64
                assert f["kspace"].shape == ((2, 3, H, W) if multi else (2, H, W))
                keys = set(f)
            expect = {"kspace", "ismrmrd_header"} | {
                "combined": {"mask", target_key}, "fastmri-train": {target_key},
                "fastmri-test": {"mask"}}[layout]
            assert keys == expect, (layout, keys)


@pytest.mark.parametrize("coils", ["3", "0"])
def test_layouts_of_one_seed_pair_exactly(layouts, coils):
    # test k-space = mask ⊙ train k-space, noise included; combined = test + the target
    for name in ("mri_00000.h5", "mri_00001.h5"):
        files = {k: h5py.File(layouts[f"{k}-{coils}"] / name, "r")
                 for k in ("combined", "fastmri-train", "fastmri-test")}
        with contextlib.ExitStack() as stack:
            for f in files.values():
                stack.enter_context(f)
            full, test, comb = (files[k]["kspace"][()] for k in
                                ("fastmri-train", "fastmri-test", "combined"))
            mask = files["fastmri-test"]["mask"][()]
            assert mask.shape == (W,) and mask.dtype == bool and 0 < mask.sum() < W
            assert np.array_equal(test, full * mask) and np.array_equal(comb, test)
            assert np.count_nonzero(full[..., ~mask]) == full[..., ~mask].size  # noisy, full
            key = "reconstruction_rss" if coils == "3" else "reconstruction_esc"
            np.testing.assert_array_equal(files["fastmri-train"][key][()],
                                          files["combined"][key][()])
            assert files["fastmri-test"].attrs["max"] == files["fastmri-train"].attrs["max"]
            assert files["fastmri-test"].attrs["acceleration"] == pytest.approx(W / mask.sum())
            assert "acceleration" not in files["fastmri-train"].attrs


def test_discofold_reads_every_layout(layouts):
    for key, folder in layouts.items():
        with FastMRIFile(folder / "mri_00000.h5") as f:
            sl = f.read_slice(1)
        assert f.recon_size == (H, W) and sl.output_shape == (H, W)
        assert (sl.target is None) == key.startswith("fastmri-test")
        assert (sl.mask is None) == key.startswith("fastmri-train")


def test_recon_of_a_test_layout_file_is_cropped_to_the_header_recon_matrix(layouts, tmp_path):
    # fastMRI's test files: 640 x 368 k-space, a 320 x 320 reconSpace, no target
    with h5py.File(layouts["fastmri-test-3"] / "mri_00000.h5", "r") as f:
        kspace, mask, attrs = f["kspace"][()], f["mask"][()], dict(f.attrs)
    src = tmp_path / "in"
    src.mkdir()
    write_mri_file(src / "big.h5", kspace, mask=mask, attrs=attrs)
    write_mri_file(src / "small.h5", kspace, mask=mask, attrs=attrs, recon_size=(12, 9))
    assert _fastmri_metadata(src / "small.h5")[0]["recon_size"] == (12, 9, 1)
    rc, err = _cli("recon", "--method", "zf", "--input", str(src), "--output",
                   str(tmp_path / "out"), "--quiet")
    assert rc == 0, err
    big, _ = read_reconstruction(tmp_path / "out" / "big.h5")
    small, _ = read_reconstruction(tmp_path / "out" / "small.h5")
    assert big.shape == (2, H, W) and small.shape == (2, 12, 9)
    r0, c0 = H // 2 - 12 // 2, W // 2 - 9 // 2  # centre crop, the FFT origin kept in place
    torch.testing.assert_close(small, big[:, r0:r0 + 12, c0:c0 + 9])
    with pytest.raises(InputError, match="recon_size"):
        write_mri_file(src / "bad.h5", kspace, mask=mask, recon_size=(H + 1, W))


def test_header_is_optional_and_read_leniently(tmp_path):
    k = np.ones((1, 6, 5), np.complex64)
    assert recon_size(header_xml((6, 5), (4, 3), 1)) == (4, 3)
    for bad in (b"", b"<not xml", b"<a/>", b"<x>" * 10, b"\xff" * 64):
        assert recon_size(bad) is None
    too_big, zero = header_xml((6, 5), (7, 5), 1), header_xml((6, 5), (0, 5), 1)
    for header in (None, b"garbage", too_big, zero):
        path = tmp_path / "f.h5"
        with h5py.File(path, "w") as f:  # a user's file, not written by discofold
            f.create_dataset("kspace", data=k)
            if header is not None:
                f.create_dataset("ismrmrd_header", data=np.bytes_(header))
        with FastMRIFile(path) as f:
            sl = f.read_slice(0)
        assert f.recon_size is None and sl.output_shape is None
        path.unlink()


def test_fastmri_layouts_refuse_trajectories(tmp_path):
    rc, err = _cli("simulate", "mri", "--n", "1", "--size", "16", "--pattern", "radial_traj",
                   "--layout", "fastmri-test", "--out", str(tmp_path / "x"), "--quiet")
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and "non-Cartesian" in lines[0]
    assert not (tmp_path / "x" / "mri_00000.h5").exists()


def _import_fastmri():
    try:
        from fastmri.data import SliceDataset
        from fastmri.data.transforms import VarNetDataTransform
    except ImportError as exc:
        pytest.skip(f"fastMRI is not importable ({exc}); pip install --no-deps fastmri "
                    "pandas pyyaml requests")
    return SliceDataset, VarNetDataTransform


@pytest.mark.parametrize("coils", ["3", "0"])
def test_fastmri_slice_dataset_opens_every_layout(layouts, coils):
    SliceDataset, VarNetDataTransform = _import_fastmri()
    challenge = "multicoil" if coils == "3" else "singlecoil"
    for layout in ("combined", "fastmri-train", "fastmri-test"):
        folder = layouts[f"{layout}-{coils}"]
        ds = SliceDataset(folder, challenge)
        assert len(ds) == 4
        kspace, mask, target, attrs, name, i = ds[3]
        assert (name, i) == ("mri_00001.h5", 1)
        with FastMRIFile(folder / name) as f:
            ours = f.read_slice(i)
        np.testing.assert_array_equal(kspace, ours.kspace.numpy())
        assert (target is None) == (layout == "fastmri-test")
        assert (mask is None) == (layout == "fastmri-train")
        if target is not None:
            np.testing.assert_array_equal(target, ours.target.numpy())
        assert attrs["recon_size"] == (H, W, 1) and attrs["padding_right"] == W
        if layout == "fastmri-test":  # fastMRI's test-time transform uses the stored mask
            sample = VarNetDataTransform()(kspace, mask, None, attrs, name, i)
            assert tuple(sample.crop_size) == (H, W)
            assert np.array_equal(sample.mask.flatten().numpy().astype(bool), mask)


def test_docs_formats_recipe_runs(tmp_path, monkeypatch):
    # the bash block of docs/formats.md, on small volumes: test set, recon, matching targets
    doc = (Path(__file__).resolve().parents[2] / "docs" / "formats.md").read_text()
    block = re.search(r"```bash\n(.*?)```", doc, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    for line in block.strip().splitlines():
        argv = shlex.split(line)
        assert argv[0] == "discofold"
        small = ["--size", "64x56", "--slices", "1", "--coils", "2"]  # >= 4 calibration lines
        extra = small if argv[1] == "simulate" else []
        rc, err = _cli(*argv[1:], *extra, "--quiet")
        assert rc == 0, (line, err)
    names = sorted(p.name for p in (tmp_path / "sim" / "recon").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "sim" / "multicoil_val").iterdir())
    for name in names:
        rec, _ = read_reconstruction(tmp_path / "sim" / "recon" / name)
        with h5py.File(tmp_path / "sim" / "multicoil_val" / name, "r") as f:
            assert rec.shape == f["reconstruction_rss"].shape
