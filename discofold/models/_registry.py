"""Model registry: ``@register`` a factory once, then ``build(name, **config)`` it anywhere.

A model module registers itself with a decorator that also records two configurations:
``tiny`` (a few thousand parameters, used by the test sweep on CPU) and ``paper`` (the
configuration of the publication the model follows, used for the parameter-count tables).
The constructor defaults are the "default" configuration.

Every module of :mod:`discofold.models` whose name does not start with ``_`` is imported the
first time the registry is queried, so adding a model is adding one file with a decorated
factory; no list needs editing.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError

__all__ = [
    "ModelSpec",
    "register",
    "build",
    "list_models",
    "get_spec",
    "count_parameters",
    "parameter_count",
    "FAMILIES",
]

FAMILIES = ("mri", "radar", "blockcs")

_REGISTRY: dict[str, ModelSpec] = {}
_LOADED = False


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one model.

    Attributes
    ----------
    name : str
        Registered name (``build(name)``).
    factory : callable
        ``factory(**config) -> nn.Module`` (usually the model class).
    family : str
        ``"mri"``, ``"radar"`` or ``"blockcs"``: which kind of ``(y, op, meta)`` it takes.
    tiny, paper : dict
        Configurations for the CPU test sweep and for the publication's model.
    recursive : bool
        Whether the model unrolls shared stages recursively (``set_recursions`` exists).
    multires : bool
        Whether the same weights run at any resolution (tested at two resolutions).
    description : str
        One line for tables.
    """

    name: str
    factory: Callable[..., nn.Module]
    family: str
    tiny: dict[str, Any] = field(default_factory=dict)
    paper: dict[str, Any] = field(default_factory=dict)
    recursive: bool = False
    multires: bool = False
    description: str = ""

    def config_keys(self) -> set[str] | None:
        """Accepted configuration keys (``None`` when the factory takes ``**kwargs``)."""
        params = inspect.signature(self.factory).parameters.values()
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return None
        return {p.name for p in params if p.kind is not inspect.Parameter.VAR_POSITIONAL}


def register(
    name: str,
    *,
    family: str = "mri",
    tiny: dict[str, Any] | None = None,
    paper: dict[str, Any] | None = None,
    recursive: bool = False,
    multires: bool = False,
    description: str = "",
):
    """Decorator registering a model factory (a class or a function returning a module).

    Examples
    --------
    >>> @register("my_net", tiny=dict(chans=4), paper=dict(chans=64))  # doctest: +SKIP
    ... class MyNet(nn.Module): ...
    """
    if family not in FAMILIES:
        raise ConfigError(f"model family must be one of {FAMILIES}, got {family!r}")

    def wrap(factory):
        if name in _REGISTRY and _REGISTRY[name].factory is not factory:
            raise ConfigError(f"model name {name!r} is already registered by "
                              f"{_REGISTRY[name].factory.__module__}")
        doc = description or (inspect.getdoc(factory) or "").split("\n")[0]
        _REGISTRY[name] = ModelSpec(name, factory, family, dict(tiny or {}), dict(paper or {}),
                                    recursive, multires, doc)
        return factory

    return wrap


def _load_all() -> None:
    """Import every public module of :mod:`discofold.models` (they register themselves)."""
    global _LOADED
    if _LOADED:
        return
    package = importlib.import_module("discofold.models")
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"discofold.models.{info.name}")
    _LOADED = True


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of a registered model; unknown names raise with a suggestion."""
    _load_all()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown model {name!r}{hint}; registered: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def list_models(family: str | None = None) -> list[str]:
    """Registered model names (of one family when given), in registration order."""
    _load_all()
    if family is not None and family not in FAMILIES:
        raise ConfigError(f"model family must be one of {FAMILIES}, got {family!r}")
    return [n for n, s in _REGISTRY.items() if family is None or s.family == family]


def build(name: str, *, seed: int | None = None, **config) -> nn.Module:
    """Build a registered model.

    Parameters
    ----------
    name : str
        A name from :func:`list_models`.
    seed : int, optional
        Seed for the weight initialisation.  The global RNG state is saved and restored, so
        building never changes it.  ``None`` draws from the global RNG like ``nn.Conv2d``.
    **config
        Constructor arguments; unknown keys raise :class:`ConfigError` naming the accepted ones.
    """
    spec = get_spec(name)
    keys = spec.config_keys()
    if keys is not None:
        extra = sorted(set(config) - keys)
        if extra:
            raise ConfigError(f"model {name!r}: unknown config keys {extra}; accepted: "
                              f"{sorted(keys)}")
    if seed is None:
        return spec.factory(**config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return spec.factory(**config)


def count_parameters(model: nn.Module, trainable: bool = True) -> int:
    """Number of (trainable) scalar parameters; a complex parameter counts twice (re, im)."""
    total = 0
    for p in model.parameters():
        if trainable and not p.requires_grad:
            continue
        total += p.numel() * (2 if p.is_complex() else 1)
    return total


def parameter_count(name: str, **config) -> int:
    """Parameters of ``build(name, **config)``, counted without allocating the weights."""
    try:
        with torch.device("meta"):
            model = build(name, **config)
    except (NotImplementedError, RuntimeError):  # a factory that cannot build on "meta"
        model = build(name, **config)
    return count_parameters(model)
