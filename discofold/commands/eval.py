"""``discofold eval``: metrics, tables and figures of a checkpoint on MRI or radar data.

::

    discofold eval --checkpoint CKPT --data PATH [--patterns a,b] [--accelerations 4,8]
                   [--baseline cg|fista|tv|pfa|... | none] --out DIR [--overwrite] [--quiet]

``CKPT`` is a checkpoint file or the name of a bundled checkpoint.  ``PATH`` is a folder of HDF5
files (fastMRI-layout MRI or radar, detected), one such file, or a simulation spec such as
``sim:mri?n=4&size=64&coils=8`` or ``sim:radar?n=4&geometry=S0&size=32`` (options:
:mod:`discofold.evaluate._data`).  Patterns and accelerations default to those the checkpoint
was trained on.  Every setting is evaluated for zero-filling, the classical baseline(s) (tuned
weights of ``discofold recon``) and the model.

``DIR`` receives ``metrics.csv`` (one line per volume / frame and method), ``metrics.json``
(rows, summary, tables, figure names, what was evaluated), ``table_<pattern>_x<acc>.md`` per
setting, ``metrics.md`` (all tables) and ``fig_<pattern>_x<acc>.png``; ``discofold report DIR``
renders them as HTML + markdown.  Everything is computed first and written to a temporary folder
next to ``DIR``, then moved in: a failed run leaves no partial output, and an existing non-empty
``DIR`` is refused unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from ..data._atomic import make_temp_dir, refuse_link
from ..errors import InputError
from ._common import add_limit_args, progress

__all__ = ["register", "run", "publish_dir", "check_out_dir"]


def _names(text: str) -> list[str]:
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
    return items


def _floats(text: str) -> list[float]:
    try:
        values = [float(t) for t in _names(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 4,8, got {text!r}") from None
    if any(not v >= 1 for v in values):
        raise argparse.ArgumentTypeError(f"accelerations must be >= 1, got {text!r}")
    return values


def register(subparsers) -> None:
    """Add the ``eval`` verb."""
    p = subparsers.add_parser(
        "eval", help="evaluate a checkpoint: metrics tables and figures per pattern/acceleration",
        description="Evaluate a checkpoint (file or bundled name) on a folder of MRI/radar HDF5 "
        "files or a simulation spec (sim:mri?n=4&size=64&coils=8, sim:radar?n=4&size=32), "
        "against zero-filling and a classical baseline. Writes metrics.csv, metrics.json, a "
        "markdown table per pattern x acceleration and figures to --out.")
    p.add_argument("--checkpoint", required=True, metavar="CKPT",
                   help="checkpoint file or bundled checkpoint name")
    p.add_argument("--data", required=True, metavar="PATH",
                   help="folder of .h5 files, one .h5 file, or sim:mri?... / sim:radar?...")
    p.add_argument("--patterns", type=_names, default=None, metavar="A,B",
                   help="sampling patterns (default: those of the checkpoint's training)")
    p.add_argument("--accelerations", type=_floats, default=None, metavar="4,8",
                   help="nominal accelerations (default: those of the checkpoint's training)")
    p.add_argument("--baseline", action="append", default=None, metavar="NAME",
                   help="classical baseline(s), repeatable or comma-separated (default: cg for "
                   "MRI, fista for radar; 'none' for zero-filling only)")
    p.add_argument("--params", default=None, metavar="JSON",
                   help="tuned baseline weights (default: discofold/configs/baselines_tuned.json)")
    p.add_argument("--device", default="cpu", help="torch device of the model (default cpu)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--overwrite", action="store_true",
                   help="write into an existing non-empty output folder, replacing its files")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no tables")
    add_limit_args(p)
    p.set_defaults(func=run)


def _baselines(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    names = [n for v in values for n in _names(v)]
    if "none" in names:
        return []
    return [n for n in dict.fromkeys(names) if n != "zf"]  # zero-filling is always evaluated


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_out_dir(out: Path, inputs: list[Path], overwrite: bool) -> None:
    """Refuse an output folder equal to an input, an existing file, or (without ``overwrite``)
    an existing non-empty folder."""
    for inp in inputs:
        if _same(out, inp):
            raise InputError(f"--out '{out}' is the input '{inp}'; inputs are never modified, "
                             "choose another output folder")
    if out.exists() and not out.is_dir():
        raise InputError(f"--out '{out}' is an existing file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise InputError(f"output folder '{out}' already exists and is not empty; nothing was "
                         "written; pass --overwrite to replace its files")


def _check_merge(src: Path, dest: Path) -> None:
    """Refuse, before anything is moved, a folder of ``src`` whose place under ``dest`` is a
    symbolic link or a file: the move would then write wherever the link points."""
    for item in sorted(src.iterdir()):
        if item.is_dir():
            target = dest / item.name
            refuse_link(target, "output folder")
            if target.exists() and not target.is_dir():
                raise InputError(f"output path '{target}' is a file; cannot replace it by a "
                                 "folder")
            if target.is_dir():
                _check_merge(item, target)


def _merge(src: Path, dest: Path) -> None:
    """Move every file under ``src`` to the same place under ``dest`` (replacing files; a
    symbolic link in ``dest`` is replaced, never written through)."""
    for item in sorted(src.iterdir()):
        if item.is_dir():
            (dest / item.name).mkdir(exist_ok=True)
            _merge(item, dest / item.name)
        else:
            os.replace(item, dest / item.name)


def publish_dir(out: Path, write) -> list[Path]:
    """Run ``write(tmp_dir)`` in a temporary folder next to ``out``, then move its files into
    ``out`` (a rename when ``out`` does not exist yet).  On failure nothing is left behind."""
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = make_temp_dir(f".{out.name}.tmp-", parent)
    except OSError as exc:
        raise InputError(f"--out '{out}': cannot create the folder ({exc.strerror})") from None
    try:
        names = [p.name for p in write(tmp)]
        if not out.exists():
            os.replace(tmp, out)
        else:
            _check_merge(tmp, out)
            _merge(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [out / n for n in names]


def run(args: argparse.Namespace) -> int:
    """Evaluate ``--checkpoint`` on ``--data`` into ``--out``."""
    from ..evaluate import evaluate, markdown_table, save_evaluation, summarize
    from ..inference import as_device

    out = Path(args.out)
    inputs = [p for p in (Path(args.checkpoint),) if p.exists()]
    if not str(args.data).startswith("sim:"):
        inputs.append(Path(args.data))
    check_out_dir(out, inputs, args.overwrite)
    device = as_device(args.device, "--device")
    start = time.perf_counter()

    def bar(items, total, desc):
        return progress(items, total=total, desc=f"eval {desc}", quiet=args.quiet, unit="item")

    result = evaluate(args.checkpoint, args.data, args.patterns, args.accelerations,
                      _baselines(args.baseline), device=device, params_file=args.params,
                      progress=bar)
    files = publish_dir(out, lambda tmp: save_evaluation(result, tmp))
    if result.info["settings"] == [["stored", None]] and (args.patterns or args.accelerations):
        print("discofold eval: note: the data is already undersampled; --patterns and "
              "--accelerations were not applied (each file is evaluated under its own sampling)",
              file=sys.stderr)
    if not args.quiet:
        by: dict = {}
        for s in summarize(result.rows):
            by.setdefault((s["pattern"], s["acceleration"]), []).append(s)
        print("\n".join(markdown_table(v) for v in by.values()))
        print(f"discofold eval: {len(result.rows)} rows, {len(files)} files -> '{out}' in "
              f"{time.perf_counter() - start:.1f} s; render with: discofold report {out}",
              file=sys.stderr)
    return 0
