"""Every random state a training run depends on, captured and restored as plain tensors.

A run draws from: torch's global CPU (and CUDA) generators (dropout, anything that does not take
a generator), numpy's and Python's global generators (third-party code), the models' own
``torch.Generator`` objects (recursion counts of recursive models) and the data pipeline's
generators.  :func:`capture` stores them in a form that ``torch.load(weights_only=True)``
accepts (tensors, ints, lists, dicts); :func:`restore` puts them back.

Library code never changes the caller's global state: :func:`isolated_global_rng` seeds the
global generators for the duration of a run and restores the caller's states on exit.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

__all__ = ["find_generators", "capture", "restore", "isolated_global_rng"]


def find_generators(model: nn.Module) -> dict[str, torch.Generator]:
    """Named ``torch.Generator`` objects held by ``model``'s submodules.

    A generator stored as a module attribute (``Unrolled.generator``) or one level deeper in a
    plain helper object (``RecursionSchedule.generator``) is found; names are
    ``"<module path>.<attr>[.<attr>]"``.
    """
    found: dict[str, torch.Generator] = {}
    for mod_name, module in model.named_modules():
        for attr, value in vars(module).items():
            key = f"{mod_name}.{attr}" if mod_name else attr
            if isinstance(value, torch.Generator):
                found[key] = value
            elif not isinstance(value, (nn.Module, torch.Tensor, dict, list, tuple)) and \
                    hasattr(value, "__dict__"):
                for sub, inner in vars(value).items():
                    if isinstance(inner, torch.Generator):
                        found[f"{key}.{sub}"] = inner
    return found


def capture(generators: dict[str, torch.Generator] | None = None) -> dict:
    """Global torch/CUDA/numpy/Python states and the given named generators."""
    np_state = np.random.get_state()  # noqa: NPY002 (saving the global state on purpose)
    state = {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"name": str(np_state[0]), "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]),
                  "cached": float(np_state[4])},
        "python": _python_state(),
        "generators": {k: g.get_state() for k, g in (generators or {}).items()},
    }
    return state


def _python_state() -> dict:
    version, internal, gauss = random.getstate()
    return {"version": int(version), "internal": list(internal), "gauss": gauss}


def restore(state: dict, generators: dict[str, torch.Generator] | None = None) -> list[str]:
    """Restore :func:`capture` output; returns names of ``generators`` the state lacks."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    nps = state["numpy"]
    np_state = (nps["name"], nps["keys"].numpy().astype(np.uint32), nps["pos"],
                nps["has_gauss"], nps["cached"])
    np.random.set_state(np_state)  # noqa: NPY002 (restoring a saved state on purpose)
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss"]))
    missing = []
    saved = state.get("generators", {})
    for name, gen in (generators or {}).items():
        if name in saved:
            gen.set_state(saved[name])
        else:
            missing.append(name)
    return missing


@contextlib.contextmanager
def isolated_global_rng(seed: int) -> Iterator[None]:
    """Seed torch/numpy/Python global generators with ``seed``; restore the caller's on exit."""
    saved = capture()
    torch.manual_seed(int(seed))
    np.random.seed(int(seed) % 2**32)  # noqa: NPY002 (restored on exit)
    random.seed(int(seed))
    try:
        yield
    finally:
        restore(saved)
