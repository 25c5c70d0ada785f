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
Nor is a file's content trusted to be sane: every entry has the type the loaders expect
(``format_version`` an integer, ``step`` an integer in [0, 2**63), ``config`` a JSON object,
``state_dict`` a dictionary with string keys; the training state of a resumable file is checked
by :mod:`discofold.train._resume`), weights of another dtype kind than the model's
(complex or integer where real floating point is expected) are refused rather than cast, and the
stored model config is bounded (:func:`check_model_limits`) before the model is built.  Nor is
the archive trusted: its zip members may not expand beyond the file's own size by more than the
limit ``checkpoint_inflation`` (torch writes them uncompressed; a deflated member is a zip bomb),
read from the zip directory before ``torch.load``.  The limits (:mod:`discofold._limits`) are
raised with ``--limit KEY=VALUE``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import _limits
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
    "bundled_checkpoints",
    "file_sha256",
    "check_resume_compatible",
    "check_model_limits",
]

FORMAT = "discofold-checkpoint"
_FORMAT_VERSION = 1
#: keys that may differ when resuming: they do not change the result, or (``train.time_budget_s``)
#: only where it stops, so that a run stopped by its time budget can continue with a larger one
_FREE_ON_RESUME = ("data.num_workers", "train.log_every", "train.time_budget_s",
                   "train.tensorboard")
_REQUIRED = ("format", "format_version", "model_name", "config", "config_version", "state_dict",
             "step")
#: model arguments that are loop counts (passes, cascades, iterations) and U-Net depths
_COUNT_KEYS = ("recursions", "r_max", "cascades", "num_cascades", "stages", "phases", "blocks",
               "n_layers", "n_iter")
_DEPTH_KEYS = ("pools", "num_pools", "kspace_pools", "sens_pools", "levels", "fan_levels")
_PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained"
_HASHES: dict[tuple[str, int, int], str] = {}


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
    path = Path(path)
    try:
        state = {k: v.detach().cpu() for k, v in _unwrap(model).state_dict().items()}
    except (torch.OutOfMemoryError, MemoryError) as exc:
        raise _memory_error(path, exc) from None
    payload: dict[str, Any] = {
        "format": FORMAT, "format_version": _FORMAT_VERSION, "discofold": __version__,
        "model_name": config.model.name, "config": config.to_json(),
        "config_version": CONFIG_VERSION, "state_dict": state, "step": int(step),
        "metrics": dict(metrics or {}), "resumable": training_state is not None,
    }
    if training_state is not None:
        payload.update(training_state)
    with atomic_write(path, overwrite=True) as tmp:
        _write(payload, tmp, path)
    return path


def _memory_error(path: Path, exc: BaseException) -> MemoryError:
    """One line naming the checkpoint for an out-of-memory error while it is written."""
    text = str(exc).split(" If reserved but unallocated")[0].split(" See documentation")[0]
    detail = " ".join(text.split())[:240] or "allocation failed"  # no allocator advice
    return MemoryError(f"{detail}; while saving checkpoint '{path}' (nothing written)")


