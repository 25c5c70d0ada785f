"""Bundled MRI model against tuned classical CS on new simulated data, at two resolutions.

The bundled ``mri-unified`` checkpoint (data seed 0; trained at the sizes its config lists in
``data.shapes``, none of them 64 or 128) is scored on held-out simulated slices (data seed
7919: neither its training nor its validation items) of its own data family (8 coils, random
phantoms and natural images, 30–40 dB) at 64×64 and at 128×128 with the same weights (DISCO
radii are in field-of-view units), for equispaced 4× and 2-D Poisson 4× masks.  Zero-filling,
CG-SENSE and TV have their relative λ tuned on a validation split of the same setting (data
seed 0, epoch-0 items).  PSNR with the peak of each target (fastMRI's definition on
magnitudes).

    python benchmarks/bundled.py [--quick]
    python benchmarks/bundled.py --quick --checkpoint runs/bmu/best.pt --no-write  # a run

writes docs/benchmarks/bundled.md and docs/benchmarks/bundled.json (not with --no-write).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import learning as L  # noqa: E402  (shared split / batch / scoring helpers)

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks" / "bundled.md"
SETTINGS = [((64, 64), ("equispaced", 4.0)), ((64, 64), ("poisson_2d", 4.0)),
            ((128, 128), ("equispaced", 4.0)), ((128, 128), ("poisson_2d", 4.0))]
GRIDS = {"cg": [1e-3, 3e-3, 1e-2, 3e-2, 1e-1], "tv": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2]}
# coil maps of every method alike: the simulator's (what the operator of a simulated slice
# carries), then estimated from each slice's calibration box (what recon does for files)
MAPS = ("simulator", "calibration")
MAP_TEXT = {"simulator": "Coil maps: the simulator's true maps for CG-SENSE and TV (the "
                         "operator carries them); ",
            "calibration": "Coil maps estimated from each slice's calibration box (ACS) for "
                           "every method, as `recon` and `eval` do for files."}
MODEL_MAPS = {"operator": "the model uses them too (`maps = \"operator\"`).",
              "calibration": "the model estimates its own from the calibration region "
                             "(`maps = \"calibration\"`), so here it has worse maps than the "
                             "baselines."}


def _model_scores(model, cfg_data, ds, maps):
    ps, t0 = [], time.thread_time()
    with torch.no_grad():
        for y, op, meta, t in L._batches(cfg_data, ds, maps=maps):
            ps += L._psnr_nmse(model(y, op, meta), t)[0]
    return ps, (time.thread_time() - t0) / len(ds)


def evaluate(quick: bool, checkpoint: str = "mri-unified") -> dict:
    from discofold.train import load_config
    from discofold.train.checkpoint import build_from_checkpoint, resolve_checkpoint

    torch.set_num_threads(2)
    path = resolve_checkpoint(checkpoint)
    model, cfg, ckpt = build_from_checkpoint(checkpoint)
    model.eval()
    base = load_config("bundled_mri_unified").data
    rows = []
    for maps in MAPS:
        for shape, pattern in SETTINGS:
            d = dataclasses.replace(base, shape=shape, shapes=(), coil_counts=(), num_coils=8)
            val = L._split(d, d.seed, 4 if quick else 8, (pattern,))
            test = L._split(d, L.TEST_SEED, 4 if quick else 16, (pattern,))
            setting = f"{shape[0]}×{shape[1]}, {pattern[0]} {pattern[1]:g}×"
            print(f"[bundled] {maps} maps, {setting}", flush=True)
            zf = L._mean(L._mri_classical(d, test, "zf", 0.0, maps)[0])
            row = {"maps": maps, "setting": setting, "zero-filled": zf}
            for method, grid in GRIDS.items():
                scores = {lam: L._mean(L._mri_classical(d, val, method, lam, maps)[0])
                          for lam in grid}
                best = max(scores, key=scores.get)
                row[method] = L._mean(L._mri_classical(d, test, method, best, maps)[0])
                row[f"{method}_lam"] = best
            p, sec = _model_scores(model, d, test, maps)
            row["mri-unified"], row["ms_per_slice"] = L._mean(p), sec * 1e3
            rows.append(row)
    return {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                       f"torch {torch.__version__}, {time.strftime('%Y-%m-%d')}.",
            "checkpoint": {"file": path.name, "step": int(ckpt["step"]),
                           "sizes": [list(sh) for sh in (cfg.data.shapes or [cfg.data.shape])],
                           "coils": list(cfg.data.coil_counts or [cfg.data.num_coils]),
                           "maps": cfg.model.args.get("maps", "calibration")},
            "rows": rows,
            "slices": {"val": 4 if quick else 8, "test": 4 if quick else 16}}


def render(doc: dict) -> str:
    lines = ["# Bundled MRI model on new data", "",
             "Written by `python benchmarks/bundled.py`; do not edit by hand.  "
             f"{doc['machine']}", "",
             __doc__.split("\n\n")[1].replace("\n", " "), "",
             f"Checkpoint `{doc['checkpoint']['file']}` (best validation, step "
             f"{doc['checkpoint']['step']}), trained at "
             + ", ".join(f"{h}×{w}" for h, w in doc["checkpoint"].get("sizes", [[64, 64]]))
             + " with " + " and ".join(str(c) for c in doc["checkpoint"].get("coils", [8]))
             + " coils."]
    for maps in MAPS:
        rows = [r for r in doc["rows"] if r.get("maps", "simulator") == maps]
        if rows:
            own = doc["checkpoint"].get("maps", "operator")
            lines += _table(rows, MAP_TEXT[maps] + (MODEL_MAPS[own] if maps == "simulator"
                                                   else ""))
    n = doc.get("slices", {})
    lines += ["", f"PSNR in dB, mean over {n.get('test', '?')} test slices per setting (λ tuned "
              f"on {n.get('val', '?')} validation slices)"
              + (" (`--quick`: few slices, indicative only)." if n.get("test") == 4 else "."), ""]
    return "\n".join(lines)


def _table(rows: list[dict], title: str) -> list[str]:
    lines = ["", title, "",
             "| setting | zero-filled | CG-SENSE (λ) | TV (λ) | mri-unified | − CG-SENSE "
             "(target ≥ +1) | − zero-filled (target ≥ +4) | ms / slice |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        dc, dz = r["mri-unified"] - r["cg"], r["mri-unified"] - r["zero-filled"]
        lines.append(f"| {r['setting']} | {r['zero-filled']:.2f} | {r['cg']:.2f} ({r['cg_lam']:g}) "
                     f"| {r['tv']:.2f} ({r['tv_lam']:g}) | {r['mri-unified']:.2f} | {dc:+.2f} "
                     f"{'PASS' if dc >= 1 else 'MISS'} | {dz:+.2f} {'PASS' if dz >= 4 else 'MISS'} "
                     f"| {r['ms_per_slice']:.0f} |")
    return lines


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="4 slices per split")
    ap.add_argument("--render-only", action="store_true")
    ap.add_argument("--checkpoint", default="mri-unified",
                    help="bundled name or checkpoint path (default mri-unified)")
    ap.add_argument("--no-write", action="store_true", help="print the table only")
    a = ap.parse_args(argv)
    js = DOC.with_suffix(".json")
    doc = json.loads(js.read_text()) if a.render_only else evaluate(a.quick, a.checkpoint)
    if a.no_write:
        print(render(doc), flush=True)
        return
    DOC.parent.mkdir(parents=True, exist_ok=True)
    js.write_text(json.dumps(doc, indent=1) + "\n")
    tmp = DOC.with_suffix(".tmp")
    tmp.write_text(render(doc))
    os.replace(tmp, DOC)
    print(f"[bundled] wrote {DOC}", flush=True)


if __name__ == "__main__":
    main()
