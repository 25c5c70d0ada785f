"""Learning benchmark: do the CPU configs learn, and do they beat tuned classical CS?

Every CPU config (``discofold/configs/*_cpu.toml``) is trained with ``discofold.train.train`` for
the same wall-clock budget (``train.time_budget_s``, cosine schedule over the budget, one torch
thread per run, ``--parallel`` runs side by side), keeping the best-validation weights
(``best.pt``).  Ablations of ``mri_unified_cpu`` run the same way with a shorter budget.  Then,
on held-out simulated test sets (data seed 7919: neither the training items, drawn from seed 0,
nor the validation items):

- MRI (64×64, 4 coils; each training pattern at 4× separately): zero-filling, CG-SENSE, wavelet
  FISTA and TV, their relative λ tuned on the validation split (a grid; the chosen λ is in the
  table), against the learned models.  PSNR with the peak of each target (fastMRI's
  definition on magnitudes) and NMSE.
- Radar (S2, satellites, 25 % random pulses, 10 dB): zero-filling (density-compensated adjoint)
  and FISTA (pixel ℓ1) on a 2× finer grid, λ tuned on validation, against the learned model.
  NMSE after least-squares complex scaling (the radar metric).

Learning curves (validation PSNR / NMSE against step and seconds) come from each run's
``val.csv``.

    python benchmarks/learning.py [--budget-s 900] [--ablation-budget-s 300] [--parallel 2]
                                  [--only a,b] [--skip-train] [--render-only] [--quick]

writes docs/benchmarks/learning.md, docs/benchmarks/learning/*.png and learning.json; runs go to
``runs/learning/<name>``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks" / "learning.md"
FIG = ROOT / "docs" / "benchmarks" / "learning"
RUNS = ROOT / "runs" / "learning"
TEST_SEED = 7919
N_TEST = 32

#: the models, their configs and the overrides (ablations of mri_unified_cpu)
MAIN = {"mri_varnet_cpu": ("mri_varnet_cpu", []),
        "mri_unified_cpu": ("mri_unified_cpu", []),
        "mri_unified_image_cpu": ("mri_unified_image_cpu", []),
        "radar_unified_cpu": ("radar_unified_cpu", []),
        "radar_lfista_cpu": ("radar_lfista_cpu", [])}
RADAR_RUNS = [n for n in MAIN if n.startswith("radar")]
ABLATIONS = {
    "abl_unified_no_data_ops": ("mri_unified_cpu", ['model.args.kspace="none"',
                                                    "model.args.sens_chans=0"],
                                "no k-space operator, no sensitivity refiner"),
    "abl_unified_one_lr": ("mri_unified_cpu", ["train.scale_disco_lr=false"],
                           "one Adam learning rate (no DISCO scaling)"),
    "abl_unified_basis54": ("mri_unified_cpu", ["model.args.kernel_shape=[5, 4]"],
                            "default (5, 4) basis: rank 8 on the 3×3 stencil"),
    "abl_unified_no_kspace": ("mri_unified_cpu", ['model.args.kspace="none"'],
                              "no k-space operator (learned sensitivities kept)"),
    "abl_unified_no_sens": ("mri_unified_cpu", ["model.args.sens_chans=0"],
                            "no sensitivity refiner (k-space operator kept)"),
    "abl_unified_kspace_weighted": ("mri_unified_cpu", ["model.args.kspace_weighted=true"],
                                    "k-space operator on weighted k-space (Han et al. 2019)"),
    "abl_unified_ref": ("mri_unified_cpu", [], "reference (same budget as the ablations)"),
    "abl_unified_ref_seed1": ("mri_unified_cpu", ["model.seed=1"],
                              "reference, initialisation seed 1"),
    "abl_unified_no_data_ops_seed1": ("mri_unified_cpu", ["model.seed=1",
                                                          'model.args.kspace="none"',
                                                          "model.args.sens_chans=0"],
                                      "no data-domain operators, initialisation seed 1"),
    "abl_varnet_ref": ("mri_varnet_cpu", [], "plain U-Net cascades (E2E-VarNet), same budget"),
}
GRIDS = {"cg": [1e-3, 3e-3, 1e-2, 3e-2, 1e-1], "fista": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2],
         "tv": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2]}
RADAR_GRID = [3e-4, 1e-3, 3e-3, 1e-2]


# --------------------------------------------------------------------------- training
def _config(name: str, budget: float):
    from discofold.train import load_config

    base, overrides = (MAIN.get(name) or ABLATIONS[name])[:2]
    return load_config(base, overrides=[*overrides, f"train.time_budget_s={budget}"])


def train_job(name: str, budget: float) -> None:
    """One run (in its own process, one thread)."""
    from discofold.train import train

    torch.set_num_threads(1)
    out = RUNS / name
    res = train(_config(name, budget), out, quiet=True)
    print(f"{name}: {res.step} steps, best val loss {res.best_val_loss}", flush=True)


def train_all(names: list[str], budgets: dict, parallel: int) -> None:
    pending, running = list(names), []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    while pending or running:
        while pending and len(running) < parallel:
            n = pending.pop(0)
            if (RUNS / n).exists():
                import shutil

                shutil.rmtree(RUNS / n)
            print(f"[learning] training {n} for {budgets[n]:.0f} s", flush=True)
            running.append((n, subprocess.Popen([sys.executable, __file__, "--job", n,
                                                 "--job-budget", str(budgets[n])], env=env)))
        time.sleep(5)
        for item in list(running):
            if item[1].poll() is not None:
                running.remove(item)
                if item[1].returncode != 0:
                    sys.exit(f"training {item[0]} failed (exit {item[1].returncode})")


# --------------------------------------------------------------------------- data
def _split(cfg_data, seed: int, length: int, patterns=None):
    """The validation-type split (epoch-0 items) of ``cfg_data`` with data seed ``seed``."""
    import dataclasses

    from discofold.train.data import build_datasets

    kw = {"seed": seed, "val_length": length, "train_length": max(length, 8)}
    if patterns is not None:
        kw["patterns"] = patterns
    return build_datasets(dataclasses.replace(cfg_data, **kw))[1]


def _batches(cfg_data, ds, size: int = 4, maps: str = "simulator"):
    """Model-ready batches; ``maps="calibration"`` replaces the simulator's coil maps of the
    operator by estimates from each slice's calibration box (what ``recon`` does for files)."""
    from discofold.operators import CartesianMRI
    from discofold.train.data import BatchAdapter, _acs_maps, collate_for

    adapter, col = BatchAdapter(cfg_data, torch.device("cpu"), cfg_data.seed), collate_for(cfg_data)
    for j in range(0, len(ds), size):
        y, op, meta, t = adapter(col([ds[i] for i in range(j, min(j + size, len(ds)))]), j,
                                 train=False)
        if maps == "calibration" and getattr(op, "coil_maps", None) is not None:
            mask = op.mask.reshape(-1, *op.mask.shape[-2:]).expand(y.shape[0], -1, -1)
            op = CartesianMRI(op.mask, coil_maps=_acs_maps(y, mask), image_shape=op.image_shape)
        yield y, op, meta, t


