"""``discofold.load_model``: bundled names checked against the manifest's sha256, paths, the
``model(y, op, meta)`` call and the record / file reconstructions."""

from __future__ import annotations

import hashlib
import json
import shutil

import h5py
import pytest
import torch

import discofold
import discofold.train.checkpoint as ckpt_mod
from discofold.cli import main
from discofold.data import RadarH5Reader
from discofold.errors import CheckpointError, InputError
from discofold.evaluate import evaluate
from discofold.inference import TrainedModel
from discofold.models import AcquisitionMeta
from discofold.operators import CartesianMRI
from discofold.sampling import make_mask
from discofold.train.checkpoint import bundled_checkpoints

from .._checkpoints import untrained_checkpoint


def _checkpoint(path, config: str):
    return untrained_checkpoint(path, config, step=3)


@pytest.fixture(scope="module")
def radar(tmp_path_factory):
    root = tmp_path_factory.mktemp("load_model")
    assert main(["simulate", "radar", "--out", str(root), "--n", "1", "--preset", "S0",
                 "--size", "32", "--frames", "2", "--pattern", "gaps", "--ratio", "0.5",
                 "--quiet"]) == 0
    return root / "radar_00000.h5", _checkpoint(root / "radar.pt", "tiny_radar")


def test_bundled_name_loads_with_the_manifest_sha256_and_calls_the_module():
    model = discofold.load_model("mri-unified")
    entry = bundled_checkpoints()["mri-unified"]
    assert isinstance(model, TrainedModel) and model.family == "mri"
    assert model.model_name == entry["model"] == "unified" and model.step == entry["step"]
    assert model.sha256 == entry["sha256"] == hashlib.sha256(model.path.read_bytes()).hexdigest()
    assert not model.module.training
    shape = (48, 45)
    pat = make_mask("poisson_2d", shape, 4.0, generator=0)
    x = torch.randn(shape, dtype=torch.complex64, generator=torch.Generator().manual_seed(1))
    op = CartesianMRI(pat.mask[None], image_shape=shape)
    y = op(x[None])
    meta = AcquisitionMeta(pattern=pat.name, acceleration=pat.acceleration)
    out = model(y, op, meta)
    with torch.no_grad():
        ref = model.module(y, op, meta)
    assert out.shape == (1, *shape) and not out.requires_grad
    torch.testing.assert_close(out, ref)


def _tampered_pretrained(tmp_path, monkeypatch, change):
    """A copy of discofold/pretrained/ in which ``change(folder)`` edits something."""
    folder = tmp_path / "pretrained"
    shutil.copytree(ckpt_mod._PRETRAINED, folder)
    change(folder)
    monkeypatch.setattr(ckpt_mod, "_PRETRAINED", folder)
    return folder


def test_a_bundled_file_that_differs_from_the_manifest_is_refused(radar, tmp_path, monkeypatch,
                                                                  capsys):
    listed = bundled_checkpoints()["mri-unified"]["sha256"]

    def flip_a_byte(folder):
        data = bytearray((folder / "mri-unified.pt").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (folder / "mri-unified.pt").write_bytes(bytes(data))

    _tampered_pretrained(tmp_path, monkeypatch, flip_a_byte)
    with pytest.raises(CheckpointError, match=rf"bundled checkpoint 'mri-unified' .* has sha256 "
                                              rf"[0-9a-f]{{64}}, but the manifest lists {listed}"):
        discofold.load_model("mri-unified")
    discofold.load_model("radar-unified")  # the untouched one still loads
    rc = main(["recon", "--checkpoint", "mri-unified", "--input", str(radar[0]),
               "--output", str(tmp_path / "y.h5")])
    err = capsys.readouterr().err
    assert rc == 2 and "sha256" in err and len(err.strip().splitlines()) == 1


def test_an_unlisted_or_missing_bundled_file_is_refused(tmp_path, monkeypatch):
    def unlist(folder):
        doc = json.loads((folder / "manifest.json").read_text())
        del doc["radar-unified"]
        (folder / "manifest.json").write_text(json.dumps(doc))
        (folder / "mri-unified.pt").unlink()

    _tampered_pretrained(tmp_path, monkeypatch, unlist)
    with pytest.raises(CheckpointError, match="not listed"):
        discofold.load_model("radar-unified")
    with pytest.raises(CheckpointError, match="missing"):
        discofold.load_model("mri-unified")
    with pytest.raises(CheckpointError, match="bundled: mri-unified"):
        discofold.load_model("no-such-model")


def test_a_path_loads_and_reconstructs_records_and_files(radar, tmp_path):
    path, ckpt = radar
    model = discofold.load_model(ckpt, recursions=1)
    assert model.name == str(ckpt) and model.step == 3 and model.recursions == 1
    assert model.sha256 == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    with RadarH5Reader(path) as r:
        frames = [r[i] for i in range(len(r))]
    images = model.reconstruct(frames)
    out = tmp_path / "image.h5"
    stack = model.reconstruct_file(path, out, batch_size=2)
    assert stack.dtype == torch.complex64 and stack.shape == (2, 32, 32)
    torch.testing.assert_close(stack, torch.stack(images), rtol=1e-4, atol=1e-6)
    with h5py.File(out, "r") as f:
        torch.testing.assert_close(torch.from_numpy(f["image"][()]), stack)
        assert json.loads(f.attrs["recon_params"]) == {"recursions": 1}
        assert f.attrs["recon_checkpoint_sha256"] == model.sha256
    with pytest.raises(InputError, match="already exists"):
        model.reconstruct_file(path, out)
    with pytest.raises(InputError, match="is the input file"):
        model.reconstruct_file(path, path, overwrite=True)
    with pytest.raises(InputError, match="batch_size"):
        model.reconstruct_file(path, batch_size=0)
    # evaluate() takes the loaded model as it takes a checkpoint
    res = evaluate(model, "sim:radar?n=1&geometry=S0&size=32", ["random_pulses"], [2.0], [])
    assert {r["method"] for r in res.rows} == {"zf", "r_unified_radar"}


def test_a_block_cs_checkpoint_loads_but_reconstructs_no_files(radar, tmp_path):
    model = discofold.load_model(_checkpoint(tmp_path / "b.pt", "tiny_blockcs"))
    assert model.family == "blockcs"
    with pytest.raises(InputError, match="MRI and radar models only"):
        model.reconstruct_file(radar[0])
    with pytest.raises(InputError, match="not a torch device"):
        discofold.load_model(radar[1], device="gpu-please")
