"""``discofold models``: every registered model with its parameter count at the default and paper
configurations, and the trained checkpoints bundled with discofold.

Counting parameters means building every model (on torch's "meta" device), which with the
torch import takes seconds; the table is therefore read from ``_model_table.json``, a snapshot
written by ``python scripts/model_table.py`` together with the SHA-256 of the source files that
define the models (``discofold/models``, ``discofold/layers``).  When those files differ from
the snapshot's (an edited checkout), the counts are computed live instead, so the table is never
stale.  The bundled checkpoints come from ``discofold/pretrained/manifest.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

__all__ = ["register", "run", "model_table", "bundled_table", "model_rows", "live_rows",
           "source_digest"]

_PACKAGE = Path(__file__).resolve().parent.parent
SNAPSHOT = Path(__file__).resolve().parent / "_model_table.json"
MANIFEST = _PACKAGE / "pretrained" / "manifest.json"


def register(subparsers) -> None:
    """Add the ``models`` verb."""
    parser = subparsers.add_parser(
        "models", help="list the registered models, their parameter counts and the bundled "
        "checkpoints",
        description="List every registered reconstruction model with its family and its "
        "parameter count at the default configuration (build(name)) and at the paper "
        "configuration (the publication the model follows), then the trained checkpoints "
        "bundled with discofold (discofold.load_model(name)).")
    parser.add_argument("--family", choices=("mri", "radar", "blockcs"), default=None,
                        help="only the models (and bundled checkpoints) of one family")
    parser.add_argument("--configs", action="store_true",
                        help="also print the paper configuration of every model")
    parser.set_defaults(func=run)


def source_digest() -> str:
    """SHA-256 over the source files that define the models' parameters."""
    h = hashlib.sha256()
    for folder in ("models", "layers"):
        for path in sorted((_PACKAGE / folder).rglob("*.py")):
            h.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def live_rows() -> list[dict]:
    """Every registered model: name, family, parameter counts, description, paper config."""
    from ..models import get_spec, list_models, parameter_count

    rows = []
    for name in list_models():
        spec = get_spec(name)
        rows.append({"name": name, "family": spec.family, "default": parameter_count(name),
                     "paper": parameter_count(name, **spec.paper),
                     "description": spec.description, "paper_config": repr(spec.paper)})
    return rows


def model_rows() -> list[dict]:
    """:func:`live_rows`, from the snapshot when it was made from the current sources."""
    try:
        snap = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
        if snap.get("source_sha256") == source_digest():
            return snap["models"]
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    return live_rows()


def _markdown(rows: list[tuple[str, ...]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]

    def fmt(row):
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        return "| " + " | ".join(cells) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if i in right else "-" * (w + 2)
                          for i, w in enumerate(widths)) + "|"
    return [fmt(rows[0]), rule, *(fmt(r) for r in rows[1:])]


def model_table(family: str | None = None, configs: bool = False) -> str:
    """The table of registered models printed by ``discofold models`` (Markdown)."""
    models = [m for m in model_rows() if family is None or m["family"] == family]
    rows = [("model", "family", "default params", "paper params", "description")]
    rows += [(m["name"], m["family"], f"{m['default']:,}", f"{m['paper']:,}", m["description"])
             for m in models]
    notes = [f"{m['name']}: paper config {m['paper_config']}" for m in models] if configs else []
    return "\n".join(_markdown(rows, {2, 3}) + ([""] + notes if notes else []))


def bundled_table(family: str | None = None) -> str:
    """The bundled checkpoints (name, model, parameters, what it was trained on), Markdown."""
    try:
        manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "(no bundled checkpoints: discofold/pretrained/manifest.json is missing)"
    families = {m["name"]: m["family"] for m in model_rows()}
    rows = [("checkpoint", "model", "params", "trained on")]
    rows += [(name, e.get("model", "?"), f"{e.get('parameters', 0):,}", e.get("trained_on", ""))
             for name, e in sorted(manifest.items())
             if family is None or families.get(e.get("model")) == family]
    return "\n".join(_markdown(rows, {2}))


def run(args: argparse.Namespace) -> int:
    """Print both tables; returns 0."""
    print(model_table(args.family, args.configs))
    print("\nBundled checkpoints (discofold.load_model(name); docs/models.md):\n")
    print(bundled_table(args.family))
    return 0
