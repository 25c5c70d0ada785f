"""HTML and markdown reports of an evaluation folder and/or a training run folder.

The report is one self-contained folder: ``report.html`` (inline CSS, no scripts, no network)
and ``report.md`` link their figures by RELATIVE paths to PNG files inside that folder (copied
there when the report goes elsewhere than the run folder), so the folder can be moved, zipped or
served as it is.

Every file read from ``run_dir`` must be a regular file inside it: a figure name in
``metrics.json`` is a relative path without ``..``, and no component of any path read (nor any
file or folder the report writes) may be a symbolic link, so a crafted run folder can neither
make the report copy another file of the user into it nor write outside the report folder.
Such a path is refused with one line naming it.

Every field taken from the run folder (names, values, the folder's own name, figure paths,
``config.json``) is escaped in ``report.html`` and neutralised in ``report.md`` (:func:`_md`):
markdown passes raw HTML through to the browser that renders it, so a ``<script>`` in
``metrics.json`` must reach neither file as markup.

Sources read from ``run_dir``:

- ``metrics.json`` (``discofold eval``): the tables per setting and the comparison figures;
- ``train.csv`` / ``val.csv`` (``discofold train``): a loss curve ``loss.png``, a learning
  curve ``learning.png`` (validation PSNR and NMSE against the step and the wall-clock time,
  when ``val.csv`` has rows) and the final numbers, plus ``config.json`` when present.  A run
  still training (or stopped before ``train.steps``, told from the last record of
  ``log.jsonl``) is reported as far as it got and said to be in progress (or how it stopped);
  a last CSV line still being written is left out.
"""

from __future__ import annotations

import csv
import html
import json
import os
import shutil
import stat
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from .._version import __version__
from ..data._atomic import refuse_link
from ..errors import InputError
from ._figures import best_row, learning_curve, loss_curve
from ._tables import METRICS
from ._tables import md_text as _md

__all__ = ["render_report", "planned_files", "REPORT_FILES"]

REPORT_FILES = ("report.html", "report.md")
_CSS = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:0.5em 0 1.5em}"
        "td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}th{background:#eee}"
        "img{max-width:100%}.note{color:#666;font-size:90%}")


def _md_link(rel: str) -> str:
    """A relative figure path as a markdown link target: percent-encoded, so that no ``)``,
    space, ``<`` or quote in a crafted file name can end the link or open a tag."""
    return quote(rel, safe="/")


def _md_json(text: str) -> str:
    """``config.json`` as the body of a fenced code block: parsed and re-serialised with
    ``<``, ``>`` and ``&`` as JSON ``\\u`` escapes (same JSON, no raw tag), so no line can
    close the fence or carry markup; a file that is not JSON is not shown."""
    try:
        doc = json.loads(text)
    except ValueError:
        return "(config.json is not valid JSON; not shown)"
    dumped = json.dumps(doc, indent=2, ensure_ascii=True)
    return dumped.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _member(run: Path, rel, what: str) -> Path | None:
    """``run / rel`` if it is a regular file inside ``run`` reached through no symbolic link,
    ``None`` if it does not exist.

    Raises
    ------
    InputError
        ``rel`` is not a relative path without ``..``, or a component is a link or not a
        folder / regular file."""
    parts = PurePosixPath(rel).parts if isinstance(rel, str) else ()
    if not parts or PurePosixPath(rel).is_absolute() or ".." in parts or "\\" in rel \
            or "\0" in rel:
        raise InputError(f"{what} {rel!r} in RUN_DIR '{run}': refused: expected a relative path "
                         "inside the run folder (no '..', not absolute)")
    path = run
    for i, part in enumerate(parts):
        path = path / part
        try:
            mode = os.lstat(path).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return None
        last = i == len(parts) - 1
        if stat.S_ISLNK(mode) or not (stat.S_ISREG(mode) if last else stat.S_ISDIR(mode)):
            kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file or folder"
            raise InputError(f"{what} '{path}' is {kind}; refused: the report reads only "
                             "regular files inside RUN_DIR")
    return path


def _read_csv(path: Path | None) -> list[dict]:
    """The rows of a run's CSV log, without a last row torn by a write under way (a run still
    training) or by a crash: one with fewer fields than the header, or no integer step."""
    if path is None:
        return []
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r for r in rows if None not in r.values() and str(r.get("step", "")).isdigit()]


#: the last log.jsonl record of a run that stopped before train.steps, and what it means
_STOPPED = {"interrupted": "was interrupted (Ctrl-C) at step {step}; continue it with "
                           "discofold train --resume",
            "terminated": "was stopped by SIGTERM at step {step}; continue it with discofold "
                          "train --resume",
            "budget": "stopped at step {step}: its time budget (train.time_budget_s) was spent",
            "diverged": "stopped: the loss diverged at step {step}"}


