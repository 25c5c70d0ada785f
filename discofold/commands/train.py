"""``discofold train --config CFG.toml [--set key.sub=value ...] --out RUN_DIR [--resume]``.

Trains one configuration (a TOML file or the name of a config shipped in
``discofold/configs``) into ``RUN_DIR``; see ``docs/training.md``.  Works under ``torchrun``
(``torchrun --nproc_per_node N -m discofold train ...``): every process runs this verb and
rank 0 writes the run folder.

A folder that already holds a run is refused unless ``--resume`` (continue from ``last.pt``)
or ``--overwrite`` (start again) is given; a run that stopped before its first ``last.pt`` (a
crash inside the first checkpoint write) can only be started again, and the message says so.
``--overwrite`` replaces the old run only once the new one has written its first ``last.pt``:
until then the old files wait in a hidden folder of ``RUN_DIR`` and are put back if the new run
fails (:mod:`discofold.train._replace`).  SIGTERM stops the run after the step under way with a
resumable ``last.pt`` (exit 143).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from ..errors import InputError
from ._common import add_limit_args, add_output_args

__all__ = ["register", "run"]


def register(subparsers) -> None:
    """Add the ``train`` verb."""
    p = subparsers.add_parser(
        "train", help="train a model from a TOML config",
        description="Train a model from a TOML config into a run folder (last.pt, best.pt, "
                    "log.jsonl, train.csv, val.csv). Under torchrun, runs data-parallel.")
    p.add_argument("--config", required=True, metavar="CFG",
                   help="TOML config file, or the name of a bundled config (e.g. tiny_mri)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE", help="override a config key, e.g. --set train.lr=3e-4 "
                   "(repeatable; values are TOML literals)")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    add_output_args(p, out_help="run folder")
    add_limit_args(p)
    p.set_defaults(func=run)


def _main_rank() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _check_run_dir(out: Path, resume: bool, overwrite: bool) -> None:
    from ..train._replace import recover_replaced
    from ..train.loop import RUN_FILES

    if _main_rank() and out.is_dir():
        done = recover_replaced(out, RUN_FILES)
        if done == "restored":
            print(f"discofold train: note: restored the run in '{out}' that an interrupted "
                  "--overwrite had set aside", file=sys.stderr)
    existing = [out / f for f in RUN_FILES if (out / f).exists()]
    checkpointed = (out / "last.pt").exists()
    if resume:
        if not checkpointed and existing:  # e.g. killed before or inside its first checkpoint
            raise InputError(f"--resume: '{out / 'last.pt'}' does not exist: the run in '{out}' "
                             f"stopped before its first checkpoint ({existing[0].name} is "
                             "there), so it cannot be continued; pass --overwrite instead of "
                             "--resume to start it again")
        if not checkpointed:
            raise InputError(f"--resume: '{out / 'last.pt'}' does not exist; nothing to resume "
                             "(start a new run without --resume)")
        return
    if existing and not overwrite:
        if not checkpointed:
            raise InputError(f"run folder '{out}' already holds a run that stopped before its "
                             f"first checkpoint ({existing[0].name}, no last.pt), so --resume "
                             "cannot continue it; pass --overwrite to start it again")
        raise InputError(f"run folder '{out}' already holds a run ({existing[0].name}); pass "
                         "--resume to continue it or --overwrite to start again")


def run(args: argparse.Namespace) -> int:
    from ..train import load_config, train
    from ..train._replace import replacing_run
    from ..train._tensorboard import check_available
    from ..train.loop import RUN_FILES

    cfg = load_config(args.config, overrides=args.overrides)
    if cfg.train.tensorboard:  # the extra is missing: say so before the run folder is made
        check_available()
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out '{out}' is an existing file, not a folder")
    _check_run_dir(out, args.resume, args.overwrite)  # the folder is made by train()
    replace = args.overwrite and not args.resume and _main_rank()
    with replacing_run(out, RUN_FILES) if replace else contextlib.nullcontext():
        result = train(cfg, out, resume=args.resume, quiet=args.quiet)
    if not _main_rank():
        return (143 if result.terminated else 130) if result.interrupted else 0
    if result.terminated:
        print(f"discofold train: stopped by SIGTERM at step {result.step}; resumable "
              f"checkpoint '{result.last}' (continue with --resume)", file=sys.stderr)
        return 143
    if result.interrupted:
        print(f"discofold train: interrupted at step {result.step}; resumable checkpoint "
              f"'{result.last}' (continue with --resume)", file=sys.stderr)
        return 130
    if not args.quiet:
        best = "" if result.best_val_loss is None else \
            f", best validation loss {result.best_val_loss:.4g} ('{result.best}')"
        budget = (f" (the time budget train.time_budget_s = {cfg.train.time_budget_s:g} s "
                  "was spent)") if result.stopped_by_budget else ""
        print(f"trained {cfg.model.name} for {result.step} steps{budget}: '{result.last}'{best}")
    return 0