def _psnr_nmse(pred, target) -> tuple[list, list]:
    from discofold.train.loop import nmse_db
    from discofold.train.losses import psnr_normalised

    return psnr_normalised(pred, target).tolist(), nmse_db(pred, target).tolist()


# --------------------------------------------------------------------------- MRI evaluation
def _mri_classical(cfg_data, ds, method: str, lam: float, maps: str = "simulator"):
    from discofold.solvers.pipeline import reconstruct

    ps, ns = [], []
    for y, op, _, t in _batches(cfg_data, ds, size=1, maps=maps):
        x = reconstruct(y, op, method, {"lam": lam}) if method != "zf" else \
            reconstruct(y, op, "zf", {})
        p, n = _psnr_nmse(x, t)
        ps += p
        ns += n
    return ps, ns


def _mean(v):
    v = [x for x in v if math.isfinite(x)]
    return sum(v) / len(v) if v else math.nan


def _model_scores(run: Path, cfg_data, ds):
    from discofold.train.checkpoint import build_from_checkpoint

    model, _, _ = build_from_checkpoint(run / "best.pt")
    ps, ns, t0 = [], [], time.thread_time()
    with torch.no_grad():
        for y, op, meta, t in _batches(cfg_data, ds):
            p, n = _psnr_nmse(model(y, op, meta), t)
            ps += p
            ns += n
    return ps, ns, (time.thread_time() - t0) / len(ds)


