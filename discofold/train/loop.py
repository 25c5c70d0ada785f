"""The training loop (plain PyTorch): Adam with a schedule, validation, checkpoints, resume.

:func:`train` runs one configuration into a run folder::

    RUN_DIR/config.json   the configuration
    RUN_DIR/last.pt       resumable checkpoint (weights, optimiser, scheduler, RNG states, step)
    RUN_DIR/best.pt       weights with the lowest validation loss
    RUN_DIR/log.jsonl     every record; train.csv and val.csv the same as tables
    RUN_DIR/tensorboard/  the scalars for TensorBoard, with train.tensorboard = true

Guarantees:

- **exact resume**: the data order is a function of the step, every random state is saved and
  restored (:mod:`discofold.train._rng`), so N steps in one go and k steps + resume give the same
  weights bit for bit (same device and thread count; not with ``schedule = "cosine_time"``,
  whose learning rate follows the wall clock);
- **Ctrl-C** (``KeyboardInterrupt``) saves a resumable ``last.pt`` at the last completed step;
  so does **SIGTERM** (:mod:`discofold.train._signals`), after the step under way;
- a **non-finite loss** stops the run with :class:`~discofold.errors.DivergenceError` before the
  bad step is taken; ``last.pt`` keeps the last good state;
- a **sanity check** over the first ``train.sanity_steps`` steps stops a run whose loss grows by
  more than ``train.sanity_factor`` (an exploding learning rate);
- a **time budget** (``train.time_budget_s``, wall-clock seconds summed over resumed segments)
  stops the run cleanly after the step that spends it: a last validation, ``last.pt`` and a
  ``budget`` log record.  The clock starts when :func:`train` builds the run and counts
  everything (setup, steps, validation, checkpoints); time between the last checkpoint and a
  crash is lost with the steps it paid for.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from .._progress import Progress
from ..commands._common import prepare_out_dir
from ..data._atomic import atomic_write, refuse_link
from ..errors import CheckpointError, ConfigError, DivergenceError
from ..metrics import nmse, radar_nmse_db
from ..models import build
from . import distributed as D
from ._logs import RunLog, logged_elapsed
from ._optim import parameter_groups
from ._replace import removed_on_early_failure
from ._resume import restore_training_state
from ._rng import capture, find_generators, isolated_global_rng
from ._signals import StopRequest, stop_on_sigterm
from ._tensorboard import TensorBoardSink, check_available
from .checkpoint import (
    check_resume_compatible,
    load_checkpoint,
    load_state_strict,
    save_checkpoint,
)
from .config import Config, TrainConfig
from .data import (
    BatchAdapter,
    StepBatchSampler,
    build_datasets,
    check_first_items,
    collate_for,
    group_batches,
)
from .losses import compute_loss, prepare, psnr_normalised

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
    #: the run stopped because ``train.time_budget_s`` was spent (before ``train.steps``)
    stopped_by_budget: bool = False
    #: the run stopped because it received SIGTERM (``interrupted`` is then true too)
    terminated: bool = False


def lr_factor(step: int, cfg: TrainConfig, elapsed_s: float = 0.0) -> float:
    """Multiplier of ``train.lr`` for optimiser step ``step`` (0-based): warm-up, then schedule.

    ``cosine`` anneals from 1 to 0 over ``train.steps``; ``cosine_time`` anneals over the time
    budget, ``0.5 (1 + cos(π min(1, elapsed_s / train.time_budget_s)))``, with ``elapsed_s``
    the wall-clock seconds of the run.
    """
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "cosine":
        t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))
    if cfg.schedule == "cosine_time":
        t = elapsed_s / cfg.time_budget_s
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))
    if cfg.schedule == "step":
        return cfg.gamma ** ((step - cfg.warmup_steps) // cfg.step_size)
    return 1.0


@torch.no_grad()
def nmse_db(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``(B,)`` float64 NMSE ``10 log10(‖p − t‖² / ‖t‖²)`` in dB of each sample of a batch.

    Radar (complex targets): the complex images, the output first fitted by its least-squares
    complex scale (:func:`discofold.metrics.radar_nmse_db`).  MRI and block CS: the magnitudes,
    the output centre-cropped to the target (:func:`discofold.train.losses.prepare`,
    :func:`discofold.metrics.nmse`).  NaN for an all-zero target (no reference energy), +inf for
    an output with non-finite values.
    """
    radar = target.is_complex()
    if radar and not pred.is_complex():
        pred = pred.to(torch.complex64)
    p, t = prepare(pred, target, keep_complex=radar)
    out = torch.full((t.shape[0],), math.nan, dtype=torch.float64)
    finite = torch.isfinite(torch.view_as_real(p) if p.is_complex() else p).flatten(1).all(1).cpu()
    has_energy = (t.abs().flatten(1).amax(1) > 0).cpu()
    out[has_energy & ~finite] = math.inf
    ok = has_energy & finite
    if bool(ok.any()):
        p, t = p[ok.to(p.device)], t[ok.to(t.device)]
        out[ok] = (radar_nmse_db(t, p) if radar else
                   10 * torch.log10(nmse(t, p, reduction="slice").clamp_min(1e-30))).cpu()
    return out


