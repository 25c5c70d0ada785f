"""Hostile training configurations: NaN/Inf floats (``train.lr = nan`` once ended in a traceback,
``train.sanity_factor = nan`` silently switched the divergence guard off), seeds beyond 64 bits,
integers of thousands of digits and deeply nested TOML all end in one line naming the key (or
the file), exit 2, before a run folder is made."""

from __future__ import annotations

import contextlib
import io
import math

import pytest

from discofold.cli import main
from discofold.errors import ConfigError
from discofold.train import Config, ModelConfig, TrainConfig, load_config

ONE_THREAD = True  # one torch thread per test (tests/conftest.py)

NON_FINITE = ["train.lr=nan", "train.sanity_factor=nan", "train.sanity_factor=inf",
              "train.grad_clip=-inf", "train.gamma=nan", "train.time_budget_s=inf",
              "data.accelerations=[2.0, nan]", "data.snr_db=[inf]", "model.args.x=nan"]
SEEDS = ["train.seed=99999999999999999999999", "model.seed=-1", "data.seed=9223372036854775808"]


def _train(tmp_path, *overrides: str, config: str = "tiny_mri") -> tuple[int, str]:
    err = io.StringIO()
    argv = ["train", "--config", config, "--out", str(tmp_path / "run"), "--quiet"]
    with contextlib.redirect_stderr(err):
        rc = main([*argv, *(a for o in overrides for a in ("--set", o))])
    return rc, err.getvalue()


def _one_line(rc: int, err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and "error:" in lines[0], (rc, err)
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.mark.parametrize("override", NON_FINITE + SEEDS)
def test_non_finite_floats_and_bad_seeds_name_the_key(fault_log, tmp_path, override):
    fault_log.describe("hostile config: NaN, Inf and out-of-range numbers",
                       "discofold train --set KEY=nan|inf|-inf on float keys (also inside "
                       "arrays and model.args), seeds outside [0, 2**63): exit 2, one line "
                       "naming the key, no run folder")
    key = override.split("=")[0]
    rc, err = _train(tmp_path, override)
    _one_line(rc, err, f"'{key}")
    assert not (tmp_path / "run").exists()
    fault_log.case("exit 2, one line naming the key")


def test_sanity_factor_nan_cannot_switch_the_guard_off():
    with pytest.raises(ConfigError, match="'train.sanity_factor' must be a finite number"):
        Config(train=TrainConfig(sanity_factor=math.nan))  # the dataclasses check as well
    with pytest.raises(ConfigError, match="'train.sanity_factor' must be > 0"):
        Config(train=TrainConfig(sanity_factor=0.0))
    with pytest.raises(ConfigError, match=r"'model.seed' must be an integer in \[0, 2\*\*63\)"):
        Config(model=ModelConfig(seed=2**64))


@pytest.mark.parametrize("how", ["array", "inline table", "integer of 5000 digits",
                                 "17 levels", "--set array", "--set 5000-digit seed"])
def test_deep_nesting_and_huge_integers(fault_log, tmp_path, how):
    fault_log.describe("hostile config: deep nesting and huge integers",
                       "a TOML file or --set value with arrays / inline tables nested 100 000 "
                       "(or 17) levels deep, or an integer of 5000 digits: exit 2, one line "
                       "naming the file or the key, no traceback, no run folder")
    body = {"array": "[model.args]\nx = " + "[" * 100_000 + "]" * 100_000,
            "inline table": "[model.args]\nx = " + "{a=" * 600 + "1" + "}" * 600,
            "integer of 5000 digits": "[train]\nseed = " + "9" * 5000,
            "17 levels": "[model.args]\nx = " + "[" * 17 + "1" + "]" * 17}
    if how.startswith("--set"):
        value = "[" * 100_000 + "]" * 100_000 if how == "--set array" else "9" * 5000
        rc, err = _train(tmp_path, f"{'model.args.x' if 'array' in how else 'train.seed'}="
                         f"{value}")
        _one_line(rc, err, "--set" if "array" in how else "'train.seed'")
    else:
        cfg = tmp_path / "hostile.toml"
        cfg.write_text(body[how] + "\n")
        rc, err = _train(tmp_path, config=str(cfg))
        _one_line(rc, err, "hostile.toml")
    assert len(err) < 400, err
    assert not (tmp_path / "run").exists()
    fault_log.case("exit 2, one line")


def test_bundled_configs_and_normal_values_still_load():
    cfg = load_config("tiny_mri", ["train.lr=3e-4", "train.seed=9223372036854775807",
                                   "data.accelerations=[4.0]"])
    assert cfg.train.lr == 3e-4 and cfg.train.seed == 2**63 - 1
