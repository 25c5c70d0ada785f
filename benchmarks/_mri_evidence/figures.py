"""Figures of the MRI evidence report (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["pattern_grid", "psnr_vs_acceleration", "image_row"]


def _show(ax, img, vmax, title, cmap="gray"):
    ax.imshow(img.detach().cpu().numpy(), cmap=cmap, vmin=0, vmax=vmax)
    ax.set_title(title, fontsize=7)
    ax.axis("off")


def pattern_grid(examples: dict, labels: list[str], columns: list[str], path: Path) -> Path:
    """Rows: each setting's images and error maps (×5); columns: target then ``columns``."""
    fig, axes = plt.subplots(2 * len(labels), len(columns) + 1,
                             figsize=(1.6 * (len(columns) + 1), 1.7 * 2 * len(labels)),
                             squeeze=False)
    for k, label in enumerate(labels):
        ex = examples[label]
        tgt = ex["target"]
        peak = float(tgt.max())
        _show(axes[2 * k, 0], tgt, peak, f"target\n{label}")
        axes[2 * k + 1, 0].axis("off")
        for j, name in enumerate(columns, start=1):
            img = ex.get(name)
            if img is None:
                axes[2 * k, j].axis("off")
                axes[2 * k + 1, j].axis("off")
                continue
            _show(axes[2 * k, j], img, peak, name)
            _show(axes[2 * k + 1, j], (img - tgt).abs() * 5, peak, "|error| ×5", "magma")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def psnr_vs_acceleration(series: dict, path: Path) -> Path:
    """``series``: method → list of (acceleration, mean PSNR)."""
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for name, pts in series.items():
        pts = sorted(pts)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
    ax.set_xlabel("acceleration")
    ax.set_ylabel("mean PSNR over seen patterns (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def image_row(examples: dict, labels: list[str], path: Path) -> Path:
    """E2: one row per setting label, every method's image."""
    names = []
    for label in labels:
        names += [n for n in examples[label] if n not in names and n != "target"]
    return pattern_grid(examples, labels, names, path)
