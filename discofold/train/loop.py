"""The training loop (plain PyTorch): Adam with a schedule, validation, checkpoints, resume.

:func:`train` runs one configuration into a run folder::

    RUN_DIR/config.json   the configuration
    RUN_DIR/last.pt       resumable checkpoint (weights, optimiser, scheduler, RNG states, step)
    RUN_DIR/best.pt       weights with the lowest validation loss
    RUN_DIR/log.jsonl     every record; train.csv and val.csv the same as tables

Guarantees:

- **exact resume**: the data order is a function of the step, every random state is saved and
  restored (:mod:`discofold.train._rng`), so N steps in one go and k steps + resume give the same
  weights bit for bit (same device and thread count);
- **Ctrl-C** (``KeyboardInterrupt``) saves a resumable ``last.pt`` at the last completed step;
- a **non-finite loss** stops the run with :class:`~discofold.errors.DivergenceError` before the
  bad step is taken; ``last.pt`` keeps the last good state;
- a **sanity check** over the first ``train.sanity_steps`` steps stops a run whose loss grows by
  more than ``train.sanity_factor`` (an exploding learning rate).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..errors import CheckpointError, ConfigError, DivergenceError
from ..models import build
from . import distributed as D
from ._logs import RunLog
from ._rng import capture, find_generators, isolated_global_rng, restore
from .checkpoint import (
    check_resume_compatible,
    load_checkpoint,
    load_state_strict,
    save_checkpoint,
)
from .config import Config, TrainConfig
from .data import BatchAdapter, StepBatchSampler, build_datasets, collate_for
from .losses import compute_loss, psnr_normalised

__all__ = ["TrainResult", "train", "lr_factor", "RUN_FILES"]

#: files a run writes into its folder
RUN_FILES = ("config.json", "last.pt", "best.pt", "log.jsonl", "train.csv", "val.csv")

Callback = Callable[[int, float], None]


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train`: the step reached and the checkpoint files (rank 0 paths)."""

    step: int
    last: Path | None
    best: Path | None
    best_val_loss: float | None
    interrupted: bool = False


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Multiplier of ``train.lr`` for optimiser step ``step`` (0-based): warm-up, then schedule."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "cosine":
        t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))
    if cfg.schedule == "step":
        return cfg.gamma ** ((step - cfg.warmup_steps) // cfg.step_size)
    return 1.0


class _NonFinite(Exception):
    pass


class _Run:
    """State of one training run (one process)."""

    def __init__(self, cfg: Config, out: Path, info: D.DistInfo, quiet: bool):
        self.cfg, self.out, self.info, self.quiet = cfg, out, info, quiet
        t = cfg.train
        if t.batch_size % info.world:
            raise ConfigError(f"train.batch_size {t.batch_size} is not divisible by the "
                              f"{info.world} processes")
        self.model = build(cfg.model.name, seed=cfg.model.seed, **cfg.model.args).to(info.device)
        self.generators = find_generators(self.model)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=t.lr,
                                          weight_decay=t.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, cfg.train))
        self.train_ds, self.val_ds = build_datasets(cfg.data)
        self.adapter = BatchAdapter(cfg.data, info.device, cfg.data.seed)
        self.amp = bool(t.amp) and info.device.type == "cuda"
        self.step, self.best, self.first_loss = 0, math.inf, None
        self.log: RunLog | None = None

    # ------------------------------------------------------------------ checkpoints
    def resume(self) -> None:
        path = self.out / "last.pt"
        if not path.is_file():
            raise CheckpointError(f"nothing to resume: '{path}' does not exist")
        ckpt = load_checkpoint(path)
        check_resume_compatible(ckpt, self.cfg, f"checkpoint '{path}'")
        load_state_strict(self.model, ckpt["state_dict"], f"checkpoint '{path}'")
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        missing = restore(ckpt["rng"], self.generators)
        if missing:
            raise CheckpointError(f"checkpoint '{path}' lacks the random state of {missing}")
        self.step = int(ckpt["step"])
        self.best = float(ckpt.get("best_val_loss", math.inf))
        self.first_loss = ckpt.get("first_loss")

    def save_last(self, rng_state: dict) -> Path | None:
        if not self.info.is_main:
            return None
        state = {"optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict(), "rng": rng_state,
                 "best_val_loss": self.best, "first_loss": self.first_loss}
        return save_checkpoint(self.out / "last.pt", self.model, self.cfg, step=self.step,
                               training_state=state)

    # ------------------------------------------------------------------ one step
    def train_step(self, batch) -> tuple[float, float]:
        t = self.cfg.train
        self.model.train()
        y, op, meta, target = self.adapter(batch, self.step, train=True)
        with torch.autocast(self.info.device.type, dtype=torch.bfloat16, enabled=self.amp):
            pred = self.ddp(y, op, meta)
        loss = compute_loss(t.loss, pred, target)
        mean = float(D.mean_across(loss, self.info))
        if not math.isfinite(mean):
            raise _NonFinite(mean)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip = t.grad_clip if t.grad_clip > 0 else math.inf
        gnorm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip))
        if not math.isfinite(gnorm):
            raise _NonFinite(gnorm)
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        return mean, gnorm

    def check_sanity(self, loss: float) -> None:
        t = self.cfg.train
        if self.first_loss is None:
            self.first_loss = loss
        elif self.step <= t.sanity_steps and loss > t.sanity_factor * self.first_loss:
            raise DivergenceError(
                f"the loss grew from {self.first_loss:.4g} to {loss:.4g} within the first "
                f"{self.step} steps (more than train.sanity_factor = {t.sanity_factor:g} times): "
                f"the learning rate train.lr = {t.lr:g} is probably too high")

    # ------------------------------------------------------------------ validation
    @torch.no_grad()
    def validate(self) -> dict:
        model, cfg = self.model, self.cfg
        model.eval()
        if cfg.model.eval_recursions and hasattr(model, "set_recursions"):
            model.set_recursions(cfg.model.eval_recursions)
        loader = DataLoader(self.val_ds, batch_size=cfg.train.batch_size, shuffle=False,
                            collate_fn=collate_for(cfg.data))
        losses, psnrs = [], []
        for i, batch in enumerate(loader):
            y, op, meta, target = self.adapter(batch, i, train=False)
            pred = model(y, op, meta)
            losses.append(float(compute_loss(cfg.train.loss, pred, target)) * target.shape[0])
            psnrs.append(psnr_normalised(pred, target).sum().item())
        n = len(self.val_ds)
        return {"val_loss": sum(losses) / n, "val_psnr_db": sum(psnrs) / n}

    def maybe_validate(self) -> None:
        t = self.cfg.train
        if self.val_ds is None or not (self.step % t.val_every == 0 or self.step == t.steps):
            return
        if self.info.is_main:
            rec = self.validate()
            rec["best"] = math.isfinite(rec["val_loss"]) and rec["val_loss"] < self.best
            if rec["best"]:
                self.best = rec["val_loss"]
                save_checkpoint(self.out / "best.pt", self.model, self.cfg, step=self.step,
                                metrics={k: rec[k] for k in ("val_loss", "val_psnr_db")})
            self.log.write("val", {"step": self.step, **rec})
        D.barrier(self.info)

    # ------------------------------------------------------------------ main loop
    def loader(self) -> DataLoader:
        cfg, info = self.cfg, self.info
        sampler = StepBatchSampler(len(self.train_ds), cfg.train.batch_size // info.world,
                                   info.world, info.rank, cfg.data.seed, self.step,
                                   cfg.train.steps)
        return DataLoader(self.train_ds, batch_sampler=sampler, collate_fn=collate_for(cfg.data),
                          num_workers=cfg.data.num_workers)

    def run(self, resume: bool, callbacks: Sequence[Callback]) -> TrainResult:
        cfg, info = self.cfg, self.info
        if resume:
            self.resume()
        if info.is_main:
            self.log = RunLog(self.out, self.step if resume else None)
            (self.out / "config.json").write_text(json.dumps(json.loads(cfg.to_json()),
                                                             indent=2) + "\n")
            self.log.write("start", {"step": self.step, "resume": resume, "world": info.world,
                                     "device": str(info.device)})
        self.ddp = D.wrap(self.model, info)
        rng_state = capture(self.generators)
        bar = tqdm(total=cfg.train.steps, initial=self.step, unit="step", file=sys.stderr,
                   dynamic_ncols=True, disable=self.quiet or not info.is_main
                   or not _isatty(sys.stderr))
        try:
            for batch in self.loader():
                t0 = time.perf_counter()
                loss, gnorm = self._guarded_step(batch)
                rng_state = capture(self.generators)
                self.after_step(loss, gnorm, time.perf_counter() - t0, bar, rng_state)
                for cb in callbacks:
                    cb(self.step, loss)
        except KeyboardInterrupt:
            last = self.save_last(rng_state)
            if self.log:
                self.log.write("interrupted", {"step": self.step})
            return TrainResult(self.step, last, self._best_path(), self._best_value(), True)
        finally:
            bar.close()
        last = self.out / "last.pt" if info.is_main else None
        if info.is_main and self.step < cfg.train.steps:  # nothing ran (resumed at the end)
            last = self.out / "last.pt"
        return TrainResult(self.step, last, self._best_path(), self._best_value())

    def _guarded_step(self, batch) -> tuple[float, float]:
        try:
            return self.train_step(batch)
        except _NonFinite as exc:
            last = self.out / "last.pt"
            kept = (f"the last good checkpoint is '{last}'" if last.exists()
                    else "no checkpoint had been written yet")
            if self.log:
                self.log.write("diverged", {"step": self.step + 1, "value": float(exc.args[0])})
            hint = (f"; the learning rate train.lr = {self.cfg.train.lr:g} is probably too high"
                    if self.step < self.cfg.train.sanity_steps else "")
            raise DivergenceError(f"non-finite loss or gradient ({exc.args[0]}) at step "
                                  f"{self.step + 1}: training stopped before taking it; "
                                  f"{kept}{hint}") from None

    def after_step(self, loss, gnorm, dt, bar, rng_state) -> None:
        t = self.cfg.train
        self.check_sanity(loss)
        rate = t.batch_size / max(dt, 1e-9)
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4g}", samples_s=f"{rate:.1f}", refresh=False)
        if self.info.is_main and (self.step % t.log_every == 0 or self.step == t.steps):
            self.log.write("train", {"step": self.step, "loss": loss, "grad_norm": gnorm,
                                     "lr": self.scheduler.get_last_lr()[0],
                                     "samples_per_s": rate, "elapsed_s": dt})
        self.maybe_validate()
        if self.step % t.checkpoint_every == 0 or self.step == t.steps or \
                (self.val_ds is not None and self.step % t.val_every == 0):
            self.save_last(rng_state)
            D.barrier(self.info)

    def _best_path(self) -> Path | None:
        p = self.out / "best.pt"
        return p if self.info.is_main and p.exists() else None

    def _best_value(self) -> float | None:
        return self.best if math.isfinite(self.best) else None


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def train(config: Config, out_dir, *, resume: bool = False, quiet: bool = False,
          callbacks: Sequence[Callback] = ()) -> TrainResult:
    """Train ``config`` into the folder ``out_dir`` (created if needed).

    Parameters
    ----------
    config : Config
    out_dir : path
        Run folder (see the module docstring for its files).
    resume : bool
        Continue from ``out_dir/last.pt`` (same config required).
    quiet : bool
        No progress bar.
    callbacks : sequence of callable ``(step, loss)``
        Called after every completed step (rank-local); a callback raising
        ``KeyboardInterrupt`` behaves like Ctrl-C.

    Raises
    ------
    DivergenceError
        Non-finite loss, or an exploding loss in the first steps.
    CheckpointError
        ``resume`` without a usable ``last.pt``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    info = D.setup(config.train.device)
    try:
        with isolated_global_rng(config.train.seed):
            run = _Run(config, out, info, quiet)
            return run.run(resume, callbacks)
    finally:
        D.teardown(info)
