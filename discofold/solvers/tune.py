"""Grid search of regularisation weights on a validation split (never on the test images)."""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import torch

from ..errors import DivergenceError, InputError

__all__ = ["tune", "TuneResult", "load_tuned"]


@dataclass
class TuneResult:
    """Outcome of :func:`tune`.

    Attributes
    ----------
    params : dict
        The chosen values (best mean validation score).
    score : float
        Their mean validation score.
    mode : str
        ``"max"`` or ``"min"``.
    table : list of dict
        Every grid point: ``{"params", "score", "diverged"}``.
    """

    params: dict
    score: float
    mode: str
    table: list = field(default_factory=list)


def _grid(param_grid: Mapping[str, Sequence]) -> list[dict]:
    if not param_grid:
        raise InputError("tune: param_grid is empty")
    names = list(param_grid)
    for name in names:
        if isinstance(param_grid[name], (str, bytes)) or len(param_grid[name]) == 0:
            raise InputError(f"tune: param_grid[{name!r}] must be a non-empty list of values")
    return [dict(zip(names, vals)) for vals in itertools.product(*param_grid.values())]


def _score(solver, params, val_set, metric, solver_kwargs) -> tuple[float, bool]:
    scores = []
    for y, op, target in val_set:
        try:
            estimate = solver(y, op, **solver_kwargs, **params)
        except DivergenceError:
            return math.nan, True
        scores.append(float(metric(target, estimate)))
    return sum(scores) / len(scores), False


def tune(
    solver: Callable[..., torch.Tensor],
    param_grid: Mapping[str, Sequence],
    val_set: Iterable[tuple],
    metric: Callable,
    mode: str = "max",
    path: str | os.PathLike | None = None,
    solver_kwargs: Mapping | None = None,
    overwrite: bool = False,
) -> TuneResult:
    """Choose solver parameters by grid search on a validation set.

    Parameters
    ----------
    solver : callable
        ``solver(y, op, **solver_kwargs, **params) -> x_hat`` (e.g. :func:`fista`, :func:`tv`).
    param_grid : mapping
        ``{"lam": [1e-3, 1e-2], ...}``; every combination is tried.
    val_set : iterable of ``(y, op, target)``
        The validation split (kept in memory: it is traversed once per grid point).
    metric : callable
        ``metric(target, x_hat) -> float`` (e.g. ``lambda t, x: psnr(t, x.abs())``); averaged.
    mode : {"max", "min"}
        Whether a larger (PSNR, SSIM) or smaller (NMSE) score is better.
    path : path, optional
        JSON file written atomically with the chosen values, their score and the whole table
        (store it next to the results; benchmarks then read it with :func:`load_tuned`).
    solver_kwargs : mapping, optional
        Fixed arguments (``max_iter``, ``transform``...) recorded in the JSON too.
    overwrite : bool
        Replace an existing ``path`` (default: refuse).

    Returns
    -------
    TuneResult
        Grid points whose solver raised :class:`DivergenceError` are recorded and never chosen.
    """
    if mode not in ("max", "min"):
        raise InputError(f"tune: mode must be 'max' or 'min', got {mode!r}")
    grid, data = _grid(param_grid), list(val_set)
    if not data:
        raise InputError("tune: the validation set is empty")
    fixed = dict(solver_kwargs or {})
    if path is not None:
        from ..data._atomic import check_writable

        check_writable(path, overwrite)
    table = []
    for params in grid:
        score, diverged = _score(solver, params, data, metric, fixed)
        table.append({"params": params, "score": score, "diverged": diverged})
    valid = [row for row in table if not row["diverged"] and math.isfinite(row["score"])]
    if not valid:
        raise DivergenceError("tune: every grid point diverged or gave a non-finite score")
    pick = max if mode == "max" else min
    best = pick(valid, key=lambda row: row["score"])
    result = TuneResult(dict(best["params"]), best["score"], mode, table)
    if path is not None:
        _write(path, result, solver, fixed, len(data), overwrite)
    return result


def _write(path, result: TuneResult, solver, fixed, n_val: int, overwrite: bool) -> None:
    from ..data._atomic import atomic_write

    doc = {"solver": getattr(solver, "__name__", repr(solver)), "n_validation": n_val,
           "solver_kwargs": {k: v for k, v in fixed.items() if _jsonable(v)}, **asdict(result)}
    with atomic_write(path, overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(doc, indent=2, default=str, allow_nan=True) + "\n")


def _jsonable(value) -> bool:
    try:
        json.dumps(value)
    except TypeError:
        return False
    return True


def load_tuned(path: str | os.PathLike) -> dict:
    """The chosen parameters stored by :func:`tune` at ``path``."""
    from ..errors import FormatError

    try:
        with open(path) as fh:
            doc = json.load(fh)
        return dict(doc["params"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FormatError(f"cannot read tuned parameters from '{path}': {exc}") from exc
