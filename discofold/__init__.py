"""discofold: sparse image reconstruction for MRI and radar with resolution-agnostic,
recursive deep-unfolding networks.

The top level re-exports a dozen names; everything else lives in its subpackage
(``discofold.operators``, ``.sampling``, ``.data``, ``.layers``, ``.models``, ``.solvers``,
``.metrics``, ``.train``, ``.evaluate``, ``.inference``), reachable as an attribute of
``discofold`` too (``import discofold; discofold.models.build(...)``).  Names and subpackages
are imported lazily on first use, so ``import discofold`` stays fast.
``discofold.load_model("mri-unified")`` loads a trained model to reconstruct with.
"""

from importlib import import_module

from ._version import __version__
from .errors import DiscofoldError

_LAZY = {
    "LinearOperator": "discofold.operators",
    "CartesianMRI": "discofold.operators",
    "NonCartesianMRI": "discofold.operators",
    "NUFFT": "discofold.operators",
    "PolarRadar": "discofold.operators",
    "BlockCS": "discofold.operators",
    "make_mask": "discofold.sampling",
    "build_model": ("discofold.models", "build"),
    "list_models": "discofold.models",
    "load_model": "discofold.inference",
}

#: subpackages reached as attributes (``discofold.models.build``), imported on first use
_SUBPACKAGES = ("operators", "sampling", "data", "layers", "models", "solvers", "metrics",
                "train", "evaluate", "inference", "errors")

__all__ = ["__version__", "DiscofoldError", *_LAZY]


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return import_module(f"discofold.{name}")  # the import binds it as an attribute
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'discofold' has no attribute {name!r}")
    module, attr = target if isinstance(target, tuple) else (target, name)
    value = getattr(import_module(module), attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted({*__all__, *_SUBPACKAGES})