def evaluate_mri(runs: list[str], quick: bool) -> list[dict]:
    torch.set_num_threads(2)
    cfg = _config("mri_unified_cpu", 1.0).data
    rows = []
    for pattern in cfg.patterns:
        pats = (tuple(pattern),)
        val = _split(cfg, cfg.seed, 8 if quick else 16, pats)
        test = _split(cfg, TEST_SEED, 8 if quick else N_TEST, pats)
        setting = f"{pattern[0]} {pattern[1]:g}×"
        print(f"[learning] classical baselines, {setting}", flush=True)
        p, n = _mri_classical(cfg, test, "zf", 0.0)
        rows.append({"setting": setting, "method": "zero-filled", "psnr": _mean(p),
                     "nmse": _mean(n), "detail": ""})
        for method, grid in GRIDS.items():
            scores = {lam: _mean(_mri_classical(cfg, val, method, lam)[0]) for lam in grid}
            best = max(scores, key=scores.get)
            p, n = _mri_classical(cfg, test, method, best)
            edge = " (grid edge)" if best in (grid[0], grid[-1]) else ""
            rows.append({"setting": setting, "method": method, "psnr": _mean(p), "nmse": _mean(n),
                         "detail": f"λ = {best:g}{edge}, val {scores[best]:.2f} dB"})
        for name in runs:
            if not name.startswith(("mri_", "abl_")) or not (RUNS / name / "best.pt").exists():
                continue
            p, n, sec = _model_scores(RUNS / name, cfg, test)
            rows.append({"setting": setting, "method": name, "psnr": _mean(p), "nmse": _mean(n),
                         "detail": f"{sec * 1e3:.0f} ms / slice"})
    return rows


# --------------------------------------------------------------------------- radar evaluation
def _frames(cfg_data, ds):
    from discofold.data.radar_io import RadarFrame

    for i in range(len(ds)):
        y, params, target, _ = ds[i]
        attrs = {"image_shape": [int(v) for v in params["image_shape"]],
                 "extent_m": [float(v) for v in params["extent_m"]]}
        yield RadarFrame(y, params["angles_rad"], params["frequencies_hz"], params["mask"],
                         target, None, attrs=attrs), target


def _radar_method(cfg_data, ds, method: str, params: dict) -> list:
    from discofold.metrics._radar import radar_nmse_db
    from discofold.solvers.pipeline import recon_radar_frame

    return [float(radar_nmse_db(t, recon_radar_frame(fr, method, params)))
            for fr, t in _frames(cfg_data, ds)]


