"""The training state of a resumable checkpoint, checked against the run before it is loaded
(private; used by :mod:`.loop`).

``last.pt`` holds, next to the weights, the optimiser, scheduler and random states and a few
numbers of the run (:meth:`discofold.train.loop._Run.save_last`).  A crafted or damaged file can
hold anything there, and torch and the standard library report a wrong one from deep inside
(``KeyError: 'optimizer'``, ``Expected a CPUGeneratorImplState of size 5056``, ``state vector
is the wrong size``), or not at all: an optimiser moment of another shape is loaded and breaks
the first step.  So each entry is compared with what this run itself would save, its *template*
(same keys, same kinds of values, tensors of the same dtype and shape), and refused with one
line naming the entry; whatever a template cannot express is caught when the state is loaded
and reported the same way.
"""

from __future__ import annotations

import math

import torch

from ..errors import CheckpointError
from ._rng import capture, restore

__all__ = ["restore_training_state"]

_NUMBERS = ("best_val_loss", "elapsed_s")  # plain numbers of the run (first_loss may be None)
#: what torch, numpy and Python raise on a state of the wrong form
_LOAD_ERRORS = (KeyError, IndexError, TypeError, ValueError, AttributeError, RuntimeError,
                OverflowError)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).removeprefix('torch.')} tensor of shape {list(value.shape)}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    if value is None:
        return "None"
    kind = type(value).__name__
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def _mismatch(value, template, key: str, partial: bool = False) -> tuple[str, str] | None:
    """``(dotted key, what is wrong)`` for the first part of ``value`` of another kind than
    ``template`` (a missing key, another type, a tensor of another dtype or shape, a list of
    another length), or ``None``.  With ``partial``, keys missing from ``value`` are allowed
    (torch fills them in) and only the common ones are compared."""
    wrong = (key, f"is {_describe(value)}, but this run saves {_describe(template)}")
    if isinstance(template, torch.Tensor):
        same = isinstance(value, torch.Tensor) and value.dtype == template.dtype and \
            value.shape == template.shape
        return None if same else wrong
    if isinstance(template, (dict, list, tuple)):
        if isinstance(template, dict):
            if not isinstance(value, dict):
                return wrong
            pairs = [(f"{key}.{k}", k, t) for k, t in template.items()]
        else:
            if not isinstance(value, (list, tuple)) or len(value) != len(template):
                return wrong
            pairs = [(f"{key}[{i}]", i, t) for i, t in enumerate(template)]
        for sub, k, t in pairs:
            if isinstance(template, dict) and k not in value:
                if partial:
                    continue
                return sub, "is missing"
            bad = _mismatch(value[k], t, sub, partial)
            if bad:
                return bad
        return None
    if isinstance(template, bool):
        return None if isinstance(value, bool) else wrong
    if template is None or _is_number(template):  # None and numbers stand for each other
        return None if value is None or _is_number(value) else wrong
    return None if isinstance(value, type(template)) else wrong


def _refuse(where: str, key: str, detail: str) -> CheckpointError:
    return CheckpointError(f"{where}: its training state entry '{key}' {detail}; it cannot be "
                           "resumed (start a new run with --overwrite, or from its weights)")


def _check_optimizer_moments(state, optimizer, where: str) -> None:
    """Every saved per-parameter tensor (Adam's moments) has its parameter's shape and a
    floating dtype, and every index names a parameter (``load_state_dict`` checks neither; the
    first step would fail)."""
    if not isinstance(state, dict):
        raise _refuse(where, "optimizer.state", f"is {_describe(state)}, not a dictionary")
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for index, entry in state.items():
        if not isinstance(index, int) or not 0 <= index < len(params) or \
                not isinstance(entry, dict):
            raise _refuse(where, f"optimizer.state[{index!r}]", "does not belong to a "
                          f"parameter of this model ({len(params)} parameters)")
        for name, value in entry.items():
            if isinstance(value, torch.Tensor) and value.dim() > 0 and (
                    value.shape != params[index].shape or not value.is_floating_point()):
                raise _refuse(where, f"optimizer.state[{index}].{name}",
                              f"is {_describe(value)}, but its parameter has shape "
                              f"{list(params[index].shape)}")
            if not isinstance(value, torch.Tensor) and not _is_number(value):
                raise _refuse(where, f"optimizer.state[{index}].{name}",
                              f"is {_describe(value)}, not a tensor or a number")


