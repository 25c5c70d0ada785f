"""Training: configuration, loop, checkpoints and distributed runs (``discofold train``).

>>> from discofold.train import load_config, train
>>> cfg = load_config("tiny_mri", overrides=["train.steps=5"])      # doctest: +SKIP
>>> result = train(cfg, "runs/tiny")                                 # doctest: +SKIP

Guide and key reference: ``docs/training.md``.
"""

from ._optim import parameter_groups
from .checkpoint import (
    build_from_checkpoint,
    load_checkpoint,
    load_state_strict,
    resolve_checkpoint,
    save_checkpoint,
)
from .config import (
    CONFIG_VERSION,
    Config,
    DataConfig,
    ModelConfig,
    TrainConfig,
    bundled_configs,
    config_from_dict,
    config_to_dict,
    load_config,
)
from .loop import TrainResult, train

__all__ = [
    "parameter_groups",
    "Config",
    "ModelConfig",
    "DataConfig",
    "TrainConfig",
    "CONFIG_VERSION",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "bundled_configs",
    "train",
    "TrainResult",
    "save_checkpoint",
    "load_checkpoint",
    "load_state_strict",
    "build_from_checkpoint",
    "resolve_checkpoint",
]
