"""Packaging and the quick commands (issue 21, item 7): subpackages as attributes of a fast
``import discofold``, tomli declared for Python 3.10, ``discofold models`` fast and listing the
bundled checkpoints, the radar presets in ``simulate radar --help`` and docs/formats.md, help
text on every ``simulate`` flag."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from discofold.cli import _verb_of, build_parser, main
from discofold.commands import models as models_cmd

ROOT = Path(__file__).resolve().parents[2]


def _run(*code_or_args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *code_or_args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_subpackages_are_attributes_of_a_light_import():
    code = ("import sys, discofold\n"
            "assert 'torch' not in sys.modules, 'import discofold imported torch'\n"
            "m = discofold.models.build('unet', seed=0)\n"
            "assert discofold.train.load_config and discofold.sampling.make_mask\n"
            "assert {'models', 'operators', 'train'} <= set(dir(discofold))\n"
            "print(type(m).__name__)")
    res = _run("-c", code)
    assert res.returncode == 0, res.stderr
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        import discofold

        discofold.nope  # noqa: B018


def test_tomli_is_declared_for_python_3_10_and_no_toml_extra_is_named():
    import tomllib

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert any(d.replace(" ", "").startswith("tomli") and "python_version<'3.11'" in
               d.replace(" ", "").replace('"', "'") for d in meta["dependencies"])
    assert "toml" not in meta["optional-dependencies"]
    from discofold.errors import MissingDependencyError, require

    with pytest.raises(MissingDependencyError) as info:
        require("tomli_not_installed_xyz", None, "reading TOML configs on Python 3.10")
    assert "pip install tomli_not_installed_xyz" in str(info.value)
    assert "discofold[" not in str(info.value)


def test_models_lists_the_registered_models_and_the_bundled_checkpoints(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    manifest = json.loads(models_cmd.MANIFEST.read_text(encoding="utf-8"))
    assert manifest
    for name, entry in manifest.items():
        line = next(ln for ln in out.splitlines() if ln.startswith(f"| {name} "))
        assert entry["model"] in line and f"{entry['parameters']:,}" in line
        assert entry["trained_on"][:40] in line
    from discofold.models import list_models

    for name in list_models():
        assert f"| {name} " in out
    assert main(["models", "--family", "radar"]) == 0
    starts = {ln.split("|")[1].strip() for ln in capsys.readouterr().out.splitlines()
              if ln.startswith("| ")}
    assert {"unified_radar", "radar-unified"} <= starts
    assert not {"unified", "mri-unified"} & starts


def test_the_model_table_snapshot_is_current():
    """``discofold models`` reads this snapshot; regenerate it with
    ``python scripts/model_table.py`` after changing a model's parameters."""
    snap = json.loads(models_cmd.SNAPSHOT.read_text(encoding="utf-8"))
    assert snap["source_sha256"] == models_cmd.source_digest(), \
        "stale: run python scripts/model_table.py"
    assert snap["models"] == models_cmd.live_rows()


def test_models_is_fast():
    _run("-m", "discofold", "models")  # warm the file cache
    t0 = time.perf_counter()
    res = _run("-m", "discofold", "models")
    elapsed = time.perf_counter() - t0
    assert res.returncode == 0, res.stderr
    assert "| mri-unified " in res.stdout
    assert elapsed < 2.0, f"discofold models took {elapsed:.2f} s"


def test_only_the_verb_run_is_imported():
    assert _verb_of(["--debug", "--progress-s", "5", "models", "--family", "mri"]) == "models"
    assert _verb_of(["--help"]) is None and _verb_of(["nope"]) is None
    res = _run("-c", "import sys; from discofold.cli import main; main(['models']); "
                     "assert 'torch' not in sys.modules and 'discofold.commands.recon' not in "
                     "sys.modules")
    assert res.returncode == 0, res.stderr


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


@pytest.mark.parametrize("kind", ["mri", "radar", "blockcs"])
def test_every_simulate_flag_has_help(kind):
    parser = _subparsers(_subparsers(build_parser())["simulate"])[kind]
    bare = [a.option_strings[0] for a in parser._actions
            if a.option_strings and not a.help]
    assert bare == [], f"simulate {kind} flags without help: {bare}"


def test_radar_presets_are_in_the_help_and_the_docs(capsys):
    from discofold.data.radar_sim import list_presets, preset, preset_table

    with pytest.raises(SystemExit):
        main(["simulate", "radar", "--help"])
    help_text = capsys.readouterr().out
    table = preset_table()
    assert table in help_text
    assert table in (ROOT / "docs" / "formats.md").read_text(encoding="utf-8"), \
        "stale: run python scripts/radar_presets.py"
    for name in list_presets():
        g = preset(name)
        (h, w), (p, f) = g.image_shape, g.data_shape
        row = next(ln for ln in table.splitlines() if ln.startswith(f"| {name} |"))
        assert f"{h}×{w}" in row and f"{p} × {f}" in row
