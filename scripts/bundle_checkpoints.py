"""Copy trained runs into ``discofold/pretrained/`` and rewrite ``manifest.json``.

    python scripts/bundle_checkpoints.py                       # every run under runs/
    python scripts/bundle_checkpoints.py --only radar-unified

Each bundled checkpoint is the run's ``best.pt`` (float32 weights, no optimiser state).  The
manifest entry is computed from the files themselves: size, sha256, parameter count, step,
validation metrics and the training wall time (from the run's ``config.json`` to its last
``last.pt``), so nothing in it is typed by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from heldout_tables import run_wall_seconds

from discofold.models import parameter_count
from discofold.train import load_checkpoint
from discofold.train.checkpoint import checkpoint_config

ROOT = Path(__file__).resolve().parent.parent
PRETRAINED = ROOT / "discofold" / "pretrained"

BUNDLES = {
    "mri-unified": dict(
        run="runs/bundled_mri_unified", config="bundled_mri_unified",
        trained_on="multi-coil (4 and 8) Cartesian MRI at 48x48, 80x80 and 112x112, 9 patterns "
                   "x {4, 8}, simulated from scikit-image natural images and random phantoms "
                   "(not real MR data); image-domain unified in its SENSE state (one image, "
                   "8-step CG data consistency with coil maps from the calibration region), 40 "
                   "min on two threads"),
    "radar-unified": dict(
        run="runs/bundled_radar_unified", config="bundled_radar_unified",
        trained_on="polar-format radar, S0 and S1 fans, random-pulse and gap apertures at "
                   "25-50 % of the pulses, 0/10/20 dB, simulated point-scatterer scenes; NMSE "
                   "loss, 25 min on one thread"),
    "radar-lfista": dict(
        run="runs/bundled_radar_lfista", config="bundled_radar_lfista",
        trained_on="polar-format radar, S0, S1 and S2 fans, random-pulse and gap apertures at "
                   "25-50 % of the pulses, 0/10/20 dB, simulated satellite scenes; learned FISTA "
                   "on a 2x grid with noise-adaptive thresholds, NMSE loss, 25 min on one thread"),
}


def _entry(spec: dict, path: Path) -> dict:
    ckpt = load_checkpoint(path)  # checks the format; a bad file stops here with a clear error
    cfg = checkpoint_config(ckpt)
    dtypes = sorted({str(t.dtype).replace("torch.", "") for t in ckpt["state_dict"].values()
                     if t.is_floating_point()})
    return {
        "file": path.name, "model": ckpt["model_name"], "config": spec["config"],
        "parameters": parameter_count(cfg.model.name, **cfg.model.args),
        "dtype": ",".join(dtypes), "bytes": path.stat().st_size,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "step": int(ckpt["step"]),
        "validation": dict(ckpt.get("metrics", {})),
        "train_wall_min": round(run_wall_seconds(ROOT / spec["run"]) / 60, 1),
        "trained_on": spec["trained_on"], "docs": "docs/models.md",
    }


def _copy_atomic(src: Path, dest: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}-")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=sorted(BUNDLES), action="append")
    args = ap.parse_args(argv)
    manifest_path = PRETRAINED / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    names = args.only or sorted(BUNDLES)
    for name in names:  # check every run before touching discofold/pretrained
        best = ROOT / BUNDLES[name]["run"] / "best.pt"
        if not best.is_file():
            ap.error(f"{name}: no trained run at '{best}' (train it first, see docs/models.md)")
        load_checkpoint(best)
    for name in names:
        spec = BUNDLES[name]
        dest = PRETRAINED / f"{name}.pt"
        _copy_atomic(ROOT / spec["run"] / "best.pt", dest)
        manifest[name] = _entry(spec, dest)
        print(f"{name}: {manifest[name]['bytes']} B, step {manifest[name]['step']}, "
              f"{manifest[name]['validation']}")
    fd, tmp = tempfile.mkstemp(dir=PRETRAINED, prefix=".manifest-")
    with os.fdopen(fd, "w") as fh:
        json.dump(dict(sorted(manifest.items())), fh, indent=1)
        fh.write("\n")
    os.replace(tmp, manifest_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
