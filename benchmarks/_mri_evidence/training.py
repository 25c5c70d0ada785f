"""Training of the compared MRI models on one object pool: same objects, same per-step masks,
noise and batches for every model (all drawn from ``(seed, step)``), wall-clock measured."""

from __future__ import annotations

import dataclasses
import time

import torch
from torch import nn

from discofold.models import build
from discofold.train import load_config
from discofold.train.loop import lr_factor
from discofold.train.losses import compute_loss

from .mri_data import MRIObject, cartesian_batch
from .scales import Scale

__all__ = ["TrainedModel", "model_config", "with_args", "train_mri", "count_params"]


@dataclasses.dataclass
class TrainedModel:
    """A trained model with its bookkeeping (``train_s``: optimiser-step wall time only)."""

    label: str
    model: nn.Module
    params: int
    unrolled_params: int
    train_s: float
    total_s: float
    steps: int
    final_loss: float
    config: str


def count_params(module: nn.Module | None) -> int:
    """Number of trainable parameters (0 for ``None``)."""
    return 0 if module is None else sum(p.numel() for p in module.parameters() if p.requires_grad)


def _unrolled(model: nn.Module) -> nn.Module | None:
    """The unrolled stages (with their shared modulation) of an MRI or block-CS model."""
    for name in ("unrolled", "stages", "phases"):
        if hasattr(model, name):
            part = getattr(model, name)
            mod = getattr(model, "modulation", None)
            return nn.ModuleList([part, mod]) if mod is not None else part
    return None


def with_args(cfg, args: dict | None):
    """``cfg`` with ``model.args`` replaced by ``args`` (unchanged for ``None``)."""
    if args is None:
        return cfg
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, args=dict(args)))


def model_config(name: str, scale: Scale, overrides: list[str] | None = None):
    """The bundled config ``name`` with the scale's sizes applied."""
    cfg = load_config(name, overrides=[f"train.steps={scale.steps}",
                                       f"train.batch_size={scale.batch}", *(overrides or [])])
    return with_args(cfg, scale.overrides.get(cfg.model.name))


def train_mri(label: str, config_name: str, scale: Scale, pool: list[MRIObject], specs,
              seed: int = 0) -> TrainedModel:
    """Train the model of ``config_name`` on ``pool`` with patterns ``specs``.

    Every step draws ``batch`` objects and one spec per object from a generator seeded by
    ``(seed, step)``; models trained with the same ``seed`` and ``specs`` see identical data.
    """
    cfg = model_config(config_name, scale)
    model = build(cfg.model.name, seed=cfg.model.seed, **cfg.model.args)
    if hasattr(model, "unrolled") and hasattr(model.unrolled, "set_generator"):
        model.unrolled.set_generator(torch.Generator().manual_seed(seed + 17))
    tc = cfg.train
    opt = torch.optim.Adam(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    model.train()
    step_s, loss = 0.0, torch.zeros(())
    start = time.perf_counter()
    for step in range(tc.steps):
        g = torch.Generator().manual_seed(1_000_003 * seed + step)
        idx = torch.randint(len(pool), (tc.batch_size,), generator=g).tolist()
        pick = torch.randint(len(specs), (tc.batch_size,), generator=g).tolist()
        y, op, meta, target, _ = cartesian_batch([pool[i] for i in idx],
                                                 [tuple(specs[k]) for k in pick], g)
        for group in opt.param_groups:
            group["lr"] = tc.lr * lr_factor(step, tc)
        t0 = time.perf_counter()
        loss = compute_loss(tc.loss, model(y, op, meta), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if tc.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        opt.step()
        step_s += time.perf_counter() - t0
    total = time.perf_counter() - start
    model.eval()
    if cfg.model.eval_recursions is not None and hasattr(model, "set_recursions"):
        model.set_recursions(cfg.model.eval_recursions)
    return TrainedModel(label, model, count_params(model), count_params(_unrolled(model)),
                        step_s, total, tc.steps, float(loss.detach()), config_name)