def _write(payload: dict, tmp: Path, path: Path) -> None:
    """``torch.save`` into the temporary file ``tmp`` of checkpoint ``path``.

    Written through a Python file object, so that a failing write (disk full, quota, I/O error)
    raises the :class:`OSError` of the operating system with its errno; torch's own writer,
    given a path, reports it as ``RuntimeError: [enforce fail at inline_container.cc] ...``
    with no errno, and such an error is still turned into an :class:`OSError` naming ``path``
    (``ENOSPC`` when the file system has no space left, else ``EIO``).  Out of memory while
    serialising raises :class:`MemoryError` naming ``path``.
    """
    try:
        with open(tmp, "wb") as fh:
            torch.save(payload, fh)
    except (torch.OutOfMemoryError, MemoryError) as exc:
        raise _memory_error(path, exc) from None
    except OSError as exc:
        if exc.filename is not None or not exc.strerror:
            raise
        raise OSError(exc.errno, f"{exc.strerror} while saving the checkpoint (nothing "
                      "written)", str(path)) from None
    except RuntimeError as exc:
        if isinstance(exc.__cause__ or exc.__context__, OSError):
            raise  # atomic_write reports the OSError behind it
        try:
            st = os.statvfs(path.parent)
            full = st.f_bavail * st.f_frsize < (1 << 20)
        except (OSError, AttributeError):  # no statvfs (Windows): say what is known
            full = False
        code = errno.ENOSPC if full else errno.EIO
        detail = " ".join(str(exc).split())[:120]
        raise OSError(code, f"{os.strerror(code)} while saving the checkpoint (nothing "
                      f"written; torch: {detail})", str(path)) from None


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of the file ``path`` (cached per path, size and modification time)."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def bundled_checkpoints() -> dict[str, dict]:
    """The bundled checkpoints: ``discofold/pretrained/manifest.json`` (name → ``file``,
    ``model``, ``sha256``, ``bytes``, ``step``, ``validation``, ...)."""
    path = _PRETRAINED / "manifest.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"the bundled-checkpoint manifest '{path}' cannot be read: "
                              f"{exc}") from None
    if not isinstance(doc, dict) or not all(isinstance(v, dict) and "file" in v and "sha256" in v
                                            for v in doc.values()):
        raise CheckpointError(f"the bundled-checkpoint manifest '{path}' is malformed: every "
                              "entry needs 'file' and 'sha256'")
    return doc


def _bundled_path(name: str) -> Path | None:
    """The file of the bundled checkpoint ``name`` after checking its sha256 against the
    manifest; ``None`` when ``name`` is not a bundled checkpoint."""
    manifest = bundled_checkpoints()
    entry = manifest.get(str(name))
    if entry is None:
        if (_PRETRAINED / f"{name}.pt").is_file():
            raise CheckpointError(f"bundled checkpoint '{name}' is not listed in "
                                  f"'{_PRETRAINED / 'manifest.json'}', so its sha256 cannot be "
                                  "checked; rerun scripts/bundle_checkpoints.py")
        return None
    path = _PRETRAINED / str(entry["file"])
    if not path.is_file():
        raise CheckpointError(f"bundled checkpoint '{name}': its file '{path}' is missing "
                              "(reinstall discofold)")
    actual = file_sha256(path)
    if actual != entry["sha256"]:
        raise CheckpointError(f"bundled checkpoint '{name}' ('{path}') has sha256 {actual}, but "
                              f"the manifest lists {entry['sha256']}: the file is damaged or was "
                              "replaced; reinstall discofold (or rerun "
                              "scripts/bundle_checkpoints.py after retraining)")
    return path


def resolve_checkpoint(name_or_path: str | os.PathLike) -> Path:
    """A checkpoint path, or the path of the bundled checkpoint called ``name_or_path``.

    A bundled name (:func:`bundled_checkpoints`) is resolved only after its file's sha256 has
    been checked against the manifest; a path is taken as given.

    Raises
    ------
    CheckpointError
        Neither a file nor a bundled name; a folder; a bundled file whose sha256 differs from
        the manifest's.
    """
    p = Path(name_or_path)
    if p.is_file():
        return p
    bundled = _bundled_path(str(name_or_path)) if p.name == str(name_or_path) else None
    if bundled is not None:
        return bundled
    if p.is_dir():
        raise CheckpointError(f"checkpoint '{p}' is a folder, not a checkpoint file")
    names = ", ".join(sorted(bundled_checkpoints()))
    raise CheckpointError(f"checkpoint '{name_or_path}' does not exist (neither a file nor a "
                          f"bundled checkpoint name; bundled: {names})")


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
    _check_inflation(p)
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


