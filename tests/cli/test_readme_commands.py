"""The README's two commands as ``.ci/run`` runs them: extracted verbatim from between their
markers by the script's own shell function, the tests first and then the demo, whose report
folder is ignored by git (``.ci/run`` runs it in a temporary copy of the tree anyway)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / ".ci" / "run"


def _between_markers(name: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(rf"<!-- {name} -->\s*```bash\n(.*?)\n```\s*<!-- /{name} -->", text, re.S)
    assert block, f"README.md has no {name} block"
    return block.group(1).strip()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("name", ["test-command", "demo-command"])
def test_ci_extracts_the_readme_command_verbatim(name):
    script = CI.read_text(encoding="utf-8")
    function = re.search(r"^readme_command\(\) \{\n.*?^\}\n", script, re.S | re.M)
    assert function, ".ci/run defines no readme_command function"
    out = subprocess.run(["bash", "-c", f"{function.group(0)}\nreadme_command {name}"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert out == _between_markers(name)


def test_ci_runs_the_full_demo_after_the_tests_in_a_fresh_copy():
    script = CI.read_text(encoding="utf-8")
    assert _between_markers("demo-command").endswith("pip install -e . && discofold demo")
    tests = script.index('bash -c "$cmd"')
    demo = script.index('bash -c "$demo"')
    assert tests < demo and "mktemp -d" in script[tests:demo]
    assert 'cd "$fresh"' in script[tests:demo + 20]
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert "discofold-demo/" in ignored  # the demo's default report folder
