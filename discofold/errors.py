"""Exception classes raised by discofold.

Every error that discofold raises on purpose derives from :class:`DiscofoldError`, so that
callers (and the command-line interface) can tell a user mistake from a bug.  The subclasses
also derive from the matching built-in exception, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "DiscofoldError",
    "InputError",
    "ShapeError",
    "FormatError",
    "ConfigError",
    "CheckpointError",
    "MissingDependencyError",
    "DivergenceError",
]


class DiscofoldError(Exception):
    """Base class of every error that discofold raises deliberately."""


class InputError(DiscofoldError, ValueError):
    """A tensor, array or argument given by the user is wrong (dtype, value, range)."""


class ShapeError(InputError):
    """A tensor has a shape that does not match what the operation expects."""


class FormatError(DiscofoldError, ValueError):
    """A file is missing, unreadable, corrupt, or does not follow the documented format."""


class ConfigError(DiscofoldError, ValueError):
    """A configuration key or value is invalid."""


class CheckpointError(DiscofoldError, ValueError):
    """A checkpoint is missing, corrupt, untrusted, or made for another model/config."""


class MissingDependencyError(DiscofoldError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class DivergenceError(DiscofoldError, FloatingPointError):
    """An iterative solver or a training run produced non-finite or exploding values."""


def require(module: str, extra: str | None, feature: str):
    """Import an optional dependency or raise :class:`MissingDependencyError` naming the extra.

    Parameters
    ----------
    module : str
        Importable module name, e.g. ``"finufft"``.
    extra : str or None
        Name of the discofold extra that installs it, e.g. ``"finufft"``; ``None`` for a
        dependency of discofold itself (the message then asks to reinstall discofold or to
        install the package).
    feature : str
        What the user asked for, used in the message.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # only ImportError: a broken install must still surface
        if extra is None:  # a dependency of discofold itself, e.g. tomli on Python 3.10
            raise MissingDependencyError(
                f"{feature} needs the package '{module}', a dependency of discofold that is "
                f"not installed; install it with: pip install {module} (or reinstall "
                "discofold with pip)") from exc
        raise MissingDependencyError(
            f"{feature} needs the optional package '{module}', which is not installed; "
            f"install it with: pip install 'discofold[{extra}]'"
        ) from exc
