"""Bundled radar models against tuned FISTA on new simulated satellites, at S1 and S2.

Each bundled radar checkpoint (``radar-unified``, ``radar-lfista``; or the checkpoints given) is
scored on held-out simulated satellite scenes (data seed 7919: neither training nor validation
items) at 25 % random pulses, for the geometries and SNRs of ``SETTINGS``, against zero-filling
(the density-compensated adjoint) and FISTA (pixel ℓ1) on the image grid and on a 2× finer grid
(the strongest classical baseline of docs/benchmarks/learning.md), each with its relative λ tuned
on a validation split of the same setting (data seed 0, epoch-0 items).  The metric is the radar
NMSE (after least-squares complex scaling, dB).  Speed: median CPU seconds per frame on one
thread (``time.thread_time``) over three test frames, for every method the same way.

    python benchmarks/bundled_radar.py [--quick] [--checkpoint NAME_OR_PATH ...] [--no-write]
    python benchmarks/bundled_radar.py --render-only   # rewrite the doc from its json

writes docs/benchmarks/bundled_radar.md and docs/benchmarks/bundled_radar.json.
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
import learning as L  # noqa: E402  (shared split / frame / timing helpers)

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks" / "bundled_radar.md"
#: (geometry, SNR dB) at 25 % random pulses (acceleration 4)
SETTINGS = [("S1", 10.0), ("S2", 10.0), ("S2", 0.0), ("S2", 20.0)]
GRID = [3e-4, 1e-3, 3e-3, 1e-2]
DEFAULT_CHECKPOINTS = ["radar-unified", "radar-lfista"]


def _bundled(names: list[str]) -> list[str]:
    manifest = json.loads((ROOT / "discofold" / "pretrained" / "manifest.json").read_text())
    return [n for n in names if n in manifest or Path(n).exists()]


def evaluate(quick: bool, checkpoints: list[str]) -> dict:
    from discofold.metrics._radar import radar_nmse_db
    from discofold.solvers.pipeline import radar_operator, recon_radar_frame
    from discofold.train import load_config
    from discofold.train.checkpoint import build_from_checkpoint

    torch.set_num_threads(2)
    base = load_config("bundled_radar_lfista").data
    models = {}
    for name in checkpoints:
        model, _, ckpt = build_from_checkpoint(name)
        models[Path(name).stem if Path(name).exists() else name] = (model.eval(), int(ckpt["step"]))
    rows = []
    for geo, snr in SETTINGS:
        if quick and geo == "S2" and snr != 10.0:
            continue
        d = dataclasses.replace(base, geometry=geo, snr_db=(snr,), accelerations=(4.0,),
                                apertures=("random_pulses",))
        val = L._split(d, 0, 2 if quick else 4)
        test = L._split(d, L.TEST_SEED, 2 if quick else 8)
        frames = list(L._frames(d, test))
        timing = [fr for fr, _ in frames[:3]]
        setting = f"{geo}, 25 % random pulses, {snr:g} dB"
        print(f"[bundled_radar] {setting}", flush=True)
        row = {"setting": setting}
        row["zero-filled"] = L._mean([float(radar_nmse_db(t, recon_radar_frame(fr, "zf", {})))
                                      for fr, t in frames])
        for up in (1, 2):
            scores = {lam: L._mean(L._radar_method(d, val, "fista", {"lam": lam, "upsample": up}))
                      for lam in GRID}
            best = min(scores, key=scores.get)
            params = {"lam": best, "upsample": up}
            row[f"fista{up}"] = L._mean(L._radar_method(d, test, "fista", params))
            row[f"fista{up}_lam"] = best
            row[f"fista{up}_s"] = L._radar_cpu_s(
                timing, lambda fr, p=params: recon_radar_frame(fr, "fista", p))
        for name, (model, _) in models.items():
            def infer(fr, model=model):
                with torch.no_grad():
                    return model(fr.echo.to(torch.complex64)[None], radar_operator(fr))[0]

            row[name] = L._mean([float(radar_nmse_db(t, infer(fr))) for fr, t in frames])
            row[f"{name}_s"] = L._radar_cpu_s(timing, infer)
        rows.append(row)
    return {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                       f"torch {torch.__version__}, {time.strftime('%Y-%m-%d')}.",
            "models": {n: {"step": s} for n, (_, s) in models.items()}, "rows": rows,
            "frames": {"val": 2 if quick else 4, "test": 2 if quick else 8}}


def render(doc: dict) -> str:
    names = list(doc["models"])
    lines = ["# Bundled radar models on new data", "",
             "Written by `python benchmarks/bundled_radar.py`; do not edit by hand.  "
             + doc["machine"], "", __doc__.split("\n\n")[1].replace("\n", " "), "",
             "| setting | zero-filled | FISTA 1× (λ) | FISTA 2× (λ) | "
             + " | ".join(names) + " |",
             "|---|---|---|---|" + "---|" * len(names)]
    for r in doc["rows"]:
        cells = [f"{r['zero-filled']:.2f}"] + [
            f"{r[f'fista{u}']:.2f} ({r[f'fista{u}_lam']:g}"
            f"{', grid edge' if r[f'fista{u}_lam'] in (GRID[0], GRID[-1]) else ''})"
            for u in (1, 2)]
        for n in names:
            d = r["fista2"] - r[n]
            cells.append(f"{r[n]:.2f} ({d:+.2f} {'PASS' if d >= 1.0 else 'MISS'})")
        lines.append(f"| {r['setting']} | " + " | ".join(cells) + " |")
    lines += ["", "NMSE in dB (lower is better), mean over "
              f"{doc['frames']['test']} test frames per setting (λ tuned on "
              f"{doc['frames']['val']} validation frames).  In brackets after a model: its "
              "margin over FISTA on the 2× grid (target ≥ +1 dB).  A λ at the grid edge means "
              "FISTA might do still better outside the grid (it would only widen a loss).", "",
              "| setting | FISTA 1× | FISTA 2× | " + " | ".join(names) + " |",
              "|---|---|---|" + "---|" * len(names)]
    for r in doc["rows"]:
        cells = [f"{r[f'{n}_s']:.2f} ({r['fista2_s'] / r[f'{n}_s']:.1f}× less)" for n in names]
        lines.append(f"| {r['setting']} | {r['fista1_s']:.2f} | {r['fista2_s']:.2f} | "
                     + " | ".join(cells) + " |")
    lines += ["", "CPU seconds per frame, one thread; in brackets the ratio to FISTA 2× "
              "(target: ≥ 10× less).", ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--checkpoint", nargs="*", default=None)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--render-only", action="store_true", help="rewrite the doc from the json")
    a = ap.parse_args(argv)
    if a.render_only:
        doc = json.loads(DOC.with_suffix(".json").read_text())
    else:
        doc = evaluate(a.quick, _bundled(a.checkpoint or DEFAULT_CHECKPOINTS))
    text = render(doc)
    print(text)
    if not a.no_write:
        DOC.parent.mkdir(parents=True, exist_ok=True)
        tmp = DOC.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, DOC)
        DOC.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
