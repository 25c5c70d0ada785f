"""The experiments of the radar evidence run: tables as lists of dict rows."""

from __future__ import annotations

import math
import statistics
import time

import torch

from discofold.data import point_scene
from discofold.data.radar_scenes import RadarScene
from discofold.data.radar_sim import RadarGeometry, add_noise, echo_from_scatterers
from discofold.metrics import (
    detect_scatterers,
    image_contrast,
    image_entropy,
    radar_correlation,
    radar_nmse_db,
    radar_psnr,
    radar_ssim,
)
from discofold.operators import PolarRadar
from discofold.sampling import make_mask

from .methods import CLASSICAL, Sample, make_samples, run_classical, run_learned
from .scales import GeoSpec, full_circle_geometry, geometry

__all__ = ["Runner", "nmse", "metrics_row"]

TEST_SEED, VAL_SEED = 7000, 9000


def nmse(target, image) -> float:
    return float(radar_nmse_db(target, image))


def metrics_row(sample: Sample, image: torch.Tensor) -> dict:
    """Every image metric of the issue for one reconstruction."""
    op = sample.op(mask=False)
    det = detect_scatterers(image, sample.scatterers, op.pixel_size_m, op.resolution_m)
    return {"nmse_db": nmse(sample.target, image),
            "psnr_db": float(radar_psnr(sample.target, image)),
            "ssim": float(radar_ssim(sample.target, image)),
            "corr": float(radar_correlation(sample.target, image)),
            "entropy": float(image_entropy(image)), "contrast": float(image_contrast(image)),
            "pd": float(det["pd"]), "false_alarms": float(det["false_alarms"]),
            "pos_err_cells": float(det["rmse_cells"])}


class Runner:
    """Holds a scale, the tuned classical weights and the trained models; runs the parts."""

    def __init__(self, scale: dict, models: dict, tuned: dict):
        self.s = scale
        self.models = models  # (name, GeoSpec) -> (model, info)
        self.tuned = tuned  # preset -> method -> params
        self.images: dict = {}

    # ------------------------------------------------------------------ helpers
    def methods(self, spec: GeoSpec, omp: bool, learned=None) -> dict:
        """name -> callable(sample) -> image, for a geometry spec."""
        tuned = self.tuned[spec.preset]
        out = {m: (lambda s, m=m: run_classical(s, m, tuned.get(m))) for m in
               ("rd", "pfa", "zf", "fista", "tv")}
        if omp:
            out["omp"] = lambda s: run_classical(s, "omp", tuned.get("omp"))
        for (name, mspec), (model, _) in self.models.items():
            if mspec == spec and (learned is None or name in learned):
                out[name] = lambda s, model=model: run_learned(model, s)
        return out

    def evaluate(self, samples, methods: dict, tag: dict, keep: str | None = None) -> list:
        rows = []
        for i, smp in enumerate(samples):
            for name, fn in methods.items():
                if i == 0 and name not in CLASSICAL:
                    fn(smp)  # warm-up outside the timing (DISCO plans are built once per grid)
                t0 = time.perf_counter()
                img = fn(smp)
                dt = time.perf_counter() - t0
                rows.append({**tag, "method": name, "image": i, "runtime_s": dt,
                             **metrics_row(smp, img)})
                if keep and i == 0:
                    self.images.setdefault(keep, {"reference": smp.target})[name] = img
            print(f"  {tag} image {i + 1}/{len(samples)}", flush=True)
        return rows

    # ------------------------------------------------------------------ parts
    def main_tables(self) -> list:
        s, rows = self.s, []
        for key, omp in (("s0", True), ("s2", False)):
            spec = s[key]
            geo = geometry(spec)
            scenes = s["scenes"] if key == "s0" else ("satellite",)
            for scene in scenes:
                smp = make_samples(geo, scene, s["n_test"], "random_pulses", 4.0, 10.0,
                                   TEST_SEED)
                keep = f"{spec.preset}" if scene == "satellite" else None
                tag = {"geometry": spec.label, "scene": scene, "aperture": "random_pulses",
                       "ratio": 0.25, "snr_db": 10.0}
                rows += self.evaluate(smp, self.methods(spec, omp), tag, keep)
        return rows

    def sweeps(self) -> list:
        s, rows = self.s, []
        spec = s["s0"]
        geo, meths = geometry(spec), self.methods(spec, omp=False)
        settings = [("ratio", "random_pulses", r, 10.0) for r in s["ratios"]]
        settings += [("snr", "random_pulses", 4.0, snr) for snr in s["snrs"]]
        settings += [("aperture", ap, 4.0, 10.0) for ap in s["apertures"]]
        for sweep, ap, acc, snr in settings:
            smp = make_samples(geo, "satellite", s["n_sweep"], ap, acc, snr, TEST_SEED + 1)
            tag = {"sweep": sweep, "geometry": spec.label, "aperture": ap,
                   "ratio": 1.0 / acc, "snr_db": snr}
            rows += self.evaluate(smp, meths, tag)
        return rows

    def t1(self, low: GeoSpec, native: GeoSpec) -> list:
        s, rows = self.s, []
        for n in s["t1_test"]:
            spec = GeoSpec(native.preset, native.window, n)
            smp = make_samples(geometry(spec), "satellite", s["n_sweep"], "random_pulses",
                               4.0, 10.0, TEST_SEED + 2)
            fista = self.tuned[spec.preset].get("fista")
            meths = {"fista": lambda x, p=fista: run_classical(x, "fista", p)}
            for label, mspec in ((f"trained at {low.image} px", low),
                                 (f"trained at {native.image} px (native)", native)):
                model = self.models[("unified_radar", mspec)][0]
                meths[f"unified_radar, {label}"] = lambda x, m=model: run_learned(m, x)
            rows += self.evaluate(smp, meths, {"test_grid": n, "geometry": spec.label})
        return rows

    def t2(self, s1: GeoSpec, s2: GeoSpec) -> list:
        s = self.s
        smp = make_samples(geometry(s2), "satellite", s["n_sweep"], "random_pulses", 4.0,
                           10.0, TEST_SEED + 3)
        meths = {"fista": lambda x: run_classical(x, "fista", self.tuned["S2"].get("fista")),
                 "rd": lambda x: run_classical(x, "rd")}
        for label, spec in ((f"unified_radar trained on {s1.preset}", s1),
                            (f"unified_radar trained on {s2.preset} (native)", s2)):
            model = self.models[("unified_radar", spec)][0]
            meths[label] = lambda x, m=model: run_learned(m, x)
        return self.evaluate(smp, meths, {"geometry": s2.label})

    def mismatch(self) -> list:
        s, rows = self.s, []
        spec = s["s0"]
        geo = geometry(spec)
        meths = self.methods(spec, omp=False)
        for label, fn in list(_perturbations(geo).items())[:s["perturbations"]]:
            smp = make_samples(geo, "satellite", s["n_sweep"], "random_pulses", 4.0, 10.0,
                               TEST_SEED + 4, echo_fn=fn)
            rows += self.evaluate(smp, meths, {"perturbation": label})
        return rows

    def rotation(self, model) -> tuple[list, list]:
        """Joint rotation (fan equivariance, whole pipeline) and target-only rotation rows."""
        return _joint_rotation(self.s, model), _target_rotation(self.s)


