"""Model inputs ``(y, op, meta)`` from the records of one file: MRI slices and radar frames.

The one place where records read from HDF5 files (:class:`~discofold.data.fastmri.MRISlice`,
:class:`~discofold.data.radar_io.RadarFrame`) become the triple a model is called with, for a
batch of records of one file.  ``discofold eval``, ``discofold recon --checkpoint`` and
:class:`~discofold.inference.TrainedModel` all go through it.

MRI
    Cartesian: :class:`~discofold.operators.CartesianMRI` with one mask per record
    (``(B, 1, W)`` for column masks, ``(B, H, W)`` for 2-D masks; a file without a mask is
    fully sampled) and, for multi-coil data, coil maps ``(B, C, H, W)`` estimated from each
    record's calibration region (:func:`discofold.solvers.pipeline.slice_coil_maps`).
    Non-Cartesian: :class:`~discofold.operators.NonCartesianMRI` of the shared trajectory with
    Pipe–Menon density compensation.  Models with their own sensitivity network
    (:func:`estimates_own_maps`: E2E-VarNet, the unified model) read the coil count from the
    operator and estimate the maps themselves, so a calibration region too small for the
    classical estimate is not an error for them.
Radar
    :class:`~discofold.operators.PolarRadar` of the records' shared geometry with one aperture
    mask per record ``(B, P, F)``.

``meta`` is an :class:`~discofold.models.AcquisitionMeta` with the pattern, the true
acceleration of every record ``(B,)``, the calibration width (MRI) or the pixel size in metres
(radar).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..data.fastmri import MRISlice, center_crop_or_pad
from ..data.radar_io import RadarFrame
from ..errors import InputError, ShapeError
from ..models import AcquisitionMeta
from ..models.sens import placeholder_maps
from ..operators import CartesianMRI, NonCartesianMRI, PolarRadar
from ..solvers.pipeline import slice_coil_maps

__all__ = [
    "estimates_own_maps",
    "mri_record_meta",
    "radar_record_meta",
    "mri_inputs",
    "radar_inputs",
    "radar_geometry_key",
    "run_mri",
    "run_radar",
    "model_recon_mri",
    "model_recon_radar",
]

_STORED = "stored"


def estimates_own_maps(model: nn.Module) -> bool:
    """Whether ``model`` estimates coil sensitivities itself (it holds a
    :class:`~discofold.models.sens.SensitivityNet`) rather than using the operator's maps."""
    from ..models.sens import SensitivityNet

    return any(isinstance(m, SensitivityNet) for m in model.modules())


def _common(values: Sequence, default):
    values = list(values)
    return values[0] if values and all(v == values[0] for v in values) else default


# --------------------------------------------------------------------------- MRI
def mri_record_meta(sl: MRISlice, num_low_frequencies: int | None = None) -> dict:
    """The sampling of a slice as stored: ``pattern`` (attr, default ``"stored"``),
    ``true_acceleration`` (grid size / measured samples; 1 without a mask) and
    ``num_low_frequencies`` (the argument, else the file's attr, else ``None``)."""
    h, w = sl.matrix
    if sl.trajectory is not None:
        acc = h * w / float(sl.trajectory.shape[0])
    elif sl.mask is None:
        acc = 1.0
    else:
        m = sl.mask if sl.mask.ndim == 2 else sl.mask[None, :].expand(h, -1)
        acc = m.numel() / max(1.0, float(m.sum()))
    nlf = sl.attrs.get("num_low_frequencies") if num_low_frequencies is None \
        else num_low_frequencies
    return {"pattern": str(sl.attrs.get("pattern", _STORED)), "true_acceleration": acc,
            "num_low_frequencies": None if nlf is None else int(nlf)}


def _where(sl: MRISlice) -> str:
    return f"'{sl.file}' slice {sl.slice_index}"


