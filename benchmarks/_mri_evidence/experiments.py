"""E1 (one model across patterns), E2 (zero-shot resolution) and the MRI half of E3."""

from __future__ import annotations

from .evaluation import CLASSICAL, classical, evaluate_setting, model_method, tune_classical
from .mri_data import TEST_IMAGES, fov_object, object_pool
from .scales import Scale
from .training import train_mri

__all__ = ["run_e1", "run_e2", "run_e3_sweep", "e1_settings"]


def e1_settings(scale: Scale) -> tuple[list, list]:
    """``(seen, unseen)`` settings ``(kind, pattern, acceleration)``."""
    seen = [("cart", p, a) for p in scale.e1_patterns for a in (4.0, 8.0)]
    unseen = [(kind, name, acc) for _, kind, name, acc in scale.unseen]
    return seen, unseen


def label_of(setting) -> str:
    kind, name, acc = setting
    return f"{'radial_nufft' if kind == 'noncart' else name} {acc:g}x"


def run_e1(scale: Scale, log) -> dict:
    """Train the E1 models, tune the classical weights, test every setting."""
    shape = (scale.size, scale.size)
    pool = object_pool(scale.pool, shape, scale.coils, "train", seed=0)
    val = object_pool(scale.n_val, shape, scale.coils, "val", seed=0)
    test = object_pool(scale.n_test, shape, scale.coils, "test", seed=0)
    seen, unseen = e1_settings(scale)
    mix = [(p, a) for _, p, a in seen]
    models = {}
    for label, cfg in (("varnet (mixture)", "mri_e1_varnet"), ("unified", "mri_e1_unified"),
                       ("r_unified", "mri_e1_r_unified")):
        models[label] = train_mri(label, cfg, scale, pool, mix)
        log(f"E1 trained {label}: {models[label].train_s:.1f} s")
    for p in scale.per_pattern:
        label = f"varnet ({p})"
        models[label] = train_mri(label, "mri_e1_varnet", scale, pool,
                                  [(p, 4.0), (p, 8.0)])
        log(f"E1 trained {label}: {models[label].train_s:.1f} s")
    tune_settings = [s for s in seen if s[2] == 4.0][:2] + [s for s in seen if s[2] == 8.0][-1:]
    if scale.max_iter is not None:
        import discofold.solvers.pipeline as rm  # smoke: fewer solver iterations

        params = {m: {**rm.load_params("mri", m), "max_iter": scale.max_iter}
                  for m in CLASSICAL}
        tuned, tune_rows = params, []
    else:
        tuned, tune_rows = tune_classical(val, tune_settings, scale.tune_grid)
    log("E1 classical weights tuned on the validation split")
    methods = {"zero-filled": classical("zf", {})}
    methods.update({name: classical(m, tuned[m]) for m, name in
                    zip(CLASSICAL, ("CG-SENSE", "FISTA-wavelet", "TV"))})
    methods.update({k: model_method(v.model) for k, v in models.items()})
    rows, examples = [], {}
    for s in seen + unseen:
        for r in evaluate_setting(methods, test, s, label_of(s), examples):
            r["seen"] = s in seen
            rows.append(r)
        log(f"E1 tested {label_of(s)}")
    return {"rows": rows, "models": models, "examples": examples, "tuned": tuned,
            "tune_rows": tune_rows, "seen": [label_of(s) for s in seen],
            "unseen": [label_of(s) for s in unseen], "test_sources": [o.source for o in test]}


E2_SETTINGS = (("cart", "random", 4.0), ("cart", "poisson_2d", 4.0))


def run_e2(scale: Scale, e1: dict, log) -> dict:
    """Zero-shot resolution: the 64-px models at larger matrices (same FOV / larger FOV)."""
    models = {"unified (trained 64)": e1["models"]["unified"],
              "varnet (trained 64)": e1["models"]["varnet (mixture)"]}
    mix = [(p, a) for p in scale.e1_patterns for a in (4.0, 8.0)]
    rows, examples, native = [], {}, {}
    names = TEST_IMAGES[:max(1, min(len(TEST_IMAGES), scale.n_test // 2))]
    for n in scale.e2_sizes:
        methods = {"zero-filled": classical("zf", {})}
        methods.update({k: model_method(m.model) for k, m in models.items()})
        if n in scale.e2_native:
            pool = object_pool(scale.pool, (n, n), scale.coils, "train", seed=0)
            label = f"unified (trained {n})"
            native[n] = train_mri(label, "mri_e2_unified_native", scale, pool, mix)
            methods[label] = model_method(native[n].model)
            log(f"E2 trained {label}: {native[n].train_s:.1f} s")
        for mode in ("sr", "fov"):
            objs = [fov_object(nm, scale.size, n, mode, scale.coils, seed=k)
                    for k, nm in enumerate(names)]
            for s in E2_SETTINGS:
                label = f"{n}px {mode} {s[1]} {s[2]:g}x"
                for r in evaluate_setting(methods, objs, s, label, examples):
                    rows.append({**r, "size": n, "mode": mode})
            log(f"E2 tested {n} px {mode}")
    return {"rows": rows, "examples": examples, "native": native}


def run_e3_sweep(scale: Scale, e1: dict, log) -> list[dict]:
    """``r_unified`` tested with 1 .. 2·R_max recursions per stage on two seen settings."""
    model = e1["models"]["r_unified"].model
    r_max = model.unrolled.r_max
    test = object_pool(scale.n_test, (scale.size, scale.size), scale.coils, "test", seed=0)
    seen, _ = e1_settings(scale)
    settings = [seen[0], seen[-1]]
    rows = []
    for r in range(1, 2 * r_max + 1):
        model.set_recursions(r)
        for s in settings:
            for row in evaluate_setting({"r_unified": model_method(model)}, test, s,
                                        label_of(s)):
                rows.append({**row, "R": r})
    model.set_recursions(r_max)
    log("E3 recursion sweep done")
    return rows