# ---------------------------------------------------------------------- mismatch
def _perturbed_echo(angle_fn=None, phase_std: float = 0.0, snr_db: float = 10.0):
    def fn(scene: RadarScene, geo: RadarGeometry, mask, gen):
        ang = geo.angles_rad if angle_fn is None else angle_fn(geo.angles_rad)
        y = echo_from_scatterers(scene.scatterers, ang, geo.frequencies_hz, scene.gains(ang))
        if phase_std:
            ph = torch.randn(ang.numel(), generator=gen, dtype=torch.float64) * phase_std
            y = y * torch.polar(torch.ones_like(ph), ph)[:, None]
        return add_noise(y, snr_db, gen, mask)
    return fn


def _perturbations(geo: RadarGeometry) -> dict:
    half = float(geo.angles_rad.abs().max())
    out = {"none": _perturbed_echo()}
    for e in (-0.05, -0.02, 0.02, 0.05):
        out[f"rotation rate {e:+.0%}"] = _perturbed_echo(lambda a, e=e: a * (1 + e))
    out["per-pulse phase error, std 0.3 rad"] = _perturbed_echo(phase_std=0.3)
    out["non-uniform rotation (rate ±10 % linear over the aperture)"] = _perturbed_echo(
        lambda a: a + 0.05 * a * a / half)
    return out


# ---------------------------------------------------------------------- rotation
def _roll_op(geo: RadarGeometry, mask) -> PolarRadar:
    return PolarRadar(geo.angles_rad, geo.frequencies_hz, geo.image_shape, geo.extent_m,
                      mask=mask[None])