def _run_state(run: Path, train: list[dict]) -> str | None:
    """A sentence on a run that has not reached ``train.steps`` (still training, or stopped
    early, from the last record of ``log.jsonl``), ``None`` for a finished run or one that
    cannot tell (no ``config.json``)."""
    log = _member(run, "log.jsonl", "run log")
    last = {}
    for line in (log.read_text(encoding="utf-8").splitlines() if log else []):
        try:
            rec = json.loads(line)
        except ValueError:  # a line being written
            continue
        last = rec if isinstance(rec, dict) else last
    step = train[-1]["step"] if train else str(last.get("step", 0))
    if last.get("kind") in _STOPPED:
        return f"This run {_STOPPED[last['kind']].format(step=last.get('step', step))}."
    cfg = _member(run, "config.json", "run configuration")
    try:
        steps = int(json.loads(cfg.read_text(encoding="utf-8"))["train"]["steps"]) if cfg \
            else None
    except (ValueError, KeyError, TypeError):
        return None
    if steps is None or int(step) >= steps:
        return None
    return (f"Run in progress: step {step} of {steps}, no final validation yet (or it stopped "
            "without a record, e.g. killed; then continue it with discofold train --resume); "
            "the numbers below are those logged so far.")


def _load_metrics(run_dir: Path) -> dict | None:
    path = _member(run_dir, "metrics.json", "metrics file")
    if path is None:
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"'{path}' cannot be read as JSON: {exc}") from None
    if not isinstance(doc, dict) or "summary" not in doc:
        raise InputError(f"'{path}' is not a discofold eval metrics file (no 'summary')")
    return doc


def _cells(s: dict, fam: str) -> list[str]:
    cells = [str(s["method"]), str(s["n"])]
    cells += [f"{s[k + '_mean']:{f}} ± {s[k + '_std']:{f}}" for k, _, f, _ in METRICS[fam]]
    return cells + [f"{s['runtime_s']:.3g}"]


def _head(fam: str) -> list[str]:
    return ["method", "n"] + [f"{h} {'↑' if up else '↓'}" for _, h, _, up in METRICS[fam]] + \
        ["runtime / image (s)"]


def _groups(doc: dict) -> list[tuple[str, str, list[dict]]]:
    """``[(setting key, title, summary rows)]`` in order."""
    from ._tables import setting_key

    out: dict[str, tuple[str, list]] = {}
    for s in doc["summary"]:
        key = setting_key(s["pattern"], s["acceleration"])
        acc = "stored sampling" if s["acceleration"] is None else f"×{s['acceleration']:g}"
        title = f"{s['pattern']}, {acc} (true ×{s['true_acceleration']:.2f})"
        out.setdefault(key, (title, []))[1].append(s)
    return [(k, t, rows) for k, (t, rows) in out.items()]


def _copy(src: Path, dest_dir: Path, link_dir: Path, name: str) -> str:
    """The relative link of figure ``src`` from the report folder ``link_dir``; copied into
    ``dest_dir/figures`` unless ``src`` already lies in ``link_dir``."""
    if src.parent.resolve() == link_dir.resolve():
        return name
    (dest_dir / "figures").mkdir(exist_ok=True)
    shutil.copyfile(src, dest_dir / "figures" / src.name)
    return f"figures/{src.name}"


def _eval_sections(doc: dict, run_dir: Path, out_dir: Path, link_dir: Path):
    """Markdown and HTML of the evaluation part."""
    fam = doc.get("family") or "mri"
    info = doc.get("info", {})
    baselines = ", ".join(str(b) for b in info.get("baselines", [])) or "none"
    md = ["## Evaluation", "", f"Model: {_md(info.get('model'))}; data: "
          f"{_md(info.get('data'))}; baselines: {_md(baselines)}.", ""]
    ht = ["<h2>Evaluation</h2>", f"<p>Model: <code>{html.escape(str(info.get('model')))}</code>;"
          f" data: <code>{html.escape(str(info.get('data')))}</code>.</p>"]
    for key, title, rows in _groups(doc):
        md += [f"### {_md(title)}", "", "| " + " | ".join(_head(fam)) + " |",
               "|" + "---|" * len(_head(fam))]
        md += ["| " + " | ".join(_md(c) for c in _cells(s, fam)) + " |" for s in rows]
        ht += [f"<h3>{html.escape(title)}</h3>", "<table><tr>" + "".join(
            f"<th>{html.escape(h)}</th>" for h in _head(fam)) + "</tr>"]
        ht += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in _cells(s, fam)) + "</tr>"
               for s in rows]
        ht.append("</table>")
        fig = doc.get("figures", {}).get(key)
        src = _member(run_dir, fig, "figure") if fig else None
        if src is not None:
            link = _copy(src, out_dir, link_dir, fig)
            md += ["", f"![{_md(title)}]({_md_link(link)})"]
            ht.append(f'<img src="{html.escape(link)}" alt="{html.escape(title)}">')
        md.append("")
    unit = "volumes (per-volume fastMRI metrics)" if fam == "mri" else \
        f"frames (images in dB, {info.get('dynamic_range_db', 40):g} dB dynamic range)"
    md.append(f"_mean ± sample std over n {_md(unit)}._")
    ht.append(f'<p class="note">mean ± sample std over n {html.escape(unit)}.</p>')
    return md, ht