def _check_numbers(ckpt: dict, where: str) -> None:
    for key in _NUMBERS:
        value = ckpt.get(key, 0.0)
        if not _is_number(value) or math.isnan(value) or (
                key == "elapsed_s" and not 0 <= value < math.inf):
            raise _refuse(where, key, f"is {str(value)[:40]!r}, not a number"
                          + (" of seconds >= 0" if key == "elapsed_s" else ""))
    first = ckpt.get("first_loss")
    if first is not None and (not _is_number(first) or not math.isfinite(first)):
        raise _refuse(where, "first_loss", f"is {str(first)[:40]!r}, not a finite number")


def _check(ckpt: dict, where: str, optimizer, scheduler, generators: dict) -> None:
    missing = [k for k in ("optimizer", "scheduler", "rng") if k not in ckpt]
    if missing:
        raise _refuse(where, missing[0], "is missing")
    rng = capture(generators)
    cuda = rng.pop("cuda")  # restored only where CUDA is available (and was saved)
    checks = [("optimizer", ckpt["optimizer"], optimizer.state_dict(), True),
              ("scheduler", ckpt["scheduler"], scheduler.state_dict(), True),
              ("rng", ckpt["rng"], rng, False)]
    saved_cuda = ckpt["rng"].get("cuda", []) if isinstance(ckpt["rng"], dict) else []
    if not isinstance(saved_cuda, list):
        raise _refuse(where, "rng.cuda", f"is {_describe(saved_cuda)}, not a list")
    if cuda and saved_cuda:
        checks.append(("rng.cuda", saved_cuda, cuda, False))
    for key, value, template, partial in checks:
        bad = _mismatch(value, template, key, partial)
        if bad:
            raise _refuse(where, *bad)
    _check_optimizer_moments(ckpt["optimizer"].get("state", {}), optimizer, where)
    _check_numbers(ckpt, where)


def restore_training_state(ckpt: dict, where: str, optimizer, scheduler,
                           generators: dict) -> None:
    """Load the optimiser, scheduler and random states of ``ckpt`` into this run.

    Parameters
    ----------
    ckpt : dict
        A resumable checkpoint (:func:`discofold.train.load_checkpoint`).
    where : str
        ``"checkpoint 'RUN/last.pt'"``, starts every message.
    optimizer, scheduler
        The run's ``torch.optim.Adam`` and ``LambdaLR``.
    generators : dict of str to torch.Generator
        The model's own generators (:func:`discofold.train._rng.find_generators`).

    Raises
    ------
    CheckpointError
        An entry missing or of another form than this run saves, naming it.
    """
    _check(ckpt, where, optimizer, scheduler, generators)
    for key, load in (("optimizer", optimizer.load_state_dict),
                      ("scheduler", scheduler.load_state_dict),
                      ("rng", lambda state: _restore_rng(state, generators, where))):
        try:
            load(ckpt[key])
        except CheckpointError:
            raise
        except _LOAD_ERRORS as exc:  # e.g. parameter groups of an older discofold
            message = " ".join(str(exc).split())[:160]
            raise _refuse(where, key, f"cannot be loaded ({type(exc).__name__}: "
                          f"{message})") from None


def _restore_rng(state: dict, generators: dict, where: str) -> None:
    missing = restore(state, generators)
    if missing:
        raise CheckpointError(f"{where} lacks the random state of {missing}")