def _check_inflation(p: Path) -> None:
    """Refuse a zip archive whose members expand beyond the file's size by more than the limit
    ``checkpoint_inflation``, from the sizes in its zip directory (nothing is decompressed).
    A file that is not a zip archive is left to ``torch.load`` (which refuses it)."""
    try:
        with zipfile.ZipFile(p) as archive:
            members = archive.infolist()
        on_disk = p.stat().st_size
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return
    total = sum(m.file_size for m in members)
    if total - on_disk > _limits.get("checkpoint_inflation"):
        packed = [m for m in members if m.compress_type != zipfile.ZIP_STORED]
        biggest = max(members, key=lambda m: m.file_size)
        raise CheckpointError(
            f"checkpoint '{p}' ({on_disk} bytes) declares {total} bytes in its {len(members)} "
            f"zip members ({len(packed)} compressed; largest '{biggest.filename}' "
            f"{biggest.file_size} bytes): a zip bomb, refused before reading it; "
            f"{_limits.hint('checkpoint_inflation', total - on_disk)}")


def _unpickling_error(p: Path, text: str) -> CheckpointError:
    """The refusal of ``weights_only=True``: a foreign object (untrusted) or garbage (corrupt)."""
    detail = re.search(r"Unsupported global: GLOBAL (\S+)", text) or \
        re.search(r"unsupported GLOBAL (\S+)", text, re.IGNORECASE)  # torch >= 2.13 wording
    if detail:
        return CheckpointError(f"checkpoint '{p}' holds a pickled object ({detail.group(1)}) "
                               "that is not plain weights; it was refused and nothing in it was "
                               "run")
    return CheckpointError(f"checkpoint '{p}' is corrupt or not a checkpoint (it cannot be read "
                           "as plain weights)")


def _kind(value) -> str:
    return type(value).__name__


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_entries(ckpt: dict, p: Path) -> None:
    """The type of every entry the loaders read, so that no later comparison or conversion
    (``format_version != 1`` on a tensor, ``int(step)`` of a string, ``json.loads`` of a
    number) fails inside torch or the standard library; one line naming the entry."""
    def bad(key: str, expected: str, value) -> CheckpointError:
        kind = _kind(value)
        shown = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            shown += f" ({str(value)[:40]!r})"
        return CheckpointError(f"checkpoint '{p}': entry '{key}' is {shown}, not {expected}; "
                               "the file was not written by discofold or was altered")

    for key in ("format_version", "config_version"):
        if not _is_int(ckpt[key]):
            raise bad(key, "an integer", ckpt[key])
    for key in ("model_name", "config"):
        if not isinstance(ckpt[key], str):
            raise bad(key, "a string", ckpt[key])
    if not _is_int(ckpt["step"]) or not 0 <= ckpt["step"] < 2**63:
        raise bad("step", "an integer in [0, 2**63)", ckpt["step"])
    if not isinstance(ckpt["state_dict"], dict) or \
            not all(isinstance(k, str) for k in ckpt["state_dict"]):
        raise bad("state_dict", "a dictionary of tensors with string keys",
                  ckpt["state_dict"])
    if not isinstance(ckpt.get("metrics", {}), dict):
        raise bad("metrics", "a dictionary", ckpt["metrics"])
    if not isinstance(ckpt.get("resumable", False), bool):
        raise bad("resumable", "true or false", ckpt["resumable"])
    try:
        config = json.loads(ckpt["config"])
    except (ValueError, RecursionError) as exc:  # or an integer of more than 4300 digits
        raise CheckpointError(f"checkpoint '{p}': entry 'config' is not valid JSON "
                              f"({str(exc)[:80]})") from None
    if not isinstance(config, dict) or not all(isinstance(v, dict) for k, v in config.items()
                                               if k != "version"):
        raise CheckpointError(f"checkpoint '{p}': entry 'config' is not a JSON object of "
                              "[model], [data] and [train] tables")


