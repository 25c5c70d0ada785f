"""``discofold eval`` / ``report`` / ``bench`` end to end (in process), on tiny checkpoints and
tiny files written with the library writers."""

from __future__ import annotations

import json
import math
import re
import shutil

import h5py
import pytest
import torch

from discofold.cli import main
from discofold.data import (
    SimulatedMRIDataset,
    SimulatedRadarDataset,
    make_geometry,
    rss,
    simulate_radar_file,
    write_mri_file,
)
from discofold.data.fastmri import center_crop_or_pad
from discofold.data.mri_datasets import PatternSpec
from discofold.metrics import nmse, psnr, ssim
from discofold.models import AcquisitionMeta, build
from discofold.operators import CartesianMRI, ifft2c
from discofold.sampling import make_mask, seed_from
from discofold.solvers.pipeline import estimate_coil_maps
from discofold.train import build_from_checkpoint, load_config, save_checkpoint, train

SHAPE = (32, 29)
TARGET = (30, 27)


def _checkpoint(path, name):
    cfg = load_config(name)
    torch.manual_seed(0)
    model = build(cfg.model.name, **cfg.model.args)
    return save_checkpoint(path, model, cfg, step=0)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    run = root / "run"  # a real 2-step training run: its last.pt is the MRI checkpoint
    train(load_config("tiny_mri", overrides=["train.steps=2"]), run, quiet=True)
    mri_ckpt = run / "last.pt"
    radar_ckpt = _checkpoint(root / "radar.pt", "tiny_radar")
    files, stored = root / "mri", root / "mri_stored"
    files.mkdir()
    stored.mkdir()
    for v in range(2):
        ds = SimulatedMRIDataset(2, SHAPE, [PatternSpec("equispaced", 1.0)], num_coils=2,
                                 seed=10 + v, oversample=1)
        items = [ds[i] for i in range(2)]
        kspace = torch.stack([it[0] for it in items])
        target = torch.stack([center_crop_or_pad(it[2], TARGET) for it in items])
        write_mri_file(files / f"vol{v}.h5", kspace, target=target)
        if v == 0:
            mask = make_mask("equispaced", SHAPE, 2.0, generator=1).mask
            write_mri_file(stored / "under.h5", kspace * mask, mask=mask, target=target,
                           attrs={"pattern": "equispaced"})
    return {"root": root, "run": run, "mri_ckpt": mri_ckpt, "radar_ckpt": radar_ckpt,
            "files": files, "stored": stored}


def _model_volume(model, path, pattern, acc):
    """Independent recomputation of one volume: (target, model magnitudes, zero-filled)."""
    with h5py.File(path, "r") as f:
        kspace = torch.from_numpy(f["kspace"][()])
        target = torch.from_numpy(f["reconstruction_rss"][()])
    preds, zfs = [], []
    for i in range(kspace.shape[0]):
        pat = make_mask(pattern, SHAPE, acc,
                        generator=torch.Generator().manual_seed(seed_from(path.name, i)))
        y = kspace[i] * pat.mask[None, :]
        op = CartesianMRI(pat.mask[None, None, :], coil_maps=estimate_coil_maps(y, pat.mask)[None],
                          image_shape=SHAPE)
        meta = AcquisitionMeta(pattern=pattern, acceleration=pat.acceleration,
                               num_low_frequencies=pat.num_low_frequencies)
        with torch.no_grad():
            x = model(y[None], op, meta)[0]
        preds.append(center_crop_or_pad(x.abs(), TARGET))
        zfs.append(center_crop_or_pad(rss(ifft2c(y)), TARGET))
    return target, torch.stack(preds), torch.stack(zfs)