def _joint_rotation(s: dict, model) -> list:
    pulses, freqs, image, window = s["rot_circle"]
    geo = full_circle_geometry(pulses, freqs, image, window)
    gen = torch.Generator().manual_seed(TEST_SEED + 5)
    scene = point_scene(gen, radius_m=0.35 * window, num_range=(5, 15))
    clean = echo_from_scatterers(scene.scatterers, geo.angles_rad, geo.frequencies_hz)
    mask = make_mask("random_pulses", geo.data_shape, 4.0, generator=gen).mask.to(torch.bool)
    y = (clean * mask).to(torch.complex64)
    full = PolarRadar(geo.angles_rad, geo.frequencies_hz, geo.image_shape, geo.extent_m)
    meta = {"pattern": "random_pulses"}
    with torch.no_grad():
        fan0 = model.fan(y[None], _roll_op(geo, mask))[0]
        img0 = model(y[None], _roll_op(geo, mask), meta)[0]
        ref0 = full.reference_image(clean.to(torch.complex64))
    rows = []
    step = 360.0 / pulses
    for deg in s["rot_angles"]:
        k = round(deg / step)
        yk, mk = torch.roll(y, k, dims=0), torch.roll(mask, k, dims=0)
        with torch.no_grad():
            fan_k = model.fan(yk[None], _roll_op(geo, mk))[0]
            img_k = model(yk[None], _roll_op(geo, mk), meta)[0]
            ref_k = full.reference_image(torch.roll(clean, k, dims=0).to(torch.complex64))
        row = {"angle_deg": deg, "shift_samples": k,
               "fan_equivariance_rel_err": _rel(fan_k, torch.roll(fan0, k, dims=0)),
               "pipeline_nmse_db_vs_reference": nmse(ref_k, img_k),
               "pipeline_nmse_db_at_0": nmse(ref0, img0)}
        if deg % 90 == 0:
            q = int(deg // 90)
            row["reference_rot90_rel_err"] = _rel(ref_k, torch.rot90(ref0, q, dims=(0, 1)))
            row["pipeline_rot90_rel_err"] = _rel(img_k, torch.rot90(img0, q, dims=(0, 1)))
        rows.append(row)
    return rows


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().norm() / b.abs().norm().clamp_min(1e-30))


def _rotate(scatterers: torch.Tensor, deg: float) -> torch.Tensor:
    c, s_ = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    out = scatterers.clone()
    out[:, 0] = c * scatterers[:, 0] - s_ * scatterers[:, 1]
    out[:, 1] = s_ * scatterers[:, 0] + c * scatterers[:, 1]
    return out


def _target_rotation(s: dict) -> list:
    rows = []
    spec2 = s["s2"]
    for spec in (spec2, GeoSpec("S4", spec2.window, spec2.image)):
        geo = geometry(spec)
        gen = torch.Generator().manual_seed(TEST_SEED + 6)
        sc = point_scene(gen, radius_m=0.4 * spec.window, num_range=(5, 15)).scatterers
        base = echo_from_scatterers(sc, geo.angles_rad, geo.frequencies_hz)
        for deg in s["target_angles"]:
            rot = math.radians(deg)
            joint = PolarRadar(geo.angles_rad + rot, geo.frequencies_hz, geo.image_shape,
                               geo.extent_m).reference_image(base.to(torch.complex64))
            op = PolarRadar(geo.angles_rad, geo.frequencies_hz, geo.image_shape, geo.extent_m)
            y_t = echo_from_scatterers(_rotate(sc, deg), geo.angles_rad, geo.frequencies_hz)
            target_only = op.reference_image(y_t.to(torch.complex64))
            rows.append({"geometry": spec.label, "angle_deg": deg,
                         "aperture_deg": round(math.degrees(float(
                             geo.angles_rad[-1] - geo.angles_rad[0])), 2),
                         "nmse_db_target_only_vs_rotated_image": nmse(joint, target_only)})
    return rows


def summarise(rows: list, keys: tuple, metrics: tuple) -> list:
    """Mean ± std (population) of ``metrics`` grouped by ``keys``; runtime as the median."""
    groups: dict = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    out = []
    for key, items in groups.items():
        row = dict(zip(keys, key))
        row["n"] = len(items)
        for m in metrics:
            vals = [float(r[m]) for r in items if not math.isnan(float(r[m]))]
            if m == "runtime_s":
                row["runtime_s_median"] = statistics.median(vals) if vals else math.nan
                continue
            row[f"{m}_mean"] = statistics.fmean(vals) if vals else math.nan
            row[f"{m}_std"] = statistics.pstdev(vals) if len(vals) > 1 else 0.0
        out.append(row)
    return out
