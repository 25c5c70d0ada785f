"""``discofold report`` on a crafted run folder: figure names in ``metrics.json`` that climb out
of the folder, run files and report folders replaced by symbolic links.  The report must never
write outside its folder, never copy another file of the user into it, and refuse with one line
naming the path (exit 2)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from discofold.evaluate._tables import setting_key

from .._cli import cli as _cli

ONE_THREAD = True  # one torch thread per test (tests/conftest.py)

SECRET = b"secret: not for the report\n"


def _refused(rc: int, err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and "error:" in lines[0], (rc, err)
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + bytes(64)


def _metrics(run: Path, figure) -> None:
    """A minimal eval ``metrics.json`` with one setting whose figure is ``figure``."""
    row = {"pattern": "equispaced", "acceleration": 4, "true_acceleration": 4.0,
           "method": "zf", "n": 1, "runtime_s": 0.1}
    for k in ("nmse", "psnr", "ssim"):
        row[f"{k}_mean"], row[f"{k}_std"] = 0.5, 0.0
    doc = {"family": "mri", "info": {"model": "m", "data": "d"}, "summary": [row],
           "figures": {"equispaced_x4": figure}}
    (run / "metrics.json").write_text(json.dumps(doc))


@pytest.fixture
def victim(tmp_path) -> Path:
    """A folder outside the run folder holding a user's file (think ``~/.ssh``)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "authorized_keys").write_bytes(SECRET)
    return home