def test_eval_mri_files_matches_recomputation(setup, tmp_path, capsys):
    out = tmp_path / "ev"
    rc = main(["eval", "--checkpoint", str(setup["mri_ckpt"]), "--data", str(setup["files"]),
               "--patterns", "equispaced", "--accelerations", "2", "--baseline", "none",
               "--out", str(out), "--quiet"])
    assert rc == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["info"]["model"] == "varnet" and doc["info"]["checkpoint"].endswith("last.pt")
    model, _, _ = build_from_checkpoint(setup["mri_ckpt"])
    for v in range(2):
        path = setup["files"] / f"vol{v}.h5"
        target, pred, zf = _model_volume(model, path, "equispaced", 2.0)
        rows = {r["method"]: r for r in doc["rows"] if r["volume"] == path.name}
        for method, image in (("varnet", pred), ("zf", zf)):
            row = rows[method]
            assert row["nmse"] == pytest.approx(nmse(target, image), rel=1e-3, abs=1e-6)
            assert row["psnr"] == pytest.approx(psnr(target, image), abs=1e-3)
            assert row["ssim"] == pytest.approx(ssim(target, image), abs=1e-4)
    lines = (out / "metrics.csv").read_text().strip().splitlines()
    assert len(lines) == 1 + 4 and lines[0].startswith("family,pattern,acceleration")
    table = (out / "table_equispaced_x2.md").read_text()
    assert re.search(r"\| varnet \| 2 \| [0-9.]+ ± [0-9.]+ \|", table)
    assert (out / "fig_equispaced_x2.png").stat().st_size > 1000
    # report: HTML + markdown referencing existing PNGs (relative links)
    assert main(["report", str(out), "--quiet"]) == 0
    html = (out / "report.html").read_text()
    links = re.findall(r'<img src="([^"]+)"', html)
    assert links == ["fig_equispaced_x2.png"] and (out / links[0]).is_file()
    # a second report refuses to replace the first without --overwrite
    assert main(["report", str(out), "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_eval_stored_mask_file_and_overwrite(setup, tmp_path):
    out = tmp_path / "ev"
    args = ["eval", "--checkpoint", str(setup["mri_ckpt"]), "--data", str(setup["stored"]),
            "--baseline", "cg", "--out", str(out), "--quiet"]
    assert main(args) == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert {r["method"] for r in doc["rows"]} == {"zf", "cg", "varnet"}
    assert all(r["acceleration"] is None and r["pattern"] == "equispaced" for r in doc["rows"])
    assert (out / "table_equispaced.md").is_file() and (out / "fig_equispaced.png").is_file()
    before = (out / "metrics.json").read_text()
    assert main(args) == 2  # exists
    assert (out / "metrics.json").read_text() == before
    assert main(args + ["--overwrite"]) == 0


def test_eval_radar_sim_and_report(setup, tmp_path):
    out = tmp_path / "ev"
    rc = main(["eval", "--checkpoint", str(setup["radar_ckpt"]), "--data",
               "sim:radar?n=1&size=16&extent=9.6", "--patterns", "gaps", "--accelerations", "2",
               "--baseline", "none", "--out", str(out), "--quiet"])
    assert rc == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["family"] == "radar" and doc["info"]["dynamic_range_db"] == 40.0
    row = next(r for r in doc["rows"] if r["kind"] == "model")
    assert row["method"] == "r_unified_radar" and 0 <= row["correlation"] <= 1
    rep = tmp_path / "rep"
    assert main(["report", str(out), "--out", str(rep), "--quiet"]) == 0
    html = (rep / "report.html").read_text()
    links = re.findall(r'<img src="([^"]+)"', html)
    assert links and all((rep / link).is_file() for link in links)


def test_eval_radar_files(setup, tmp_path):
    data = tmp_path / "radar"
    data.mkdir()
    geo = make_geometry(10e9, 0.5e9, math.radians(2.9), (16, 16), extent_m=(9.6, 9.6))
    ds = SimulatedRadarDataset(geo, "points", 1, pattern=None, seed=5, reference="nufft")
    simulate_radar_file(data / "target.h5", ds)
    out = tmp_path / "ev"
    assert main(["eval", "--checkpoint", str(setup["radar_ckpt"]), "--data", str(data),
                 "--patterns", "random_pulses", "--accelerations", "2", "--baseline", "pfa",
                 "--out", str(out), "--quiet"]) == 0
    rows = json.loads((out / "metrics.json").read_text())["rows"]
    assert [r["method"] for r in rows] == ["zf", "pfa", "r_unified_radar"]
    assert rows[0]["volume"] == "target.h5:0"


def test_report_of_training_run_with_eval(setup, capsys):
    run = setup["run"]
    assert main(["eval", "--checkpoint", str(run / "best.pt"), "--data",
                 "sim:mri?n=1&size=32x29&coils=2&oversample=1", "--patterns", "random",
                 "--accelerations", "2", "--baseline", "none", "--out", str(run), "--quiet"]) == 2
    assert "not empty" in capsys.readouterr().err  # the run folder holds the training files
    assert main(["eval", "--checkpoint", str(run / "best.pt"), "--data",
                 "sim:mri?n=1&size=32x29&coils=2&oversample=1", "--patterns", "random",
                 "--accelerations", "2", "--baseline", "none", "--out", str(run), "--quiet",
                 "--overwrite"]) == 0
    assert (run / "train.csv").is_file() and (run / "best.pt").is_file()  # kept
    assert main(["report", str(run), "--quiet"]) == 0
    html = (run / "report.html").read_text()
    links = re.findall(r'<img src="([^"]+)"', html)
    assert links == ["fig_random_x2.png", "loss.png", "learning.png"]
    assert all((run / link).stat().st_size > 1000 for link in links)
    md = (run / "report.md").read_text()
    header, *rows = (run / "val.csv").read_text().splitlines()
    val = dict(zip(header.split(","), rows[-1].split(",")))
    assert f"Best validation loss {val['val_loss']} at step {val['step']}" in md
    assert "## Evaluation" in md


def _bad(setup, tmp_path, capsys, **change):
    args = {"--checkpoint": str(setup["mri_ckpt"]), "--data": "sim:mri?n=1&size=32&coils=2",
            "--out": str(tmp_path / "out"), "--baseline": "none"}
    args.update(change)
    argv = ["eval"] + [x for kv in args.items() for x in kv] + ["--quiet"]
    capsys.readouterr()
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    return rc, err


def test_eval_bad_input(setup, tmp_path, capsys):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint at all")
    old = tmp_path / "old.pt"
    ckpt = torch.load(setup["mri_ckpt"], weights_only=True)
    ckpt["config_version"] = 999
    torch.save(ckpt, old)
    empty = tmp_path / "empty"
    empty.mkdir()
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(setup["files"] / "vol0.h5", mixed / "a.h5")
    shutil.copy(setup["stored"] / "under.h5", mixed / "b.h5")
    cases = [
        ({"--checkpoint": str(tmp_path / "missing.pt")}, "does not exist"),
        ({"--checkpoint": str(corrupt)}, "corrupt"),
        ({"--checkpoint": str(old)}, "config version"),
        ({"--data": str(empty)}, "holds no .h5 files"),
        ({"--data": str(setup["files"]), "--out": str(setup["files"])}, "is the input"),
        ({"--checkpoint": str(setup["radar_ckpt"])}, "radar model but"),
        ({"--patterns": "equispaced,radiall"}, "unknown mri pattern 'radiall'"),
        ({"--data": "sim:mri?sise=32"}, "did you mean 'size'"),
        ({"--data": str(mixed), "--patterns": "equispaced", "--accelerations": "2"},
         "'b.h5' slice 0 is undersampled unlike the first file"),
        ({"--device": "cuda:0" if not torch.cuda.is_available() else "nodevice"}, "--device"),
    ]
    for change, message in cases:
        rc, err = _bad(setup, tmp_path, capsys, **change)
        assert rc == 2, (change, err)
        assert err.count("\n") == 0 and err.startswith("discofold eval: error:"), err
        assert message in err, (message, err)
        assert not (tmp_path / "out").exists()
        assert not list(tmp_path.glob(".out.tmp-*"))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    rc, err = _bad(setup, tmp_path, capsys)
    assert rc == 2 and "not empty" in err and (tmp_path / "out" / "keep.txt").read_text() == "mine"


# --------------------------------------------------------------------------- bench
def test_bench_runs_scripts_and_reports_missing(tmp_path, monkeypatch, capsys):
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    marker = tmp_path / "argv.txt"
    (bench / "operators.py").write_text(
        f"import sys\nopen({str(marker)!r}, 'w').write(' '.join(sys.argv[1:]))\n")
    (bench / "layers.py").write_text("raise SystemExit(3)\n")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")  # found from a parent of the current folder
    assert main(["bench", "operators", "--quick", "--threads", "2"]) == 0
    assert marker.read_text() == "--quick --threads 2"
    assert main(["bench", "mri", "--scale", "paper"]) == 2
    assert "not yet available" in capsys.readouterr().err
    assert main(["bench", "layers"]) == 2
    assert "failed with exit status 3" in capsys.readouterr().err
    import discofold.commands.bench as bench_mod

    monkeypatch.setattr(bench_mod, "_package_root", lambda: tmp_path / "nowhere")
    monkeypatch.chdir(tmp_path / "sub")
    bench.rename(tmp_path / "moved")
    assert main(["bench", "all"]) == 2
    assert "source checkout" in capsys.readouterr().err
