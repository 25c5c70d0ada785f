"""Tuning of the classical baselines and training of the learned models."""

from __future__ import annotations

import time
from pathlib import Path

from discofold.models import count_parameters
from discofold.train import load_config

from .experiments import VAL_SEED, nmse
from .methods import build_model, make_samples, train_model, tune
from .scales import GeoSpec, geometry, model_args

__all__ = ["tune_baselines", "train_all", "config_for"]

_CONFIGS = Path(__file__).resolve().parents[2] / "discofold" / "configs"


def config_for(name: str):
    """The :class:`discofold.train.Config` of ``discofold/configs/radar_e_<name>.toml``."""
    return load_config(str(_CONFIGS / f"radar_e_{name}.toml"))


def tune_baselines(s: dict) -> tuple[dict, list]:
    """Validation-split grid search per preset (25 % random pulses, 10 dB, satellites)."""
    tuned, table = {}, []
    for key in ("s0", "s2"):
        spec = s[key]
        val = make_samples(geometry(spec), "satellite", s["n_val"], "random_pulses", 4.0,
                           10.0, VAL_SEED)
        it = s["max_iter"]
        grids = {"fista": [{"lam": v, "max_iter": it} for v in s["fista_grid"]],
                 "tv": [{"lam": a, "lam_l1": b, "max_iter": it} for a, b in s["tv_grid"]]}
        if key == "s0":
            grids["omp"] = [{"n_atoms": n} for n in s["omp_grid"]]
        tuned[spec.preset] = {}
        for method, grid in grids.items():
            best, rows = tune(val, method, grid, nmse)
            tuned[spec.preset][method] = best
            table += [{"geometry": spec.label, "method": method, "params": str(p),
                       "val_nmse_db": v, "chosen": p == best} for p, v in rows]
            print(f"tuned {spec.label} {method}: {best}", flush=True)
    return tuned, table


def _jobs(s: dict) -> list[tuple[str, GeoSpec]]:
    s0, s1, s2 = s["s0"], s["s1"], s["s2"]
    jobs = [(n, s0) for n in ("ista_net_radar", "pfa_unet", "unified_radar", "r_unified_radar")]
    jobs += [(n, s2) for n in s["s2_models"]]
    jobs.append(("unified_radar", GeoSpec(s0.preset, s0.window, s["t1_low"])))  # T1
    jobs.append(("unified_radar", s1))  # T2
    return list(dict.fromkeys(jobs))


def train_all(s: dict) -> tuple[dict, list]:
    """Train every model of the scale: ``{(name, spec): (model, info)}`` and log rows."""
    models, log = {}, []
    for name, spec in _jobs(s):
        cfg = config_for(name).train
        fast = name in ("ista_net_radar", "pfa_unet")
        steps = s["fast_steps"] if fast else s["steps"]
        geo = geometry(spec)
        pool = []
        combos = [(k, scene, j, acc) for k, scene in enumerate(("satellite", "points"))
                  for j, acc in enumerate((2.0, 4.0, 8.0))]
        for c, (k, scene, j, acc) in enumerate(combos[:s["n_pool"]]):
            n = max(1, s["n_pool"] // 6) + (c < s["n_pool"] % 6 if s["n_pool"] > 6 else 0)
            pool += make_samples(geo, scene, n, ["random_pulses", "gaps", "periodic"], acc,
                                 (0.0, 10.0, 20.0)[(j + k) % 3], 100 + 10 * k + j)
        args = model_args(name, s["size"], spec)
        model = build_model(name, args, seed=0)
        t0 = time.perf_counter()
        rows = train_model(model, pool, steps, s["batch"], float(cfg.lr), seed=0)
        info = {"model": name, "geometry": spec.label, "steps": steps, "batch": s["batch"],
                "lr": cfg.lr, "pool": len(pool), "params": count_parameters(model),
                "train_s": time.perf_counter() - t0, "first_loss": rows[0][1],
                "last_loss": rows[-1][1], "args": str(args)}
        models[(name, spec)] = (model, info)
        log.append(info)
        print(f"trained {name} on {spec.label}: {info['train_s']:.0f} s, loss "
              f"{info['first_loss']:.3f} -> {info['last_loss']:.3f}", flush=True)
    return models, log
