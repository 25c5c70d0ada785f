"""Reconstruction models, all called as ``model(y, op, meta) -> x_hat``.

>>> from discofold.models import build, list_models, parameter_count
>>> model = build("varnet", num_cascades=2, chans=8)            # doctest: +SKIP
>>> x_hat = model(y, op, {"pattern": "equispaced", "acceleration": 4.0})  # doctest: +SKIP

Models register themselves with :func:`register` (every public module of this package is
imported on the first registry query).  ``x_hat`` is the complex image ``(B, H, W)`` for MRI and
radar, the real image for block CS.  ``meta`` is an :class:`AcquisitionMeta`, a dict with its
keys, or ``None``.
"""

from ._meta import AcquisitionMeta, as_meta
from ._registry import (
    FAMILIES,
    ModelSpec,
    build,
    count_parameters,
    get_spec,
    list_models,
    parameter_count,
    register,
)
from .data_consistency import GradientDC, ProximalDC, SoftDC, make_dc
from .ista_net_radar import IstaNetRadar
from .unified_radar import FanNO, UnifiedRadar
from .unrolled import Stage, StageContext, Unrolled

__all__ = [
    "build",
    "list_models",
    "register",
    "get_spec",
    "ModelSpec",
    "FAMILIES",
    "count_parameters",
    "parameter_count",
    "AcquisitionMeta",
    "as_meta",
    "Unrolled",
    "Stage",
    "StageContext",
    "SoftDC",
    "GradientDC",
    "ProximalDC",
    "make_dc",
    "UnifiedRadar",
    "FanNO",
    "IstaNetRadar",
]
