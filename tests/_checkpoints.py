"""A freshly initialised model saved as a checkpoint (for tests of loading and inference)."""

from __future__ import annotations

import torch

from discofold.models import build
from discofold.train import load_checkpoint, load_config, save_checkpoint


def untrained_checkpoint(path, config: str, step: int = 0, overrides=None):
    """Save the model of bundled config ``config`` (seed 0, untrained) to ``path``;
    ``overrides`` are ``"section.key=value"`` items as in :func:`load_config`."""
    cfg = load_config(config, overrides)
    torch.manual_seed(0)
    return save_checkpoint(path, build(cfg.model.name, **cfg.model.args), cfg, step=step)


def tampered(src, dst, **changes):
    """Save checkpoint ``src`` with its entries updated by ``changes`` to ``dst`` (a crafted,
    possibly hostile checkpoint); returns ``dst``."""
    ckpt = load_checkpoint(src)
    ckpt.update(changes)
    torch.save(ckpt, dst)
    return dst
