"""Bounds on the values of a training configuration (private; used by :mod:`.config`).

A configuration comes from a file or a ``--set`` the user typed, or from a checkpoint someone
sent: NaN or Inf would run (``train.lr = nan``) or silently switch a guard off
(``train.sanity_factor = nan`` never compares greater), a seed beyond 64 bits makes torch raise,
and deeply nested arrays exhaust the stack of every recursive reader.  So every float must be
finite, every integer fit in int64, every seed lie in [0, 2**63), and nesting stay shallow.
"""

from __future__ import annotations

import dataclasses
import math

from ..errors import ConfigError

__all__ = ["MAX_DEPTH", "INT_LIMIT", "check_depth", "check_numbers"]

MAX_DEPTH = 16  # tables / arrays nested in a configuration (the bundled ones use 4)
INT_LIMIT = 2**63  # every integer fits in int64 (torch); seeds lie in [0, 2**63)
_SEEDS = ("model.seed", "data.seed", "train.seed")


def check_depth(table, where: str) -> None:
    """Refuse tables / arrays nested more than :data:`MAX_DEPTH` deep (walked without
    recursion, so a hostile file cannot exhaust the stack); ``where`` starts the message."""
    stack = [(table, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConfigError(f"{where}: tables or arrays nested more than {MAX_DEPTH} levels "
                              "deep are refused")
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list, tuple)))


def _scalars(cfg, sections: tuple[str, ...]):
    """``(dotted key, value)`` of every scalar of ``cfg``, inside tuples and ``model.args``."""
    stack = [(f"{name}.{f.name}", getattr(getattr(cfg, name), f.name))
             for name in sections for f in dataclasses.fields(getattr(cfg, name))]
    while stack:
        key, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((f"{key}.{k}", v) for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            stack.extend((f"{key}[{i}]", v) for i, v in enumerate(value))
        else:
            yield key, value


def check_numbers(cfg, sections: tuple[str, ...]) -> None:
    """Seeds in [0, 2**63), every other integer within int64, every float finite.

    Parameters
    ----------
    cfg : Config
    sections : names of the dataclass sections of ``cfg`` (``("model", "data", "train")``)

    Raises
    ------
    ConfigError
        Naming the first key out of bounds (``data.accelerations[0]``, ``model.args.x``).
    """
    for key in _SEEDS:
        section, name = key.split(".")
        seed = getattr(getattr(cfg, section), name)
        if not 0 <= seed < INT_LIMIT:
            shown = seed if abs(seed) < 10**30 else f"an integer of {seed.bit_length()} bits"
            raise ConfigError(f"config key '{key}' must be an integer in [0, 2**63), got {shown}")
    for key, value in _scalars(cfg, sections):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"config key '{key}' must be a finite number, got {value}")
        if isinstance(value, int) and not -INT_LIMIT <= value < INT_LIMIT:
            raise ConfigError(f"config key '{key}' must be an integer within +-2**63, got an "
                              f"integer of {value.bit_length()} bits")
