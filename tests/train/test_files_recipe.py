"""The README's "Training on fastMRI files" recipe, run as written on small fastMRI-layout
files (``simulate mri --layout fastmri-train``) with tiny step counts added, and the checks a
file config gets before a run folder is made (issue 21, items 1 and 6)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from discofold.cli import main
from discofold.train import load_config

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--set", "train.steps=1", "--set", "data.train_length=2", "--set", "data.val_length=2",
        "--set", "model.args.cascades=1", "--set", "model.args.chans=4", "--set",
        "train.batch_size=1", "--set", "train.warmup_steps=0", "--set", "train.val_every=1"]


def _recipe() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Training on fastMRI files", 1)[1]
    block = re.search(r"```bash\n(.*?)\n```", section, re.S).group(1)
    return [shlex.split(line) for line in block.replace("\\\n", " ").splitlines()]


def _simulate(out: Path, n: int, seed: int, layout: str = "fastmri-train") -> None:
    assert main(["simulate", "mri", "--n", str(n), "--seed", str(seed), "--size", "128x96",
                 "--slices", "1", "--coils", "4", "--layout", layout, "--out", str(out),
                 "--quiet"]) == 0


@pytest.fixture
def knee(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _simulate(tmp_path / "knee" / "train", 2, 0)
    _simulate(tmp_path / "knee" / "val", 1, 1)
    return tmp_path / "knee"


def _localised(argv: list[str], knee: Path) -> list[str]:
    return [a.replace("/data/knee", str(knee)) for a in argv]


def test_the_readme_recipe_trains_on_the_files_and_evaluates(knee, capsys):
    train, evaluate = _recipe()
    assert train[:2] == ["discofold", "train"] and evaluate[:2] == ["discofold", "eval"]
    assert main(_localised(train[1:], knee) + TINY + ["--quiet"]) == 0
    cfg = json.loads(Path("runs/knee/config.json").read_text())["data"]
    assert cfg["kind"] == "mri_files" and cfg["shape"] == [128, 96]  # taken from the files
    assert cfg["train_files"] == [str(knee / "train")]
    assert main(_localised(evaluate[1:], knee) + ["--quiet"]) == 0
    rows = json.loads(Path("eval/knee/metrics.json").read_text())
    assert rows, "eval wrote no metrics"


def test_missing_files_are_named_before_a_run_folder_exists(knee, capsys):
    train = _localised(_recipe()[0][1:], knee)
    missing = [a.replace(str(knee / "val"), str(knee / "nope")) for a in train]
    assert main(missing + TINY + ["--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'data.val_files'" in err[0] and "nope' does not exist" in err[0]
    assert not Path("runs").exists()  # no folder, no debris
    assert main(train + TINY + ["--quiet"]) == 0  # the fixed command needs no --overwrite


def test_a_shape_smaller_than_the_targets_is_named(knee, capsys):
    train = _localised(_recipe()[0][1:], knee)
    assert main(train + TINY + ["--set", "data.shape=[64, 64]", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'data.shape' is [64, 64]" in err[0] and "[128, 96]" in err[0]
    assert not Path("runs").exists()


def test_files_without_a_target_are_refused(knee, tmp_path, capsys):
    _simulate(tmp_path / "test", 1, 2, layout="fastmri-test")
    files = f"data.train_files=[{str(tmp_path / 'test')!r}]"
    assert load_config("mri_unified", overrides=[files]).data.shape == (128, 96)
    assert main(["train", "--config", "mri_unified", "--set", files, "--out", "runs/t", *TINY,
                 "--quiet"]) == 2
    assert "holds no target" in capsys.readouterr().err
    assert not Path("runs").exists()


@pytest.mark.parametrize("kind, message", [
    ("mri_simulated", "set data.kind = 'mri_files'"),
    ("blockcs", "block CS reads images from data.images"),
])
def test_files_with_a_simulated_kind_in_python_name_data_kind(kind, message):
    from discofold.errors import ConfigError
    from discofold.train import Config, DataConfig

    with pytest.raises(ConfigError, match=re.escape(message)):
        Config(data=DataConfig(kind=kind, train_files=("x.h5",)))


def test_a_simulated_kind_given_with_set_is_not_switched(knee, capsys):
    train = _localised(_recipe()[0][1:], knee)
    assert main(train + TINY + ["--set", "data.kind=mri_simulated", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "data.kind is 'mri_simulated'" in err[0]
    assert "set data.kind = 'mri_files'" in err[0] and not Path("runs").exists()



def test_masks_without_a_calibration_box_name_data_patterns(knee, capsys):
    # mri_unified's own patterns include radial_2d, whose masks have no fully sampled box to
    # estimate the coil maps of multi-coil files from (hence the README's data.patterns)
    train = _localised(_recipe()[0][1:], knee)
    at = train.index(next(a for a in train if a.startswith("data.patterns=")))
    without = train[:at - 1] + train[at + 1:]
    assert main(without + TINY + ["--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "data.patterns" in err[0] and "calibration region" in err[0], err
    assert not Path("runs").exists()
