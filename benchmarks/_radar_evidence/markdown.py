"""``docs/results/radar.md``: CSVs, figures, targets and tables from one run's results."""

from __future__ import annotations

import math
from pathlib import Path

from .report import bar_plot, fmt, image_grid, line_plot, md_table, write_csv

__all__ = ["render"]

_GRID = ["reference", "rd", "pfa", "fista", "ista_net_radar", "unified_radar"]
_NOTES = {
    "smoke": "toy scale for the tests: every part runs, numbers mean nothing.",
    "cpu-lite": "reduced CPU scale (shared 2-core machine). Left out against `cpu`: S1/S2 run "
                "over a 4.8 m window (the presets' fan and resolution, smaller targets) at "
                "64 px instead of 9.6 m; 5 test images per main setting and 3 per sweep; "
                "80 training steps (100 for `ista_net_radar`/`pfa_unet`) on a pool of 36 scenes; "
                "`r_unified_radar` not trained on S2; T1 has no native model at 128 px.",
    "cpu": "CPU scale: as `cpu-lite` (S1/S2 over a 4.8 m window at 64 px) with 1000/1200 "
           "training steps on a pool of 144 scenes, 8 test images per main setting and 4 per "
           "sweep, and `r_unified_radar` also on S2.",
    "paper": "GPU scale on the native presets (19.2 m window).",
}


_NAMES = {"rd": "range-Doppler (rd)", "pfa": "polar format (pfa)", "zf": "NUFFT adjoint (zf)",
          "omp": "OMP per range cell", "fista": "FISTA-ℓ1, tuned", "tv": "ℓ1+TV (PDHG), tuned",
          "pfa_unet": "U-Net on the PFA image"}


def _name(method: str) -> str:
    return _NAMES.get(method, method)


def _mean(summ: list, method: str, key: str = "nmse_db_mean", **match) -> float:
    for r in summ:
        if r["method"] == method and all(r.get(k) == v for k, v in match.items()):
            return r.get(key, math.nan)
    return math.nan


def _targets(s: dict, summ: dict, training: list) -> tuple[list, list]:
    main = summ["main"]
    s2 = s["s2"].label
    classical = [m for m in ("rd", "pfa", "zf", "fista", "tv")
                 if not math.isnan(_mean(main, m, geometry=s2, scene="satellite"))]
    best = min(classical, key=lambda m: _mean(main, m, geometry=s2, scene="satellite"))
    b = _mean(main, best, geometry=s2, scene="satellite")
    u = _mean(main, "unified_radar", geometry=s2, scene="satellite")
    tf = _mean(main, "fista", "runtime_s_median", geometry=s2, scene="satellite")
    tu = _mean(main, "unified_radar", "runtime_s_median", geometry=s2, scene="satellite")
    rd = _mean(main, "rd", geometry=s2, scene="satellite")
    rows, misses = [], []

    def add(name, value, goal, ok):
        rows.append([name, value, goal, "PASS" if ok else "MISS"])
        if not ok:
            misses.append(name)

    add(f"S2 NMSE: unified_radar vs best tuned classical ({best})",
        f"improvement {b - u:+.2f} dB (unified {fmt(u)} dB, {best} {fmt(b)} dB)",
        "≥ 3 dB better", b - u >= 3)
    add("S2 speed: FISTA / unified_radar runtime", f"{tf / tu:.1f}× ({tf * 1e3:.0f} vs "
        f"{tu * 1e3:.0f} ms)", "≥ 50×", tf / tu >= 50)
    for m in s["s2_models"]:
        v = _mean(main, m, geometry=s2, scene="satellite")
        add(f"S2: {m} vs range-Doppler", f"{rd - v:+.2f} dB", "≥ 10 dB better", rd - v >= 10)
    joint = res_rotation = summ.get("rotation_joint", [])
    if res_rotation:
        worst = max(r["fan_equivariance_rel_err"] for r in joint)
        add("joint rotation: fan operator equivariance error (max over angles)",
            f"{worst:.1e}", "≤ 1e-5", worst <= 1e-5)
    t1 = summ["t1"]
    for r in t1:
        if "trained at" in r["method"] and "native" not in r["method"]:
            nat = [x for x in t1 if x["test_grid"] == r["test_grid"] and "native" in x["method"]]
            if nat and r["test_grid"] == s["s0"].image:
                loss = r["nmse_db_mean"] - nat[0]["nmse_db_mean"]
                zf = _mean(main, "zf", geometry=s["s0"].label, scene="satellite")
                weak = nat[0]["nmse_db_mean"] > zf
                note = (f" — uninformative: the native model ({fmt(nat[0]['nmse_db_mean'])} dB) "
                        f"does not beat the NUFFT adjoint ({fmt(zf)} dB) at this scale"
                        if weak else "")
                add(f"T1 at {r['test_grid']} px: low-grid model vs native",
                    f"{loss:+.2f} dB{note}", "≤ 1 dB loss", loss <= 1)
    return rows, misses