def _maps(sl: MRISlice, dcf, own_maps: bool) -> torch.Tensor:
    """Coil maps ``(C, H, W)`` of one multi-coil slice (placeholders for ``own_maps`` models
    when no calibration region is large enough)."""
    try:
        return slice_coil_maps(sl, dcf)
    except InputError as exc:
        if not own_maps:
            raise InputError(f"{_where(sl)}: {exc}; this model reconstructs with the "
                             "operator's coil maps, so it cannot run on this slice (a model "
                             "with its own sensitivity network, e.g. unified or varnet, can; "
                             "so can a classical recon --method zf)") from None
    if sl.trajectory is None and sl.mask is not None:
        h, w = sl.matrix
        m = sl.mask if sl.mask.ndim == 2 else sl.mask[None, :].expand(h, -1)
        if not bool(m[h // 2, w // 2]):
            raise InputError(f"{_where(sl)}: the mask does not sample the k-space centre, so "
                             "there is no calibration region to estimate coil maps from, and "
                             "the model needs one for multi-coil data; reconstruct this file "
                             "with a classical method (discofold recon --method zf)")
    h, w = sl.matrix
    return placeholder_maps(sl.kspace.shape[0], h, w)


def _check_same_file(records: Sequence, key, what: str) -> None:
    first = key(records[0])
    for r in records[1:]:
        if key(r) != first:
            raise ShapeError(f"a batch of {what} must share one acquisition (shape, sampling "
                             f"geometry); {what} of different files are reconstructed "
                             "separately")


def mri_inputs(slices: Sequence[MRISlice], metas: Sequence[dict],
               device: torch.device | str = "cpu", *, dcf: torch.Tensor | None = None,
               own_maps: bool = True) -> tuple[torch.Tensor, object, AcquisitionMeta]:
    """``(y, op, meta)`` for a batch of slices of one file (module docstring).

    Parameters
    ----------
    slices : MRISlice records with the same matrix, coil count and trajectory
    metas : dicts of :func:`mri_record_meta` (or of an evaluation's undersampling)
    device : where ``y`` and ``op`` live
    dcf : Tensor ``(K,)``, optional
        Density compensation of a shared trajectory (default: Pipe–Menon, computed here).
    own_maps : bool
        The model estimates its own sensitivities (:func:`estimates_own_maps`).

    Returns
    -------
    y : complex64 ``(B, C, H, W)``, ``(B, H, W)``, ``(B, C, K)`` or ``(B, K)``
    op : CartesianMRI or NonCartesianMRI of batch ``B``
    meta : AcquisitionMeta
    """
    _check_same_file(slices, lambda s: (tuple(s.kspace.shape), tuple(s.matrix),
                                        s.trajectory is None), "slices")
    sl0, shape = slices[0], tuple(slices[0].matrix)
    maps = None
    if sl0.multicoil:
        if sl0.trajectory is not None and dcf is None:
            from ..operators import pipe_menon_dcf

            dcf = pipe_menon_dcf(sl0.trajectory, shape)
        maps = torch.stack([_maps(s, dcf, own_maps) for s in slices]).to(device)
    if sl0.trajectory is not None:
        if dcf is None:
            from ..operators import pipe_menon_dcf

            dcf = pipe_menon_dcf(sl0.trajectory, shape)
        y = torch.stack([s.kspace.reshape(-1) if not s.multicoil else s.kspace for s in slices])
        op = NonCartesianMRI(sl0.trajectory.to(device), shape, coil_maps=maps,
                             dcf=dcf.to(device))
    else:
        masks = [torch.ones(1, shape[1], dtype=torch.bool) if s.mask is None
                 else (s.mask if s.mask.ndim == 2 else s.mask[None, :]).to(torch.bool)
                 for s in slices]
        mask = torch.stack(masks)
        kmask = mask[:, None] if sl0.multicoil else mask
        y = torch.stack([s.kspace for s in slices]) * kmask
        op = CartesianMRI(mask.to(device), coil_maps=maps, image_shape=shape)
    meta = AcquisitionMeta(
        pattern=_common([m["pattern"] for m in metas], "mixed"),
        acceleration=torch.tensor([float(m["true_acceleration"]) for m in metas]),
        num_low_frequencies=_common([m["num_low_frequencies"] for m in metas], None))
    return y.to(torch.complex64).to(device), op, meta


def _passes(model: nn.Module, batch: int) -> list[int | None]:
    """Total passes of each item of the last call of a recursive model (``None`` otherwise)."""
    used = getattr(model, "last_passes", None)
    if not isinstance(used, torch.Tensor) or used.shape[0] != batch:
        return [None] * batch
    return [int(v) for v in used.sum(dim=1)]


def run_mri(model: nn.Module, slices: Sequence[MRISlice], metas: Sequence[dict],
            device: torch.device | str = "cpu", *, dcf: torch.Tensor | None = None,
            passes: list | None = None) -> list[torch.Tensor]:
    """Magnitudes float32 of ``model(y, op, meta)`` on a batch of slices, each ``(h, w)``:
    centre-cropped to :attr:`~discofold.data.fastmri.MRISlice.output_shape` (the target's size,
    else the file's ISMRMRD recon matrix), else the full matrix.  ``passes``,
    when given, is extended by the passes each slice used (recursive models, else ``None``)."""
    y, op, meta = mri_inputs(slices, metas, device, dcf=dcf, own_maps=estimates_own_maps(model))
    with torch.no_grad():
        x = model(y, op, meta).abs().float().cpu()
    if passes is not None:
        passes += _passes(model, len(slices))
    return [x[i] if s.output_shape is None else center_crop_or_pad(x[i], s.output_shape)
            for i, s in enumerate(slices)]


def model_recon_mri(model: nn.Module, sl: MRISlice, meta: dict,
                    device: torch.device | str = "cpu") -> torch.Tensor:
    """Magnitude ``(h, w)`` float32 of ``model(y, op, meta)`` on one slice (:func:`run_mri`)."""
    return run_mri(model, [sl], [meta], device)[0]


# --------------------------------------------------------------------------- radar
def radar_record_meta(fr: RadarFrame) -> dict:
    """The aperture of a frame as stored: ``pattern`` (attr, default ``"stored"``) and
    ``true_acceleration`` (samples / measured samples; 1 without a mask)."""
    m = fr.mask
    acc = 1.0 if m is None else m.numel() / max(1.0, float(m.sum()))
    return {"pattern": str(fr.attrs.get("pattern", _STORED)), "true_acceleration": acc}


def radar_geometry_key(fr: RadarFrame) -> tuple:
    """Frames with equal keys share one :class:`PolarRadar` (angles, frequencies, window)."""
    return (fr.angles_rad.numpy().tobytes(), fr.frequencies_hz.numpy().tobytes(),
            tuple(int(v) for v in fr.attrs["image_shape"]),
            tuple(float(v) for v in fr.attrs["extent_m"]))


def radar_inputs(frames: Sequence[RadarFrame], metas: Sequence[dict],
                 device: torch.device | str = "cpu"
                 ) -> tuple[torch.Tensor, PolarRadar, AcquisitionMeta]:
    """``(y, op, meta)`` for a batch of frames with one geometry (:func:`radar_geometry_key`):
    ``y`` complex64 ``(B, P, F)`` (zeros where not measured), ``op`` a :class:`PolarRadar`
    with masks ``(B, P, F)``, ``meta`` with the true accelerations and the pixel size in m."""
    _check_same_file(frames, radar_geometry_key, "frames")
    fr0 = frames[0]
    shape = tuple(int(v) for v in fr0.attrs["image_shape"])
    extent = tuple(float(v) for v in fr0.attrs["extent_m"])
    mask = torch.stack([torch.ones(f.echo.shape, dtype=torch.bool) if f.mask is None
                        else f.mask.to(torch.bool) for f in frames])
    y = torch.stack([f.echo for f in frames]).to(torch.complex64) * mask
    op = PolarRadar(fr0.angles_rad.to(device), fr0.frequencies_hz.to(device), shape, extent,
                    mask=mask.to(device))
    meta = AcquisitionMeta(
        pattern=_common([m["pattern"] for m in metas], "mixed"),
        acceleration=torch.tensor([float(m["true_acceleration"]) for m in metas]),
        pixel_size=(extent[0] / shape[0], extent[1] / shape[1]))
    return y.to(device), op, meta


def run_radar(model: nn.Module, frames: Sequence[RadarFrame], metas: Sequence[dict],
              device: torch.device | str = "cpu", *, passes: list | None = None
              ) -> list[torch.Tensor]:
    """Complex64 images ``(H, W)`` of ``model(y, op, meta)`` on a batch of frames; frames of
    different geometries are run as separate batches.  ``passes`` as in :func:`run_mri`."""
    groups: dict[tuple, list[int]] = {}
    for i, f in enumerate(frames):
        groups.setdefault(radar_geometry_key(f), []).append(i)
    out: list = [None] * len(frames)
    used: list = [None] * len(frames)
    for idx in groups.values():
        y, op, meta = radar_inputs([frames[i] for i in idx], [metas[i] for i in idx], device)
        with torch.no_grad():
            x = model(y, op, meta).to(torch.complex64).cpu()
        for k, (i, n) in enumerate(zip(idx, _passes(model, len(idx)))):
            out[i], used[i] = x[k], n
    if passes is not None:
        passes += used
    return out


def model_recon_radar(model: nn.Module, fr: RadarFrame, meta: dict,
                      device: torch.device | str = "cpu") -> torch.Tensor:
    """Complex image ``(H, W)`` of ``model(y, op, meta)`` on one frame (:func:`run_radar`)."""
    return run_radar(model, [fr], [meta], device)[0]
