"""Tables, targets (PASS/MISS) and the markdown report of the MRI evidence benchmark."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

from .evaluation import summarize

__all__ = ["write_csv", "e1_targets", "e2_targets", "e3_targets", "md_table", "verdict"]


def write_csv(rows: list[dict], path: Path) -> Path:
    """Rows (dicts) as CSV; floats with 6 significant digits."""
    keys: list = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in r.items()})
    return path


def md_table(head: list[str], rows: list[list]) -> str:
    """A markdown table."""
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "**MISS**"


def _mean(rows, method, settings=None, **eq) -> float:
    vals = [r["psnr"] for r in rows if r["method"] == method
            and (settings is None or r["setting"] in settings)
            and all(r.get(k) == v for k, v in eq.items())]
    return statistics.fmean(vals) if vals else float("nan")


def e1_targets(e1: dict) -> list[dict]:
    """The four E1 targets with their measured values (mean PSNR over test images)."""
    rows, seen, unseen = e1["rows"], e1["seen"], e1["unseen"]
    uni, mix = _mean(rows, "unified", seen), _mean(rows, "varnet (mixture)", seen)
    out = [{"target": "E1 unified ≥ mixture-varnet + 1.0 dB (seen patterns)",
            "measured": f"{uni - mix:+.2f} dB ({uni:.2f} vs {mix:.2f})", "ok": uni - mix >= 1.0}]
    for label in e1["models"]:
        if label.startswith("varnet (") and label != "varnet (mixture)":
            p = label[len("varnet ("):-1]
            own = [s for s in seen if s.split()[0] == p]
            u, v = _mean(rows, "unified", own), _mean(rows, label, own)
            out.append({"target": f"E1 unified within 0.3 dB of {label} on {p}",
                        "measured": f"{u - v:+.2f} dB ({u:.2f} vs {v:.2f})",
                        "ok": u - v >= -0.3})
    uu, mu = _mean(rows, "unified", unseen), _mean(rows, "varnet (mixture)", unseen)
    out.append({"target": "E1 unified ≥ mixture-varnet + 1 dB on unseen patterns",
                "measured": f"{uu - mu:+.2f} dB ({uu:.2f} vs {mu:.2f})", "ok": uu - mu >= 1.0})
    zf = _mean(rows, "zero-filled", seen)
    for label in e1["models"]:
        m = _mean(rows, label, seen)
        out.append({"target": f"E1 {label} ≥ zero-filled + 3 dB (seen)",
                    "measured": f"{m - zf:+.2f} dB", "ok": m - zf >= 3.0})
    return out


def e2_targets(e2: dict) -> list[dict]:
    """E2: zero-shot loss against the native model, and unified vs varnet at 128."""
    rows, out = e2["rows"], []
    for n in e2["native"]:
        z = _mean(rows, "unified (trained 64)", size=n)
        nat = _mean(rows, f"unified (trained {n})", size=n)
        out.append({"target": f"E2 unified(64) loses ≤ 1 dB vs unified trained at {n}",
                    "measured": f"{z - nat:+.2f} dB ({z:.2f} vs {nat:.2f})",
                    "ok": z - nat >= -1.0})
    sizes = sorted({r["size"] for r in rows})
    if sizes:
        n = 128 if 128 in sizes else sizes[0]
        u, v = _mean(rows, "unified (trained 64)", size=n), _mean(rows, "varnet (trained 64)",
                                                                  size=n)
        out.append({"target": f"E2 unified(64) ≥ varnet(64) + 1.5 dB at {n}",
                    "measured": f"{u - v:+.2f} dB ({u:.2f} vs {v:.2f})", "ok": u - v >= 1.5})
    return out


def e3_pairs(e1: dict, bcs: dict | None) -> list[dict]:
    """Rows of the E3 comparison: recursive vs baseline per setting and data fraction."""
    pairs = []
    m = e1["models"]
    r, b = m["r_unified"], m["unified"]
    rp, bp = _mean(e1["rows"], "r_unified", e1["seen"]), _mean(e1["rows"], "unified", e1["seen"])
    pairs.append({"pair": "MRI r_unified / unified", "data": "100%",
                  "unrolled_ratio": r.unrolled_params / b.unrolled_params,
                  "param_ratio": r.params / b.params, "time_ratio": r.train_s / b.train_s,
                  "psnr_rec": rp, "psnr_base": bp, "dpsnr": rp - bp})
    if bcs is not None:
        facts = {(f["model"], f["data"]): f for f in bcs["facts"]}
        summ = summarize(bcs["rows"], keys=("model", "data"))
        ps = {(s["model"], s["data"]): s for s in summ}
        for rec, base in (("r_coast", "coast"), ("r_ista_net_plus", "ista_net_plus")):
            for data in ("100%", "3%"):
                fr, fb = facts[(rec, data)], facts[(base, data)]
                pr, pb = ps[(rec, data)], ps[(base, data)]
                pairs.append({"pair": f"block CS {rec} / {base}", "data": data,
                              "unrolled_ratio": fr["unrolled_params"] / fb["unrolled_params"],
                              "param_ratio": fr["params"] / fb["params"],
                              "time_ratio": fr["train_s"] / fb["train_s"],
                              "psnr_rec": pr["psnr"], "psnr_base": pb["psnr"],
                              "ssim_rec": pr["ssim"], "ssim_base": pb["ssim"],
                              "dpsnr": pr["psnr"] - pb["psnr"]})
    return pairs


def e3_targets(pairs: list[dict]) -> list[dict]:
    """E3 targets per pair."""
    out = []
    for p in pairs:
        name = f"{p['pair']} ({p['data']} data)"
        if p["data"] == "100%":
            out.append({"target": f"E3 {name}: unrolled params ≤ 35 %",
                        "measured": f"{p['unrolled_ratio']:.1%} (whole model "
                                    f"{p['param_ratio']:.1%})",
                        "ok": p["unrolled_ratio"] <= 0.35})
            out.append({"target": f"E3 {name}: PSNR loss ≤ 0.3 dB",
                        "measured": f"{p['dpsnr']:+.2f} dB", "ok": p["dpsnr"] >= -0.3})
            out.append({"target": f"E3 {name}: ≥ 20 % less training time",
                        "measured": f"time ratio {p['time_ratio']:.2f}",
                        "ok": p["time_ratio"] <= 0.8})
        else:
            out.append({"target": f"E3 {name}: no PSNR loss",
                        "measured": f"{p['dpsnr']:+.2f} dB", "ok": p["dpsnr"] >= 0.0})
    return out
