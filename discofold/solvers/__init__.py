"""Classical reconstructions (the baselines every learned model is measured against).

Every solver takes ``(y, op, ...)`` with any :class:`~discofold.operators.LinearOperator`, works on
batches and on the device of ``y``, stops on ``max_iter``/``tol``, reports progress through
``callback(iteration, x, info)`` and raises :class:`~discofold.errors.DivergenceError` on
divergence.
"""

from .fista import fista
from .linear import cg_sense, zero_filled
from .radar import omp_range_cells, polar_format, radar_geometry, range_doppler
from .tune import TuneResult, load_tuned, tune
from .tv import tv
from .wavelets import WaveletTransform

__all__ = [
    "zero_filled",
    "cg_sense",
    "fista",
    "tv",
    "range_doppler",
    "polar_format",
    "omp_range_cells",
    "radar_geometry",
    "tune",
    "load_tuned",
    "TuneResult",
    "WaveletTransform",
]
