"""Write ``discofold/commands/_model_table.json``: the registered models and their parameter
counts, with the SHA-256 of the sources they were counted from, which ``discofold models``
reads instead of building every model (it counts live when the sources have changed since).

    python scripts/model_table.py
"""

from __future__ import annotations

import json

from discofold.commands.models import SNAPSHOT, live_rows, source_digest


def main() -> None:
    table = {"source_sha256": source_digest(), "models": live_rows()}
    SNAPSHOT.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {SNAPSHOT} ({len(table['models'])} models)")


if __name__ == "__main__":
    main()
