"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)`` only.

A checkpoint is a dict of tensors and plain values (no pickled objects):

=================== ==========================================================================
key                 value
=================== ==========================================================================
``format``          ``"discofold-checkpoint"`` and ``format_version`` (int)
``model_name``      registered model name (:func:`discofold.models.build`)
``config``          the training configuration as JSON (:meth:`Config.to_json`)
``config_version``  :data:`discofold.train.config.CONFIG_VERSION` when it was written
``discofold``       the discofold version that wrote it
``state_dict``      the model weights (loaded with strict key matching)
``step``            optimiser steps taken
``metrics``         e.g. the validation loss of ``best.pt``
``resumable``       whether ``optimizer``/``scheduler``/``scaler``/``rng`` are present
=================== ==========================================================================

Loading never executes code from the file: ``weights_only=True`` refuses every pickled object
that is not a tensor or a plain container, and such a file raises :class:`CheckpointError`.
"""

from __future__ import annotations

import json
import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._version import __version__
from ..data._atomic import atomic_write
from ..errors import CheckpointError, ConfigError
from .config import CONFIG_VERSION, Config, config_from_dict

__all__ = [
    "FORMAT",
    "save_checkpoint",
    "load_checkpoint",
    "load_state_strict",
    "checkpoint_config",
    "build_from_checkpoint",
    "resolve_checkpoint",
    "check_resume_compatible",
]

FORMAT = "discofold-checkpoint"
_FORMAT_VERSION = 1
#: keys that may differ when resuming: they do not change the result, or (``train.time_budget_s``)
#: only where it stops, so that a run stopped by its time budget can continue with a larger one
_FREE_ON_RESUME = ("data.num_workers", "train.log_every", "train.time_budget_s")
_REQUIRED = ("format", "format_version", "model_name", "config", "config_version", "state_dict",
             "step")


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) \
        else model


def save_checkpoint(path: str | os.PathLike, model: nn.Module, config: Config, *, step: int,
                    training_state: dict | None = None, metrics: dict | None = None) -> Path:
    """Write a checkpoint atomically (temporary file + rename), replacing ``path``.

    Parameters
    ----------
    path : path
        Target file (its folder must exist).
    model : nn.Module
        The model (a DDP wrapper is unwrapped).
    config : Config
        Configuration of the run.
    step : int
        Optimiser steps taken.
    training_state : dict, optional
        ``optimizer``, ``scheduler``, ``scaler``, ``rng`` states; makes the file resumable.
    metrics : dict, optional
        Plain numbers (e.g. validation loss).
    """
    state = {k: v.detach().cpu() for k, v in _unwrap(model).state_dict().items()}
    payload: dict[str, Any] = {
        "format": FORMAT, "format_version": _FORMAT_VERSION, "discofold": __version__,
        "model_name": config.model.name, "config": config.to_json(),
        "config_version": CONFIG_VERSION, "state_dict": state, "step": int(step),
        "metrics": dict(metrics or {}), "resumable": training_state is not None,
    }
    if training_state is not None:
        payload.update(training_state)
    path = Path(path)
    with atomic_write(path, overwrite=True) as tmp:
        torch.save(payload, tmp)
    return path


def resolve_checkpoint(name_or_path: str | os.PathLike) -> Path:
    """A checkpoint path, or the path of a bundled checkpoint called ``name_or_path``."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    bundled = Path(__file__).resolve().parent.parent / "pretrained" / f"{name_or_path}.pt"
    if bundled.is_file():
        return bundled
    if p.is_dir():
        raise CheckpointError(f"checkpoint '{p}' is a folder, not a checkpoint file")
    raise CheckpointError(f"checkpoint '{name_or_path}' does not exist (neither a file nor a "
                          "bundled checkpoint name)")


