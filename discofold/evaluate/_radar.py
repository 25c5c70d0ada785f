"""Radar evaluation: the radar metrics of a model, the density-compensated adjoint and baselines.

For every setting ``(pattern, acceleration)`` and frame ``i`` of a volume (file) ``name``, the
aperture is ``make_mask(pattern, (P, F), acceleration, generator=seed_from(name, i))``; a file
whose stored ``mask`` already drops samples is evaluated once under it.  The reference is the
file's ``reference_image`` (the full-aperture image of DESIGN.md).

Per frame (:mod:`discofold.metrics`, reference first): ``nmse_db`` (:func:`radar_nmse_db`),
``psnr`` (:func:`radar_psnr`), ``ssim`` (:func:`radar_ssim`, dB magnitudes over
:data:`DYNAMIC_RANGE_DB`), ``correlation`` (:func:`radar_correlation`), and the reference-free
``entropy`` (:func:`image_entropy`, nats, lower = more focused) and ``contrast``
(:func:`image_contrast`) of the estimate.  The reference-based metrics fit a least-squares
complex scale first, so the arbitrary scale of an adjoint does not count against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import nn

from ..data.radar_io import RadarFrame
from ..errors import InputError
from ..inference import model_recon_radar, radar_record_meta
from ..metrics import (
    image_contrast,
    image_entropy,
    radar_correlation,
    radar_nmse_db,
    radar_psnr,
    radar_ssim,
)
from ..sampling import make_mask, seed_from
from ..solvers.pipeline import METHODS_FOR, load_params, radar_operator, recon_radar_frame
from ._data import EvalData
from ._result import EvalResult, Example, model_label, settings_of, timed

__all__ = ["evaluate_radar", "undersample_frame", "model_recon_radar", "radar_metrics",
           "DYNAMIC_RANGE_DB"]

#: dynamic range (dB below the reference peak) of radar SSIM and of the radar figures
DYNAMIC_RANGE_DB = 40.0
_STORED = "stored"


def _stored(fr: RadarFrame) -> bool:
    return fr.mask is not None and not bool(fr.mask.all())


def undersample_frame(fr: RadarFrame, pattern: str, acceleration: float | None, name: str,
                      index: int) -> tuple[RadarFrame, dict]:
    """The frame under the aperture of ``(pattern, acceleration)`` seeded from ``(name, index)``
    (unchanged when its stored mask is already sparse), and its meta (``pattern``,
    ``true_acceleration``)."""
    if _stored(fr):
        return replace(fr, echo=fr.echo * fr.mask), radar_record_meta(fr)
    g = torch.Generator().manual_seed(seed_from(name, index))
    pat = make_mask(pattern, tuple(fr.echo.shape[-2:]), acceleration, generator=g)
    mask = pat.mask.to(torch.bool)
    return replace(fr, echo=(fr.echo * mask).to(torch.complex64), mask=mask), {
        "pattern": pat.name, "true_acceleration": float(pat.acceleration)}


def radar_metrics(reference: torch.Tensor, estimate: torch.Tensor) -> dict:
    """The per-frame radar metrics of the module docstring (floats)."""
    return {"nmse_db": float(radar_nmse_db(reference, estimate)),
            "psnr": float(radar_psnr(reference, estimate)),
            "ssim": float(radar_ssim(reference, estimate, DYNAMIC_RANGE_DB)),
            "correlation": float(radar_correlation(reference, estimate)),
            "entropy": float(image_entropy(estimate)),
            "contrast": float(image_contrast(estimate))}


def _methods(model, label, baselines: Sequence[str]):
    valid = [m for m in METHODS_FOR["radar"] if m != "zf"]
    bad = [b for b in baselines if b not in valid]
    if bad:
        raise InputError(f"radar baseline(s) {bad} unknown; valid: {', '.join(valid)}")
    out = [("zf", "zero-filled")] + [(b, "baseline") for b in dict.fromkeys(baselines)]
    name = model_label(model, label)
    return out + ([(name, "model")] if name else [])


def _frame_rows(vol, i, setting, methods, recon, keep_example: bool):
    """Rows of frame ``i`` of ``vol`` under ``setting``, and its Example (``None`` unless
    ``keep_example``)."""
    raw = vol.read(i)
    if _stored(raw) != (setting[0] == _STORED):
        raise InputError(f"'{vol.name}' frame {i} {'has' if _stored(raw) else 'lacks'} a sparse "
                         "stored aperture unlike the first frame: evaluate full-aperture and "
                         "sparse files in separate runs")
    fr, meta = undersample_frame(raw, *setting, vol.name, i)
    ref = fr.reference_image.to(torch.complex64)
    rows, images = [], {}
    for m, kind in methods:
        img, dt = timed(recon, m, kind, fr, meta)
        images[m] = img
        rows.append({"family": "radar", "pattern": meta["pattern"], "acceleration": setting[1],
                     "true_acceleration": meta["true_acceleration"], "method": m, "kind": kind,
                     "volume": f"{vol.name}:{i}", "n_images": 1, **radar_metrics(ref, img),
                     "runtime_s": dt})
    if not keep_example:
        return rows, None
    return rows, Example(meta["pattern"], setting[1], vol.name, i, ref, images,
                         true_acceleration=meta["true_acceleration"], mask=fr.mask,
                         pixel_size_m=radar_operator(fr).pixel_size_m)


def evaluate_radar(model: nn.Module | None, data: EvalData,
                   patterns: Sequence[str] = ("random_pulses",),
                   accelerations: Sequence[float] = (2.0,),
                   baselines: Sequence[str] = ("fista",), *, label: str | None = None,
                   device: torch.device | str = "cpu", params_file=None,
                   progress=None) -> EvalResult:
    """Evaluate a radar model (or only the adjoint and baselines) on radar data.

    Parameters
    ----------
    model : nn.Module or None
        Called as ``model(y, op, meta)`` with ``op`` a ``PolarRadar`` of batch 1.
    data : EvalData
        From :func:`discofold.evaluate.load_data` (family ``"radar"``).
    patterns, accelerations : every pair is one setting (aperture names of
        :func:`discofold.sampling.radar_aperture`; ignored for sparse stored masks)
    baselines : names among ``cg``, ``fista``, ``tv``, ``rd``, ``pfa``, ``omp``
    label, device, params_file, progress : as in :func:`evaluate_mri`

    Returns
    -------
    EvalResult
        One row per (setting, method, frame); one example (first frame) per setting.
    """
    if data.family != "radar":
        raise InputError(f"evaluate_radar: data '{data.source}' is {data.family}, not radar")
    methods = _methods(model, label, baselines)
    params = {b: load_params("radar", b, params_file) for b, k in methods if k == "baseline"}
    if model is not None:
        model.eval()

    def recon(m, kind, fr, meta):
        if kind == "model":
            return model_recon_radar(model, fr, meta, device)
        return recon_radar_frame(fr, m, params.get(m, {}))

    stored = _stored(data.volumes[0].read(0))
    settings = [(_STORED, None)] if stored else settings_of(patterns, accelerations)
    v0 = data.volumes[0]
    fr0, meta0 = undersample_frame(v0.read(0), *settings[0], v0.name, 0)
    for m, kind in methods:  # warm-up (caches, first-call costs) outside the timings
        recon(m, kind, fr0, meta0)
    rows, examples = [], []
    for setting in settings:
        items = [(v, i) for v in data.volumes for i in range(v.length)]
        if progress is not None:
            items = progress(items, len(items), f"{setting[0]} x{setting[1]}")
        for k, (vol, i) in enumerate(items):
            r, ex = _frame_rows(vol, i, setting, methods, recon, keep_example=k == 0)
            rows += r
            if ex is not None:
                examples.append(ex)
    info = {"family": "radar", "data": data.source, "model": model_label(model, label),
            "baselines": list(dict.fromkeys(baselines)), "baseline_params": params,
            "settings": [list(s) for s in settings], "dynamic_range_db": DYNAMIC_RANGE_DB}
    return EvalResult("radar", rows, examples, info)
