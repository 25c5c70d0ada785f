"""Configuration: TOML parsing, dotted overrides with type coercion, typos, bundled configs."""

from __future__ import annotations

import json

import pytest

from discofold.errors import ConfigError
from discofold.models import build, list_models
from discofold.train import (
    CONFIG_VERSION,
    Config,
    bundled_configs,
    config_from_dict,
    config_to_dict,
    load_config,
)
from discofold.train.config import apply_overrides

EXPERIMENTS = ("mri_unified", "mri_varnet", "mri_recursive", "radar_unified", "radar_recursive",
               "blockcs_r_coast", "blockcs_ista_net_plus")


def test_every_experiment_ships_a_config_whose_model_is_registered():
    configs = bundled_configs()
    assert set(EXPERIMENTS) <= set(configs)
    assert any(name.startswith("tiny_") for name in configs)
    registered = set(list_models())
    for name in configs:
        cfg = load_config(name)
        assert cfg.model.name in registered, name
        assert cfg.version == CONFIG_VERSION


@pytest.mark.parametrize("name", ["tiny_mri", "tiny_blockcs", "tiny_radar", "mri_recursive"])
def test_bundled_model_args_are_accepted_by_the_factory(name):
    cfg = load_config(name)
    model = build(cfg.model.name, **cfg.model.args)
    assert sum(p.numel() for p in model.parameters()) > 0


def test_overrides_are_coerced_to_the_field_types(tmp_path):
    cfg = load_config("tiny_mri", overrides=[
        "train.lr=3e-4", "train.steps=7", "train.amp=true", "data.shape=[33, 31]",
        "model.args.chans=8", "data.num_coils=none", "train.batch_size=\"6\"",
        "data.snr_db=20", "data.patterns=[[\"random\", 6]]", "train.schedule=step"])
    assert cfg.train.lr == 3e-4 and isinstance(cfg.train.lr, float)
    assert cfg.train.steps == 7 and cfg.train.amp is True and cfg.train.batch_size == 6
    assert cfg.data.shape == (33, 31) and cfg.data.num_coils is None
    assert cfg.data.snr_db == (20.0,) and cfg.data.patterns == (("random", 6.0),)
    assert cfg.model.args["chans"] == 8 and cfg.model.args["num_cascades"] == 2
    assert cfg.train.schedule == "step"


def test_overrides_do_not_change_the_input_table():
    table = {"train": {"lr": 1.0}}
    out = apply_overrides(table, ["train.lr=2", "model.args.x.y=3"])
    assert table == {"train": {"lr": 1.0}}
    assert out == {"train": {"lr": 2}, "model": {"args": {"x": {"y": 3}}}}


@pytest.mark.parametrize("override, message", [
    ("train.lr_rate=1", r"unknown config key 'train\.lr_rate' \(did you mean 'train\.lr'\?\)"),
    ("trian.lr=1", r"unknown config key 'trian' \(did you mean 'train'\?\)"),
    ("data.num_coil=2", r"did you mean 'data\.num_coils'"),
    ("train.steps=abc", r"config key 'train\.steps' must be int, got 'abc'"),
    ("train.steps=1.5", r"config key 'train\.steps' must be int, got 1\.5"),
    ("data.shape=[1, 2, 3]", r"'data\.shape' needs 2 values"),
    ("train.loss=ssmi", r"'train\.loss' must be one of .* got 'ssmi' \(did you mean 'ssim'\?\)"),
    ("train.lr=-1", r"'train\.lr' must be > 0"),
    ("train.amp=maybe", r"'train\.amp' must be bool"),
    ("train.loss=complex_l1", r"complex_l1' needs complex targets"),
    ("version=2", r"config version 2 is not supported"),
    ("train", r"--set expects key\.sub=value"),
])
def test_bad_keys_and_values_are_named(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("tiny_mri", overrides=[override])


def test_round_trip_through_dict_and_json():
    cfg = load_config("tiny_blockcs", overrides=["data.ratios=[0.1, 0.3]"])
    again = config_from_dict(json.loads(cfg.to_json()))
    assert again == cfg
    assert config_to_dict(again) == json.loads(cfg.to_json())
    assert isinstance(again.data.ratios, tuple)


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"does not exist \(did you mean 'tiny_mri'\?\)"):
        load_config("tiny_mr")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nlr = 1")
    with pytest.raises(ConfigError, match=r"bad\.toml' is not valid TOML"):
        load_config(bad)
    good = tmp_path / "good.toml"
    good.write_text("version = 1\n[train]\nsteps = 3\n")
    assert load_config(good) == Config(train=Config().train.__class__(steps=3))


def test_configs_are_frozen():
    cfg = load_config("tiny_mri")
    with pytest.raises(AttributeError):
        cfg.train.lr = 1.0  # type: ignore[misc]