def load_checkpoint(path: str | os.PathLike, *, model_name: str | None = None,
                    map_location: str | torch.device = "cpu") -> dict:
    """Read and validate a checkpoint (``torch.load(weights_only=True)``, never unpickling code).

    Parameters
    ----------
    path : path or bundled name
    model_name : str, optional
        Refuse a checkpoint made for another model.

    Raises
    ------
    CheckpointError
        Missing, unreadable, corrupt or untrusted file; another model; another config version.
    """
    p = resolve_checkpoint(path)
    try:
        ckpt = torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise _unpickling_error(p, str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - garbage bytes fail anywhere in the unpickler
        raise CheckpointError(f"checkpoint '{p}' is corrupt or not a checkpoint "
                              f"({type(exc).__name__}: {str(exc)[:200]})") from None
    _check_format(ckpt, p)
    if model_name is not None and ckpt["model_name"] != model_name:
        raise CheckpointError(f"checkpoint '{p}' was made for model '{ckpt['model_name']}', not "
                              f"'{model_name}'")
    return ckpt


def _unpickling_error(p: Path, text: str) -> CheckpointError:
    """The refusal of ``weights_only=True``: a foreign object (untrusted) or garbage (corrupt)."""
    detail = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if detail:
        return CheckpointError(f"checkpoint '{p}' holds a pickled object ({detail.group(1)}) "
                               "that is not plain weights; it was refused and nothing in it was "
                               "run")
    return CheckpointError(f"checkpoint '{p}' is corrupt or not a checkpoint (it cannot be read "
                           "as plain weights)")


def _check_format(ckpt, p: Path) -> None:
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint '{p}' is not a discofold checkpoint (no "
                              f"format='{FORMAT}' entry)")
    missing = [k for k in _REQUIRED if k not in ckpt]
    if missing:
        raise CheckpointError(f"checkpoint '{p}' is incomplete: missing {missing}")
    if ckpt["format_version"] != _FORMAT_VERSION:
        raise CheckpointError(f"checkpoint '{p}' has format version {ckpt['format_version']}; "
                              f"this discofold reads version {_FORMAT_VERSION}")
    if ckpt["config_version"] != CONFIG_VERSION:
        raise CheckpointError(f"checkpoint '{p}' was written for config version "
                              f"{ckpt['config_version']} (discofold {ckpt.get('discofold')}); "
                              f"this discofold uses config version {CONFIG_VERSION}")


def checkpoint_config(ckpt: dict) -> Config:
    """The :class:`Config` stored in a checkpoint."""
    try:
        return config_from_dict(json.loads(ckpt["config"]))
    except (json.JSONDecodeError, TypeError, ConfigError) as exc:
        raise CheckpointError(f"the checkpoint's stored config cannot be read: {exc}") from None


def load_state_strict(model: nn.Module, state_dict: dict, where: str = "checkpoint") -> None:
    """``model.load_state_dict(state_dict, strict=True)`` with a message naming the keys.

    Modules with an ``upgrade_state_dict(state_dict, prefix)`` method first rename the keys of
    a former parametrisation (e.g. :class:`~discofold.models.SoftDC`'s unconstrained
    ``weight``); the caller's dictionary is not modified."""
    model = _unwrap(model)
    state_dict = dict(state_dict)
    for prefix, module in model.named_modules():  # keys of former parametrisations
        upgrade = getattr(module, "upgrade_state_dict", None)
        if callable(upgrade):
            upgrade(state_dict, prefix + "." if prefix else "")
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    if missing or unexpected:
        raise CheckpointError(f"{where} does not match the model {type(model).__name__}: "
                              f"missing keys {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                              f"unexpected keys {unexpected[:5]}"
                              f"{'...' if len(unexpected) > 5 else ''}")
    bad = [f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
           for k, v in state_dict.items() if tuple(v.shape) != tuple(own[k].shape)]
    if bad:
        raise CheckpointError(f"{where} has tensors of other shapes than the model (another "
                              f"model config?): {bad[:3]}")
    model.load_state_dict(state_dict, strict=True)


def build_from_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu",
                          model_name: str | None = None) -> tuple[nn.Module, Config, dict]:
    """Build the checkpoint's model from its stored config and load the weights strictly.

    Returns
    -------
    model : nn.Module
        In eval mode on ``device``.
    config : Config
    checkpoint : dict
        The raw checkpoint (step, metrics, ...).
    """
    from ..models import build

    ckpt = load_checkpoint(path, model_name=model_name)
    cfg = checkpoint_config(ckpt)
    try:
        model = build(cfg.model.name, **cfg.model.args)
    except ConfigError as exc:
        raise CheckpointError(f"checkpoint '{path}': its model cannot be built: {exc}") from None
    load_state_strict(model, ckpt["state_dict"], f"checkpoint '{path}'")
    return model.to(device).eval(), cfg, ckpt


def check_resume_compatible(ckpt: dict, config: Config, where: str) -> None:
    """Refuse to resume from a checkpoint of another model or configuration."""
    if not ckpt.get("resumable"):
        raise CheckpointError(f"{where} holds weights only (no optimiser/RNG state); it cannot "
                              "be resumed")
    if ckpt["model_name"] != config.model.name:
        raise CheckpointError(f"{where} was made for model '{ckpt['model_name']}', but the "
                              f"config asks for '{config.model.name}'")
    old = json.loads(ckpt["config"])
    new = json.loads(config.to_json())
    diff = [f"{s}.{k}" for s in new if isinstance(new[s], dict)
            for k in new[s] if old.get(s, {}).get(k) != new[s][k]
            and f"{s}.{k}" not in _FREE_ON_RESUME]
    if diff:
        raise CheckpointError(f"{where} was made with another config; differing keys: {diff} "
                              "(resume needs the same config; start a new run instead)")
