"""discofold: sparse image reconstruction for MRI and radar with resolution-agnostic,
recursive deep-unfolding networks."""

from ._version import __version__
from .errors import DiscofoldError

__all__ = ["__version__", "DiscofoldError"]