def _check_format(ckpt, p: Path) -> None:
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("format"), str) or \
            ckpt["format"] != FORMAT:
        raise CheckpointError(f"checkpoint '{p}' is not a discofold checkpoint (no "
                              f"format='{FORMAT}' entry)")
    missing = [k for k in _REQUIRED if k not in ckpt]
    if missing:
        raise CheckpointError(f"checkpoint '{p}' is incomplete: missing {missing}")
    _check_entries(ckpt, p)
    if ckpt["format_version"] != _FORMAT_VERSION:
        raise CheckpointError(f"checkpoint '{p}' has format version {ckpt['format_version']}; "
                              f"this discofold reads version {_FORMAT_VERSION}")
    if ckpt["config_version"] != CONFIG_VERSION:
        raise CheckpointError(f"checkpoint '{p}' was written for config version "
                              f"{ckpt['config_version']} (discofold {ckpt.get('discofold')}); "
                              f"this discofold uses config version {CONFIG_VERSION}")


def checkpoint_config(ckpt: dict, where: str = "the checkpoint") -> Config:
    """The :class:`Config` stored in a checkpoint; ``where`` (e.g. ``"checkpoint 'x.pt'"``)
    starts the message of the :class:`CheckpointError` raised when it cannot be read."""
    try:
        return config_from_dict(json.loads(ckpt["config"]))
    except (json.JSONDecodeError, RecursionError, TypeError, ConfigError) as exc:
        message = " ".join(str(exc).split())
        raise CheckpointError(f"{where}: its stored config cannot be read: {message}") from None


def load_state_strict(model: nn.Module, state_dict: dict, where: str = "checkpoint") -> None:
    """``model.load_state_dict(state_dict, strict=True)`` with a message naming the keys.

    Modules with an ``upgrade_state_dict(state_dict, prefix)`` method first rename the keys of
    a former parametrisation (e.g. :class:`~discofold.models.SoftDC`'s unconstrained
    ``weight``); the caller's dictionary is not modified."""
    model = _unwrap(model)
    if not isinstance(state_dict, dict):
        raise CheckpointError(f"{where}: its state_dict is a {type(state_dict).__name__}, not a "
                              "dictionary of tensors")
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
    _check_tensor_kinds(state_dict, own, where)
    bad = [f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
           for k, v in state_dict.items() if tuple(v.shape) != tuple(own[k].shape)]
    if bad:
        raise CheckpointError(f"{where} has tensors of other shapes than the model (another "
                              f"model config?): {bad[:3]}")
    model.load_state_dict(state_dict, strict=True)


def _dtype_kind(dtype: torch.dtype) -> str:
    """``"complex"``, ``"real floating"`` or ``"integer/bool"``: what a dtype can hold."""
    if dtype.is_complex:
        return "complex"
    return "real floating" if dtype.is_floating_point else "integer/bool"


def _check_tensor_kinds(state_dict: dict, own: dict, where: str) -> None:
    """Refuse a value that is not a tensor, or a tensor whose dtype is of another kind than the
    model's (``load_state_dict`` would silently cast it: a complex weight loses its imaginary
    part, an integer one its fraction), naming the first such key."""
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{where}: state_dict entry '{key}' is a "
                                  f"{type(value).__name__}, not a tensor")
        want = own[key].dtype
        if _dtype_kind(value.dtype) != _dtype_kind(want):
            raise CheckpointError(f"{where}: tensor '{key}' has dtype "
                                  f"{str(value.dtype).removeprefix('torch.')} "
                                  f"({_dtype_kind(value.dtype)}), but the model expects "
                                  f"{str(want).removeprefix('torch.')} ({_dtype_kind(want)}); "
                                  "refused rather than silently converted")


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
    cfg = checkpoint_config(ckpt, f"checkpoint '{path}'")
    check_model_limits(cfg, ckpt["state_dict"], f"checkpoint '{path}'")
    try:
        model = build(cfg.model.name, **cfg.model.args)
    except ConfigError as exc:
        raise CheckpointError(f"checkpoint '{path}': its model cannot be built: {exc}") from None
    load_state_strict(model, ckpt["state_dict"], f"checkpoint '{path}'")
    return model.to(device).eval(), cfg, ckpt


