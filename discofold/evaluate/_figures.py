"""Comparison figures (matplotlib, Agg backend, PNG): target | zero-filled | baselines | model.

Top row the images, each titled with its metrics against the target; bottom row the sampling
mask (radar: the measured pulses) and the error maps.

- MRI: magnitudes on a grey scale from 0 to the target maximum; error maps ``|x̂ − x|`` on one
  shared scale (the largest error of the zero-filled image), so columns compare directly.
- Radar: ``20 log10(|x|/max|x_ref|)`` in dB over a stated dynamic range (default 40 dB below the
  reference peak), every estimate first fitted to the reference by its least-squares complex
  scale (as the radar metrics do); error maps ``20 log10(|αx̂ − x|/max|x_ref|)`` on the same dB
  scale.

Figures are drawn on a :class:`matplotlib.figure.Figure` with an Agg canvas, never through
``pyplot``'s global state, so they work without a display and in threads.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ..metrics import align_scale, psnr, radar_nmse_db, ssim
from ._result import Example
from ._tables import acceleration_label, setting_key

__all__ = ["figure_grid", "write_figures", "loss_curve", "learning_curve", "best_row"]


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _db(mag: torch.Tensor, peak: float, dr: float) -> torch.Tensor:
    return (20 * torch.log10((mag / peak).clamp_min(10 ** (-dr / 20)))).clamp(-dr, 0)


def _panels(example: Example, family: str, dr: float):
    """``(target image, [(label, image, error, metrics text)], (vmin, vmax), (emin, emax),
    unit)``; the metrics are those of the shown image against the target."""
    if family == "radar":
        ref = example.target.to(torch.complex128)
        peak = float(ref.abs().max()) or 1.0
        items = []
        for label, img in example.images.items():
            est = align_scale(ref, img.to(torch.complex128))
            text = f"NMSE {float(radar_nmse_db(ref, img.to(torch.complex128))):.2f} dB"
            items.append((label, _db(est.abs(), peak, dr), _db((est - ref).abs(), peak, dr),
                          text))
        return _db(ref.abs(), peak, dr), items, (-dr, 0.0), (-dr, 0.0), "dB"
    tgt = example.target.float()
    items = []
    for label, img in example.images.items():
        img = img.float()
        text = f"PSNR {psnr(tgt, img):.2f} dB\nSSIM {ssim(tgt, img):.2f}"
        items.append((label, img, (img - tgt).abs(), text))
    first = items[0][2] if items else tgt
    emax = float(first.max()) or float(tgt.max()) or 1.0
    return tgt, items, (0.0, float(tgt.max()) or 1.0), (0.0, emax), "|error|"


def _extent(example: Example, shape: tuple[int, int]):
    """imshow ``extent`` in metres of a radar image ``(H, W)``: cross-range ``y_j`` across,
    down-range ``x_i`` upwards, pixel centres ``(i − H//2)·Lx/H`` (docs/conventions.md)."""
    if example.pixel_size_m is None:
        return None
    (h, w), (dx, dy) = shape, example.pixel_size_m
    return ((-0.5 - w // 2) * dy, (w - 0.5 - w // 2) * dy,
            (-0.5 - h // 2) * dx, (h - 0.5 - h // 2) * dx)


def _mask_panel(ax, example: Example, family: str, shape: tuple[int, int]) -> None:
    """The sampling mask (MRI, k-space ``(H, W)``) or the measured pulses (radar, pulses ×
    frequencies) in white, titled with the true acceleration."""
    ax.set_xticks([])
    ax.set_yticks([])
    if example.mask is None:
        ax.axis("off")
        ax.text(0.5, 0.5, "no Cartesian\nmask", ha="center", va="center", fontsize=8,
                transform=ax.transAxes)
        return
    mask = example.mask.to(torch.bool)
    if mask.ndim == 1:  # 1-D Cartesian MRI mask over the columns
        mask = mask[None, :].expand(shape[0], -1)
    acc = mask.numel() / max(int(mask.sum()), 1)
    ax.imshow(mask.float().numpy(), cmap="gray", vmin=0, vmax=1, aspect="auto",
              interpolation="nearest")
    ax.set_box_aspect(1)
    if family == "radar":
        pulses = int(mask.any(dim=-1).sum())
        ax.set_title(f"measured pulses\n{pulses} of {mask.shape[0]} ({acc:.3g}×)", fontsize=8)
        ax.set_xlabel("frequency", fontsize=7)
        ax.set_ylabel("pulse", fontsize=7)
    else:
        ax.set_title(f"sampling mask\n({acc:.3g}×)", fontsize=8)
        ax.set_xlabel("k-space", fontsize=7)


def _image_axes(ax, extent, bottom: bool, left: bool) -> None:
    """Ticks in metres on radar panels (labels on the outer panels), none on MRI panels."""
    if extent is None:
        ax.set_xticks([])
        ax.set_yticks([])
        return
    ax.tick_params(labelsize=6)
    if bottom:
        ax.set_xlabel("cross-range (m)", fontsize=7)
    if left:
        ax.set_ylabel("range (m)", fontsize=7)


def figure_grid(example: Example, path: str | Path, family: str,
                dynamic_range_db: float = 40.0, title: str | None = None) -> Path:
    """Write the comparison figure of one example to ``path`` (PNG) and return it.

    Top row: target and reconstructions, each titled with its metrics against the target
    (MRI: PSNR and SSIM of the shown slice; radar: NMSE in dB); bottom row: the sampling mask
    (radar: the measured pulses) and the error maps.  Radar panels have range / cross-range
    axes in metres (:attr:`Example.pixel_size_m`); MRI panels have none.

    Parameters
    ----------
    example : Example
        Target and reconstructions (:attr:`EvalResult.examples`).
    path : output PNG file
    family : ``"mri"`` or ``"radar"``
    dynamic_range_db : radar display range below the reference peak (dB)
    title : str, optional (default: setting with its true acceleration, volume and index)
    """
    tgt, items, (vmin, vmax), (emin, emax), unit = _panels(example, family, dynamic_range_db)
    n = 1 + len(items)
    fig = _figure(2.1 * n + 1.0, 5.2)
    fig.set_layout_engine("constrained")
    axes = fig.subplots(2, n, squeeze=False)
    cmap = "inferno" if family == "radar" else "gray"
    extent = _extent(example, tuple(tgt.shape))
    kw = {"cmap": cmap, "vmin": vmin, "vmax": vmax}
    if extent is not None:
        kw.update(extent=extent, origin="lower")
    im = axes[0, 0].imshow(tgt.numpy(), **kw)
    axes[0, 0].set_title("reference" if family == "radar" else "target", fontsize=9)
    _image_axes(axes[0, 0], extent, bottom=False, left=True)
    em = None
    for k, (label, img, err, text) in enumerate(items, start=1):
        axes[0, k].imshow(img.numpy(), **kw)
        axes[0, k].set_title(f"{label}\n{text}", fontsize=8)
        _image_axes(axes[0, k], extent, bottom=False, left=False)
        em = axes[1, k].imshow(err.numpy(), **{**kw, "cmap": "magma", "vmin": emin,
                                                "vmax": emax})
        axes[1, k].set_title(f"error {label}", fontsize=8)
        _image_axes(axes[1, k], extent, bottom=True, left=False)
    _mask_panel(axes[1, 0], example, family, tuple(tgt.shape))
    label = f"dB (over {dynamic_range_db:g} dB)" if family == "radar" else ""
    fig.colorbar(im, ax=axes[0, :].tolist(), shrink=0.8, label=label)
    if em is not None:
        fig.colorbar(em, ax=axes[1, 1:].tolist(), shrink=0.8,
                     label=f"error {label}" if family == "radar" else unit)
    acc = acceleration_label(example.acceleration, example.true_acceleration)
    fig.suptitle(title or f"{example.pattern} {acc} — {example.volume} [{example.index}]",
                 fontsize=10)
    path = Path(path)
    fig.savefig(path, format="png")
    return path


def write_figures(examples: list[Example], out_dir: str | Path, family: str,
                  dynamic_range_db: float = 40.0) -> dict[str, str]:
    """One ``fig_<setting>.png`` per example in ``out_dir``; returns setting key -> file name."""
    out = {}
    for ex in examples:
        key = setting_key(ex.pattern, ex.acceleration)
        name = f"fig_{key}.png"
        figure_grid(ex, Path(out_dir) / name, family, dynamic_range_db)
        out[key] = name
    return out


def loss_curve(train_rows: list[dict], val_rows: list[dict], path: str | Path) -> Path:
    """Training loss (and validation loss when present) against the step, log-scaled, as PNG."""
    fig = _figure(6.0, 3.6)
    ax = fig.subplots()
    for rows, key, label in ((train_rows, "loss", "train"), (val_rows, "val_loss", "validation")):
        pts = [(float(r["step"]), float(r[key])) for r in rows
               if r.get(key) not in (None, "", "nan", "inf")]
        if pts:
            ax.plot(*zip(*pts), marker="o" if len(pts) < 30 else None, ms=3, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if all(float(r.get("loss", 1) or 1) > 0 for r in train_rows):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    return path


def _number(row: dict, key: str) -> float | None:
    """``row[key]`` as a finite float, None when missing, empty or not finite."""
    try:
        v = float(row.get(key) or "nan")
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def best_row(val_rows: list[dict]) -> dict | None:
    """The validation row with the lowest finite ``val_loss`` (first of ties); None if none."""
    rows = [r for r in val_rows if _number(r, "val_loss") is not None]
    return min(rows, key=lambda r: _number(r, "val_loss")) if rows else None


def learning_curve(val_rows: list[dict], path: str | Path) -> Path:
    """Validation PSNR (left axis) and NMSE (right axis, dB) against the step (left panel) and
    the wall-clock seconds of the run (right panel), the best validation (lowest loss) starred.

    ``val_rows`` are the rows of ``val.csv`` (``step, elapsed_s, val_psnr_db, val_nmse_db``);
    a missing column (a run of an older discofold) leaves its curve or panel out.
    """
    fig = _figure(10.0, 4.2)
    axes = fig.subplots(1, 2)
    best = best_row(val_rows)
    for ax, xkey, xlabel in ((axes[0], "step", "step"),
                             (axes[1], "elapsed_s", "wall-clock time (s)")):
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        right = ax.twinx()
        drawn = []
        for axis, ykey, label, style in ((ax, "val_psnr_db", "PSNR (dB)", "-"),
                                         (right, "val_nmse_db", "NMSE (dB)", "--")):
            pts = [(x, y) for x, y in ((_number(r, xkey), _number(r, ykey)) for r in val_rows)
                   if x is not None and y is not None]
            color = "C0" if axis is ax else "C1"
            axis.set_ylabel(label, color=color)
            if not pts:
                continue
            drawn += axis.plot(*zip(*pts), style, color=color, label=label,
                               marker="o" if len(pts) < 30 else None, ms=3)
            bx, by = (_number(best, xkey), _number(best, ykey)) if best else (None, None)
            if bx is not None and by is not None:
                drawn += axis.plot([bx], [by], "*", color="k", ms=11, zorder=5,
                                   label="best validation" if axis is ax else "_")
        if drawn:  # below the panel, where it hides no point of either axis
            ax.legend(handles=[h for h in drawn if not h.get_label().startswith("_")],
                      fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.2))
        else:
            ax.text(0.5, 0.5, f"no '{xkey}' in val.csv", ha="center", va="center",
                    transform=ax.transAxes, color="#666")
    fig.suptitle("validation" + (f" (best at step {best['step']})" if best else ""),
                 fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    return path