def _groups(ds) -> list[int] | None:
    return ds.groups() if hasattr(ds, "groups") else None


class _NonFinite(Exception):
    pass


class _Run:
    """State of one training run (one process)."""

    def __init__(self, cfg: Config, out: Path, info: D.DistInfo, quiet: bool):
        self.cfg, self.out, self.info, self.quiet = cfg, out, info, quiet
        t = cfg.train
        # the clock of this segment; elapsed0 = seconds of the earlier segments (resume)
        self._t0, self.elapsed0, self.elapsed_s = time.perf_counter(), 0.0, 0.0
        self.val_step = -1  # step of the latest validation
        self.val_psnr: float | None = None  # its PSNR (rank 0), shown with the progress
        if t.batch_size % info.world:
            raise ConfigError(f"train.batch_size {t.batch_size} is not divisible by the "
                              f"{info.world} processes")
        self.model = build(cfg.model.name, seed=cfg.model.seed, **cfg.model.args).to(info.device)
        self.generators = find_generators(self.model)
        self.optimizer = torch.optim.Adam(parameter_groups(self.model, t.lr, t.scale_disco_lr),
                                          lr=t.lr, weight_decay=t.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, cfg.train, self.elapsed_s))
        self.train_ds, self.val_ds = build_datasets(cfg.data)
        self.adapter = BatchAdapter(cfg.data, info.device, cfg.data.seed)
        self.amp = bool(t.amp) and info.device.type == "cuda"
        self.step, self.best, self.first_loss = 0, math.inf, None
        self.log: RunLog | None = None
        self.stop_request: StopRequest | None = None

    # ------------------------------------------------------------------ checkpoints
    def resume(self) -> None:
        path = self.out / "last.pt"
        if not path.is_file():
            raise CheckpointError(f"nothing to resume: '{path}' does not exist")
        ckpt = load_checkpoint(path)
        check_resume_compatible(ckpt, self.cfg, f"checkpoint '{path}'")
        load_state_strict(self.model, ckpt["state_dict"], f"checkpoint '{path}'")
        restore_training_state(ckpt, f"checkpoint '{path}'", self.optimizer, self.scheduler,
                               self.generators)
        self.step = int(ckpt["step"])
        self.best = float(ckpt.get("best_val_loss", math.inf))
        self.first_loss = ckpt.get("first_loss")
        # the clock goes on from the checkpoint's, or, in one of an older discofold that did
        # not store it, from the time the logs recorded up to its step
        self.elapsed0 = self.elapsed_s = float(ckpt["elapsed_s"]) if "elapsed_s" in ckpt \
            else logged_elapsed(self.out, self.step)

    def clock(self, sync: bool = True) -> float:
        """Wall-clock seconds of the run so far, earlier (resumed) segments included.

        With ``sync`` and a time budget in a distributed run, the mean over ranks, so that
        every rank takes the same ``cosine_time`` learning rate and the same stop decision.
        """
        elapsed = self.elapsed0 + time.perf_counter() - self._t0
        if sync and self.info.distributed and self.cfg.train.time_budget_s > 0:
            elapsed = float(D.mean_across(torch.tensor(elapsed, device=self.info.device),
                                          self.info))
        return elapsed

    def save_last(self, rng_state: dict, elapsed_s: float = 0.0) -> Path | None:
        """Write the resumable ``last.pt``; its clock is at least ``elapsed_s``."""
        if not self.info.is_main:
            return None
        state = {"optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict(), "rng": rng_state,
                 "best_val_loss": self.best, "first_loss": self.first_loss,
                 "elapsed_s": max(elapsed_s, self.clock(sync=False))}
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
        self.elapsed_s = self.clock()  # read by the cosine_time schedule
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
        loader = DataLoader(self.val_ds, batch_sampler=group_batches(self.val_ds,
                                                                     cfg.train.batch_size),
                            collate_fn=collate_for(cfg.data))
        losses, psnrs, nmses = [], [], []
        for i, batch in enumerate(loader):
            y, op, meta, target = self.adapter(batch, i, train=False)
            pred = model(y, op, meta)
            losses.append(float(compute_loss(cfg.train.loss, pred, target)) * target.shape[0])
            psnrs.append(psnr_normalised(pred, target).sum().item())
            nmses.append(nmse_db(pred, target))
        n = len(self.val_ds)
        return {"val_loss": sum(losses) / n, "val_psnr_db": sum(psnrs) / n,
                "val_nmse_db": float(torch.cat(nmses).nanmean())}

    def maybe_validate(self, force: bool = False) -> None:
        t = self.cfg.train
        if self.val_ds is None or not (force or self.step % t.val_every == 0
                                       or self.step == t.steps):
            return
        if self.info.is_main:
            rec = self.validate()
            rec["best"] = math.isfinite(rec["val_loss"]) and rec["val_loss"] < self.best
            if rec["best"]:
                self.best = rec["val_loss"]
                save_checkpoint(self.out / "best.pt", self.model, self.cfg, step=self.step,
                                metrics={k: rec[k] for k in ("val_loss", "val_psnr_db",
                                                             "val_nmse_db")})
            self.log.write("val", {"step": self.step, "elapsed_s": self.clock(sync=False),
                                   **rec})
            self.val_psnr = rec["val_psnr_db"]
        self.val_step = self.step
        D.barrier(self.info)

    def budget_spent(self, rng_state: dict, unlogged: dict | None) -> bool:
        """True when ``train.time_budget_s`` is spent after the step just taken (before
        ``train.steps``); then logs the step's ``unlogged`` train record, validates (unless done
        at this step), saves ``last.pt`` and logs a ``budget`` record."""
        t = self.cfg.train
        if t.time_budget_s <= 0 or self.step >= t.steps:
            return False
        elapsed = self.clock()
        if elapsed < t.time_budget_s:
            return False
        if self.info.is_main and unlogged is not None:
            self.log.write("train", unlogged)
        if self.val_step != self.step:
            self.maybe_validate(force=True)
        # (again if saved at this step) with a clock that shows the budget spent, so that a
        # resume with the same budget takes no step
        self.save_last(rng_state, elapsed)
        D.barrier(self.info)
        if self.info.is_main:
            self.log.write("budget", {"step": self.step, "elapsed_s": self.clock(sync=False),
                                      "time_budget_s": t.time_budget_s})
        return True

    # ------------------------------------------------------------------ main loop
    def loader(self) -> DataLoader:
        cfg, info = self.cfg, self.info
        sampler = StepBatchSampler(len(self.train_ds), cfg.train.batch_size // info.world,
                                   info.world, info.rank, cfg.data.seed, self.step,
                                   cfg.train.steps, groups=_groups(self.train_ds))
        return DataLoader(self.train_ds, batch_sampler=sampler, collate_fn=collate_for(cfg.data),
                          num_workers=cfg.data.num_workers)

    def run(self, resume: bool, callbacks: Sequence[Callback]) -> TrainResult:
        cfg, info = self.cfg, self.info
        if resume:
            self.resume()
        if info.is_main:
            start = self.step if resume else None
            sinks = (TensorBoardSink(self.out, start),) if cfg.train.tensorboard else ()
            self.log = RunLog(self.out, start, sinks)
            with atomic_write(self.out / "config.json", overwrite=True) as tmp:
                tmp.write_text(json.dumps(json.loads(cfg.to_json()), indent=2) + "\n",
                               encoding="utf-8")
            self.log.write("start", {"step": self.step, "resume": resume, "world": info.world,
                                     "device": str(info.device), "elapsed_s": self.elapsed0})
        t = cfg.train
        if 0 < t.time_budget_s <= self.elapsed0 and self.step < t.steps:  # spent before resume
            return TrainResult(self.step, self.out / "last.pt" if info.is_main else None,
                               self._best_path(), self._best_value(), stopped_by_budget=True)
        if not resume and t.val_at_start:  # the curve starts at the untrained model
            self.maybe_validate(force=True)
        self.ddp = D.wrap(self.model, info)
        rng_state = capture(self.generators)
        bar = Progress(cfg.train.steps, f"train {cfg.model.name}", "step", initial=self.step,
                       quiet=self.quiet or not info.is_main)
        stop = False
        try:
            for batch in self.loader():
                t0 = time.perf_counter()
                loss, gnorm = self._guarded_step(batch)
                rng_state = capture(self.generators)
                stop = self.after_step(loss, gnorm, time.perf_counter() - t0, bar, rng_state)
                for cb in callbacks:
                    cb(self.step, loss)
                if stop:
                    break
                if self.terminate_requested():
                    return self.terminate(rng_state)
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
        return TrainResult(self.step, last, self._best_path(), self._best_value(),
                           stopped_by_budget=stop)

    def terminate_requested(self) -> bool:
        """A SIGTERM arrived (on any rank) and steps remain."""
        asked = self.stop_request is not None and self.stop_request.requested
        if self.info.distributed:  # every rank stops after the same step
            asked = D.any_across(asked, self.info)
        return asked and self.step < self.cfg.train.steps

    def terminate(self, rng_state: dict) -> TrainResult:
        """Checkpoint and return after a SIGTERM."""
        last = self.save_last(rng_state)
        if self.log:
            self.log.write("terminated", {"step": self.step, "signal": "SIGTERM"})
        return TrainResult(self.step, last, self._best_path(), self._best_value(),
                           interrupted=True, terminated=True)

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

    def after_step(self, loss, gnorm, dt, bar, rng_state) -> bool:
        """Log, validate and checkpoint after a step of ``dt`` seconds; True to stop (budget)."""
        t = self.cfg.train
        self.check_sanity(loss)
        rate = t.batch_size / max(dt, 1e-9)
        rec = {"step": self.step, "loss": loss, "grad_norm": gnorm,
               "lr": self.scheduler.get_last_lr()[0], "samples_per_s": rate, "step_s": dt,
               "elapsed_s": self.elapsed_s}
        logged = self.step % t.log_every == 0 or self.step == t.steps
        if self.info.is_main and logged:
            self.log.write("train", rec)
        self.maybe_validate()
        bar.update(1, loss=loss, samples_s=round(rate, 1), val_psnr_db=self.val_psnr)
        if self.step % t.checkpoint_every == 0 or self.step == t.steps or \
                (self.val_ds is not None and self.step % t.val_every == 0):
            self.save_last(rng_state)
            D.barrier(self.info)
        return self.budget_spent(rng_state, None if logged else rec)

    def _best_path(self) -> Path | None:
        p = self.out / "best.pt"
        return p if self.info.is_main and p.exists() else None

    def _best_value(self) -> float | None:
        return self.best if math.isfinite(self.best) else None


