"""Metric files: ``metrics.csv``, ``metrics.json`` and one markdown table per setting.

Summary statistics per (pattern, acceleration, method): the number ``n`` of volumes (MRI) or
frames (radar), the mean and the sample standard deviation (``ddof = 1``; 0 when ``n = 1``) of
every metric, and the runtime per image (total reconstruction seconds / images).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

from .._version import __version__

__all__ = ["METRICS", "summarize", "setting_key", "acceleration_label", "markdown_table",
           "write_metrics"]

#: metric columns per family: (key, heading, format, higher is better)
METRICS = {
    "mri": [("nmse", "NMSE", ".4f", False), ("psnr", "PSNR (dB)", ".2f", True),
            ("ssim", "SSIM", ".4f", True)],
    "radar": [("nmse_db", "NMSE (dB)", ".2f", False), ("psnr", "PSNR (dB)", ".2f", True),
              ("ssim", "SSIM (dB, 40 dB)", ".4f", True), ("correlation", "corr.", ".4f", True),
              ("entropy", "entropy (nats)", ".3f", False), ("contrast", "contrast", ".3f", True)],
}
_CSV_FIRST = ["family", "pattern", "acceleration", "true_acceleration", "method", "kind",
              "volume", "n_images"]


def _mean_std(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def setting_key(pattern: str, acceleration: float | None) -> str:
    """File-name stem of a setting: ``equispaced_x4``, ``poisson_2d_x2.5``, ``stored``."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(pattern))
    if acceleration is None:
        return stem
    return f"{stem}_x{float(acceleration):g}"


def acceleration_label(nominal: float | None, true: float | None) -> str:
    """How tables and figures name an acceleration: the nominal value asked for and, when it
    differs (at 3 significant digits), the true one measured from the mask (total samples /
    measured samples): ``4×``, ``4× (true 3.2×)``, ``stored (true 3.2×)``."""
    if true is None:
        return "stored" if nominal is None else f"{float(nominal):.3g}×"
    measured = f"{float(true):.3g}"
    if nominal is None:
        return f"stored (true {measured}×)"
    asked = f"{float(nominal):.3g}"
    return f"{asked}×" if asked == measured else f"{asked}× (true {measured}×)"


def summarize(rows: list[dict]) -> list[dict]:
    """One dict per (pattern, acceleration, method) in first-seen order (see module docstring)."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["pattern"], r["acceleration"], r["method"]), []).append(r)
    out = []
    for (pattern, acc, method), rs in groups.items():
        fam = rs[0]["family"]
        images = sum(int(r["n_images"]) for r in rs)
        s = {"family": fam, "pattern": pattern, "acceleration": acc, "method": method,
             "kind": rs[0]["kind"], "n": len(rs), "images": images,
             "true_acceleration": sum(float(r["true_acceleration"]) for r in rs) / len(rs),
             "runtime_s": sum(float(r["runtime_s"]) * int(r["n_images"]) for r in rs) / images}
        for key, *_ in METRICS[fam]:
            s[f"{key}_mean"], s[f"{key}_std"] = _mean_std([float(r[key]) for r in rs])
        out.append(s)
    return out


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]|"})


def md_text(value) -> str:
    """``value`` as inert markdown text on one line: HTML (``<script>``, tags, entities) shown
    as text, never passed through, and no markdown structure (code spans, emphasis, links,
    table cells) opened by it.  Every field that comes from a run folder goes through here."""
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.translate(_MD_SPECIAL)


def _cell(value) -> str:
    """A table cell from a method name or pattern (which may come from a user's file or
    checkpoint path): plain names are kept as they are, anything else goes through
    :func:`md_text`, so no ``|``, tag or link can change the table."""
    text = str(value)
    return text if re.fullmatch(r"[\w.+\- ×()/,=:]*", text) else md_text(text)


def markdown_table(summary: list[dict]) -> str:
    """Markdown table of the summary rows of ONE setting (one line per method)."""
    fam = summary[0]["family"]
    unit = "volumes" if fam == "mri" else "frames"
    cols = METRICS[fam]
    head = ["method", "n"] + [f"{h} {'↑' if up else '↓'}" for _, h, _, up in cols] + \
           ["runtime / image (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summary:
        cells = [_cell(s["method"]), str(s["n"])]
        cells += [f"{s[k + '_mean']:{f}} ± {s[k + '_std']:{f}}" for k, _, f, _ in cols]
        cells.append(f"{s['runtime_s']:.3g}")
        lines.append("| " + " | ".join(cells) + " |")
    s0 = summary[0]
    label = acceleration_label(s0["acceleration"], s0["true_acceleration"])
    title = f"**{_cell(s0['pattern'])} {label}**"
    note = f"mean ± sample std over n {unit}"
    if fam == "mri":
        note += "; metrics per volume (fastMRI definitions)"
    else:
        note += "; SSIM on dB magnitudes over 40 dB, entropy/contrast of the estimate"
    return f"{title}\n\n" + "\n".join(lines) + f"\n\n_{note}._\n"


def _by_setting(summary: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for s in summary:
        out.setdefault(setting_key(s["pattern"], s["acceleration"]), []).append(s)
    return out


def _csv_text(rows: list[dict]) -> str:
    keys = list(_CSV_FIRST)
    for r in rows:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in keys})
    return buf.getvalue()


def write_metrics(rows: list[dict], out_dir: str | Path, info: dict | None = None,
                  figures: dict[str, str] | None = None) -> list[Path]:
    """Write ``metrics.csv`` (one line per row), ``metrics.json`` (rows, summary, tables, info,
    figure paths), ``table_<setting>.md`` per setting and ``metrics.md`` (all tables).

    Parameters
    ----------
    rows : list of dict
        :attr:`EvalResult.rows`.
    out_dir : folder (must exist); files in it are replaced.
    info : dict, optional
        Stored under ``info`` in ``metrics.json``.
    figures : dict setting key -> relative PNG path, optional

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(out_dir)
    summary = summarize(rows)
    tables = {k: markdown_table(v) for k, v in _by_setting(summary).items()}
    files = {"metrics.csv": _csv_text(rows)}
    for key, text in tables.items():
        files[f"table_{key}.md"] = text
    files["metrics.md"] = "# Evaluation\n\n" + "\n".join(tables.values())
    doc = {"discofold": __version__, "family": rows[0]["family"] if rows else None,
           "info": dict(info or {}), "rows": rows, "summary": summary,
           "tables": {k: f"table_{k}.md" for k in tables}, "figures": dict(figures or {})}
    files["metrics.json"] = json.dumps(doc, indent=1, default=_json_default) + "\n"
    written = []
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
        written.append(out / name)
    return written


def _json_default(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
