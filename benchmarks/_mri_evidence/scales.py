"""Scales of the MRI evidence benchmark: what changes between ``smoke``, ``cpu-lite``, ``cpu``
and ``paper``.

The model, data and training settings of each experiment live in the bundled configs
``discofold/configs/mri_e*_*.toml`` and ``blockcs_e3_*.toml`` (written for the ``cpu`` scale);
a scale overrides a few of their keys (``overrides``) and sets the sizes of the test split.
"""

from __future__ import annotations

import dataclasses

__all__ = ["Scale", "SCALES", "TRAIN_PATTERNS", "UNSEEN"]

#: E1 training patterns (each at 4x and 8x)
TRAIN_PATTERNS = ("equispaced_fraction", "random", "magic", "gaussian_2d", "poisson_2d",
                  "radial_2d")
#: E1 unseen settings: (label, kind, name, acceleration); kind "cart" or "noncart"
UNSEEN = (("spiral_2d", "cart", "spiral_2d", 4.0), ("spiral_2d", "cart", "spiral_2d", 8.0),
          ("equispaced", "cart", "equispaced", 6.0),
          ("radial_nufft", "noncart", "radial", 4.0), ("radial_nufft", "noncart", "radial", 8.0))


@dataclasses.dataclass(frozen=True)
class Scale:
    """Sizes of one run of the benchmark.

    Attributes
    ----------
    name : str
    size : int
        Training (and E1 test) matrix ``size × size``.
    coils : int
    steps, batch : int
        Optimiser steps and batch size of every MRI model (same for all compared models).
    pool : int
        Distinct training objects (simulated images/phantoms, half each); masks and noise are
        drawn fresh every step.
    n_test, n_val : int
        Test / validation objects (each half natural images of held-out pictures, half phantoms).
    per_pattern : tuple of str
        Patterns that get their own per-pattern ``varnet``.
    e2_sizes : tuple of int
        E2 test matrices; ``e2_native`` of them also get a natively trained ``unified``.
    e2_native : tuple of int
    blockcs_steps, blockcs_batch, blockcs_block : int
    blockcs_ratios : tuple of float
    overrides : dict
        ``model.args`` overrides per model name (smaller models at the smoke scale).
    tune_grid : tuple of float
        Multipliers of the stored tuned weights tried on the validation split.
    """

    name: str
    size: int
    coils: int
    steps: int
    batch: int
    pool: int
    n_test: int
    n_val: int
    per_pattern: tuple
    e2_sizes: tuple
    e2_native: tuple
    blockcs_steps: int
    blockcs_batch: int
    blockcs_block: int
    blockcs_ratios: tuple
    overrides: dict = dataclasses.field(default_factory=dict)
    tune_grid: tuple = (0.3, 1.0, 3.0)
    e1_patterns: tuple = TRAIN_PATTERNS
    unseen: tuple = UNSEEN
    max_iter: int | None = None


_TINY_MRI = dict(chans=4, pools=1, radius=0.3, kspace_radius=1.5, kspace_chans=2,
                 kspace_pools=1, sens_chans=2, sens_pools=1)
_SMOKE = {
    "unified": dict(cascades=2, **_TINY_MRI),
    "r_unified": dict(stages=1, recursions=2, **_TINY_MRI),
    "varnet": dict(num_cascades=2, chans=4, pools=1, sens_chans=2, sens_pools=1),
    "coast": dict(stages=2, channels=4, blocks=1),
    "r_coast": dict(stages=1, r_max=2, channels=4, blocks=1, hidden=4),
    "ista_net_plus": dict(phases=2, channels=4),
    "r_ista_net_plus": dict(stages=1, r_max=2, channels=4, hidden=4),
}
_PAPER = {
    "unified": dict(cascades=12, chans=16, pools=4, kspace_chans=16, kspace_pools=4,
                    sens_chans=8, sens_pools=4, radius=0.02),
    "r_unified": dict(stages=4, recursions=3, chans=16, pools=4, kspace_chans=16,
                      kspace_pools=4, sens_chans=8, sens_pools=4, radius=0.02),
    "varnet": dict(num_cascades=12, chans=18, pools=4, sens_chans=8, sens_pools=4),
    "coast": dict(stages=20, channels=32, blocks=3),
    "r_coast": dict(stages=5, r_max=4, channels=32, blocks=3, hidden=32),
    "ista_net_plus": dict(phases=9, channels=32),
    "r_ista_net_plus": dict(stages=3, r_max=3, channels=32, hidden=32),
}

SCALES = {
    "smoke": Scale("smoke", size=16, coils=2, steps=2, batch=2, pool=2, n_test=1, n_val=1,
                   per_pattern=("random",), e2_sizes=(24,), e2_native=(24,),
                   blockcs_steps=2, blockcs_batch=4, blockcs_block=11,
                   blockcs_ratios=(0.5,), overrides=_SMOKE, tune_grid=(1.0,),
                   e1_patterns=("random",), unseen=(UNSEEN[3],), max_iter=3),
    "cpu-lite": Scale("cpu-lite", size=64, coils=4, steps=100, batch=2, pool=64, n_test=4,
                      n_val=2, per_pattern=("poisson_2d",), e2_sizes=(128,), e2_native=(),
                      blockcs_steps=100, blockcs_batch=32, blockcs_block=33,
                      blockcs_ratios=(0.1, 0.3, 0.5), tune_grid=(0.3, 1.0, 3.0),
                      e1_patterns=("equispaced_fraction", "poisson_2d", "radial_2d"),
                      unseen=(UNSEEN[1], UNSEEN[2], UNSEEN[3])),
    "cpu": Scale("cpu", size=64, coils=4, steps=300, batch=2, pool=256, n_test=8, n_val=4,
                 per_pattern=("equispaced_fraction", "random", "poisson_2d"),
                 e2_sizes=(128, 192), e2_native=(128,), blockcs_steps=400, blockcs_batch=32,
                 blockcs_block=33, blockcs_ratios=(0.1, 0.2, 0.3, 0.4, 0.5)),
    "paper": Scale("paper", size=64, coils=8, steps=20000, batch=4, pool=20000, n_test=32,
                   n_val=16, per_pattern=TRAIN_PATTERNS, e2_sizes=(128, 192),
                   e2_native=(128, 192), blockcs_steps=50000, blockcs_batch=64,
                   blockcs_block=33, blockcs_ratios=(0.1, 0.2, 0.3, 0.4, 0.5),
                   overrides=_PAPER, tune_grid=(0.1, 0.3, 1.0, 3.0, 10.0)),
}
