"""``discofold report``: an HTML + markdown report of an eval folder and/or a training run.

::

    discofold report RUN_DIR [--out DIR] [--overwrite]

Reads ``metrics.json`` and the figures written by ``discofold eval`` and/or ``train.csv`` /
``val.csv`` (loss and learning curves) and ``config.json`` written by ``discofold train``, and
writes ``report.html`` and ``report.md`` (plus ``loss.png``, and ``learning.png`` when the run
validated, for a training run) into ``DIR`` (default ``RUN_DIR``).  The folder is
self-contained: figures are linked by relative paths and copied into ``DIR/figures`` when
``DIR`` is not ``RUN_DIR``.  Existing report files are kept unless ``--overwrite``; the report
is rendered in a temporary folder and moved in at the end.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError
from ._common import check_new_files

__all__ = ["register", "run"]


def register(subparsers) -> None:
    """Add the ``report`` verb."""
    p = subparsers.add_parser(
        "report", help="render an HTML + markdown report from eval results or a training run",
        description="Render report.html and report.md (tables, figures, loss and learning "
        "curves) from a folder written by 'discofold eval' and/or 'discofold train'.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="eval output folder or training run folder")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="report folder (default: RUN_DIR)")
    p.add_argument("--overwrite", action="store_true", help="replace existing report files")
    p.add_argument("--quiet", action="store_true", help="no summary line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Render the report of ``RUN_DIR``."""
    from ..evaluate import render_report
    from ..evaluate._report import planned_files
    from .eval import publish_dir

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise InputError(f"RUN_DIR '{run_dir}' does not exist or is not a folder")
    out = Path(args.out) if args.out is not None else run_dir
    if out.exists() and not out.is_dir():
        raise InputError(f"--out '{out}' is an existing file, not a folder")
    check_new_files([out / name for name in planned_files(run_dir)], args.overwrite)

    def write(tmp: Path) -> list[Path]:
        render_report(run_dir, tmp, link_dir=out)
        return sorted(tmp.iterdir())

    files = publish_dir(out, write)
    if not args.quiet:
        print(f"discofold report: {', '.join(p.name for p in files)} -> '{out}'",
              file=sys.stderr)
    return 0