def _sanity(s: dict, summ: dict) -> str:
    """Which learned models do not beat the NUFFT adjoint (zero-filled) image at S0/S2."""
    main, lines = summ["main"], []
    for spec in (s["s0"], s["s2"]):
        zf = _mean(main, "zf", geometry=spec.label, scene="satellite")
        worse = [m for m in ("ista_net_radar", "pfa_unet", "unified_radar", "r_unified_radar")
                 if _mean(main, m, geometry=spec.label, scene="satellite") > zf]
        if worse:
            lines.append(f"at {spec.label} {', '.join(worse)} do not beat the NUFFT adjoint "
                         f"({fmt(zf)} dB)")
    if not lines:
        return ""
    return ("**Sanity check of the learned models (satellites, 25 %, 10 dB):** " + "; ".join(
        lines) + ". At this training budget these models have not learned to reconstruct, so "
        "comparisons among them (T1, T2, rotation, mismatch) say nothing about the method's "
        "quality; they do exercise the pipeline, and the fan equivariance check does not "
        "depend on training.")


def _main_table(summ: list, training: list, geometry: str, scene: str) -> str:
    params = {}
    for t in training:
        if t["geometry"] == geometry:
            params[t["model"]] = t["params"]
    rows = []
    for r in summ:
        if r["geometry"] != geometry or r["scene"] != scene:
            continue
        rows.append([_name(r["method"]), fmt(r["nmse_db_mean"], r["nmse_db_std"]),
                     fmt(r["psnr_db_mean"], r["psnr_db_std"]),
                     fmt(r["ssim_mean"], r["ssim_std"], 3), fmt(r["corr_mean"], None, 3),
                     fmt(r["entropy_mean"], None, 2), fmt(r["contrast_mean"], None, 2),
                     fmt(r["pd_mean"], None, 2), fmt(r["false_alarms_mean"], None, 1),
                     fmt(r["pos_err_cells_mean"], None, 2),
                     f"{r['runtime_s_median'] * 1e3:.0f}", params.get(r["method"], "—")])
    return md_table(["method", "NMSE dB", "PSNR dB", "SSIM (40 dB)", "corr", "entropy",
                     "contrast", "Pd", "false alarms", "pos. err (cells)", "ms/image",
                     "params"], rows)


def _pivot(summ: list, col_keys: tuple, label) -> str:
    cols = list(dict.fromkeys(tuple(r[k] for k in col_keys) for r in summ))
    methods = list(dict.fromkeys(r["method"] for r in summ))
    rows = []
    for m in methods:
        row = [_name(m)]
        for c in cols:
            hit = [r for r in summ if r["method"] == m and tuple(r[k] for k in col_keys) == c]
            row.append(fmt(hit[0]["nmse_db_mean"], hit[0]["nmse_db_std"]) if hit else "—")
        rows.append(row)
    return md_table(["method", *[label(c) for c in cols]], rows)


