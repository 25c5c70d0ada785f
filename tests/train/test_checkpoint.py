"""Checkpoints: round trip, strict keys, other model/config version, untrusted and corrupt files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from discofold.errors import CheckpointError
from discofold.models import build
from discofold.train import build_from_checkpoint, load_checkpoint, load_config, save_checkpoint
from discofold.train.checkpoint import check_resume_compatible, load_state_strict


def _model(cfg, seed=None):
    return build(cfg.model.name, seed=cfg.model.seed if seed is None else seed,
                 **cfg.model.args)


@pytest.fixture(scope="module")
def cfg():
    return load_config("tiny_mri")


def _resave(path: Path, **changes) -> Path:
    ckpt = torch.load(path, weights_only=True)
    ckpt.update(changes)
    out = path.with_name("changed.pt")
    torch.save(ckpt, out)
    return out


def test_round_trip_gives_the_same_weights_and_outputs(tmp_path, cfg):
    model = _model(cfg, seed=5)
    path = save_checkpoint(tmp_path / "m.pt", model, cfg, step=17, metrics={"val_loss": 0.25})
    loaded, cfg2, ckpt = build_from_checkpoint(path)
    assert cfg2 == cfg and ckpt["step"] == 17 and ckpt["metrics"] == {"val_loss": 0.25}
    assert ckpt["model_name"] == "varnet" and json.loads(ckpt["config"])["version"] == 1
    ref = model.state_dict()
    got = loaded.state_dict()
    assert list(ref) == list(got)
    assert all(torch.equal(ref[k], got[k]) for k in ref)
    assert not loaded.training
    # a differently seeded model differs, and loading makes it equal
    other = _model(cfg, seed=6)
    assert not all(torch.equal(ref[k], v) for k, v in other.state_dict().items())
    load_state_strict(other, load_checkpoint(path)["state_dict"])
    assert all(torch.equal(ref[k], v) for k, v in other.state_dict().items())
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary file left


def test_strict_loading_names_missing_unexpected_and_reshaped_keys(tmp_path, cfg):
    model = _model(cfg)
    state = dict(model.state_dict())
    extra = {**state, "extra.weight": torch.zeros(1)}
    with pytest.raises(CheckpointError, match=r"unexpected keys \['extra\.weight'\]"):
        load_state_strict(model, extra)
    first = next(iter(state))
    missing = {k: v for k, v in state.items() if k != first}
    with pytest.raises(CheckpointError, match=rf"missing keys \['{first}'\]"):
        load_state_strict(model, missing)
    wrong = {**state, first: torch.zeros(3, 1, 1)}
    with pytest.raises(CheckpointError, match=rf"{first}: checkpoint \(3, 1, 1\)"):
        load_state_strict(model, wrong)


def test_a_checkpoint_of_another_model_or_config_version_is_refused(tmp_path, cfg):
    path = save_checkpoint(tmp_path / "m.pt", _model(cfg), cfg, step=1)
    with pytest.raises(CheckpointError, match=r"made for model 'varnet', not 'unet'"):
        load_checkpoint(path, model_name="unet")
    old = _resave(path, config_version=999)
    with pytest.raises(CheckpointError, match=r"config version 999 .* uses config version 1"):
        load_checkpoint(old)
    # weights of another model config (other channel count) do not load silently
    bigger = load_config("tiny_mri", overrides=["model.args.chans=6"])
    ckpt = load_checkpoint(path)
    with pytest.raises(CheckpointError, match=r"other shapes than the model"):
        load_state_strict(_model(bigger), ckpt["state_dict"])
    ckpt["resumable"] = True
    with pytest.raises(CheckpointError, match=r"differing keys: \['model\.args'\]"):
        check_resume_compatible(ckpt, bigger, "ckpt")


class _Payload:
    """Unpickling this object would create ``self.marker`` (code execution)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_payload_is_refused_and_never_runs(tmp_path, cfg):
    marker = tmp_path / "payload_ran"
    good = save_checkpoint(tmp_path / "m.pt", _model(cfg), cfg, step=1)
    ckpt = torch.load(good, weights_only=True)
    ckpt["evil"] = _Payload(str(marker))
    bad = tmp_path / "evil.pt"
    torch.save(ckpt, bad)
    assert not marker.exists()
    refused = r"pickled object \(io\.open\) that is not plain weights; it was refused"
    with pytest.raises(CheckpointError, match=refused):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError):
        build_from_checkpoint(bad)
    assert not marker.exists()


class _Blocked:
    """A payload whose module torch's loader blocks outright (another error wording)."""

    def __reduce__(self):
        import os

        return (os.system, ("true",))


def test_a_blocked_module_payload_is_called_untrusted_not_corrupt(tmp_path, cfg):
    good = save_checkpoint(tmp_path / "m.pt", _model(cfg), cfg, step=1)
    ckpt = torch.load(good, weights_only=True)
    ckpt["evil"] = _Blocked()
    torch.save(ckpt, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match=r"pickled object \((posix|nt)\.system\)"):
        load_checkpoint(tmp_path / "evil.pt")


def test_missing_corrupt_and_foreign_files(tmp_path, cfg):
    with pytest.raises(CheckpointError, match=r"nope\.pt' does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match=r"is a folder"):
        load_checkpoint(tmp_path)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(os.urandom(256))
    with pytest.raises(CheckpointError, match=r"corrupt or not a checkpoint"):
        load_checkpoint(junk)
    good = save_checkpoint(tmp_path / "m.pt", _model(cfg), cfg, step=1)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"corrupt"):
        load_checkpoint(cut)
    plain = tmp_path / "plain.pt"
    torch.save({"weight": torch.zeros(2)}, plain)
    with pytest.raises(CheckpointError, match=r"not a discofold checkpoint"):
        load_checkpoint(plain)


def test_a_failed_save_keeps_the_previous_file(tmp_path, cfg, monkeypatch):
    model = _model(cfg)
    path = save_checkpoint(tmp_path / "m.pt", model, cfg, step=1)
    before = path.read_bytes()

    def broken(obj, f, *a, **k):
        f.write(b"partial")  # the open temporary file
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, cfg, step=2)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
