"""Radar evidence (issue 9): sparse-aperture ISAR on the fan.

Baselines (tuned on a validation split), learned models, train-low/infer-high (T1
discretisation, T2 support), joint and target-only rotation, mismatch robustness.  One command
rewrites ``docs/results/radar.md``, its CSVs and figures (``docs/results/radar/``)::

    python benchmarks/radar_evidence.py --scale cpu-lite     # or: discofold bench radar
    python benchmarks/radar_evidence.py --scale smoke --out /tmp/x   # toy scale (tests)

Scales are defined in ``benchmarks/_radar_evidence/scales.py``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
from _radar_evidence.experiments import Runner, summarise
from _radar_evidence.markdown import render
from _radar_evidence.scales import SCALES
from _radar_evidence.setup import train_all, tune_baselines

_METRICS = ("nmse_db", "psnr_db", "ssim", "corr", "entropy", "contrast", "pd", "false_alarms",
            "pos_err_cells", "runtime_s")


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", choices=sorted(SCALES), default="cpu-lite")
    p.add_argument("--quick", action="store_true", help="same as --scale smoke")
    p.add_argument("--out", default=None, help="folder for radar.md and radar/ (default "
                   "docs/results; smoke: a new temporary folder)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--render-only", action="store_true", help="rewrite radar.md and the plots "
                   "from the CSV files of an earlier run in --out (no computation)")
    g = p.add_argument_group("measured data (docs/radar_measured_data.md): convert, image, "
                             "entropy/contrast; writes --out/measured.*")
    g.add_argument("--measured", metavar="FILE", default=None, help=".mat or .npy echo matrix")
    g.add_argument("--carrier-hz", type=float)
    g.add_argument("--bandwidth-hz", type=float)
    g.add_argument("--angle-span-deg", type=float, default=None)
    g.add_argument("--prf-hz", type=float, default=None)
    g.add_argument("--rotation-rate-deg-s", type=float, default=None)
    g.add_argument("--layout", default="frequency_pulse",
                   choices=("frequency_pulse", "pulse_frequency"))
    g.add_argument("--key", default=None, help="MATLAB variable name")
    g.add_argument("--checkpoint", default=None, help="trained radar model (optional)")
    g.add_argument("--fista-iters", type=int, default=None)
    return p.parse_args(argv)


def _measured(args) -> int:
    import math

    from _radar_evidence.measured import measured_chain

    if args.out is None or args.carrier_hz is None or args.bandwidth_hz is None:
        print("--measured needs --out, --carrier-hz and --bandwidth-hz", file=sys.stderr)
        return 2

    def rad(v):
        return None if v is None else math.radians(v)

    rows = measured_chain(args.measured, args.out, carrier_hz=args.carrier_hz,
                          bandwidth_hz=args.bandwidth_hz, angle_span_rad=rad(args.angle_span_deg),
                          prf_hz=args.prf_hz, rotation_rate_rad_s=rad(args.rotation_rate_deg_s),
                          layout=args.layout, key=args.key, checkpoint=args.checkpoint,
                          fista_iters=args.fista_iters)
    for r in rows:
        print(f"{r['method']:>24}  entropy {r['entropy']:.3f}  contrast {r['contrast']:.3f}")
    return 0


def _value(v: str):
    if v in ("True", "False"):
        return v == "True"
    for kind in (int, float):
        try:
            return kind(v)
        except ValueError:
            pass
    return v


def _load(figs: Path) -> tuple[dict, dict]:
    """Results and timings of an earlier run, read back from its CSV and JSON files."""
    import csv
    from types import SimpleNamespace

    def rows(name):
        with open(figs / f"{name}.csv", newline="") as fh:
            return [{k: _value(v) for k, v in r.items() if v != ""} for r in csv.DictReader(fh)]

    res = {k: rows(f"{k}_per_image") for k in ("main", "sweeps", "t1", "t2", "mismatch")}
    res.update(tuning=rows("tuning"), training=rows("training"),
               rotation=(rows("rotation_joint"), rows("rotation_target_only")),
               runner=SimpleNamespace(images={}))
    return res, json.loads((figs / "timings.json").read_text())


def _run_parts(s: dict, timings: dict) -> dict:
    t = time.perf_counter()
    tuned, tuning = tune_baselines(s)
    timings["tuning"] = time.perf_counter() - t
    t = time.perf_counter()
    models, training = train_all(s)
    timings["training"] = time.perf_counter() - t
    run = Runner(s, models, tuned)
    res = {"tuned": tuned, "tuning": tuning, "training": training, "runner": run}
    s0, s1, s2 = s["s0"], s["s1"], s["s2"]
    from _radar_evidence.scales import GeoSpec

    parts = {
        "main": run.main_tables,
        "sweeps": run.sweeps,
        "t1": lambda: run.t1(GeoSpec(s0.preset, s0.window, s["t1_low"]), s0),
        "t2": lambda: run.t2(s1, s2),
        "mismatch": run.mismatch,
        "rotation": lambda: run.rotation(models[("unified_radar", s2)][0]),
    }
    for name, fn in parts.items():
        t = time.perf_counter()
        print(f"== {name}", flush=True)
        res[name] = fn()
        timings[name] = time.perf_counter() - t
    return res


def main(argv=None) -> int:
    args = _parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.measured:
        return _measured(args)
    scale = "smoke" if args.quick else args.scale
    s = dict(SCALES[scale])
    threads = args.threads or s["threads"]
    if threads:
        torch.set_num_threads(threads)
    if scale == "smoke" and args.out is None:  # never overwrite docs/results with toy numbers
        args.out = tempfile.mkdtemp(prefix="radar_evidence_smoke_")
    out = Path(args.out or "docs/results")
    figs = out / "radar"
    figs.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python", "benchmarks/radar_evidence.py", *sys.argv[1:]])
    if args.render_only:  # tables and plots again from this scale's stored CSVs
        res, timings = _load(figs)
        command = timings.pop("command", f"python benchmarks/radar_evidence.py --scale {scale}")
        command += "`, tables re-rendered from its CSV files by `" + " ".join(
            ["python", "benchmarks/radar_evidence.py", *sys.argv[1:]])
    else:
        t0, timings = time.perf_counter(), {}
        res = _run_parts(s, timings)
        timings["total"] = time.perf_counter() - t0
    summaries = {
        "main": summarise(res["main"], ("geometry", "scene", "method"), _METRICS),
        "sweeps": summarise(res["sweeps"], ("sweep", "aperture", "ratio", "snr_db", "method"),
                            ("nmse_db", "ssim", "runtime_s")),
        "t1": summarise(res["t1"], ("test_grid", "method"), ("nmse_db", "runtime_s")),
        "t2": summarise(res["t2"], ("method",), ("nmse_db", "runtime_s")),
        "mismatch": summarise(res["mismatch"], ("perturbation", "method"), ("nmse_db",)),
    }
    machine = {"platform": platform.platform(), "python": platform.python_version(),
               "torch": torch.__version__, "threads": torch.get_num_threads(),
               "scale": scale, "command": command}
    text = render(s, scale, res, summaries, timings, machine, figs)
    (out / "radar.md").write_text(text)
    if not args.render_only:
        (figs / "timings.json").write_text(json.dumps({**timings, "command": command}, indent=1))
    print(f"wrote {out / 'radar.md'} ({timings['total']:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