def train(config: Config, out_dir, *, resume: bool = False, quiet: bool = False,
          callbacks: Sequence[Callback] = ()) -> TrainResult:
    """Train ``config`` into the folder ``out_dir`` (created once the model and the data are
    built, so a config that fails leaves no folder behind).

    Parameters
    ----------
    config : Config
    out_dir : path
        Run folder (see the module docstring for its files).
    resume : bool
        Continue from ``out_dir/last.pt`` (same config required).
    quiet : bool
        No progress (otherwise a bar in a terminal, a line every few seconds elsewhere:
        :mod:`discofold._progress`).
    callbacks : sequence of callable ``(step, loss)``
        Called after every completed step (rank-local); a callback raising
        ``KeyboardInterrupt`` behaves like Ctrl-C.  A SIGTERM received meanwhile (main thread)
        ends the run after the step under way with a resumable ``last.pt``
        (``interrupted`` and ``terminated`` set in the result).

    Raises
    ------
    DivergenceError
        Non-finite loss, or an exploding loss in the first steps.
    CheckpointError
        ``resume`` without a usable ``last.pt``.
    MissingDependencyError
        ``train.tensorboard`` without the ``tensorboard`` package.
    InputError
        A run file of ``out_dir`` (``RUN_FILES``) is a symbolic link.
    """
    if config.train.tensorboard:  # before anything is written
        check_available()
    out = Path(out_dir)
    for name in RUN_FILES:  # written in place: a link would send the write anywhere
        refuse_link(out / name, "run file")
    info = D.setup(config.train.device)
    try:
        with isolated_global_rng(config.train.seed), stop_on_sigterm() as stop, \
                removed_on_early_failure(out, RUN_FILES, info.is_main and not resume,
                                         keep=(DivergenceError,)) as early:
            run = _Run(config, out, info, quiet)  # the model and the data: a bad config fails
            early.started = lambda: run.step > 0
            check_first_items(config.data, (run.train_ds, run.val_ds), run.adapter)
            if info.is_main:  # the folder is made only once the run could be built
                prepare_out_dir(out)
            run.stop_request = stop
            try:
                return run.run(resume, callbacks)
            finally:
                if run.log is not None:
                    run.log.close()
    finally:
        D.teardown(info)
