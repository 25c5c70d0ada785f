"""Measured-data chain: echo matrix (.mat/.npy) → radar HDF5 → images → entropy/contrast.

With no reference image the only quality measures are focus measures: image entropy (lower =
more focused) and contrast (higher = more focused).  See ``docs/radar_measured_data.md``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from discofold.data import RadarH5Reader, convert_measured
from discofold.metrics import image_contrast, image_entropy
from discofold.solvers.pipeline import load_params, recon_radar_frame

from .report import image_grid, md_table, write_csv

__all__ = ["measured_chain"]


def _model_image(checkpoint: str, frame) -> torch.Tensor:
    from discofold.models._meta import AcquisitionMeta
    from discofold.operators import PolarRadar
    from discofold.train import build_from_checkpoint

    model, _, _ = build_from_checkpoint(checkpoint)
    mask = None if frame.mask is None else frame.mask[None]
    op = PolarRadar(frame.angles_rad, frame.frequencies_hz, frame.attrs["image_shape"],
                    frame.attrs["extent_m"], mask=mask)
    with torch.no_grad():
        return model(frame.echo.to(torch.complex64)[None], op,
                     AcquisitionMeta(pattern="measured"))[0]


def measured_chain(src, out_dir, *, carrier_hz: float, bandwidth_hz: float,
                   angle_span_rad: float | None = None, prf_hz: float | None = None,
                   rotation_rate_rad_s: float | None = None,
                   layout: str = "frequency_pulse", key: str | None = None,
                   methods=("rd", "pfa", "zf", "fista"), checkpoint: str | None = None,
                   fista_iters: int | None = None) -> list[dict]:
    """Convert ``src``, image it with each method (and a trained checkpoint), and write
    ``measured.h5``, ``measured.csv``, ``measured.md`` and ``measured.png`` to ``out_dir``.

    Returns
    -------
    list of dict
        One row per method: ``method``, ``entropy`` (nats), ``contrast``, ``runtime_s``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    h5 = convert_measured(src, out / "measured.h5", carrier_hz=carrier_hz,
                          bandwidth_hz=bandwidth_hz, angle_span_rad=angle_span_rad,
                          prf_hz=prf_hz, rotation_rate_rad_s=rotation_rate_rad_s,
                          layout=layout, key=key, overwrite=True)
    with RadarH5Reader(h5) as reader:
        frame = reader[0]
    rows, images = [], {}
    for m in methods:
        params = load_params("radar", m)
        if m == "fista" and fista_iters is not None:
            params["max_iter"] = int(fista_iters)
        t0 = time.perf_counter()
        images[m] = recon_radar_frame(frame, m, params)
        rows.append(_row(m, images[m], time.perf_counter() - t0))
    if checkpoint:
        t0 = time.perf_counter()
        images["model"] = _model_image(checkpoint, frame)
        rows.append(_row(f"model {Path(checkpoint).name}", images["model"],
                         time.perf_counter() - t0))
    write_csv(out / "measured.csv", rows)
    image_grid(out / "measured.png", images, list(images), f"{Path(src).name} (dB, 40 dB)")
    table = md_table(["method", "entropy (nats, lower = sharper)", "contrast (higher = "
                      "sharper)", "runtime s"],
                     [[r["method"], f"{r['entropy']:.3f}", f"{r['contrast']:.3f}",
                       f"{r['runtime_s']:.2f}"] for r in rows])
    (out / "measured.md").write_text(f"# Measured data: {Path(src).name}\n\n{table}\n\n"
                                     "![images](measured.png)\n")
    return rows


def _row(method: str, image: torch.Tensor, seconds: float) -> dict:
    e, c = float(image_entropy(image)), float(image_contrast(image))
    if not (math.isfinite(e) and math.isfinite(c)):
        raise ValueError(f"{method}: non-finite entropy/contrast ({e}, {c})")
    return {"method": method, "entropy": e, "contrast": c, "runtime_s": seconds}