def _radar_cpu_s(frames, fn) -> float:
    """Median CPU seconds per frame of ``fn(frame)`` on one thread (``time.thread_time``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        times = []
        for fr in frames:
            t0 = time.thread_time()
            fn(fr)
            times.append(time.thread_time() - t0)
    finally:
        torch.set_num_threads(threads)
    return sorted(times)[len(times) // 2]


def evaluate_radar(quick: bool) -> list[dict]:
    from discofold.metrics._radar import radar_nmse_db
    from discofold.solvers.pipeline import radar_operator, recon_radar_frame
    from discofold.train.checkpoint import build_from_checkpoint

    torch.set_num_threads(2)
    cfg = _config("radar_unified_cpu", 1.0).data
    val = _split(cfg, cfg.seed, 2 if quick else 4)
    test = _split(cfg, TEST_SEED, 2 if quick else 8)
    timing = [fr for fr, _ in _frames(cfg, test)][:3]
    setting = "S2, 25 % random pulses, 10 dB"
    print("[learning] radar baselines", flush=True)
    rows = [{"setting": setting, "method": "zero-filled", "psnr": math.nan,
             "nmse": _mean(_radar_method(cfg, test, "zf", {})), "detail": "dc adjoint"}]
    for up, grid in ((1, RADAR_GRID), (2, RADAR_GRID), (4, [1e-4, *RADAR_GRID[:2]])):
        if quick and up == 4:
            continue
        scores = {lam: _mean(_radar_method(cfg, val, "fista", {"lam": lam, "upsample": up}))
                  for lam in grid}
        best = min(scores, key=scores.get)
        edge = " (grid edge)" if best in (grid[0], grid[-1]) else ""
        params = {"lam": best, "upsample": up}
        sec = _radar_cpu_s(timing, lambda fr, p=params: recon_radar_frame(fr, "fista", p))
        rows.append({"setting": setting, "method": f"fista {up}× grid", "psnr": math.nan,
                     "nmse": _mean(_radar_method(cfg, test, "fista", params)), "cpu_s": sec,
                     "detail": f"λ = {best:g}{edge}, val {scores[best]:.2f} dB; "
                               f"{sec:.2f} CPU s / frame"})
    for name in RADAR_RUNS:
        run = RUNS / name
        if not (run / "best.pt").exists():
            continue
        model, _, _ = build_from_checkpoint(run / "best.pt")
        model.eval()

        def infer(fr, model=model):
            with torch.no_grad():
                return model(fr.echo.to(torch.complex64)[None], radar_operator(fr))[0]

        scores = [float(radar_nmse_db(t, infer(fr))) for fr, t in _frames(cfg, test)]
        sec = _radar_cpu_s(timing, infer)
        rows.append({"setting": setting, "method": name, "psnr": math.nan,
                     "nmse": _mean(scores), "cpu_s": sec,
                     "detail": f"{sec:.2f} CPU s / frame"})
    return rows


# --------------------------------------------------------------------------- curves and docs
def _read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def run_summary(name: str) -> dict:
    """Steps, seconds, best validation and parameters of one run."""
    from discofold.models import count_parameters
    from discofold.train.checkpoint import build_from_checkpoint

    run = RUNS / name
    val, train = _read(run / "val.csv"), _read(run / "train.csv")
    if not val:
        return {}
    if name.startswith("radar"):  # the radar metric is the NMSE
        best = min(val, key=lambda r: float(r["val_nmse_db"]))
    else:
        best = max(val, key=lambda r: float(r["val_psnr_db"]))
    model, cfg, _ = build_from_checkpoint(run / "best.pt")
    return {"steps": int(train[-1]["step"]) if train else 0,
            "elapsed_s": float(train[-1]["elapsed_s"]) if train else 0.0,
            "start_psnr": float(val[0]["val_psnr_db"]), "start_step": int(val[0]["step"]),
            "best_psnr": float(best["val_psnr_db"]),
            "best_nmse": float(best["val_nmse_db"]), "best_step": int(best["step"]),
            "params": count_parameters(model), "budget_s": cfg.train.time_budget_s,
            "curve": [(int(r["step"]), float(r["elapsed_s"]), float(r["val_psnr_db"]),
                       float(r["val_nmse_db"])) for r in val]}


def plot_curves(summaries: dict, names: list[str], path: Path, metric: int, label: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    for name in names:
        s = summaries.get(name)
        if not s:
            continue
        c = s["curve"]
        for ax, k in zip(axes, (0, 1)):
            ax.plot([r[k] for r in c], [r[metric] for r in c], marker=".", label=name)
    axes[0].set_xlabel("step")
    axes[1].set_xlabel("elapsed wall-clock seconds")
    for ax in axes:
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def _table(rows: list[dict], radar: bool) -> list[str]:
    out = ["| setting | method | " + ("NMSE dB |" if radar else "PSNR dB | NMSE dB |")
           + " note |", "|---|---|" + ("---|" if radar else "---|---|") + "---|"]
    for r in rows:
        vals = f"{r['nmse']:.2f} |" if radar else f"{r['psnr']:.2f} | {r['nmse']:.2f} |"
        out.append(f"| {r['setting']} | {r['method']} | {vals} {r['detail']} |")
    return out


def render(doc: dict) -> str:
    s = doc["summaries"]
    lines = [
        "# Learning benchmark", "",
        "Written by `python benchmarks/learning.py` (also `discofold bench learning`); do not "
        "edit by hand.  " + doc["machine"] + "".join(f"  {u}" for u in doc.get("updates", [])),
        "",
        "Each CPU config trained for its wall-clock budget (`train.time_budget_s`, cosine "
        "schedule over the budget, one torch thread per run, runs side by side); the table uses "
        "the best-validation weights.  Classical methods: relative λ tuned on the validation "
        "split (the grid and the chosen value are given), scored on the held-out test split "
        f"(data seed {TEST_SEED}, {N_TEST} slices per MRI setting).", "",
        "## Training runs", "",
        "| run | what | parameters | budget s | steps | val PSNR first (at step) → best dB "
        "| best at step |",
        "|---|---|---|---|---|---|---|"]
    for name in [*MAIN, *ABLATIONS]:
        if name not in s or not s[name]:
            continue
        r = s[name]
        what = ABLATIONS[name][2] if name in ABLATIONS else "CPU config"
        lines.append(f"| {name} | {what} | {r['params']:,} | {r['budget_s']:.0f} | {r['steps']} "
                     f"| {r['start_psnr']:.2f} ({r.get('start_step', 0)}) → {r['best_psnr']:.2f} "
                     f"| {r['best_step']} |")
    lines += ["", "Radar runs report validation PSNR of magnitudes (peak-normalised); their "
              "metric is the NMSE below.", "",
              "![MRI learning curves](learning/mri_curves.png)", ""]
    if any(n in s and s[n] for n in ABLATIONS):
        lines += ["![ablation learning curves](learning/ablation_curves.png)", ""]
    if any(s.get(n) for n in RADAR_RUNS):
        lines += ["![radar learning curves](learning/radar_curves.png)", ""]
    lines += ["## MRI: held-out test set (64×64, 4 coils, 30–40 dB)", "",
              *_table(doc["mri"], radar=False), ""]
    if doc.get("radar"):
        lines += ["## Radar: held-out test set", "", *_table(doc["radar"], radar=True), ""]
    lines += ["## Against the targets", "", *_verdicts(doc), ""]
    return "\n".join(lines)


def _verdicts(doc: dict) -> list[str]:
    """Target lines computed from the tables (issue: learned models that learn)."""
    out = []
    classical = ("cg", "fista", "tv")
    for setting in dict.fromkeys(r["setting"] for r in doc["mri"]):
        rows = {r["method"]: r for r in doc["mri"] if r["setting"] == setting}
        best_c = max((rows[m] for m in classical if m in rows), key=lambda r: r["psnr"])
        zf = rows["zero-filled"]["psnr"]
        parts = [f"best classical {best_c['method']} {best_c['psnr']:.2f} dB "
                 f"({best_c['psnr'] - zf:+.2f} over zero-filling)"]
        for m in ("mri_varnet_cpu", "mri_unified_cpu", "mri_unified_image_cpu"):
            if m in rows:
                d = rows[m]["psnr"] - best_c["psnr"]
                parts.append(f"{m} {rows[m]['psnr']:.2f} dB ({d:+.2f}; target +1: "
                             f"{'PASS' if d >= 1.0 else 'MISS'})")
        for m in ("mri_unified_cpu", "mri_unified_image_cpu"):
            if "mri_varnet_cpu" in rows and m in rows:
                d = rows[m]["psnr"] - rows["mri_varnet_cpu"]["psnr"]
                parts.append(f"{m} − varnet {d:+.2f} dB ({'PASS' if d >= 0 else 'MISS'})")
        for ref, abl, seed in (("abl_unified_ref", "abl_unified_no_data_ops", 0),
                               ("abl_unified_ref_seed1", "abl_unified_no_data_ops_seed1", 1)):
            if ref in rows and abl in rows:
                d = rows[ref]["psnr"] - rows[abl]["psnr"]
                parts.append(f"removing the data-domain operators costs {d:+.2f} dB at equal "
                             f"time, seed {seed} (target ≥ 0.5: {'PASS' if d >= 0.5 else 'MISS'})")
        out.append(f"- **{setting}**: " + "; ".join(parts) + ".")
    if doc.get("radar"):
        rows = {r["method"]: r for r in doc["radar"]}
        f2, f4 = rows.get("fista 2× grid"), rows.get("fista 4× grid")
        for name in RADAR_RUNS:
            m = rows.get(name)
            if not (f2 and m):
                continue
            d = f2["nmse"] - m["nmse"]
            line = (f"- **radar**: {name} {m['nmse']:.2f} dB NMSE against FISTA on a 2× grid "
                    f"{f2['nmse']:.2f} dB ({d:+.2f} dB better; target +1: "
                    f"{'PASS' if d >= 1.0 else 'MISS'})")
            if f2.get("cpu_s") and m.get("cpu_s"):
                line += f", {f2['cpu_s'] / m['cpu_s']:.1f}× less CPU time per frame"
            if f4:
                line += f"; against FISTA on a 4× grid {f4['nmse'] - m['nmse']:+.2f} dB"
            out.append(line + ".")
    return out


def _merge_rows(old: list[dict], new: list[dict]) -> list[dict]:
    """``new`` rows, plus the ``old`` rows of (setting, method) pairs ``new`` does not have
    (runs evaluated earlier whose folders are gone), in the old order."""
    keys = {(r["setting"], r["method"]) for r in new}
    merged = list(new)
    for r in old:
        if (r["setting"], r["method"]) not in keys:
            merged.append(r)
    order = {(r["setting"], r["method"]): i for i, r in enumerate(old)}
    settings = list(dict.fromkeys(r["setting"] for r in [*old, *new]))
    return sorted(merged, key=lambda r: (settings.index(r["setting"]), _method_rank(r["method"]),
                                         order.get((r["setting"], r["method"]), len(order))))


def _method_rank(method: str) -> int:
    """Classical rows first (zero-filling, then by grid), learned rows after."""
    if method == "zero-filled":
        return 0
    return 1 if method in GRIDS or method.startswith("fista") else 2


def write_doc(doc: dict) -> None:
    FIG.mkdir(parents=True, exist_ok=True)
    s = doc["summaries"]
    plot_curves(s, [n for n in MAIN if n.startswith("mri")], FIG / "mri_curves.png", 2,
                "validation PSNR dB")
    plot_curves(s, list(ABLATIONS), FIG / "ablation_curves.png", 2, "validation PSNR dB")
    plot_curves(s, RADAR_RUNS, FIG / "radar_curves.png", 3, "validation NMSE dB")
    (FIG / "learning.json").write_text(json.dumps(doc, indent=1) + "\n")
    tmp = DOC.with_suffix(".tmp")
    tmp.write_text(render(doc))
    os.replace(tmp, DOC)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget-s", type=float, default=900.0)
    ap.add_argument("--ablation-budget-s", type=float, default=300.0)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--only", default=None, help="comma-separated run names to train")
    ap.add_argument("--skip-train", action="store_true", help="evaluate the existing runs")
    ap.add_argument("--render-only", action="store_true", help="rewrite the doc from the json")
    ap.add_argument("--no-radar", action="store_true")
    ap.add_argument("--quick", action="store_true", help="30 s budgets, small test sets")
    ap.add_argument("--threads", type=int, default=None, help="(ignored: one thread per run)")
    ap.add_argument("--job", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--job-budget", type=float, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.job:
        return train_job(a.job, a.job_budget)
    if a.render_only:
        doc = json.loads((FIG / "learning.json").read_text())
        return write_doc(doc)
    if a.quick:
        a.budget_s, a.ablation_budget_s = 30.0, 20.0
    names = [*MAIN, *ABLATIONS]
    if a.no_radar:
        names.remove("radar_unified_cpu")
    if a.only:
        names = [n for n in a.only.split(",") if n in names]
    budgets = {n: (a.budget_s if n in MAIN else a.ablation_budget_s) for n in names}
    t0 = time.time()
    if not a.skip_train:
        train_all(names, budgets, a.parallel)
    done = [n for n in [*MAIN, *ABLATIONS] if (RUNS / n / "best.pt").exists()]
    if a.only and (FIG / "learning.json").exists():  # update the named runs, keep the rest
        doc = json.loads((FIG / "learning.json").read_text())
        doc["summaries"].update({n: run_summary(n) for n in names if n in done})
        doc["updates"] = [u for u in doc.get("updates", [])
                          if not u.startswith(f"{', '.join(names)} trained")]
        doc["updates"].append(
            f"{', '.join(names)} trained and re-evaluated (with the classical baselines of "
            f"{'radar' if all(n.startswith('radar') for n in names) else 'their family'}) on "
            f"{time.strftime('%Y-%m-%d')}; the other rows are from the run above.")
        if any(n.startswith("radar") for n in names):
            doc["radar"] = _merge_rows(doc.get("radar", []), evaluate_radar(a.quick))
        if any(not n.startswith("radar") for n in names):
            doc["mri"] = _merge_rows(doc.get("mri", []), evaluate_mri(
                [n for n in done if n in names], a.quick))
        write_doc(doc)
        print(f"[learning] updated {DOC} in {time.time() - t0:.0f} s", flush=True)
        return None
    doc = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                      f"torch {torch.__version__}, {time.strftime('%Y-%m-%d')}.",
           "summaries": {n: run_summary(n) for n in done},
           "mri": evaluate_mri(done, a.quick),
           "radar": [] if a.no_radar else evaluate_radar(a.quick)}
    write_doc(doc)
    print(f"[learning] wrote {DOC} in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
