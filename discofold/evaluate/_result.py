"""Result containers shared by the MRI and radar evaluations."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import InputError

__all__ = ["EvalResult", "Example", "settings_of", "timed", "model_label"]


@dataclass
class Example:
    """The images of one example item under one setting, for the figures.

    Attributes
    ----------
    pattern, acceleration : the setting (nominal acceleration; ``None`` for stored masks)
    volume : str
        Volume (file) name; ``index`` the slice / frame.
    target : Tensor ``(h, w)``
        Float magnitude (MRI) or complex reference image (radar).
    images : dict label -> Tensor ``(h, w)``
        Reconstructions in the order target | zero-filled | baselines | model.
    true_acceleration : float, optional
        Measured from the mask: total samples / measured samples.
    mask : Tensor, optional
        The sampling mask of the item: MRI ``(W,)`` (1-D Cartesian) or ``(H, W)``; radar
        ``(P, F)`` (pulses × frequencies); ``None`` for non-Cartesian data.
    pixel_size_m : (float, float), optional
        Radar pixel size ``(Lx/H, Ly/W)`` in metres (:attr:`PolarRadar.pixel_size_m`), so
        figures can draw range / cross-range axes in metres; ``None`` for MRI.
    """

    pattern: str
    acceleration: float | None
    volume: str
    index: int
    target: torch.Tensor
    images: dict[str, torch.Tensor]
    true_acceleration: float | None = None
    mask: torch.Tensor | None = None
    pixel_size_m: tuple[float, float] | None = None


@dataclass
class EvalResult:
    """Outcome of :func:`evaluate_mri` / :func:`evaluate_radar`.

    Attributes
    ----------
    family : ``"mri"`` or ``"radar"``
    rows : list of dict
        One row per (setting, method, volume): ``family``, ``pattern``, ``acceleration``
        (nominal), ``true_acceleration``, ``method``, ``kind`` (``zero-filled``, ``baseline``,
        ``model``), ``volume``, ``n_images``, ``runtime_s`` (mean wall-clock seconds per
        image of the whole reconstruction call, operator setup and coil-map estimation
        included, after one untimed warm-up call per method) and the
        metrics (MRI: ``nmse``, ``psnr``, ``ssim`` per volume; radar: ``nmse_db``, ``psnr``,
        ``ssim``, ``correlation``, ``entropy``, ``contrast`` per frame, ``volume`` =
        ``file:frame``).
    examples : list of Example
        One per setting.
    info : dict
        What was evaluated (model, data, baselines, parameters, dynamic range).
    """

    family: str
    rows: list[dict]
    examples: list[Example] = field(default_factory=list)
    info: dict = field(default_factory=dict)


def settings_of(patterns: Sequence[str], accelerations: Sequence[float]
                ) -> list[tuple[str, float]]:
    """Every ``(pattern, acceleration)`` pair, patterns outermost."""
    if not patterns or not accelerations:
        raise InputError("evaluation needs at least one pattern and one acceleration")
    for a in accelerations:
        if not float(a) >= 1.0:
            raise InputError(f"accelerations must be >= 1, got {a}")
    return [(str(p), float(a)) for p in patterns for a in accelerations]


def timed(fn: Callable, *args) -> tuple[object, float]:
    """``(fn(*args), seconds)``."""
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def model_label(model: nn.Module | None, label: str | None) -> str | None:
    """The method name used for a model in tables: ``label`` or its registry name."""
    if model is None:
        return None
    if label:
        return str(label)
    return str(getattr(model, "registry_name", None) or type(model).__name__)
