"""MRI evaluation: per-volume fastMRI metrics of a model, zero-filling and classical baselines.

For every setting ``(pattern, acceleration)`` and every slice ``i`` of a volume ``name``, the
mask is ``make_mask(pattern, (H, W), acceleration, generator=seed_from(name, i))`` (fastMRI's
repeatable evaluation masks); a file that is already undersampled (it has a ``mask`` or a
``trajectory``) is evaluated once under its own sampling instead.  Every method reconstructs
the same measurements:

- ``zf`` and the classical baselines run :func:`discofold.solvers.pipeline.recon_mri_slice`
  (the ``discofold recon`` pipeline, tuned weights from ``baselines_tuned.json``);
- the model is called as ``model(y, op, meta)`` with ``op`` the ``CartesianMRI`` of the mask and
  coil maps estimated from the calibration region (as for file training), and the magnitude of
  its output is centre-cropped to the target.

NMSE, PSNR and SSIM are computed per VOLUME (``reduction="volume"``, data range = volume
maximum of the target) with :mod:`discofold.metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import nn

from ..data.fastmri import MRISlice
from ..errors import InputError
from ..inference import model_recon_mri, mri_record_meta
from ..metrics import nmse, psnr, ssim
from ..sampling import make_mask, seed_from
from ..solvers.pipeline import METHODS_FOR, load_params, recon_mri_slice
from ._data import EvalData
from ._result import EvalResult, Example, model_label, settings_of, timed

__all__ = ["evaluate_mri", "undersample_slice", "model_recon_mri"]

_STORED = "stored"


def _stored(sl: MRISlice) -> bool:
    return sl.trajectory is not None or (sl.mask is not None and not bool(sl.mask.all()))


def undersample_slice(sl: MRISlice, pattern: str, acceleration: float | None
                      ) -> tuple[MRISlice, dict]:
    """The slice under the evaluation mask of ``(pattern, acceleration)`` and its meta.

    The mask is seeded from ``(sl.file, sl.slice_index)``; a slice already undersampled (file
    mask or trajectory) is returned unchanged with ``pattern`` from its attrs.

    Returns
    -------
    slice : MRISlice with ``mask`` ``(W,)`` or ``(H, W)`` and zeros outside it
    meta : dict ``pattern``, ``true_acceleration``, ``num_low_frequencies``
    """
    if _stored(sl):
        return sl, mri_record_meta(sl)
    g = torch.Generator().manual_seed(seed_from(sl.file, sl.slice_index))
    pat = make_mask(pattern, tuple(sl.matrix), acceleration, generator=g)
    mask = pat.mask.to(torch.bool)
    kmask = mask if mask.ndim == 2 else mask[None, :]
    out = replace(sl, kspace=(sl.kspace * kmask).to(torch.complex64), mask=mask)
    return out, {"pattern": pat.name, "true_acceleration": float(pat.acceleration),
                 "num_low_frequencies": int(pat.num_low_frequencies)}


def _methods(model: nn.Module | None, label: str | None, baselines: Sequence[str]):
    """``[(method, kind)]`` in table order: zero-filled, baselines, model."""
    bad = [b for b in baselines if b not in METHODS_FOR["mri"] or b == "zf"]
    if bad:
        raise InputError(f"MRI baseline(s) {bad} unknown; valid: "
                         f"{', '.join(m for m in METHODS_FOR['mri'] if m != 'zf')}")
    out = [("zf", "zero-filled")] + [(b, "baseline") for b in dict.fromkeys(baselines)]
    name = model_label(model, label)
    return out + ([(name, "model")] if name else [])


def _volume_rows(vol, setting, methods, recon, example_slice: int | None):
    """Rows of one volume under one setting, and the example images of slice ``example_slice``."""
    per = {m: [] for m, _ in methods}
    times = {m: 0.0 for m, _ in methods}
    targets, accs, example, meta = [], [], None, {}
    for i in range(vol.length):
        raw = vol.read(i)
        if _stored(raw) != (setting[0] == _STORED):
            raise InputError(f"'{vol.name}' slice {i} is {'' if _stored(raw) else 'not '}"
                             "undersampled unlike the first file: evaluate fully sampled and "
                             "undersampled files in separate runs")
        sl, meta = undersample_slice(raw, *setting)
        targets.append(sl.target.float())
        accs.append(meta["true_acceleration"])
        for m, kind in methods:
            img, dt = timed(recon, m, kind, sl, meta)
            per[m].append(img)
            times[m] += dt
        if i == example_slice:
            example = Example(meta["pattern"], setting[1], vol.name, i, targets[-1],
                              {m: per[m][-1] for m, _ in methods},
                              true_acceleration=meta["true_acceleration"], mask=sl.mask)
    target = torch.stack(targets)
    rows = []
    for m, kind in methods:
        pred = torch.stack(per[m])
        rows.append({"family": "mri", "pattern": meta["pattern"], "acceleration": setting[1],
                     "true_acceleration": sum(accs) / len(accs), "method": m, "kind": kind,
                     "volume": vol.name, "n_images": vol.length,
                     "nmse": nmse(target, pred), "psnr": psnr(target, pred),
                     "ssim": ssim(target, pred), "runtime_s": times[m] / vol.length})
    return rows, example


def evaluate_mri(model: nn.Module | None, data: EvalData,
                 patterns: Sequence[str] = ("equispaced",),
                 accelerations: Sequence[float] = (4.0,),
                 baselines: Sequence[str] = ("cg",), *, label: str | None = None,
                 device: torch.device | str = "cpu", params_file=None,
                 progress=None) -> EvalResult:
    """Evaluate a model (or only zero-filling and baselines) on MRI data.

    Parameters
    ----------
    model : nn.Module or None
        Called as ``model(y, op, meta)``; ``None`` evaluates zero-filling and baselines only.
    data : EvalData
        From :func:`discofold.evaluate.load_data` (family ``"mri"``).
    patterns, accelerations : every pair is one setting (ignored for undersampled files)
    baselines : names among ``cg``, ``fista``, ``tv`` (tuned weights of ``recon``)
    label : str, optional
        Method name of the model in the tables (default: its class name).
    device : the model's device
    params_file : path, optional
        Tuned-weights JSON (default ``discofold/configs/baselines_tuned.json``).
    progress : callable ``(iterable, total, desc) -> iterable``, optional
        Progress-bar wrapper over volumes.

    Returns
    -------
    EvalResult
        One row per (setting, method, volume); one example (middle slice of the first volume)
        per setting.
    """
    if data.family != "mri":
        raise InputError(f"evaluate_mri: data '{data.source}' is {data.family}, not MRI")
    methods = _methods(model, label, baselines)
    params = {b: load_params("mri", b, params_file) for b, k in methods if k == "baseline"}
    if model is not None:
        model.eval()

    def recon(m, kind, sl, meta):
        if kind == "model":
            return model_recon_mri(model, sl, meta, device)
        return recon_mri_slice(sl, m, params.get(m, {}), _dcf(sl))

    stored = _stored(data.volumes[0].read(0))
    settings = [(_STORED, None)] if stored else settings_of(patterns, accelerations)
    sl0, meta0 = undersample_slice(data.volumes[0].read(0), *settings[0])
    for m, kind in methods:  # warm-up (caches, first-call costs) outside the timings
        recon(m, kind, sl0, meta0)
    rows, examples = [], []
    for setting in settings:
        vols = data.volumes if progress is None else progress(
            data.volumes, len(data.volumes), f"{setting[0]} x{setting[1]}")
        for k, vol in enumerate(vols):
            r, ex = _volume_rows(vol, setting, methods, recon, vol.length // 2 if k == 0 else None)
            rows += r
            if ex is not None:
                examples.append(ex)
    info = {"family": "mri", "data": data.source, "model": model_label(model, label),
            "baselines": list(dict.fromkeys(baselines)), "baseline_params": params,
            "settings": [list(s) for s in settings]}
    return EvalResult("mri", rows, examples, info)


def _dcf(sl: MRISlice):
    if sl.trajectory is None:
        return None
    from ..operators import pipe_menon_dcf

    return pipe_menon_dcf(sl.trajectory, sl.matrix)
