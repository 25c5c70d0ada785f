"""CSV files, figures and the markdown tables of the radar evidence run."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

__all__ = ["write_csv", "md_table", "fmt", "image_grid", "line_plot", "bar_plot"]


def write_csv(path: Path, rows: list) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


def fmt(mean: float, std: float | None = None, digits: int = 2) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def md_table(header: list, rows: list) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _db(img: torch.Tensor, floor: float = -40.0) -> torch.Tensor:
    mag = img.abs().double()
    return (20 * torch.log10(mag / mag.max().clamp_min(1e-30))).clamp_min(floor)


def image_grid(path: Path, images: dict, order: list, title: str) -> None:
    """dB magnitude images (40 dB range) side by side."""
    names = [n for n in order if n in images]
    fig, axes = plt.subplots(1, len(names), figsize=(2.6 * len(names), 2.9), squeeze=False)
    for ax, name in zip(axes[0], names):
        ax.imshow(_db(images[name]).numpy(), cmap="inferno", vmin=-40, vmax=0,
                  origin="lower")
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def line_plot(path: Path, series: dict, xlabel: str, ylabel: str, title: str,
              logx: bool = False, hline: float | None = None) -> None:
    """``series``: label -> (xs, ys)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for label, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", ms=3, label=label)
    if logx:
        ax.set_xscale("log", base=2)
    if hline is not None:
        ax.axhline(hline, color="k", lw=0.8, ls="--")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def bar_plot(path: Path, groups: dict, ylabel: str, title: str) -> None:
    """``groups``: group label -> {bar label: (mean, std)}."""
    labels = list(dict.fromkeys(k for g in groups.values() for k in g))
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    width = 0.8 / max(1, len(labels))
    for j, lab in enumerate(labels):
        xs = [i + j * width for i, g in enumerate(groups.values()) if lab in g]
        vals = [g[lab] for g in groups.values() if lab in g]
        ax.bar(xs, [v[0] for v in vals], width, yerr=[v[1] for v in vals], label=lab)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(groups))])
    ax.set_xticklabels(list(groups), fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
