"""Grid search: picks the weight that is best on the validation set, stores it as JSON."""

from __future__ import annotations

import json

import pytest
import torch

from discofold.errors import InputError
from discofold.solvers import fista
from discofold.solvers.tune import load_tuned, tune

from ._dense import Identity


def _val_set():
    gen = torch.Generator().manual_seed(0)
    eye = Identity((9, 8))
    data = []
    for _ in range(2):
        truth = torch.zeros(9, 8, dtype=torch.complex128)
        rows = torch.randint(0, 9, (4,), generator=gen)
        truth[rows, torch.randint(0, 8, (4,), generator=gen)] = 3
        noise = torch.randn(9, 8, generator=gen, dtype=torch.complex128) * 0.5
        data.append((truth + noise, eye, truth))
    return data


def _nmse(target, x):
    return float((x - target).abs().square().sum() / target.abs().square().sum())


def test_tune_picks_the_validation_optimum_and_writes_json(tmp_path):
    grid = [0.0, 0.3, 0.8, 1.5, 5.0]
    data = _val_set()
    kwargs = {"transform": "identity", "step": 1.0, "max_iter": 1}
    res = tune(fista, {"lam": grid}, data, _nmse, mode="min", path=tmp_path / "tuned.json",
               solver_kwargs=kwargs)
    scores = [sum(_nmse(t, fista(y, op, lam, **kwargs)) for y, op, t in data) / 2 for lam in grid]
    assert res.params == {"lam": grid[scores.index(min(scores))]}
    assert res.score == pytest.approx(min(scores))
    assert res.params["lam"] not in (0.0, 5.0)  # an interior optimum
    doc = json.loads((tmp_path / "tuned.json").read_text())
    assert doc["params"] == res.params and doc["solver"] == "fista" and len(doc["table"]) == 5
    assert load_tuned(tmp_path / "tuned.json") == res.params
    with pytest.raises(InputError, match="exists"):
        tune(fista, {"lam": grid}, data, _nmse, mode="min", path=tmp_path / "tuned.json",
             solver_kwargs=kwargs)


def test_tune_skips_diverging_points_and_checks_arguments():
    data = _val_set()
    res = tune(fista, {"step": [1.0, 50.0]}, data, _nmse, mode="min",
               solver_kwargs={"lam": 0.5, "transform": "identity", "max_iter": 50})
    assert res.params == {"step": 1.0}
    assert [row["diverged"] for row in res.table] == [False, True]
    with pytest.raises(InputError, match="mode"):
        tune(fista, {"lam": [1.0]}, data, _nmse, mode="best")
    with pytest.raises(InputError, match="empty"):
        tune(fista, {"lam": [1.0]}, [], _nmse)