def _no_secret_in(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file() and not p.is_symlink():
            assert SECRET not in p.read_bytes(), p


def test_figures_link_does_not_redirect_the_write(fault_log, tmp_path, victim):
    fault_log.describe("report: file write through a symlinked folder",
                       "run folder whose 'figures' entry is a symlink to another folder and "
                       "metrics.json naming a figure payload/authorized_keys; report into the "
                       "run folder and into --out with the same link")
    run = tmp_path / "run"
    (run / "payload").mkdir(parents=True)
    (run / "payload" / "authorized_keys").write_bytes(b"ssh-rsa ATTACKER\n")
    _metrics(run, "payload/authorized_keys")
    (run / "figures").symlink_to(victim, target_is_directory=True)
    rc, err = _cli("report", str(run), "--quiet")
    _refused(rc, err, "figures", "symbolic link")
    assert (victim / "authorized_keys").read_bytes() == SECRET
    fault_log.case("exit 2, one line, link target intact")
    out = tmp_path / "rep"
    out.mkdir()
    (out / "figures").symlink_to(victim, target_is_directory=True)
    rc, err = _cli("report", str(run), "--out", str(out), "--quiet", "--overwrite")
    _refused(rc, err, "figures", "symbolic link")
    assert (victim / "authorized_keys").read_bytes() == SECRET
    assert sorted(p.name for p in victim.iterdir()) == ["authorized_keys"]
    fault_log.case("exit 2, one line, link target intact")


@pytest.mark.parametrize("how", ["dotdot", "absolute", "link_file", "link_folder", "not_str",
                                 "fifo"])
def test_figure_paths_cannot_disclose_files(fault_log, tmp_path, victim, how):
    fault_log.describe("report: local file disclosure through figure paths",
                       "metrics.json figure '../…/authorized_keys', an absolute path, a figure "
                       "that is a symlink (file or folder component), a non-string name, a FIFO")
    run = tmp_path / "run"
    run.mkdir()
    secret = victim / "authorized_keys"
    if how == "dotdot":
        figure = "../" * 8 + str(secret).lstrip("/")
    elif how == "absolute":
        figure = str(secret)
    elif how == "link_file":
        (run / "fig.png").symlink_to(secret)
        figure = "fig.png"
    elif how == "link_folder":
        (run / "sub").symlink_to(victim, target_is_directory=True)
        figure = "sub/authorized_keys"
    elif how == "fifo":
        import os

        os.mkfifo(run / "fig.png")
        figure = "fig.png"
    else:
        figure = {"path": str(secret)}
    _metrics(run, figure)
    out = tmp_path / "rep"
    rc, err = _cli("report", str(run), "--out", str(out), "--quiet")
    _refused(rc, err, "figure")
    assert not out.exists() or not any(out.rglob("*"))
    fault_log.case("exit 2, one line, nothing copied")


@pytest.mark.parametrize("name", ["config.json", "train.csv", "metrics.json"])
def test_linked_run_files_are_not_read(fault_log, tmp_path, victim, name):
    fault_log.describe("report: local file disclosure through linked run files",
                       "config.json / train.csv / metrics.json of the run folder replaced by a "
                       "symlink to a user's file")
    run = tmp_path / "run"
    run.mkdir()
    (run / "train.csv").write_text("step,loss\n1,0.5\n")
    (run / name).unlink(missing_ok=True)
    (run / name).symlink_to(victim / "authorized_keys")
    out = tmp_path / "rep"
    rc, err = _cli("report", str(run), "--out", str(out), "--quiet")
    _refused(rc, err, name, "symbolic link")
    if out.exists():
        _no_secret_in(out)
    fault_log.case("exit 2, one line, nothing disclosed")


def test_regular_figure_still_reported(fault_log, tmp_path):
    fault_log.describe("report: figure paths inside the run folder",
                       "a figure in a subfolder of the run folder is still copied and linked")
    run = tmp_path / "run"
    (run / "figs").mkdir(parents=True)
    (run / "figs" / "a.png").write_bytes(_png())
    _metrics(run, "figs/a.png")
    out = tmp_path / "rep"
    rc, err = _cli("report", str(run), "--out", str(out), "--quiet")
    assert rc == 0, err
    assert (out / "figures" / "a.png").read_bytes() == _png()
    assert 'src="figures/a.png"' in (out / "report.html").read_text()
    fault_log.case("reported")


_CORRUPT = {
    "summary not a list": lambda d: d.update(summary=5),
    "row not an object": lambda d: d.update(summary=[3]),
    "row without method": lambda d: d["summary"][0].pop("method"),
    "metric as text": lambda d: d["summary"][0].update(psnr_mean="high"),
    "family unknown": lambda d: d.update(family="ultrasound"),
    "figures not an object": lambda d: d.update(figures=[1, 2]),
}


@pytest.mark.parametrize("case", sorted(_CORRUPT))
def test_corrupt_metrics_json_is_one_line(fault_log, tmp_path, case):
    fault_log.describe("report: corrupt metrics.json",
                       "a metrics.json with the right keys but wrong structure or types "
                       "(summary not a list, a row without its method, a metric as text, an "
                       "unknown family, figures not an object)")
    run = tmp_path / "run"
    run.mkdir()
    _metrics(run, "fig_equispaced_x4.png")
    doc = json.loads((run / "metrics.json").read_text())
    _CORRUPT[case](doc)
    (run / "metrics.json").write_text(json.dumps(doc))
    rc, err = _cli("report", str(run))
    _refused(rc, err, "metrics.json")
    assert not (run / "report.html").exists()
    fault_log.case("exit 2, one line")


_SCRIPT = "<script>alert(1)</script>"
_MARKUP = re.compile(r"<\s*[A-Za-z/!?]")  # an opening tag, closing tag, comment or PI


def test_report_md_passes_no_markup_through(fault_log, tmp_path):
    fault_log.describe("report: HTML injection into report.md",
                       "metrics.json with <script>, <img onerror> and markdown breakouts (a "
                       "backtick, a '|', a link) in the model, data, baselines, pattern and "
                       "method names and a figure file named '<script>…png'; config.json "
                       "strings with <script> and a closing code fence, config.json not JSON; "
                       "a run folder named <script>; report.md must hold no tag")
    run = tmp_path / "<script>alert(1)"
    run.mkdir()
    evil = [_SCRIPT, "<img src=x onerror=alert(1)>", "`</code><script>x</script>",
            "a|b](javascript:alert(1))"]
    figure = "<script>alert(1).png"
    (run / figure).write_bytes(_png())
    _metrics(run, figure)
    doc = json.loads((run / "metrics.json").read_text())
    doc["info"] = {"model": evil[0], "data": evil[1], "baselines": evil[2:],
                   "dynamic_range_db": 40}
    doc["summary"][0].update(pattern=evil[1], method=evil[0])
    doc["summary"].append({**doc["summary"][0], "method": evil[3]})
    doc["figures"] = {setting_key(evil[1], 4): figure}
    (run / "metrics.json").write_text(json.dumps(doc))
    # the curves refuse non-numbers in the CSVs: config.json is the free text of a run
    (run / "train.csv").write_text("step,loss\n1,0.5\n")
    (run / "val.csv").write_text("step,elapsed_s,val_loss,val_psnr_db,val_nmse_db,best\n"
                                 "1,1.0,0.25,20.0,-10.0,True\n")
    (run / "config.json").write_text(json.dumps({"name": "```\n" + _SCRIPT, "x": evil[1]}))
    rc, err = _cli("report", str(run), "--quiet")
    assert rc == 0, err
    md = (run / "report.md").read_text(encoding="utf-8")
    assert "<script" not in md.lower() and not _MARKUP.search(md), md
    fault_log.case("metrics.json fields: no markup")
    assert md.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 2  # shown as text, not lost
    assert "](%3Cscript%3Ealert%281%29.png)" in md  # the figure link is percent-encoded
    fences = [ln for ln in md.splitlines() if ln.lstrip().startswith("```")]
    assert fences == ["```json", "```"] and "\\u003cscript\\u003e" in md  # the fence holds
    fault_log.case("config.json: no markup, fence intact")
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    fault_log.case("report.html: no script")
    (run / "config.json").write_text("{not json " + _SCRIPT)
    rc, err = _cli("report", str(run), "--quiet", "--overwrite")
    md = (run / "report.md").read_text(encoding="utf-8")
    assert rc == 0 and "<script" not in md.lower() and "not valid JSON" in md, (rc, err)
    fault_log.case("config.json not JSON: not shown")
