"""``discofold models``: every registered model with its parameter count at the default and paper
configurations (counted without allocating weights)."""

from __future__ import annotations

import argparse

from ..models import get_spec, list_models, parameter_count

__all__ = ["register", "run", "model_table"]


def register(subparsers) -> None:
    """Add the ``models`` verb."""
    parser = subparsers.add_parser(
        "models", help="list the registered models and their parameter counts",
        description="List every registered reconstruction model with its family and its "
        "parameter count at the default configuration (build(name)) and at the paper "
        "configuration (the publication the model follows).")
    parser.add_argument("--family", choices=("mri", "radar", "blockcs"), default=None,
                        help="only the models of one family")
    parser.add_argument("--configs", action="store_true",
                        help="also print the paper configuration of every model")
    parser.set_defaults(func=run)


def model_table(family: str | None = None, configs: bool = False) -> str:
    """The table printed by ``discofold models`` (Markdown-compatible)."""
    rows = [("model", "family", "default params", "paper params", "description")]
    notes = []
    for name in list_models(family):
        spec = get_spec(name)
        rows.append((name, spec.family, f"{parameter_count(name):,}",
                     f"{parameter_count(name, **spec.paper):,}", spec.description))
        if configs:
            notes.append(f"{name}: paper config {spec.paper}")
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = {2, 3}

    def fmt(row):
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        return "| " + " | ".join(cells) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if i in right else "-" * (w + 2)
                          for i, w in enumerate(widths)) + "|"
    lines = [fmt(rows[0]), rule, *(fmt(r) for r in rows[1:])]
    return "\n".join(lines + ([""] + notes if notes else []))


def run(args: argparse.Namespace) -> int:
    """Print the table; returns 0."""
    print(model_table(args.family, args.configs))
    return 0
