"""Training configuration: frozen dataclasses read from TOML, with dotted ``--set`` overrides.

A configuration file has three tables, ``[model]``, ``[data]`` and ``[train]`` (plus a top-level
``version``), whose keys are the fields of :class:`ModelConfig`, :class:`DataConfig` and
:class:`TrainConfig`.  ``[model.args]`` is passed to :func:`discofold.models.build` as it is.

>>> cfg = load_config("run.toml", overrides=["train.lr=3e-4", "model.args.chans=8"])
... # doctest: +SKIP

Unknown keys are rejected with the closest valid name (``train.lr_rate`` → "did you mean
'train.lr'?"); values are coerced to the field's type (``"3"`` → ``3``, ``4`` → ``4.0``, a TOML
array → a tuple) or rejected naming the key, the expected type and the value.  The reference of
every key is in ``docs/training.md``.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import reprlib
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, require
from ._config_limits import MAX_DEPTH, check_depth, check_numbers
from ._model_args import check_model_args

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10: tomli is a dependency there (pyproject.toml)
    tomllib = require("tomli", None, "reading TOML configs on Python 3.10")

__all__ = [
    "CONFIG_VERSION",
    "ModelConfig",
    "DataConfig",
    "TrainConfig",
    "Config",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "apply_overrides",
    "bundled_configs",
]

#: Bumped when the meaning of a key changes; checkpoints of another version are refused.
CONFIG_VERSION = 1

_DATA_KINDS = ("mri_simulated", "mri_files", "radar_simulated", "radar_files", "blockcs")
_LOSSES = ("ssim", "l1", "mse", "complex_l1", "nmse")
_SCHEDULES = ("cosine", "cosine_time", "step", "none")


@dataclass(frozen=True)
class ModelConfig:
    """``[model]``: which registered model, its constructor arguments and its init seed."""

    name: str = "varnet"
    args: dict = field(default_factory=dict)
    seed: int = 0
    #: recursions per stage at validation for recursive models (None: the model's default)
    eval_recursions: int | None = None


@dataclass(frozen=True)
class DataConfig:
    """``[data]``: where training examples come from (see :mod:`discofold.train.data`)."""

    kind: str = "mri_simulated"
    train_length: int = 256
    val_length: int = 16
    seed: int = 0
    num_workers: int = 0
    # MRI (simulated or files)
    shape: tuple[int, int] = (64, 64)
    #: simulated MRI at several matrix sizes / coil counts (override ``shape`` / ``num_coils``);
    #: every batch holds one (shape, coils) group (:class:`~discofold.train.data.StepBatchSampler`)
    shapes: tuple[tuple[int, int], ...] = ()
    coil_counts: tuple[int, ...] = ()
    patterns: tuple[tuple[str, float], ...] = (("equispaced", 4.0),)
    num_coils: int | None = 4
    source: str = "phantom"
    oversample: int = 2
    snr_db: tuple[float, ...] = ()
    # files (MRI or radar)
    train_files: tuple[str, ...] = ()
    val_files: tuple[str, ...] = ()
    # radar
    geometry: str = "S0"
    image_size: int | None = None
    scene: str = "points"
    apertures: tuple[str, ...] = ("random_pulses",)
    accelerations: tuple[float, ...] = (2.0,)
    reference: str = "nufft"
    # block CS
    block: int = 33
    ratios: tuple[float, ...] = (0.25,)
    random_projection: bool = False
    images: str = "phantom"
    flips: bool = True


@dataclass(frozen=True)
class TrainConfig:
    """``[train]``: optimiser, schedule, loss, logging and checkpoint cadence."""

    steps: int = 1000
    batch_size: int = 4
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "cosine"
    warmup_steps: int = 0
    step_size: int = 1000
    gamma: float = 0.5
    loss: str = "ssim"
    grad_clip: float = 1.0
    amp: bool = False
    device: str = "auto"
    seed: int = 0
    log_every: int = 10
    val_every: int = 100
    checkpoint_every: int = 100
    #: multiply the learning rate of DISCO weights by their ``lr_scale`` (see
    #: :func:`discofold.train.parameter_groups`); ``false`` only for ablations
    scale_disco_lr: bool = True
    #: validate the untrained model at step 0 (the first point of the learning curve)
    val_at_start: bool = True
    sanity_steps: int = 20
    sanity_factor: float = 50.0
    #: wall-clock seconds after which the run stops cleanly (0: no budget; see docs/training.md)
    time_budget_s: float = 0.0
    #: also write the scalars to RUN_DIR/tensorboard/ (needs the ``tensorboard`` extra)
    tensorboard: bool = False


@dataclass(frozen=True)
class Config:
    """A whole training configuration."""

    version: int = CONFIG_VERSION
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        _validate(self)

    def to_json(self) -> str:
        """The configuration as canonical JSON (sorted keys; stored in checkpoints)."""
        return json.dumps(config_to_dict(self), sort_keys=True)


_SECTIONS = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig}


# ----------------------------------------------------------------------------- coercion
def _suggest(key: str, valid, prefix: str) -> str:
    """`` (did you mean 'x'?)`` for the valid name closest to ``key`` (empty when none is)."""
    valid = list(valid)
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    if not close:  # "lr_rate" -> "lr": a valid name that starts the typo, or the other way
        close = sorted((v for v in valid if key.startswith(v) or v.startswith(key)),
                       key=len, reverse=True)[:1]
    if not close:
        close = difflib.get_close_matches(key, valid, n=1, cutoff=0.4)
    return f" (did you mean '{prefix}{close[0]}'?)" if close else ""


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp, key: str):
    """``value`` converted to the annotated type ``tp`` or a :class:`ConfigError`."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if isinstance(value, str) and value.lower() in ("none", "null") and type(None) in args:
            return None
        return _coerce(value, inner[0], key)
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            value = [value]  # a lone value where a list is expected
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"config key '{key}' needs {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}' must be a table, got {value!r}")
        return dict(value)
    return _scalar(value, tp, key)