def _over_limit(where: str, key: str, value, limit: str, what: str) -> CheckpointError:
    needed = value if isinstance(value, (int, float)) and math.isfinite(value) else None
    return CheckpointError(f"{where}: its stored config asks for {key} = {value!r} {what}, more "
                           f"than a checkpoint may ask for; refused before any work started; "
                           f"{_limits.hint(limit, needed)}")


def _bounded_int(where: str, key: str, value, limit: str, what: str) -> None:
    """Refuse ``value`` unless it is a number ``<= `` the limit ``limit`` (bools and strings are
    left to the model's own checks)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if not value <= _limits.get(limit):  # NaN fails too
        raise _over_limit(where, key, value, limit, what)


def check_model_limits(config: Config, state_dict, where: str = "checkpoint") -> None:
    """Bound the work a checkpoint's stored model config asks for, before the model is built.

    A strict load matches the weights to the config's parameter shapes, but loop counts
    (``recursions``, ``cascades``, ``n_iter``, ...) and depths carry no weights of their own,
    and building a model of a huge config takes as long as running it; so loop counts are at
    most the limit ``count``, U-Net depths at most ``depth``, and both the stored weights and the
    model the config describes (counted on the ``meta`` device, nothing allocated) at most
    ``parameters`` values (:mod:`discofold._limits`; raised with ``--limit KEY=VALUE``).  What
    depends on the grid is bounded by the DISCO layers once the grid is known: a radius beyond
    the grid is refused, and a stencil (basis functions × grid points under the kernel) larger
    than the limit ``stencil`` (:class:`~discofold.layers.DiscoConv2d`).

    Raises
    ------
    CheckpointError
        Naming the config key (or ``state_dict``) and its value.
    """
    from ..models import parameter_count

    args = config.model.args
    for key in _COUNT_KEYS:
        _bounded_int(where, f"model.args.{key}", args.get(key), "count", "passes")
    _bounded_int(where, "model.eval_recursions", config.model.eval_recursions, "count",
                 "passes")
    for key in _DEPTH_KEYS:
        _bounded_int(where, f"model.args.{key}", args.get(key), "depth", "levels")
    limit = _limits.get("parameters")
    if isinstance(state_dict, dict):
        stored = sum(v.numel() for v in state_dict.values() if isinstance(v, torch.Tensor))
        if stored > limit:
            raise _over_limit(where, "state_dict (values)", stored, "parameters", "values")
    try:
        with torch.random.fork_rng(devices=[]):  # building draws initial weights
            wanted = parameter_count(config.model.name, **args)
    except (ConfigError, TypeError, ValueError):
        return  # an unbuildable config is reported by the build itself
    if wanted > limit:
        raise _over_limit(where, "model.args (parameters)", wanted, "parameters", "parameters")


def check_resume_compatible(ckpt: dict, config: Config, where: str) -> None:
    """Refuse to resume from a checkpoint of another model or configuration.

    The keys of ``_FREE_ON_RESUME`` may differ, and ``train.steps`` may grow (a run continued
    for longer; the cosine schedule then anneals over the new total)."""
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
            and f"{s}.{k}" not in (*_FREE_ON_RESUME, "train.steps")]
    if diff:
        raise CheckpointError(f"{where} was made with another config; differing keys: {diff} "
                              "(resume needs the same config; start a new run instead)")
    steps = old.get("train", {}).get("steps")
    if isinstance(steps, int) and config.train.steps < steps:  # a longer run is allowed
        raise CheckpointError(f"{where} was made with train.steps = {steps}; a resumed run may "
                              f"extend it but not shorten it (got {config.train.steps})")
