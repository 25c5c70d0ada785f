"""``discofold recon --checkpoint``: learned reconstruction of MRI and radar files and folders.

Tiny checkpoints (the ``tiny_mri`` E2E-VarNet and the ``tiny_radar`` recursive fan-DISCO model,
saved untrained) run on tiny files written by ``discofold simulate`` at odd, non-square sizes;
the outputs are compared with the model called directly on a ``(y, op, meta)`` built here from
the raw HDF5 datasets, and the file-safety rules of the classical path are checked again.
"""

from __future__ import annotations

import hashlib
import io
import json

import h5py
import numpy as np
import pytest
import torch

from discofold.cli import main
from discofold.data import write_mri_file
from discofold.data.fastmri import center_crop_or_pad
from discofold.models import AcquisitionMeta
from discofold.operators import CartesianMRI, PolarRadar
from discofold.solvers.pipeline import estimate_coil_maps
from discofold.train import build_from_checkpoint

from .._checkpoints import untrained_checkpoint
from .._cli import cli as _cli
from .._cli import simulate as _simulate

SHAPE = (33, 29)  # odd, non-square k-space matrix
CROP = (31, 27)  # target smaller than the matrix


ONE_THREAD = True  # one torch thread per test (tests/conftest.py)


def _checkpoint(path, config: str):
    return untrained_checkpoint(path, config, step=0)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("recon_ckpt")
    size = f"{SHAPE[0]}x{SHAPE[1]}"
    _simulate(root / "eq", "mri", "--size", size, "--slices", "3", "--coils", "3",
              "--pattern", "equispaced", "--acceleration", "3")
    _simulate(root / "poisson", "mri", "--size", size, "--slices", "2", "--coils", "0",
              "--pattern", "poisson_2d", "--acceleration", "3")
    _simulate(root / "radial", "mri", "--size", size, "--slices", "2", "--coils", "3",
              "--pattern", "radial_traj", "--acceleration", "3")
    _simulate(root / "radar", "radar", "--preset", "S0", "--size", "32", "--frames", "3",
              "--pattern", "random_pulses", "--ratio", "0.5")
    # the equispaced file again with a centre-cropped target, and without any target
    with h5py.File(root / "eq" / "mri_00000.h5", "r") as f:
        kspace, mask = f["kspace"][()], f["mask"][()]
        target, attrs = f["reconstruction_rss"][()], dict(f.attrs)
    cropped = center_crop_or_pad(torch.from_numpy(target), CROP)
    write_mri_file(root / "cropped.h5", kspace, mask=mask, target=cropped, attrs=attrs)
    write_mri_file(root / "notarget.h5", kspace, mask=mask, attrs=attrs)
    return {"root": root, "mri_ckpt": _checkpoint(root / "mri.pt", "tiny_mri"),
            "radar_ckpt": _checkpoint(root / "radar.pt", "tiny_radar"),
            "eq": root / "eq" / "mri_00000.h5", "poisson": root / "poisson" / "mri_00000.h5",
            "radial": root / "radial" / "mri_00000.h5", "radar": root / "radar" / "radar_00000.h5",
            "cropped": root / "cropped.h5", "notarget": root / "notarget.h5"}


def _recon(ckpt, inp, out, *extra) -> tuple[int, str]:
    return _cli("recon", "--checkpoint", str(ckpt), "--input", str(inp), "--output", str(out),
                "--quiet", *extra)


