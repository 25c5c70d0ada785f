"""Evaluation of models and baselines, metric tables, figures and reports (``discofold eval``).

>>> from discofold.evaluate import evaluate, save_evaluation, render_report
>>> result = evaluate("mri-unified", "sim:mri?n=4&size=64&coils=8",        # doctest: +SKIP
...                   patterns=["equispaced", "poisson_2d"], accelerations=[4, 8])
>>> save_evaluation(result, "eval-out")   # metrics.csv/json, tables, figures  # doctest: +SKIP
>>> render_report("eval-out")             # report.html + report.md  # doctest: +SKIP

Building blocks: :func:`load_data` (folder/file of HDF5 or ``sim:`` spec, see
:mod:`discofold.evaluate._data`), :func:`evaluate_mri` / :func:`evaluate_radar` (rows of
per-volume / per-frame metrics and example images), :func:`write_metrics`,
:func:`write_figures` / :func:`figure_grid`, :func:`render_report`.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError
from ._data import EvalData, Volume, load_data
from ._figures import figure_grid, loss_curve, write_figures
from ._mri import evaluate_mri
from ._radar import DYNAMIC_RANGE_DB, evaluate_radar, radar_metrics
from ._report import REPORT_FILES, render_report
from ._result import EvalResult, Example
from ._tables import markdown_table, setting_key, summarize, write_metrics

__all__ = [
    "evaluate",
    "evaluate_mri",
    "evaluate_radar",
    "load_data",
    "EvalData",
    "Volume",
    "EvalResult",
    "Example",
    "save_evaluation",
    "write_metrics",
    "write_figures",
    "figure_grid",
    "loss_curve",
    "render_report",
    "summarize",
    "markdown_table",
    "setting_key",
    "radar_metrics",
    "default_settings",
    "DEFAULT_BASELINE",
    "DYNAMIC_RANGE_DB",
    "REPORT_FILES",
]

#: classical baseline evaluated when none is given
DEFAULT_BASELINE = {"mri": "cg", "radar": "fista"}
_FALLBACK = {"mri": (("equispaced",), (4.0,)), "radar": (("random_pulses",), (2.0,))}


def default_settings(family: str, config=None) -> tuple[list[str], list[float]]:
    """Patterns and accelerations a checkpoint was trained on (its ``data`` config), or
    equispaced ×4 (MRI) / random_pulses ×2 (radar)."""
    if config is not None and family == "mri" and config.data.patterns:
        pats = [str(p[0]) for p in config.data.patterns]
        accs = [float(p[1]) for p in config.data.patterns]
    elif config is not None and family == "radar" and config.data.apertures:
        pats, accs = list(config.data.apertures), [float(a) for a in config.data.accelerations]
    else:
        pats, accs = (list(v) for v in _FALLBACK[family])
    return list(dict.fromkeys(pats)), list(dict.fromkeys(accs))


def _load_model(model, device):
    """``(model, label, config, checkpoint path)`` from a module, a
    :class:`~discofold.inference.TrainedModel`, a checkpoint or None."""
    from ..inference import TrainedModel, load_model

    if model is None or isinstance(model, nn.Module):
        return model, None, None, None
    trained = model if isinstance(model, TrainedModel) else load_model(model, device)
    if trained.family not in ("mri", "radar"):
        raise InputError(f"checkpoint '{trained.name}' is a {trained.family} model; discofold "
                         "eval evaluates MRI and radar models")
    return trained.module, trained.model_name, trained.config, trained.path


def _check_patterns(family: str, patterns: Sequence[str]) -> None:
    from ..sampling import list_patterns

    fams = ("mri_1d", "mri_2d") if family == "mri" else ("radar",)
    valid = [p for f in fams for p in list_patterns(f)]
    for p in patterns:
        if p not in valid:
            close = difflib.get_close_matches(str(p), valid, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise InputError(f"unknown {family} pattern '{p}'{hint}; valid: {', '.join(valid)}")


def evaluate(model: nn.Module | object | str | os.PathLike | None,
             data: EvalData | str | os.PathLike, patterns: Sequence[str] | None = None,
             accelerations: Sequence[float] | None = None,
             baselines: Sequence[str] | None = None, *, label: str | None = None,
             device: torch.device | str = "cpu", params_file=None, progress=None) -> EvalResult:
    """Evaluate a model, checkpoint (path or bundled name) or ``None`` (baselines only).

    Parameters
    ----------
    model : nn.Module, TrainedModel (:func:`discofold.load_model`), checkpoint path, bundled
        checkpoint name, or None
    data : EvalData, or a path / ``sim:`` spec for :func:`load_data`
    patterns, accelerations : default :func:`default_settings` of the checkpoint's config
    baselines : classical methods (default :data:`DEFAULT_BASELINE` of the family; ``[]`` none)
    label : the model's name in the tables (default: the checkpoint's model name)
    device, params_file, progress : see :func:`evaluate_mri`

    Raises
    ------
    CheckpointError
        Missing, corrupt or incompatible checkpoint.
    InputError
        Data of the other family than the checkpoint, bad settings, empty data.
    """
    net, name, cfg, path = _load_model(model, device)
    data = data if isinstance(data, EvalData) else load_data(data)
    if cfg is not None:
        from ..train.data import family_of

        if family_of(cfg.data) != data.family:
            raise InputError(f"checkpoint '{getattr(model, 'name', model)}' is a "
                             f"{family_of(cfg.data)} model but "
                             f"--data '{data.source}' is {data.family} data")
    dp, da = default_settings(data.family, cfg)
    patterns = dp if patterns is None else list(patterns)
    accelerations = da if accelerations is None else [float(a) for a in accelerations]
    _check_patterns(data.family, patterns)
    baselines = [DEFAULT_BASELINE[data.family]] if baselines is None else list(baselines)
    run = evaluate_mri if data.family == "mri" else evaluate_radar
    result = run(net, data, patterns, accelerations, baselines, label=label or name,
                 device=device, params_file=params_file, progress=progress)
    result.info["checkpoint"] = None if path is None else str(path)
    return result


def save_evaluation(result: EvalResult, out_dir: str | os.PathLike) -> list[Path]:
    """Write the metric files (:func:`write_metrics`) and the figures (:func:`write_figures`)
    of ``result`` into the existing folder ``out_dir``; returns the files written."""
    out = Path(out_dir)
    dr = float(result.info.get("dynamic_range_db", DYNAMIC_RANGE_DB))
    figures = write_figures(result.examples, out, result.family, dr)
    files = write_metrics(result.rows, out, result.info, figures)
    return files + [out / f for f in figures.values()]