def _figures(s, res, summ, figs: Path) -> list[str]:
    out = []
    run = res["runner"]
    for key, spec in (("S0", s["s0"]), ("S2", s["s2"])):
        name = f"images_{key}.png"
        if key in run.images:
            image_grid(figs / name, run.images[key], _GRID,
                       f"{spec.label}, satellite, 25 % random pulses, 10 dB (dB, 40 dB range)")
        if (figs / name).is_file():
            out.append(name)
    sw = summ["sweeps"]
    for sweep, x, xl, logx in (("ratio", "ratio", "sampling ratio", True),
                               ("snr", "snr_db", "echo SNR (dB)", False)):
        series = {}
        for r in sw:
            if r["sweep"] == sweep:
                series.setdefault(r["method"], ([], []))
                series[r["method"]][0].append(r[x])
                series[r["method"]][1].append(r["nmse_db_mean"])
        name = f"nmse_vs_{sweep}.png"
        line_plot(figs / name, series, xl, "NMSE (dB)", f"{s['s0'].label}, satellites",
                  logx=logx)
        out.append(name)
    groups = {}
    for r in summ["t1"]:
        groups.setdefault(f"test {r['test_grid']} px", {})[r["method"]] = (
            r["nmse_db_mean"], r["nmse_db_std"])
    bar_plot(figs / "t1.png", groups, "NMSE (dB)", "T1 discretisation (same fan, finer grid)")
    groups = {"S2 test": {r["method"]: (r["nmse_db_mean"], r["nmse_db_std"])
                          for r in summ["t2"]}}
    bar_plot(figs / "t2.png", groups, "NMSE (dB)", "T2 support extrapolation")
    joint, target = res["rotation"]
    line_plot(figs / "rotation_joint.png",
              {"model NMSE vs exact rotated reference": (
                  [r["angle_deg"] for r in joint],
                  [r["pipeline_nmse_db_vs_reference"] for r in joint])},
              "joint rotation (deg)", "NMSE (dB)", "joint rotation (shift along θ), S4 circle")
    series = {}
    for r in target:
        series.setdefault(f"{r['geometry']}, {r['aperture_deg']}° aperture", ([], []))
        series[f"{r['geometry']}, {r['aperture_deg']}° aperture"][0].append(r["angle_deg"])
        series[f"{r['geometry']}, {r['aperture_deg']}° aperture"][1].append(
            max(-60.0, r["nmse_db_target_only_vs_rotated_image"]))
    line_plot(figs / "rotation_target_only.png", series, "target rotation (deg)",
              "NMSE (dB) vs rotated image",
              "target-only rotation, fixed geometry (0°: identical, shown at −60 dB)")
    out += ["t1.png", "t2.png", "rotation_joint.png", "rotation_target_only.png"]
    return out


def _csvs(res, summ, figs: Path) -> None:
    for name in ("main", "sweeps", "t1", "t2", "mismatch"):
        write_csv(figs / f"{name}_per_image.csv", res[name])
        write_csv(figs / f"{name}.csv", summ[name])
    write_csv(figs / "tuning.csv", res["tuning"])
    write_csv(figs / "training.csv", res["training"])
    write_csv(figs / "rotation_joint.csv", res["rotation"][0])
    write_csv(figs / "rotation_target_only.csv", res["rotation"][1])


def _mismatch_table(summ: list) -> str:
    base = {r["method"]: r["nmse_db_mean"] for r in summ if r["perturbation"] == "none"}
    perts = list(dict.fromkeys(r["perturbation"] for r in summ))
    rows = []
    for m in base:
        row = [_name(m), fmt(base[m])]
        for p in perts[1:]:
            hit = [r for r in summ if r["method"] == m and r["perturbation"] == p]
            row.append(f"{hit[0]['nmse_db_mean'] - base[m]:+.2f}" if hit else "—")
        rows.append(row)
    return md_table(["method", "NMSE dB (no error)", *[f"Δ {p}" for p in perts[1:]]], rows)


def render(s, scale, res, summ, timings, machine, figs: Path) -> str:
    """Write the CSVs and figures and return the markdown text."""
    _csvs(res, summ, figs)
    figures = _figures(s, res, summ, figs)
    targets, misses = _targets(s, {**summ, "rotation_joint": res["rotation"][0]},
                               res["training"])
    sanity = _sanity(s, summ)
    if sanity:
        misses = [*misses, sanity]
    from .text import body

    return body(s, scale, _NOTES.get(scale, ""), res, summ, timings, machine, figures,
                targets, misses, _main_table, _pivot, _mismatch_table, md_table)
