"""Markdown tables of docs/models.md ("Held-out evaluation") from ``discofold eval`` outputs.

    python scripts/heldout_tables.py runs/heldout_mri_images
    python scripts/heldout_tables.py runs/heldout_radar_S0 runs/heldout_radar_S1
    python scripts/heldout_tables.py runs/bundled_mri_unified      # training log summary

Each table is the ``summary`` of the run's ``metrics.json`` (mean over volumes or frames per
setting) with one column per method and metric, plus the mean over settings.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

_METRICS = {"mri": [("PSNR", "psnr_mean", 2), ("SSIM", "ssim_mean", 4), ("NMSE", "nmse_mean", 4)],
            "radar": [("PSNR", "psnr_mean", 2), ("NMSE dB", "nmse_db_mean", 2),
                      ("SSIM", "ssim_mean", 4)]}
_SHORT = {"zero-filled": "zf", "baseline": None, "model": "model"}


def table(run: Path) -> str:
    data = json.loads((run / "metrics.json").read_text())
    fam = data["family"]
    rows = data["summary"]
    methods, settings, cell = [], [], {}
    for r in rows:
        label = _SHORT.get(r["kind"]) or r["method"]
        if label not in methods:
            methods.append(label)
        key = (r["pattern"], r["acceleration"])
        if key not in settings:
            settings.append(key)
        cell[key, label] = r
    cols = [(name, label, field, nd) for name, field, nd in _METRICS[fam] for label in methods]
    out = ["| pattern | R | " + " | ".join(f"{n} {lab}" for n, lab, _, _ in cols) + " |",
           "|---|---|" + "---|" * len(cols)]
    for key in settings:
        vals = [f"{cell[key, lab][f]:.{nd}f}" for _, lab, f, nd in cols]
        out.append(f"| {key[0]} | {key[1]:g} | " + " | ".join(vals) + " |")
    means = [sum(cell[k, lab][f] for k in settings) / len(settings) for _, lab, f, _ in cols]
    out.append("| **mean** |  | " + " | ".join(f"**{m:.{nd}f}**" for m, (_, _, _, nd)
                                              in zip(means, cols)) + " |")
    return "\n".join(out)




def run_wall_seconds(run: Path) -> float:
    """Wall time of a ``discofold train`` run: its ``config.json`` to its last ``last.pt``."""
    return (run / "last.pt").stat().st_mtime - (run / "config.json").stat().st_mtime


def training_summary(run: Path) -> str:
    """Steps, wall time, final training loss (mean of the last five logged) and the
    validation history of a ``discofold train`` run folder."""
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line]
    train = [r for r in rows if r["kind"] == "train"]
    val = [r for r in rows if r["kind"] == "val"]
    wall = run_wall_seconds(run)
    last = sum(r["loss"] for r in train[-5:]) / len(train[-5:])
    best = min(val, key=lambda r: r["val_loss"])
    hist = ", ".join(f"{r['step']}: {r['val_loss']:.4f} / {r['val_psnr_db']:.2f} dB" for r in val)
    return (f"{run.name}: {train[-1]['step']} steps, {wall / 60:.1f} min, final training loss "
            f"{last:.4f}, best validation {best['val_loss']:.4f} / {best['val_psnr_db']:.2f} dB "
            f"(step {best['step']})\n  history: {hist}")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        run = Path(arg)
        if (run / "metrics.json").is_file():
            print(f"<!-- {arg} -->\n{table(run)}\n")
        elif (run / "log.jsonl").is_file() and (run / "last.pt").is_file():
            print(training_summary(run) + "\n")
        else:
            sys.exit(f"heldout_tables: '{run}' holds neither a `discofold eval` output "
                     "(metrics.json) nor a `discofold train` run (log.jsonl, last.pt)")
