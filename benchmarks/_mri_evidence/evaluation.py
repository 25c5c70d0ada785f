"""Evaluation of reconstruction methods on held-out objects: per-image PSNR/SSIM/time rows.

Every method of a setting sees exactly the same measurements (masks and noise seeded from
``(seed, setting, image)``).  PSNR and SSIM follow fastMRI (peak = the target's maximum).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from discofold.metrics import psnr, ssim
from discofold.sampling import seed_from
from discofold.solvers.pipeline import load_params, reconstruct

from .mri_data import MRIObject, cartesian_batch, noncartesian_case

__all__ = ["classical", "model_method", "evaluate_setting", "tune_classical", "summarize",
           "CLASSICAL"]

CLASSICAL = ("cg", "fista", "tv")


def classical(method: str, params: dict) -> Callable:
    """``f(y, op, meta) -> image`` running ``reconstruct`` with ``params``."""
    return lambda y, op, meta: reconstruct(y, op, method, params)


def model_method(model) -> Callable:
    """``f(y, op, meta) -> image`` of a trained model (no gradients)."""
    def run(y, op, meta):
        with torch.no_grad():
            return model(y, op, meta)
    return run


def _case(obj: MRIObject, setting, key: str):
    kind, name, acc = setting
    g = torch.Generator().manual_seed(seed_from(key, 0))
    if kind == "noncart":
        return noncartesian_case(obj, acc, g)
    y, op, meta, target, mask = cartesian_batch([obj], (name, acc), g)
    return y, op, meta, target


def evaluate_setting(methods: dict, objs: list[MRIObject], setting, label: str,
                     examples: dict | None = None) -> list[dict]:
    """Rows ``{setting, method, image, psnr, ssim, time_s}`` for every method and object.

    ``setting`` = ``(kind, pattern, acceleration)`` with kind ``"cart"``/``"noncart"``;
    ``examples`` (optional) receives the images of the first object per method.
    """
    rows = []
    for i, obj in enumerate(objs):
        y, op, meta, target = _case(obj, setting, f"{label}/{i}")
        tgt = target[0]
        for name, fn in methods.items():
            t0 = time.perf_counter()
            x = fn(y, op, meta)
            dt = time.perf_counter() - t0
            mag = x[0].abs().float()
            rows.append({"setting": label, "method": name, "image": i, "source": obj.source,
                         "psnr": psnr(tgt, mag), "ssim": ssim(tgt[None], mag[None]),
                         "time_s": dt})
            if examples is not None and i == 0:
                examples.setdefault(label, {"target": tgt})[name] = mag
    return rows


def tune_classical(objs: list[MRIObject], settings, grid) -> tuple[dict, list[dict]]:
    """Best multiplier of each classical method's stored weights on validation objects.

    Returns ``({method: params}, rows)`` with one row per (method, multiplier): mean PSNR.
    """
    best, table = {}, []
    for method in CLASSICAL:
        base = load_params("mri", method)
        scored = []
        for mult in grid:
            params = {k: (v * mult if k in ("lam", "lam_l1") else v) for k, v in base.items()}
            rows = []
            for s in settings:
                rows += evaluate_setting({method: classical(method, params)}, objs, s,
                                         f"val:{s[1]}x{s[2]:g}")
            score = statistics.fmean(r["psnr"] for r in rows)
            scored.append((score, mult, params))
            table.append({"method": method, "multiplier": mult,
                          "lam": params.get("lam"), "val_psnr": score})
        best[method] = max(scored, key=lambda t: t[0])[2]
    return best, table


def summarize(rows: list[dict], keys=("setting", "method")) -> list[dict]:
    """Mean ± std (over images) of PSNR, SSIM and time per ``keys`` group, in first-seen order."""
    groups: dict = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    out = []
    for key, rs in groups.items():
        row = dict(zip(keys, key))
        for m in ("psnr", "ssim", "time_s"):
            vals = [r[m] for r in rs if m in r]
            if not vals:
                continue
            row[m] = statistics.fmean(vals)
            row[m + "_std"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
        row["n"] = len(rs)
        out.append(row)
    return out
