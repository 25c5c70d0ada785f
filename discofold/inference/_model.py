"""A trained model loaded from a checkpoint, ready to reconstruct triples, records and files.

>>> import discofold
>>> model = discofold.load_model("mri-unified")          # bundled name (sha256 checked)
>>> x_hat = model(y, op, meta)                            # doctest: +SKIP
>>> images = model.reconstruct_file("scan.h5", "scan_recon.h5")  # doctest: +SKIP

Output files have the layout of the classical ``discofold recon`` (DESIGN.md, "Interchange
formats"): MRI ``reconstruction`` float32 ``(slices, h, w)`` magnitude with the input's attrs;
radar ``image`` complex64 ``(frames, H, W)`` with its geometry attrs.  Both record the model:
``recon_method = "checkpoint"``, ``recon_model`` (registered model name), ``recon_checkpoint``
(bundled name or the path as given), ``recon_checkpoint_sha256``, ``recon_checkpoint_step``,
``recon_params`` (JSON: recursions, calibration width) and ``recon_input`` (input file name);
with adaptive depth (``recursions="auto"``) also ``recon_passes``, int32 ``(slices,)`` /
``(frames,)``: the passes of shared stages each image used, summed over the stages.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data import FastMRIFile, RadarH5Reader, file_family, write_radar_image, write_reconstruction
from ..data._atomic import check_writable
from ..errors import DiscofoldError, InputError
from ._inputs import mri_record_meta, radar_record_meta, run_mri, run_radar

__all__ = ["TrainedModel", "load_model", "as_device"]

#: ``progress(iterable, total, desc) -> iterable``: a progress-bar wrapper
Progress = Callable[[Iterable, int, str], Iterable]
_RECON_FAMILIES = ("mri", "radar")
_DATA = {"mri": "MRI data (a 'kspace' dataset)", "radar": "radar data (an 'echo' dataset)"}
_LABEL = {"mri": "an MRI", "radar": "a radar"}


def as_device(device: torch.device | str, label: str = "device") -> torch.device:
    """``device`` as a :class:`torch.device`, refusing a bad name or an absent CUDA device
    (``label`` names it in the message, e.g. ``"--device"``)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"{label} '{device}' is not a torch device (e.g. cpu, cuda, cuda:1)"
                         ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"{label} '{device}': CUDA is not available on this machine")
    return dev


def _hint(text: str, reader, nlf: int | None) -> str:
    """What helps, appended to a model's error on a file (calibration width, grid size)."""
    if "meta.num_low_frequencies" in text or "meta.calibration" in text:
        value = getattr(reader, "attrs", {}).get("num_low_frequencies")
        source = (f"calibration width {int(nlf)} as given" if nlf is not None else
                  f"calibration width {int(value)} from the file's attr num_low_frequencies"
                  if value is not None else "calibration region found in the mask")
        return (f" ({source}; set the width of the fully sampled centre with discofold recon "
                "--num-low-frequencies N, or reconstruct_file(..., num_low_frequencies=N))")
    if "not larger than one grid cell" in text:
        return (" (the file's grid is too coarse for this checkpoint's kernels: it needs more "
                "pixels over the same field of view)")
    return ""


def _bundled_hint(family: str) -> str:
    """`` (bundled: name, ...)`` for the bundled checkpoints of ``family``, or ``""``."""
    from ..models import get_spec
    from ..train.checkpoint import bundled_checkpoints

    try:
        names = [n for n, e in bundled_checkpoints().items()
                 if get_spec(str(e.get("model"))).family == family]
    except DiscofoldError:
        return ""
    return f" (bundled: {', '.join(sorted(names))})" if names else ""