def _train_sections(run_dir: Path, out_dir: Path):
    train = _read_csv(_member(run_dir, "train.csv", "training log"))
    val = _read_csv(_member(run_dir, "val.csv", "validation log"))
    loss_curve(train, val, out_dir / "loss.png")
    last = train[-1] if train else {}
    state = _run_state(run_dir, train)
    lines = [state] if state else []
    lines.append(f"Steps: {last.get('step', '?')}; "
                 f"{'latest' if state else 'final'} training loss: {last.get('loss', '?')}.")
    best = best_row(val)
    if best:
        nmse = best.get("val_nmse_db")
        lines.append(f"Best validation loss {best['val_loss']} at step {best['step']} "
                     f"(PSNR {best.get('val_psnr_db', '?')} dB"
                     + (f", NMSE {nmse} dB)." if nmse else ")."))
    cfg = _member(run_dir, "config.json", "run configuration")
    figs = [("loss.png", "loss curve")] + ([("learning.png", "learning curve")] if val else [])
    if val:
        learning_curve(val, out_dir / "learning.png")
    md = ["## Training", "", *(_md(line) for line in lines), "",
          *(f"![{alt}]({name})" for name, alt in figs), ""]
    ht = ["<h2>Training</h2>", "<p>" + html.escape(" ".join(lines)) + "</p>",
          *(f'<img src="{name}" alt="{alt}">' for name, alt in figs)]
    if cfg is not None:
        text = cfg.read_text(encoding="utf-8")
        md += ["Configuration:", "", "```json", _md_json(text), "```", ""]
        ht.append(f"<details><summary>configuration</summary><pre>{html.escape(text)}</pre>"
                  "</details>")
    return md, ht


def planned_files(run_dir: str | Path) -> list[str]:
    """Names of the files :func:`render_report` writes for ``run_dir`` (figure copies aside)."""
    run = Path(run_dir)
    extra = []
    if _member(run, "train.csv", "training log") is not None:
        extra.append("loss.png")
        if _read_csv(_member(run, "val.csv", "validation log")):
            extra.append("learning.png")
    return list(REPORT_FILES) + extra


def render_report(run_dir: str | Path, out_dir: str | Path | None = None,
                  title: str = "discofold report", link_dir: str | Path | None = None,
                  folder_label: str | None = None) -> tuple[Path, Path]:
    """Render ``report.html`` and ``report.md`` for ``run_dir`` into ``out_dir`` (default
    ``run_dir``), replacing earlier reports there.

    ``link_dir`` is the folder the report will finally live in when ``out_dir`` is a staging
    folder (default ``out_dir``): figures already in ``link_dir`` are linked, not copied.
    ``folder_label`` is how the report names the run folder (default ``run_dir`` as given; a
    caller that renders inside a staging folder passes the final name).

    Raises
    ------
    InputError
        ``run_dir`` is missing or holds neither ``metrics.json`` nor ``train.csv``.

    Returns
    -------
    (html path, markdown path)
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise InputError(f"RUN_DIR '{run}' does not exist or is not a folder")
    doc = _load_metrics(run)
    has_train = _member(run, "train.csv", "training log") is not None
    if doc is None and not has_train:
        raise InputError(f"RUN_DIR '{run}' holds neither metrics.json (from discofold eval) "
                         "nor train.csv (from discofold train)")
    out = Path(out_dir) if out_dir is not None else run
    out.mkdir(parents=True, exist_ok=True)
    for name in (*planned_files(run), "figures"):  # written in place: never through a link
        refuse_link(out / name, "report file")
    link = Path(link_dir) if link_dir is not None else out
    shown = str(run) if folder_label is None else folder_label
    md, ht = [f"# {_md(title)}", "", f"Run folder: {_md(shown)}; discofold {__version__}.",
              ""], []
    for present, make, source in (
            (doc is not None, lambda: _eval_sections(doc, run, out, link), "metrics.json"),
            (has_train, lambda: _train_sections(run, out), "train.csv / val.csv")):
        if present:
            try:
                m, h = make()
            except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
                # a hand-edited or corrupt file: its structure is not what eval/train write
                raise InputError(f"'{run}' {source} is malformed ({type(exc).__name__}: "
                                 f"{str(exc)[:120]}); re-create it with discofold eval / "
                                 "train") from None
            md += m + [""]
            ht += h
    page = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
            f"</title><style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p class=\"note\">Run folder: {html.escape(shown)}; discofold {__version__}</p>"
            + "\n".join(ht) + "</body></html>\n")
    (out / "report.html").write_text(page, encoding="utf-8")
    (out / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    return out / "report.html", out / "report.md"
