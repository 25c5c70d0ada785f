"""``discofold recon``: reconstruction of an MRI or radar HDF5 file, classical or learned.

::

    discofold recon --method zf|cg|fista|tv|rd|pfa|omp [--lam L] [--lam-l1 L1] [--iters N]
                    [--maps acs|espirit] --input FILE.h5 --output OUT.h5 [--overwrite] [--quiet]
    discofold recon --checkpoint NAME|PATH [--device cpu|cuda] [--batch-size N]
                    [--num-low-frequencies N] [--recursions N|auto|auto:TOL]
                    --input FILE.h5 --output OUT.h5
    discofold recon --method ...|--checkpoint ... --input DIR --output DIR [--keep-going]

The format is detected from the file: a ``kspace`` dataset is fastMRI-layout MRI (Cartesian,
or the non-Cartesian extension with a ``trajectory``), an ``echo`` dataset is radar.  The input
is read lazily, one slice / frame at a time, and never modified; the result is written at the end
in one atomic step (a failed or interrupted run leaves no partial file), and an existing output
is kept unless ``--overwrite``.

Output: MRI ``reconstruction`` float32 ``(slices, h, w)`` magnitude (RSS of the coil images for
multi-coil data, centre-cropped to the target size when the file has a target, else to the
``reconSpace`` matrix of its ``ismrmrd_header`` as fastMRI's test layout expects) with the input's
attributes plus ``recon_method``, ``recon_params`` and ``recon_input``; radar ``image`` complex64
``(frames, H, W)`` with the input's ``extent_m``, ``image_shape``, ``snr_db``, ``scenario`` and
the same three ``recon_*`` attributes.

Methods: ``zf`` zero-filled / density-compensated adjoint, ``cg`` CG-SENSE (Tikhonov), ``fista``
(ℓ1 on Daubechies-4 wavelets for MRI, on pixels for radar), ``tv`` (total variation by PDHG; plus
``--lam-l1`` ℓ1 for radar), and for radar only ``rd`` range-Doppler, ``pfa`` polar format, ``omp``
OMP per range cell.  ``--lam`` is relative (see :mod:`discofold.solvers.pipeline`).  Without
it, MRI weights follow the noise of the data, ``λ = lam_sigma · σ̂_rel ** lam_power ·
ρ ** lam_rho_power`` with ``σ̂_rel`` the noise level estimated from the outermost measured
k-space samples relative to the zero-filled peak and ``ρ`` the measured samples per pixel
(constants fitted over 10-40 dB SNR and three patterns by ``benchmarks/lambda_defaults.py``);
radar weights are the fixed values tuned by ``benchmarks/baselines.py``.  Both live in
``discofold/configs/baselines_tuned.json`` (``--params FILE`` reads another such file).
Multi-coil MRI: ``--maps`` picks the coil maps of ``cg``/``fista``/``tv``, ``acs`` (default: the
Hann-tapered calibration images over their RSS) or ``espirit`` (ESPIRiT eigenvector maps of the
same calibration box, Cartesian files only; :mod:`discofold.solvers.pipeline`), and is written
to the output's ``recon_maps`` attribute.

Folder mode: with ``--input DIR`` every ``*.h5`` file of ``DIR`` (sorted by name) is
reconstructed into ``--output DIR`` under the same name, one file at a time (only one file is
open and in memory at once).  Existing outputs are refused up front unless ``--overwrite``.  A
bad file stops the run (exit 2) and keeps the outputs already written; with ``--keep-going`` it
is reported on one line of stderr and skipped, and the run exits 1 if any file was skipped.

Learned reconstruction: ``--checkpoint`` takes a bundled name (``mri-unified``,
``radar-unified``; sha256 checked against the manifest) or a checkpoint written by
``discofold train``, loaded once for all files by :func:`discofold.load_model`; each file is
reconstructed by :meth:`~discofold.inference.TrainedModel.reconstruct_file` under its own
sampling, ``--batch-size`` slices / frames per model call, into the same output layout with
``recon_method = "checkpoint"`` and the model's name and sha256 in the attributes
(:mod:`discofold.inference`).  A checkpoint of the other family than the file (MRI vs radar) is
refused with an error naming both.  ``--num-low-frequencies`` sets the calibration width from
which the model estimates coil sensitivities (default: the file's attr, else the mask's fully
sampled centre).  ``--recursions`` sets the passes per shared stage of a recursive checkpoint:
``N``, or ``auto`` (adaptive depth: each image stops when a pass changes its estimate by less
than 1e-3 relative, ``auto:TOL`` for another tolerance, at most 2 × the trained passes;
:mod:`discofold.models._adaptive`), and the passes each image used are written to the output's
``recon_passes`` attribute (int32, one per slice / frame, summed over the shared stages).

The classical work is split into a per-item function and a writer (:class:`_Job`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data import (
    FastMRIFile,
    RadarH5Reader,
    file_family,
    write_radar_image,
    write_reconstruction,
)
from ..errors import DiscofoldError, InputError
from ..solvers.pipeline import (
    ITERATIVE,
    MAPS,
    METHODS,
    METHODS_FOR,
    NOISE_RULE,
    load_params,
    recon_mri_slice,
    recon_radar_frame,
)
from ._common import add_limit_args, check_new_files, positive_int, progress

__all__ = ["register", "run", "detect_format"]


def register(subparsers) -> None:
    """Add the ``recon`` verb."""
    p = subparsers.add_parser(
        "recon", help="reconstruct MRI or radar files: classical methods or a trained checkpoint",
        description="Reconstruction of an MRI (fastMRI layout) or radar HDF5 file, or a folder "
        "of them, written atomically as 'reconstruction' (MRI magnitude) or 'image' (radar). "
        "Either --method (classical): zf zero-filled, cg CG-SENSE, fista (wavelet l1 MRI / "
        "pixel l1 radar), tv, and radar only rd range-Doppler, pfa polar format, omp "
        "(zf/rd/pfa/omp ignore --lam/--lam-l1); or --checkpoint: a trained model (bundled "
        "name such as mri-unified / radar-unified, or a .pt file of 'discofold train').",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--method", choices=METHODS, help="classical reconstruction method")
    which.add_argument("--checkpoint", metavar="NAME|PATH",
                       help="trained model: bundled checkpoint name or checkpoint file")
    p.add_argument("--input", required=True, metavar="FILE.h5|DIR",
                   help="MRI or radar HDF5 file, or a folder of them (every *.h5)")
    p.add_argument("--output", required=True, metavar="OUT.h5|DIR",
                   help="output HDF5 file, or the output folder when --input is a folder")
    p.add_argument("--keep-going", action="store_true", dest="keep_going",
                   help="folder mode: report and skip a bad file instead of stopping")
    p.add_argument("--lam", type=float, default=None,
                   help="relative regularisation weight (default: MRI, the tuned noise rule of the "
                   "data; radar, the tuned value)")
    p.add_argument("--lam-l1", type=float, default=None, dest="lam_l1",
                   help="relative ℓ1 weight added to tv on radar data (default: tuned value)")
    p.add_argument("--iters", type=positive_int, default=None, metavar="N",
                   help="iterations of cg/fista/tv (default: the tuned setting)")
    p.add_argument("--maps", choices=MAPS, default=None,
                   help="multi-coil MRI, cg/fista/tv: coil maps from the calibration box, acs "
                   "(tapered low-resolution images / RSS, default) or espirit (ESPIRiT, "
                   "Cartesian only)")
    p.add_argument("--params", default=None, metavar="JSON",
                   help="tuned-weights file (default: discofold/configs/baselines_tuned.json)")
    p.add_argument("--device", default=None,
                   help="--checkpoint: torch device of the model (default cpu)")
    p.add_argument("--batch-size", type=positive_int, default=None, dest="batch_size",
                   metavar="N", help="--checkpoint: slices / frames per model call (default 1)")
    p.add_argument("--num-low-frequencies", type=positive_int, default=None,
                   dest="num_low_frequencies", metavar="N",
                   help="--checkpoint, MRI: calibration width in k-space lines for the model's "
                   "coil sensitivities (default: the file's attr, else the mask's centre)")
    p.add_argument("--recursions", default=None, metavar="N|auto[:TOL]",
                   help="--checkpoint, recursive models: passes per shared stage, or auto "
                   "(adaptive depth: stop when a pass changes the image by < TOL relative, "
                   "default 1e-3, at most 2x the trained passes; the passes used per slice / "
                   "frame go to the output attr recon_passes)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary line")
    add_limit_args(p)
    p.set_defaults(func=run)


# --------------------------------------------------------------------------- checks
def detect_format(path: Path) -> str:
    """``"mri"`` (dataset ``kspace``) or ``"radar"`` (dataset ``echo``) for an HDF5 file."""
    if not path.is_file():
        raise InputError(f"--input '{path}' does not exist or is not a file")
    return file_family(path, "--input")


def _same_file(inp: Path, out: Path) -> bool:
    """Whether writing ``out`` would replace ``inp`` (same real path, or a hard link)."""
    if inp.resolve() == out.resolve():
        return True
    return inp.exists() and out.exists() and os.path.samefile(inp, out)


def _check_paths(args) -> tuple[Path, Path]:
    inp, out = Path(args.input), Path(args.output)
    if _same_file(inp, out):
        raise InputError(f"--output '{out}' is the input file; the input is never modified, "
                         "choose another output path")
    check_new_files([out], args.overwrite)
    if not out.parent.is_dir():
        raise InputError(f"--output '{out}': the folder '{out.parent}' does not exist")
    return inp, out


_CLASSICAL_ONLY = ("lam", "lam_l1", "iters", "params", "maps")
_CHECKPOINT_ONLY = ("device", "batch_size", "num_low_frequencies", "recursions")


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _check_options(args) -> None:
    """Refuse options of the other path (``--lam`` with ``--checkpoint``, ...)."""
    other = _CLASSICAL_ONLY if args.checkpoint else _CHECKPOINT_ONLY
    given = [_flag(k) for k in other if getattr(args, k) is not None]
    if given:
        path = "--method" if args.checkpoint else "--checkpoint"
        verb = "applies" if len(given) == 1 else "apply"
        raise InputError(f"{', '.join(given)} only {verb} with {path}, not with "
                         f"{'--checkpoint' if args.checkpoint else '--method'}")


def _load(args):
    """The model of ``--checkpoint`` (loaded once for all files), or ``None``."""
    if not args.checkpoint:
        return None
    from ..inference import as_device, load_model

    return load_model(args.checkpoint, as_device(args.device or "cpu", "--device"),
                      recursions=args.recursions)


def _params(kind: str, args) -> dict:
    if args.method not in METHODS_FOR[kind]:
        raise InputError(f"method '{args.method}' does not apply to {kind} data "
                         f"(--input '{args.input}'); valid: {', '.join(METHODS_FOR[kind])}")
    params = load_params(kind, args.method, args.params)
    for key in ("lam", "lam_l1"):
        value = getattr(args, key)
        if value is not None:
            if not np.isfinite(value) or value < 0:
                raise InputError(f"--{key.replace('_', '-')} must be finite and >= 0, got {value}")
            params[key] = float(value)
    if args.lam is not None:  # a fixed weight replaces the noise rule
        params = {k: v for k, v in params.items() if k not in NOISE_RULE}
    if args.iters is not None:
        params["max_iter"] = int(args.iters)
    if args.method in ITERATIVE and "lam" not in params and "lam_sigma" not in params:
        raise InputError(f"no tuned weight for {kind}/{args.method}; pass --lam")
    return params


# --------------------------------------------------------------------------- jobs
@dataclass
class _Job:
    """``n`` items reconstructed by ``item(i)``; ``write(results)`` saves them atomically."""

    n: int
    unit: str
    item: Callable[[int], torch.Tensor]
    write: Callable[[list], None]
    close: Callable[[], None]


def _mri_job(inp: Path, out: Path, method: str, params: dict, overwrite: bool,
             maps: str = "acs") -> _Job:
    f = FastMRIFile(inp)
    dcf = None
    if f.noncartesian:
        from ..operators import pipe_menon_dcf

        dcf = pipe_menon_dcf(f.trajectory, f.matrix)
    attrs = {**f.attrs, "recon_method": method,
             "recon_params": json.dumps(params, sort_keys=True), "recon_input": inp.name,
             "recon_maps": maps}

    def item(i: int) -> torch.Tensor:
        return recon_mri_slice(f.read_slice(i), method, params, dcf, maps)

    def write(results: list) -> None:
        write_reconstruction(out, torch.stack(results).numpy(), attrs, overwrite=overwrite)

    return _Job(len(f), "slice", item, write, f.close)


def _radar_job(inp: Path, out: Path, method: str, params: dict, overwrite: bool) -> _Job:
    r = RadarH5Reader(inp)
    a = r.attrs
    attrs = {"recon_method": method, "recon_params": json.dumps(params, sort_keys=True),
             "recon_input": inp.name}

    def item(i: int) -> torch.Tensor:
        return recon_radar_frame(r[i], method, params)

    def write(results: list) -> None:
        write_radar_image(out, torch.stack(results).numpy(), extent_m=a["extent_m"],
                          image_shape=a["image_shape"], snr_db=a.get("snr_db"),
                          scenario=a.get("scenario"), attrs=attrs, overwrite=overwrite)

    return _Job(len(r), "frame", item, write, r.close)


def run(args: argparse.Namespace) -> int:
    """Reconstruct ``--input`` (a file or a folder) with ``--method`` or ``--checkpoint`` into
    ``--output``."""
    _check_options(args)
    if Path(args.input).is_dir():
        model = _load(args)  # before the output folder is made: a bad checkpoint leaves none
        files, out = _folder_paths(args)
        return _run_folder(files, out, args, model)
    inp, out = _check_paths(args)
    _recon_file(inp, out, args, _load(args))
    return 0


def _folder_paths(args) -> tuple[list[Path], Path]:
    inp, out = Path(args.input), Path(args.output)
    if out.exists() and not out.is_dir():
        raise InputError(f"--input '{inp}' is a folder, so --output must be a folder; "
                         f"'{out}' is a file")
    if out.resolve() == inp.resolve():
        raise InputError(f"--output '{out}' is the input folder; the inputs are never "
                         "modified, choose another output folder")
    files = sorted(p for p in inp.glob("*.h5") if p.is_file())
    if not files:
        raise InputError(f"--input folder '{inp}' holds no *.h5 file")
    for f in files:
        if _same_file(f, out / f.name):
            raise InputError(f"--input '{f}' is its own output '{out / f.name}' (a link); the "
                             "inputs are never modified, nothing was written; choose another "
                             "output folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--output '{out}': cannot create the folder ({exc.strerror})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise InputError(f"--output '{out}': the folder is not writable")
    check_new_files([out / f.name for f in files], args.overwrite)
    return files, out


def _run_folder(files: list[Path], out: Path, args, model) -> int:
    """Folder mode: one file at a time; stop on the first bad file unless ``--keep-going``."""
    quiet, failed = args.quiet, []
    args.quiet = True  # one bar over the files, none per file
    for i, f in enumerate(progress(files, total=len(files), desc=f"recon {_label(args)}",
                                   quiet=quiet, unit="file")):
        try:
            _recon_file(f, out / f.name, args, model)
        except DiscofoldError as exc:
            if not args.keep_going:
                raise type(exc)(f"{exc} (stopped at file {i + 1} of {len(files)}; the "
                                f"{i - len(failed)} outputs already written to '{out}' are "
                                "kept; --keep-going skips bad files)") from exc
            failed.append(f.name)
            print(f"discofold recon: skipped '{f}': {' '.join(str(exc).split())}",
                  file=sys.stderr)
    if not quiet or failed:
        print(f"discofold recon: {len(files) - len(failed)} of {len(files)} file(s) -> '{out}'"
              + (f"; skipped {len(failed)}: {', '.join(failed)}" if failed else ""),
              file=sys.stderr)
    return 1 if failed else 0


def _label(args) -> str:
    return args.method or args.checkpoint


def _recon_file(inp: Path, out: Path, args, model=None) -> None:
    """Reconstruct one file ``inp`` into ``out`` (paths already checked) with ``--method``, or
    with ``model`` (:class:`~discofold.inference.TrainedModel`) for ``--checkpoint``."""
    kind = detect_format(inp)
    start = time.perf_counter()
    if model is not None:
        def bar(items, total, desc):
            return progress(items, total=total, desc=desc, quiet=args.quiet, unit="batch")

        n = len(model.reconstruct_file(inp, out, batch_size=args.batch_size or 1,
                                       overwrite=args.overwrite,
                                       num_low_frequencies=args.num_low_frequencies,
                                       progress=bar))
        unit = "slice" if kind == "mri" else "frame"
    else:
        params = _params(kind, args)
        if kind == "mri":
            job = _mri_job(inp, out, args.method, params, args.overwrite, args.maps or "acs")
        elif args.maps is not None:
            raise InputError(f"--maps applies to multi-coil MRI files, not to the radar file "
                             f"'{inp}'")
        else:
            job = _radar_job(inp, out, args.method, params, args.overwrite)
        try:
            results = [job.item(i) for i in progress(range(job.n), total=job.n,
                                                      desc=f"recon {args.method}",
                                                      quiet=args.quiet, unit=job.unit)]
        finally:
            job.close()
        job.write(results)
        n, unit = job.n, job.unit
    if not args.quiet:
        print(f"discofold recon: {_label(args)} on {n} {unit}(s) of '{inp}' -> '{out}' "
              f"in {time.perf_counter() - start:.1f} s", file=sys.stderr)