@dataclass(frozen=True, eq=False)
class TrainedModel:
    """A model with its checkpoint's provenance (final: wraps an ``nn.Module``, does not
    subclass it).  Made by :func:`load_model`.

    Attributes
    ----------
    module : nn.Module
        The network in eval mode on ``device``; call it directly to train or take gradients.
    family : ``"mri"``, ``"radar"`` or ``"blockcs"``
        The data the checkpoint was trained on.
    name : str
        The bundled name or the checkpoint path as given.
    path : Path
        The checkpoint file.
    sha256 : str
        SHA-256 of the checkpoint file.
    model_name : str
        Registered model name (``discofold models``).
    config : Config
        The training configuration stored in the checkpoint.
    step : int
        Optimiser steps of the checkpoint.
    device : torch.device
    recursions : int, str or None
        Passes per shared stage of a recursive model, ``"auto"`` / ``"auto:TOL"`` for adaptive
        depth (:mod:`discofold.models._adaptive`), ``None``: not set.
    """

    module: nn.Module
    family: str
    name: str
    path: Path
    sha256: str
    model_name: str
    config: object
    step: int
    device: torch.device
    recursions: int | str | None = None

    def __call__(self, y: torch.Tensor, op, meta=None) -> torch.Tensor:
        """``module(y, op, meta)`` without gradients: ``y`` ``(B, *op.out_shape)`` → complex
        image ``(B, H, W)`` (see the model's docstring)."""
        with torch.no_grad():
            return self.module(y, op, meta)

    def provenance(self, num_low_frequencies: int | None = None) -> dict:
        """The attributes an output file gets (module docstring); ``recon_params`` holds the
        recursions and, when given, the calibration width of :meth:`reconstruct`."""
        params = {"recursions": self.recursions}
        if num_low_frequencies is not None:
            params["num_low_frequencies"] = int(num_low_frequencies)
        return {"recon_method": "checkpoint", "recon_model": self.model_name,
                "recon_checkpoint": self.name, "recon_checkpoint_sha256": self.sha256,
                "recon_checkpoint_step": int(self.step),
                "recon_params": json.dumps(params, sort_keys=True)}

    def _check_family(self, family: str, where: str) -> None:
        if self.family not in _RECON_FAMILIES:
            raise InputError(f"checkpoint '{self.name}' is a {self.family} model "
                             f"({self.model_name}); files can be reconstructed with MRI and "
                             "radar models only")
        if family != self.family:
            raise InputError(f"checkpoint '{self.name}' is {_LABEL[self.family]} model "
                             f"({self.model_name}) but {where} holds {_DATA[family]}; use "
                             f"{_LABEL[family]} checkpoint{_bundled_hint(family)}")

    def reconstruct(self, records: Sequence, *, num_low_frequencies: int | None = None
                    ) -> list[torch.Tensor]:
        """Reconstruct records of one file as they are stored (their own masks/apertures).

        Parameters
        ----------
        records : MRISlice or RadarFrame records (``FastMRIFile.read_slice``, ``RadarH5Reader[i]``)
        num_low_frequencies : int, optional
            MRI: width of the calibration region in k-space lines (default: the file's attr,
            else found in the mask), from which the model estimates coil sensitivities.

        Returns
        -------
        list of Tensor
            MRI magnitudes float32 ``(h, w)`` (centre-cropped to the target when the record
            has one); radar complex64 images ``(H, W)``.
        """
        return self._reconstruct(list(records), num_low_frequencies, None)

    def _reconstruct(self, records: list, nlf: int | None, dcf,
                     passes: list | None = None) -> list[torch.Tensor]:
        if not records:
            return []
        from ..data.fastmri import MRISlice

        family = "mri" if isinstance(records[0], MRISlice) else "radar"
        self._check_family(family, "the records")
        if family == "mri":
            metas = [mri_record_meta(r, nlf) for r in records]
            return run_mri(self.module, records, metas, self.device, dcf=dcf, passes=passes)
        return run_radar(self.module, records, [radar_record_meta(r) for r in records],
                         self.device, passes=passes)

    def reconstruct_file(self, path: str | os.PathLike, output: str | os.PathLike | None = None,
                         *, batch_size: int = 1, overwrite: bool = False,
                         num_low_frequencies: int | None = None,
                         progress: Progress | None = None) -> torch.Tensor:
        """Reconstruct every slice / frame of an MRI or radar HDF5 file, ``batch_size`` at a time.

        Parameters
        ----------
        path : the input file (read lazily, never modified)
        output : path, optional
            Write the result there atomically, in the format of ``discofold recon`` with the
            provenance attributes (module docstring); an existing file is refused unless
            ``overwrite``, before any work is done.
        batch_size : records per model call
        num_low_frequencies : see :meth:`reconstruct`
        progress : ``progress(batches, total, desc)`` wrapper, optional

        Returns
        -------
        Tensor
            MRI float32 ``(slices, h, w)``; radar complex64 ``(frames, H, W)``.

        Raises
        ------
        InputError
            The file holds the other family's data, no calibration region for coil maps, an
            existing ``output``, a bad ``batch_size``.
        FormatError
            The file is not a readable MRI / radar HDF5 file.
        """
        path = Path(path)
        if not path.is_file():
            raise InputError(f"input file '{path}' does not exist or is not a file")
        if int(batch_size) < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        self._check_family(file_family(path), f"'{path}'")
        if output is not None:
            if Path(output).resolve() == path.resolve():
                raise InputError(f"output '{output}' is the input file; the input is never "
                                 "modified")
            check_writable(output, overwrite)
        reader = FastMRIFile(path) if self.family == "mri" else RadarH5Reader(path)
        with reader:
            results, passes = self._file_results(reader, path, int(batch_size),
                                                 num_low_frequencies, progress)
        stack = torch.stack(results)
        if output is not None:
            self._write(output, stack, reader, path, num_low_frequencies, overwrite, passes)
        return stack

    def _file_results(self, reader, path: Path, batch_size: int, nlf, progress
                      ) -> tuple[list, list]:
        """The images of every record and the passes each used (``None``: not recursive)."""
        n = len(reader)
        dcf = None
        if self.family == "mri" and reader.noncartesian:
            from ..operators import pipe_menon_dcf

            dcf = pipe_menon_dcf(reader.trajectory, tuple(reader.matrix))
        read = reader.read_slice if self.family == "mri" else reader.__getitem__
        starts = range(0, n, batch_size)
        if progress is not None:
            starts = progress(starts, len(starts), f"recon {self.name}")
        unit = "slice" if self.family == "mri" else "frame"
        results, passes = [], []
        for i0 in starts:
            idx = range(i0, min(n, i0 + batch_size))
            records = [read(i) for i in idx]
            try:
                results += self._reconstruct(records, nlf, dcf, passes)
            except DiscofoldError as exc:
                where = f"{unit} {i0}" if len(idx) == 1 else f"{unit}s {i0}-{idx[-1]}"
                text = str(exc) + _hint(str(exc), reader, nlf)
                if str(path) not in text:
                    text = f"'{path}' {where}: {text}"
                raise type(exc)(text) from exc
        return results, passes

    def _write(self, output, stack: torch.Tensor, reader, path: Path, nlf, overwrite,
               passes: list) -> None:
        attrs = {**self.provenance(nlf), "recon_input": path.name}
        if str(self.recursions).startswith("auto") and None not in passes:
            attrs["recon_passes"] = np.asarray(passes, dtype=np.int32)
        if self.family == "mri":
            write_reconstruction(output, stack.numpy(), {**reader.attrs, **attrs},
                                 overwrite=overwrite)
            return
        a = reader.attrs
        write_radar_image(output, stack.numpy(), extent_m=a["extent_m"],
                          image_shape=a["image_shape"], snr_db=a.get("snr_db"),
                          scenario=a.get("scenario"), attrs=attrs, overwrite=overwrite)


