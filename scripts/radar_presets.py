"""Write the radar preset table of ``docs/formats.md`` (between its ``radar-presets`` markers)
from :func:`discofold.data.radar_sim.preset_table`.

    python scripts/radar_presets.py
"""

from __future__ import annotations

import re
from pathlib import Path

from discofold.data.radar_sim import preset_table

DOC = Path(__file__).resolve().parents[1] / "docs" / "formats.md"
BLOCK = re.compile(r"(<!-- radar-presets -->\n).*?(<!-- /radar-presets -->)", re.S)


def main() -> None:
    text = DOC.read_text(encoding="utf-8")
    new, n = BLOCK.subn(lambda m: m.group(1) + preset_table() + "\n" + m.group(2), text)
    if n != 1:
        raise SystemExit(f"{DOC} has no radar-presets block")
    DOC.write_text(new, encoding="utf-8")
    print(f"wrote the radar preset table into {DOC}")


if __name__ == "__main__":
    main()