def _sha256(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _reference_mri(ckpt, path, crop) -> np.ndarray:
    """The model called slice by slice on a CartesianMRI built from the raw datasets."""
    model, _, _ = build_from_checkpoint(ckpt)
    with h5py.File(path, "r") as f:
        kspace, mask = torch.from_numpy(f["kspace"][()]), torch.from_numpy(f["mask"][()])
        nlf = int(f.attrs["num_low_frequencies"])
    out = []
    for y in kspace:
        y = y * mask[None, None, :]
        op = CartesianMRI(mask[None, None, :], coil_maps=estimate_coil_maps(y, mask)[None],
                          image_shape=SHAPE)
        meta = AcquisitionMeta(pattern="equispaced", acceleration=SHAPE[1] / float(mask.sum()),
                               num_low_frequencies=nlf)
        with torch.no_grad():
            x = model(y[None], op, meta)[0].abs()
        out.append(center_crop_or_pad(x, crop) if crop else x)
    return torch.stack(out).numpy()


# --------------------------------------------------------------------------- MRI
def test_mri_1d_multicoil_matches_the_model_on_its_own_triple(setup, tmp_path):
    out = tmp_path / "out.h5"
    assert _recon(setup["mri_ckpt"], setup["cropped"], out) == (0, "")
    with h5py.File(out, "r") as f:
        rec, attrs = f["reconstruction"][()], dict(f.attrs)
    assert rec.dtype == np.float32 and rec.shape == (3, *CROP)
    np.testing.assert_allclose(rec, _reference_mri(setup["mri_ckpt"], setup["cropped"], CROP),
                               rtol=1e-4, atol=1e-5 * float(np.abs(rec).max()))
    # provenance: which checkpoint (as given, with its sha256) made it, and the input's attrs
    assert attrs["recon_method"] == "checkpoint" and attrs["recon_model"] == "varnet"
    assert attrs["recon_checkpoint"] == str(setup["mri_ckpt"])
    assert attrs["recon_checkpoint_sha256"] == _sha256(setup["mri_ckpt"])
    assert int(attrs["recon_checkpoint_step"]) == 0 and attrs["recon_input"] == "cropped.h5"
    assert json.loads(attrs["recon_params"]) == {"recursions": None}
    assert attrs["pattern"] == "equispaced" and "max" in attrs
    # batches of slices give the same images
    rc, _ = _recon(setup["mri_ckpt"], setup["cropped"], tmp_path / "b.h5", "--batch-size", "2")
    assert rc == 0
    with h5py.File(tmp_path / "b.h5", "r") as f:
        np.testing.assert_allclose(f["reconstruction"][()], rec, rtol=1e-4, atol=1e-6)


def test_mri_without_target_2d_mask_and_trajectory(setup, tmp_path):
    assert _recon(setup["mri_ckpt"], setup["notarget"], tmp_path / "a.h5")[0] == 0
    with h5py.File(tmp_path / "a.h5", "r") as f:  # no target: the whole matrix
        np.testing.assert_allclose(f["reconstruction"][()],
                                   _reference_mri(setup["mri_ckpt"], setup["notarget"], None),
                                   rtol=1e-4, atol=1e-5)
    for key in ("poisson", "radial"):  # single-coil 2-D Poisson; multi-coil radial NUFFT
        assert _recon(setup["mri_ckpt"], setup[key], tmp_path / f"{key}.h5",
                      "--batch-size", "2")[0] == 0
        with h5py.File(tmp_path / f"{key}.h5", "r") as f, h5py.File(setup[key], "r") as g:
            rec = f["reconstruction"][()]
            target = g["reconstruction_rss" if key == "radial" else "reconstruction_esc"][()]
            assert rec.shape == (2, *SHAPE) and np.isfinite(rec).all()
            assert f.attrs["pattern"] == g.attrs["pattern"]
            # the untrained model starts near zero-filling: correlated with the target
            assert np.corrcoef(rec.ravel(), target.ravel())[0, 1] > 0.5


def test_calibration_width_option_fixes_a_wrong_attr(setup, tmp_path):
    """A file claiming a wider calibration band than its mask measures: the error names the
    option; with it the model runs and the output records the value."""
    with h5py.File(setup["eq"], "r") as f:
        kspace, mask, attrs = f["kspace"][()], f["mask"][()], dict(f.attrs)
    bad = write_mri_file(tmp_path / "bad.h5", kspace, mask=mask,
                         attrs={**attrs, "num_low_frequencies": SHAPE[1] - 2})
    rc, err = _recon(setup["mri_ckpt"], bad, tmp_path / "o.h5")
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "bad.h5" in err and "slice 0" in err and "--num-low-frequencies" in err
    assert not (tmp_path / "o.h5").exists()
    nlf = str(int(attrs["num_low_frequencies"]))
    assert _recon(setup["mri_ckpt"], bad, tmp_path / "o.h5", "--num-low-frequencies", nlf)[0] == 0
    with h5py.File(tmp_path / "o.h5", "r") as f:
        assert json.loads(f.attrs["recon_params"])["num_low_frequencies"] == int(nlf)


def test_mask_without_centre_says_which_option_helps(setup, tmp_path):
    with h5py.File(setup["eq"], "r") as f:
        kspace, mask = f["kspace"][()], f["mask"][()].copy()
    mask[SHAPE[1] // 2 - 3:SHAPE[1] // 2 + 4] = False
    path = write_mri_file(tmp_path / "nocentre.h5", kspace * mask[None, None, :], mask=mask)
    rc, err = _recon(setup["mri_ckpt"], path, tmp_path / "o.h5")
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "nocentre.h5" in err and "k-space centre" in err and "--method zf" in err
    assert _cli("recon", "--method", "zf", "--input", str(path), "--output",
                str(tmp_path / "o.h5"), "--quiet")[0] == 0


# --------------------------------------------------------------------------- radar
def test_radar_file_matches_the_model_on_its_own_triple(setup, tmp_path):
    out = tmp_path / "r.h5"
    assert _recon(setup["radar_ckpt"], setup["radar"], out, "--batch-size", "2")[0] == 0
    model, _, _ = build_from_checkpoint(setup["radar_ckpt"])
    with h5py.File(setup["radar"], "r") as g, h5py.File(out, "r") as f:
        image, attrs = f["image"][()], dict(f.attrs)
        angles = torch.from_numpy(g["angles_rad"][()])
        freqs = torch.from_numpy(g["frequencies_hz"][()])
        ext, shape = tuple(g.attrs["extent_m"]), tuple(int(v) for v in g.attrs["image_shape"])
        for i in range(3):
            mask = torch.from_numpy(g["mask"][i])
            op = PolarRadar(angles, freqs, shape, ext, mask=mask[None])
            meta = AcquisitionMeta(pattern="stored",
                                   acceleration=torch.tensor([mask.numel() / float(mask.sum())]),
                                   pixel_size=(ext[0] / shape[0], ext[1] / shape[1]))
            y = torch.from_numpy(g["echo"][i])[None] * mask
            with torch.no_grad():
                ref = model(y, op, meta)[0].numpy()
            np.testing.assert_allclose(image[i], ref, rtol=1e-4,
                                       atol=1e-5 * float(np.abs(ref).max()))
        assert image.dtype == np.complex64 and image.shape == (3, *shape)
        assert attrs["scenario"] == "S0" and tuple(attrs["extent_m"]) == ext
    assert attrs["recon_method"] == "checkpoint" and attrs["recon_model"] == "r_unified_radar"
    assert attrs["recon_checkpoint_sha256"] == _sha256(setup["radar_ckpt"])
    # the classical path records its method in the same attributes
    assert _cli("recon", "--method", "pfa", "--input", str(setup["radar"]), "--output",
                str(tmp_path / "pfa.h5"), "--quiet")[0] == 0
    with h5py.File(tmp_path / "pfa.h5", "r") as f:
        assert f.attrs["recon_method"] == "pfa" and f.attrs["recon_input"] == "radar_00000.h5"
        assert f.attrs["scenario"] == "S0" and "recon_checkpoint" not in f.attrs


def test_checkpoint_of_the_other_family_is_refused(setup, tmp_path):
    for ckpt, inp, model, data, other in (
            (setup["mri_ckpt"], setup["radar"], "an MRI model", "radar data", "radar-unified"),
            (setup["radar_ckpt"], setup["eq"], "a radar model", "MRI data", "mri-unified")):
        rc, err = _recon(ckpt, inp, tmp_path / "x.h5")
        assert rc == 2 and len(err.strip().splitlines()) == 1
        assert model in err and data in err and inp.name in err and other in err
        assert not (tmp_path / "x.h5").exists()


# --------------------------------------------------------------------------- CLI rules
def test_method_and_checkpoint_are_mutually_exclusive_and_one_is_required(setup, tmp_path,
                                                                          capsys):
    io_args = ["--input", str(setup["eq"]), "--output", str(tmp_path / "o.h5")]
    with pytest.raises(SystemExit) as exc:
        main(["recon", "--method", "zf", "--checkpoint", str(setup["mri_ckpt"]), *io_args])
    assert exc.value.code == 2 and "not allowed with" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["recon", *io_args])
    assert exc.value.code == 2
    assert "one of the arguments --method --checkpoint is required" in capsys.readouterr().err
    rc, err = _recon(setup["mri_ckpt"], setup["eq"], tmp_path / "o.h5", "--lam", "0.1")
    assert rc == 2 and "--lam only applies with --method" in err
    rc, err = _cli("recon", "--method", "zf", "--batch-size", "2", *io_args)
    assert rc == 2 and "--batch-size only applies with --checkpoint" in err
    rc, err = _recon(setup["mri_ckpt"], setup["eq"], tmp_path / "o.h5", "--device", "nope")
    assert rc == 2 and "--device 'nope'" in err
    rc, err = _recon(tmp_path / "missing.pt", setup["eq"], tmp_path / "o.h5")
    assert rc == 2 and "missing.pt" in err and "mri-unified" in err
    assert not (tmp_path / "o.h5").exists()


def test_existing_output_is_refused_and_kept(setup, tmp_path):
    out = tmp_path / "o.h5"
    out.write_bytes(b"precious")
    rc, err = _recon(setup["mri_ckpt"], setup["eq"], out)
    assert rc == 2 and "already exists" in err and "--overwrite" in err
    assert out.read_bytes() == b"precious"
    rc, err = _recon(setup["mri_ckpt"], setup["eq"], setup["eq"])
    assert rc == 2 and "is the input file" in err
    assert _recon(setup["mri_ckpt"], setup["eq"], out, "--overwrite")[0] == 0
    with h5py.File(out, "r") as f:
        assert f["reconstruction"].shape == (3, *SHAPE)
    assert [p.name for p in tmp_path.iterdir()] == ["o.h5"]  # no temporary file left


class _FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_folder_streaming_keep_going_and_progress(setup, tmp_path, monkeypatch):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    for name, src in (("a.h5", "eq"), ("b.h5", "radar"), ("c.h5", "poisson")):
        (inp / name).write_bytes(setup[src].read_bytes())
    rc, err = _recon(setup["mri_ckpt"], inp, out)  # stops at the radar file, keeps a.h5
    assert rc == 2 and "b.h5" in err and "stopped at file 2 of 3" in err
    assert sorted(p.name for p in out.iterdir()) == ["a.h5"]
    rc, err = _recon(setup["mri_ckpt"], inp, out, "--keep-going")
    assert rc == 2 and "a.h5" in err and "already exists" in err  # refused up front
    rc, err = _recon(setup["mri_ckpt"], inp, out, "--keep-going", "--overwrite")
    assert rc == 1 and "skipped" in err and "b.h5" in err and "radar data" in err
    assert sorted(p.name for p in out.iterdir()) == ["a.h5", "c.h5"]
    # not a terminal: a summary line per file and no bar; a terminal gets the tqdm bar
    rc, err = _cli("recon", "--checkpoint", str(setup["mri_ckpt"]), "--input", str(setup["eq"]),
                   "--output", str(tmp_path / "one.h5"))
    assert rc == 0 and err.count("\n") == 1 and "on 3 slice(s)" in err and "it/s" not in err
    fake = _FakeTTY()
    monkeypatch.setattr("sys.stderr", fake)
    assert main(["recon", "--checkpoint", str(setup["mri_ckpt"]), "--input", str(setup["eq"]),
                 "--output", str(tmp_path / "two.h5")]) == 0
    assert "recon " in fake.getvalue() and "batch" in fake.getvalue()