def load_model(name_or_path: str | os.PathLike, device: torch.device | str = "cpu", *,
               recursions: int | None = None) -> TrainedModel:
    """Load a checkpoint by bundled name (e.g. ``"mri-unified"``) or path (a ``best.pt`` /
    ``last.pt`` of ``discofold train``) into a :class:`TrainedModel`.

    The weights are loaded strictly into the model the checkpoint's config builds; a bundled
    name is resolved only after the file's sha256 matches ``discofold/pretrained/manifest.json``.

    Parameters
    ----------
    name_or_path : bundled name or checkpoint path
    device : torch device of the model (``"cpu"``, ``"cuda"``, ...)
    recursions : int or str, optional
        Passes per shared stage for recursive models (default: the config's
        ``model.eval_recursions``), or ``"auto"`` / ``"auto:TOL"``: adaptive depth, each image
        stops when a pass changes its estimate by less than TOL (default 1e-3) relative, at
        most 2 × the trained passes (:mod:`discofold.models._adaptive`).

    Raises
    ------
    CheckpointError
        Missing, corrupt, untrusted or incompatible checkpoint; a bundled file whose sha256
        differs from the manifest's.
    InputError
        A bad device.
    """
    from ..train import build_from_checkpoint, resolve_checkpoint
    from ..train.checkpoint import file_sha256
    from ..train.data import family_of

    dev = as_device(device)
    path = resolve_checkpoint(name_or_path)
    net, cfg, ckpt = build_from_checkpoint(path, device=dev)
    r = cfg.model.eval_recursions if recursions is None else _recursions(recursions)
    if recursions is not None and not hasattr(net, "set_recursions"):
        raise InputError(f"checkpoint '{name_or_path}': model {cfg.model.name} is not "
                         "recursive; recursions does not apply")
    if r and hasattr(net, "set_recursions"):
        net.set_recursions(r)
    return TrainedModel(net.eval(), family_of(cfg.data), str(name_or_path), Path(path),
                        file_sha256(path), cfg.model.name, cfg, int(ckpt["step"]), dev,
                        (r if isinstance(r, int) else str(r)) if r else None)


def _recursions(value) -> int | object:
    """``value`` parsed (an int or an adaptive rule), a bad one as :class:`InputError`."""
    from ..errors import ConfigError
    from ..models._adaptive import parse_recursions

    try:
        return parse_recursions(value)
    except ConfigError as exc:
        raise InputError(str(exc)) from None
