"""Deprecated location of :mod:`discofold.solvers.pipeline` (kept for code written against it)."""

from ..solvers.pipeline import *  # noqa: F401,F403
from ..solvers.pipeline import __all__  # noqa: F401