def _scalar(value, tp, key: str):
    bad = ConfigError(f"config key '{key}' must be {_type_name(tp)}, got "
                      f"{reprlib.repr(value)}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise bad
    if tp is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(value) if isinstance(value, (int, str)) else _raise(bad)
        except ValueError:
            raise bad from None
    if tp is float:
        if isinstance(value, bool):
            raise bad
        try:
            return float(value) if isinstance(value, (int, float, str)) else _raise(bad)
        except ValueError:
            raise bad from None
    if tp is str:
        if isinstance(value, (dict, list, tuple)):
            raise bad
        return str(value)
    raise bad


def _raise(exc):
    raise exc


# ----------------------------------------------------------------------------- building
def _section(cls, table: Any, name: str):
    if not isinstance(table, dict):
        raise ConfigError(f"config section '[{name}]' must be a table, got {table!r}")
    hints = typing.get_type_hints(cls)
    valid = {f.name for f in dataclasses.fields(cls)}
    values = {}
    for key, value in table.items():
        if key not in valid:
            raise ConfigError(f"unknown config key '{name}.{key}'"
                              f"{_suggest(key, valid, name + '.')}")
        values[key] = _coerce(value, hints[key], f"{name}.{key}")
    return cls(**values)


def config_from_dict(table: dict) -> Config:
    """Build a :class:`Config` from nested dicts (a parsed TOML file)."""
    if not isinstance(table, dict):
        raise ConfigError(f"a configuration must be a table, got {type(table).__name__}")
    check_depth(table, "the configuration")
    valid = {"version", *_SECTIONS}
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in valid:
            raise ConfigError(f"unknown config key '{key}'{_suggest(key, valid, '')}")
        if key == "version":
            out[key] = _scalar(value, int, "version")
        else:
            out[key] = _section(_SECTIONS[key], value, key)
    return Config(**out)


def config_to_dict(cfg: Config) -> dict:
    """Nested plain dicts (tuples become lists) that :func:`config_from_dict` reads back."""

    def plain(v):
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    out: dict[str, Any] = {"version": cfg.version}
    for name in _SECTIONS:
        sec = getattr(cfg, name)
        out[name] = {f.name: plain(getattr(sec, f.name)) for f in dataclasses.fields(sec)}
    return out


def _parse_value(text: str):
    """A ``--set`` value: a TOML literal (``3``, ``1e-3``, ``true``, ``[1, 2]``) or a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except RecursionError:
        raise ConfigError(f"--set value {text[:40]!r}...: nested too deeply") from None
    except ValueError:  # TOMLDecodeError, or an integer of more than 4300 digits
        return text


def apply_overrides(table: dict, overrides) -> dict:
    """Apply ``["section.key=value", "model.args.chans=8", ...]`` to a nested dict (copied)."""
    check_depth(table, "the configuration")
    table = json.loads(json.dumps(table))  # deep copy of plain data
    for item in overrides or ():
        if "=" not in item:
            raise ConfigError(f"--set expects key.sub=value, got {item!r}")
        dotted, text = item.split("=", 1)
        parts = [p.strip() for p in dotted.strip().split(".")]
        if not all(parts):
            raise ConfigError(f"--set key must look like section.key, got {dotted!r}")
        node = table
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {dotted}: '{p}' is not a table")
        node[parts[-1]] = _parse_value(text.strip())
        check_depth(table, f"--set {dotted}")
    return table


def load_config(path: str | os.PathLike, overrides=None) -> Config:
    """Read a TOML configuration file and apply dotted overrides.

    Parameters
    ----------
    path : path
        TOML file (or the name of a bundled config, see :func:`bundled_configs`).
    overrides : list of str, optional
        ``"section.key=value"`` items (values are TOML literals or bare strings).

    Raises
    ------
    ConfigError
        Missing/unparsable file, unknown key (with a suggestion), or a wrong value.
    """
    p = Path(path)
    if not p.is_file():
        bundled = bundled_configs()
        if str(path) in bundled:
            p = bundled[str(path)]
        else:
            hint = _suggest(str(path), bundled, "")
            raise ConfigError(f"config file '{path}' does not exist{hint}")
    try:
        table = tomllib.loads(p.read_text(encoding="utf-8"))
    except RecursionError:
        raise ConfigError(f"config file '{p}': tables or arrays nested too deeply (more than "
                          f"{MAX_DEPTH} levels are refused)") from None
    except ValueError as exc:  # TOMLDecodeError, UnicodeDecodeError, a 4300-digit integer
        raise ConfigError(f"config file '{p}' is not valid TOML: {exc}") from None
    check_depth(table, f"config file '{p}'")
    return config_from_dict(_files_imply(apply_overrides(table, overrides), overrides))


#: the file kind a simulated kind becomes when files are given
_FILE_KIND = {"mri_simulated": "mri_files", "radar_simulated": "radar_files"}


def _files_imply(table: dict, overrides) -> dict:
    """Files given to a simulated data kind switch it to the file kind (simulation reads no
    files), unless ``--set data.kind`` asked for it (then :func:`_validate` refuses); for MRI
    files, ``data.shape`` not given with ``--set`` (a simulated matrix) is
    taken from the files (:func:`discofold.train._files.infer_mri_shape`)."""
    data = table.get("data")
    if not isinstance(data, dict):
        return table
    files = [data.get(k) for k in ("train_files", "val_files")]
    kind = data.get("kind", DataConfig.kind)
    if not any(files) or not isinstance(kind, str):
        return table
    given = {str(o).split("=", 1)[0].strip() for o in overrides or ()}
    if kind in _FILE_KIND and "data.kind" not in given:  # a --set kind is the user's word
        data["kind"] = kind = _FILE_KIND[kind]
        for key in ("shape", "shapes", "coil_counts"):  # the simulation's sizes
            if f"data.{key}" not in given:
                data.pop(key, None)
    if kind == "mri_files" and "shape" not in data:
        from ._files import infer_mri_shape

        train, val = (_coerce(f or (), tuple[str, ...], f"data.{k}")
                      for f, k in zip(files, ("train_files", "val_files")))
        data["shape"] = list(infer_mri_shape(train, val))
    return table


def bundled_configs() -> dict[str, Path]:
    """Example configurations shipped in ``discofold/configs``: name → path."""
    folder = Path(__file__).resolve().parent.parent / "configs"
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


# ----------------------------------------------------------------------------- validation
def _choice(value, options, key):
    if value not in options:
        raise ConfigError(f"config key '{key}' must be one of {list(options)}, got {value!r}"
                          f"{_suggest(str(value), options, '')}")


def _positive(value, key, zero_ok=False):
    if value < 0 or (value == 0 and not zero_ok):
        raise ConfigError(f"config key '{key}' must be {'>= 0' if zero_ok else '> 0'}, "
                          f"got {value}")


def _validate(cfg: Config) -> None:
    if cfg.version != CONFIG_VERSION:
        raise ConfigError(f"config version {cfg.version} is not supported (this discofold reads "
                          f"version {CONFIG_VERSION})")
    check_numbers(cfg, tuple(_SECTIONS))
    check_model_args(cfg.model.name, cfg.model.args)
    d, t = cfg.data, cfg.train
    _choice(d.kind, _DATA_KINDS, "data.kind")
    _choice(t.loss, _LOSSES, "train.loss")
    _choice(t.schedule, _SCHEDULES, "train.schedule")
    _choice(t.device, ("auto", "cpu", "cuda"), "train.device")
    for key in ("steps", "batch_size", "log_every", "val_every", "checkpoint_every", "step_size"):
        _positive(getattr(t, key), f"train.{key}")
    _positive(t.lr, "train.lr")
    _positive(t.sanity_factor, "train.sanity_factor")
    for key in ("warmup_steps", "grad_clip", "weight_decay", "sanity_steps", "time_budget_s"):
        _positive(getattr(t, key), f"train.{key}", zero_ok=True)
    if t.schedule == "cosine_time" and t.time_budget_s == 0:
        raise ConfigError("train.schedule = 'cosine_time' anneals over the time budget; set "
                          "train.time_budget_s > 0 (or use train.schedule = 'cosine')")
    _positive(d.train_length, "data.train_length")
    _positive(d.val_length, "data.val_length", zero_ok=True)
    _positive(d.num_workers, "data.num_workers", zero_ok=True)
    if t.loss == "complex_l1" and d.kind not in ("radar_simulated", "radar_files"):
        raise ConfigError("train.loss = 'complex_l1' needs complex targets (radar data); "
                          f"data.kind is {d.kind!r}")
    for sh in d.shapes:
        if len(sh) != 2 or min(sh) < 8:
            raise ConfigError(f"config key 'data.shapes' holds {list(sh)}: every shape must be "
                              "[H, W] with H, W >= 8")
    for c in d.coil_counts:
        _positive(c, "data.coil_counts")
    if (d.train_files or d.val_files) and not d.kind.endswith("_files"):
        raise ConfigError(f"data.train_files / data.val_files are read by data.kind = "
                          f"'mri_files' or 'radar_files', but data.kind is {d.kind!r}"
                          + (" (block CS reads images from data.images)"
                             if d.kind == "blockcs" else
                             f"; set data.kind = {_FILE_KIND[d.kind]!r}"))
    if (d.shapes or d.coil_counts) and d.kind != "mri_simulated":
        raise ConfigError(f"data.shapes / data.coil_counts apply to data.kind = "
                          f"'mri_simulated' only, not {d.kind!r} (files keep their own sizes; "
                          "use data.shape)")
    if not d.patterns or not d.ratios or not d.accelerations or not d.apertures:
        raise ConfigError("data.patterns, data.ratios, data.apertures and data.accelerations "
                          "must not be empty")
