"""``discofold demo [--out DIR] [--train] [--overwrite] [--quick]``: the whole tool in minutes.

With no data, no GPU and two CPU cores the demo

1. simulates a small multi-coil MRI set (natural images and a phantom, 8 coils, 64 × 64) and a
   small radar set (satellite scenes on the S1 fan, 20 dB), every item a pure function
   of its seed (:func:`discofold.evaluate.load_data` ``sim:`` specs);
2. reconstructs them under several sampling patterns with zero-filling, the classical
   baselines of ``discofold eval`` (CG-SENSE for MRI, FISTA for radar, with the tuned weights
   of ``discofold recon``; MRI also TV, often the strongest classical method on anatomy) and
   the bundled checkpoints ``mri-unified`` / ``radar-lfista``
   (``docs/models.md``), or, with ``--train``, tiny models trained on the spot from the
   bundled configs;
3. prints a metrics table (pattern, method, PSNR/SSIM or NMSE, runtime) and writes an HTML
   report with figures to ``DIR`` (default ``./discofold-demo``): ``report.html`` at the top,
   and ``mri/`` and ``radar/`` folders as ``discofold eval`` writes them (``metrics.csv``,
   ``metrics.json``, markdown tables, PNG figures, their own ``report.html``).

The demo needs no optional package: without scikit-image (the ``images`` extra) the natural
MRI images are replaced by random phantoms, and the report and the log say so
(:func:`available_plan`).

Everything is written to a hidden staging folder next to ``DIR`` and moved into place at the
end, so a failed or interrupted demo leaves no partial output.  ``--quick`` runs a reduced demo
(one image and one setting per family, the smaller S0 radar fan) in seconds; the tests use
it.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InputError
from ._common import progress

__all__ = ["register", "run", "run_demo", "DemoPlan", "PLANS", "available_plan"]


@dataclass(frozen=True)
class DemoPlan:
    """What the demo simulates, evaluates and (with ``--train``) trains.

    ``mri`` and ``radar`` are groups ``(patterns, accelerations)``; every pattern of a group is
    run at every acceleration of the group.  The MRI settings are ×4 because CG-SENSE estimates
    coil maps from at least 4 × 4 fully sampled calibration lines, which 64 × 64 masks at ×8
    (and 2-D radial/spiral/Gaussian masks) do not keep.
    """

    mri_data: tuple[str, ...]
    mri: tuple[tuple[tuple[str, ...], tuple[float, ...]], ...]
    radar_data: str
    radar: tuple[tuple[tuple[str, ...], tuple[float, ...]], ...]
    train_steps: tuple[int, int]  # (MRI, radar) steps of --train

    def settings(self, family: str) -> list[tuple[str, float]]:
        """Every ``(pattern, acceleration)`` of ``family`` in table order."""
        groups = self.mri if family == "mri" else self.radar
        return [(p, a) for pats, accs in groups for p in pats for a in accs]


PLANS = {
    "full": DemoPlan(
        mri_data=("sim:mri?n=2&size=64&coils=8&source=images&snr=40&seed=2024",
                  "sim:mri?n=1&size=64&coils=8&source=phantom&snr=40&seed=2025"),
        mri=((("equispaced_fraction", "magic", "poisson_2d"), (4.0,)),),
        radar_data="sim:radar?n=2&geometry=S1&size=128&scene=satellite&snr=20&seed=2024",
        radar=((("random_pulses", "gaps"), (2.5,)),),
        train_steps=(60, 150)),
    "quick": DemoPlan(
        mri_data=("sim:mri?n=1&size=64&coils=8&source=phantom&snr=40&seed=2025",),
        mri=((("poisson_2d",), (4.0,)),),
        radar_data="sim:radar?n=1&geometry=S0&size=64&scene=satellite&snr=20&seed=2024",
        radar=((("random_pulses",), (2.5,)),),
        train_steps=(2, 2)),
}

#: --train: the bundled configs shrunk to a model that trains in about a minute on a CPU
_TINY_OVERRIDES = {
    "mri": ["model.args.cascades=2", "model.args.chans=4", "model.args.kspace_chans=4",
            "model.args.kspace_pools=1", "model.args.sens_chans=2", "model.args.sens_pools=1",
            "data.val_length=0", "train.batch_size=2", "train.warmup_steps=5",
            "train.lr=3e-3", "data.train_length=1000"],
    "radar": ["model.args.cascades=2", "model.args.chans=4", "model.args.fan_chans=2",
              "model.args.fan_levels=1", "data.geometry=S0", "data.val_length=0",
              "train.batch_size=2", "train.warmup_steps=5", "train.lr=2e-3",
              "data.train_length=1000"],
}
#: radar-lfista, not radar-unified: 12-19 dB better on satellites (docs/benchmarks/bundled_radar.md)
_BUNDLED = {"mri": "mri-unified", "radar": "radar-lfista"}
_CSS = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:0.5em 0 1.5em}"
        "td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}"
        "td:nth-child(-n+3),th:nth-child(-n+3){text-align:left}th{background:#eee}"
        "img{max-width:100%}.note{color:#666;font-size:90%}")
_RADAR_CAVEAT = ("The radar FISTA here is eval's default: pixel l1 on the image grid, with "
                 "recon's default weight. On a 2x finer grid with its weight tuned per setting "
                 "FISTA is much stronger and beats the bundled radar-lfista at 10-20 dB SNR "
                 "(docs/benchmarks/bundled_radar.md).")
#: eval's default baseline of each family (DEFAULT_BASELINE), and TV for MRI
_BASELINES = {"mri": ("cg", "tv"), "radar": ("fista",)}


def register(subparsers) -> None:
    """Add the ``demo`` verb."""
    p = subparsers.add_parser(
        "demo", help="simulate, reconstruct and report in a few minutes (no data needed)",
        description="Simulate a small MRI set and a small radar set, reconstruct them with the "
                    "bundled models and classical baselines, print a metrics table and write "
                    "an HTML report with figures. Needs no data, no GPU and no network.")
    p.add_argument("--out", default="discofold-demo", metavar="DIR",
                   help="report folder (default: ./discofold-demo)")
    p.add_argument("--train", action="store_true",
                   help="train tiny models first (a minute or two) instead of using the "
                        "bundled checkpoints")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing, non-empty DIR (default: refuse)")
    p.add_argument("--quick", action="store_true",
                   help="reduced demo (one image per family, fewer settings): seconds")
    p.add_argument("--quiet", action="store_true", help="no progress bars and no table")
    p.set_defaults(func=run)


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"--out '{out}' is an existing file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise InputError(f"--out '{out}' already exists and is not empty; nothing was written; "
                         "pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise InputError(f"--out '{out}': its parent folder '{out.parent}' does not exist")


def run(args: argparse.Namespace) -> int:
    """Run the demo into ``args.out`` (staged, then moved into place)."""
    from ..data._atomic import make_temp_dir

    out = Path(args.out)
    _check_out(out, args.overwrite)
    try:
        stage = make_temp_dir(f".{out.name}.partial-", out.parent)
    except OSError as exc:
        raise InputError(f"--out '{out}': cannot write to '{out.parent}' ({exc.strerror})"
                         ) from None
    start = time.perf_counter()
    try:
        summary = run_demo(stage, quick=args.quick, train=args.train, quiet=args.quiet)
        if out.exists():
            shutil.rmtree(out)
        stage.rename(out)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    if not args.quiet:
        print(format_table(summary, args.quick))
        print(f"\ndemo finished in {time.perf_counter() - start:.0f} s; report: "
              f"{out / 'report.html'}")
    return 0


def _bar(quiet: bool):
    def wrap(items, total, desc):
        return progress(items, total=total, desc=desc, quiet=quiet, unit="image")
    return wrap


def _log(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)


def _train_tiny(family: str, run_dir: Path, steps: int, quiet: bool) -> Path:
    """Train the tiny version of the bundled ``family`` config; the checkpoint path."""
    from ..train import load_config, train

    overrides = _TINY_OVERRIDES[family] + [f"train.steps={steps}", f"train.log_every={steps}",
                                           f"train.checkpoint_every={steps}",
                                           f"train.val_every={steps}"]
    cfg = load_config(f"bundled_{family}_unified", overrides=overrides)
    _log(quiet, f"training a tiny {cfg.model.name} for {steps} steps ...")
    result = train(cfg, run_dir, quiet=quiet)
    return result.best or result.last


def _evaluate(family: str, ckpt, plan: DemoPlan, out: Path, label: str, quiet: bool):
    """Evaluate ``ckpt`` and the family's baseline on the plan's data into ``out``."""
    from ..evaluate import (
        EvalData,
        EvalResult,
        evaluate,
        load_data,
        render_report,
        save_evaluation,
    )

    if family == "mri":
        parts = [load_data(spec) for spec in plan.mri_data]
        data = EvalData("mri", [v for p in parts for v in p.volumes],
                        " + ".join(plan.mri_data))
    else:
        data = load_data(plan.radar_data)
    groups = plan.mri if family == "mri" else plan.radar
    _log(quiet, f"{family}: {sum(v.length for v in data.volumes)} simulated images x "
                f"{len(plan.settings(family))} settings (zero-filled, "
                f"{', '.join(_BASELINES[family])}, {label})")
    results = [evaluate(ckpt, data, pats, accs, list(_BASELINES[family]), label=label,
                        progress=_bar(quiet)) for pats, accs in groups]
    result = EvalResult(family, [r for res in results for r in res.rows],
                        [e for res in results for e in res.examples],
                        {**results[0].info, "settings": [list(s) for s in
                                                         plan.settings(family)]})
    out.mkdir()
    save_evaluation(result, out)
    render_report(out, title=f"discofold demo: {family}", folder_label=f"{family}/ of the demo")
    return result


def available_plan(plan: DemoPlan) -> tuple[DemoPlan, str | None]:
    """``plan`` with its natural-image MRI data replaced by random phantoms when scikit-image
    (the ``images`` extra) is not installed, and a note saying so (``None``: unchanged)."""
    from ..data.images import available_skimage_images

    if not any("source=images" in spec for spec in plan.mri_data) or available_skimage_images():
        return plan, None
    specs = tuple(spec.replace("source=images", "source=phantom") for spec in plan.mri_data)
    return replace(plan, mri_data=specs), (
        "scikit-image is not installed, so the MRI natural images were replaced by random "
        "phantoms (pip install 'discofold[images]' for them)")


def run_demo(out_dir, *, quick: bool = False, train: bool = False,
             quiet: bool = True) -> dict[str, list[dict]]:
    """Run the demo into the existing, empty folder ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Receives ``report.html``, ``report.md``, ``mri/``, ``radar/`` (and ``train_*/`` with
        ``train``).
    quick : bool
        The reduced plan (:data:`PLANS` ``["quick"]``).
    train : bool
        Train tiny models instead of loading the bundled checkpoints.
    quiet : bool
        No progress bars or messages.

    Returns
    -------
    dict family -> summary rows (:func:`discofold.evaluate.summarize`)
    """
    from ..evaluate import summarize

    out = Path(out_dir)
    plan, note = available_plan(PLANS["quick" if quick else "full"])
    if note:
        _log(quiet, f"note: {note}")
    summaries, seconds = {}, {}
    for k, family in enumerate(("mri", "radar")):
        t0 = time.perf_counter()
        if train:
            ckpt = _train_tiny(family, out / f"train_{family}", plan.train_steps[k], quiet)
            label = f"{family}-tiny"
        else:
            ckpt = label = _BUNDLED[family]
        result = _evaluate(family, ckpt, plan, out / family, label, quiet)
        summaries[family] = summarize(result.rows)
        seconds[family] = time.perf_counter() - t0
    _write_index(out, summaries, seconds, plan, train, note)
    return summaries


# --------------------------------------------------------------------------- table and report
_COLUMNS = {"mri": [("PSNR dB", "psnr", ".2f"), ("SSIM", "ssim", ".3f"), ("NMSE", "nmse", ".4f")],
            "radar": [("PSNR dB", "psnr", ".2f"), ("SSIM(dB img)", "ssim", ".3f"),
                      ("NMSE dB", "nmse_db", ".2f")]}


def _table_rows(family: str, summary: list[dict]) -> tuple[list[str], list[list[str]]]:
    from ..evaluate._tables import acceleration_label

    head = ["pattern", "accel.", "method", "n"] + [c[0] for c in _COLUMNS[family]] + \
        ["s / image"]
    rows = []
    for s in summary:
        acc = acceleration_label(s["acceleration"], s.get("true_acceleration"))
        rows.append([s["pattern"], acc, s["method"], str(s["n"])]
                    + [f"{s[key + '_mean']:{fmt}}" for _, key, fmt in _COLUMNS[family]]
                    + [f"{s['runtime_s']:.2f}"])
    return head, rows


def format_table(summaries: dict[str, list[dict]], quick: bool = False) -> str:
    """Plain-text metrics tables (one per family) of :func:`run_demo`'s summaries."""
    geometry = re.search(r"geometry=(\w+)", PLANS["quick" if quick else "full"].radar_data)
    blocks = []
    for family, summary in summaries.items():
        head, rows = _table_rows(family, summary)
        widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
        line = "  ".join("-" * w for w in widths)
        fmt = [("  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                          for i, (c, w) in enumerate(zip(r, widths)))) for r in [head] + rows]
        title = "MRI (8 coils, 64x64, per-volume fastMRI metrics)" if family == "mri" else \
            f"radar ({geometry.group(1)} fan, images in dB over 40 dB)"
        blocks.append("\n".join([title, fmt[0], line] + fmt[1:]))
    return "\n\n".join(blocks)


def _html_table(family: str, summary: list[dict]) -> str:
    head, rows = _table_rows(family, summary)
    cells = ["<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    cells += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows]
    return "<table>" + "".join(cells) + "</table>"


def _figures(folder: Path) -> list[tuple[str, str]]:
    doc = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    return [(key, f"{folder.name}/{rel}") for key, rel in doc.get("figures", {}).items()]


def _write_index(out: Path, summaries: dict, seconds: dict, plan: DemoPlan, train: bool,
                 note: str | None = None) -> None:
    """Top-level ``report.html`` and ``report.md``: both tables and every figure."""
    from .._version import __version__

    models = "tiny models trained by the demo (--train)" if train else \
        "the bundled checkpoints mri-unified and radar-lfista (docs/models.md)"
    mri = "natural images and phantoms" if any("source=images" in s for s in plan.mri_data) \
        else "phantoms"
    ht = [f"<p>discofold {__version__}. Models: {html.escape(models)}. Data: simulated "
          f"({mri} for MRI, satellite scenes for radar); nothing was downloaded.</p>"]
    md = ["# discofold demo", "", f"discofold {__version__}. Models: {models}.", ""]
    if note:
        ht.append(f"<p class=\"note\">Note: {html.escape(note)}.</p>")
        md += [f"Note: {note}.", ""]
    for family, summary in summaries.items():
        specs = plan.mri_data if family == "mri" else (plan.radar_data,)
        ht += [f"<h2>{family.upper() if family == 'mri' else 'Radar'}</h2>",
               f"<p class=\"note\">data: {html.escape(' + '.join(specs))}; "
               f"{seconds[family]:.1f} s; full tables and per-setting figures: "
               f"<a href=\"{family}/report.html\">{family}/report.html</a></p>",
               _html_table(family, summary)]
        md += [f"## {family}", "", f"Details: [{family}/report.md]({family}/report.md)", ""]
        if family == "radar":
            ht.append(f"<p class=\"note\">{html.escape(_RADAR_CAVEAT)}</p>")
            md += [_RADAR_CAVEAT, ""]
        for key, rel in _figures(out / family):
            ht.append(f"<h3>{html.escape(key)}</h3><img src=\"{html.escape(rel)}\" "
                      f"alt=\"{html.escape(key)}\">")
            md += [f"![{key}]({rel})", ""]
    page = ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>discofold demo</title>"
            f"<style>{_CSS}</style></head><body><h1>discofold demo</h1>" + "\n".join(ht)
            + "</body></html>\n")
    (out / "report.html").write_text(page, encoding="utf-8")
    md += ["```", format_table(summaries, plan is PLANS["quick"]), "```", ""]
    (out / "report.md").write_text("\n".join(md), encoding="utf-8")
