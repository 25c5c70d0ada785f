"""File-level reconstruction pipeline: the methods behind ``discofold recon``, ``discofold eval``
and ``benchmarks/baselines.py``.

One place decides how a method runs on one MRI slice or one radar frame, so the command line and
the benchmark that tunes its default weights use exactly the same pipeline.

Scaling (what ``--lam`` means)
------------------------------
Every iterative method works on normalised data: ``y`` is divided by ``s = max |x₀|`` with
``x₀`` the zero-filled (density-compensated) image, so the solution has a peak of about 1
whatever the scanner or simulator units; the result is multiplied back by ``s``.  The weights
are relative to the operator: the solvers receive ``λ·L`` with ``L = ‖A‖²`` (largest
eigenvalue of ``AᴴA``; 1 for Cartesian MRI with normalised coil maps, about ``P·F`` for radar),
so one ``--lam`` value means the same thing on every data set and resolution.

Default weights (no ``lam`` given)
----------------------------------
On MRI the default follows the data, ``λ = lam_sigma · σ̂_rel ** lam_power · ρ ** lam_rho_power``,
with ``σ̂_rel = σ̂ / s`` the noise level of the normalised data (``σ̂`` the robust estimate from
the outermost measured k-space samples, :func:`discofold.solvers.noise.estimate_noise_sigma`)
and ``ρ`` the measured samples per pixel (``1/R``,
:func:`~discofold.solvers.noise.sampled_fraction`).
The power of ``σ̂_rel`` spans the two classical scalings, ``λ ∝ σ`` (universal threshold) and
``λ ∝ σ²`` (MAP weight ``σ²/b`` for a fixed prior scale ``b``); ``ρ`` carries what the noise
cannot, the aliasing of stronger undersampling.  The constants of each method are fitted over
10-40 dB SNR and several patterns and accelerations by ``benchmarks/lambda_defaults.py`` and
stored in ``discofold/configs/baselines_tuned.json``.  An explicit ``lam`` (``--lam``)
overrides the rule; radar keeps fixed tuned weights.

Coil maps (multi-coil MRI files carry none)
-------------------------------------------
:func:`estimate_coil_maps`: the fully sampled calibration (ACS) box of the mask, tapered by a
separable Hann window (the smoothing), gives low-resolution coil images ``l_c``; the maps are
``S_c = l_c / max(RSS(l), ε·max RSS(l))`` with ``ε = 0.05``.  So ``Σ_c |S_c|² = 1`` wherever the
low-resolution object is above 5 % of its peak and falls smoothly to 0 in the empty background.
The image phase is absorbed into the maps (as with ESPIRiT's first eigenvector), which is
harmless because the output is a magnitude.  This is the classic "low-resolution ACS coil images
divided by their RSS" estimate (Pruessmann et al. 1999, McKenzie et al. 2002), the default
(``maps="acs"``).

``maps="espirit"`` (``discofold recon --maps espirit``) uses
:func:`discofold.solvers.espirit.espirit_maps` instead: the eigenvector maps of ESPIRiT
(Uecker et al. 2014) from the same calibration box.  They stay accurate with a small box,
where the Hann-tapered ACS images are too blurred: ``tests/solvers/test_espirit.py`` measures
CG-SENSE with both on a phantom with 5 and 9 calibration lines.  ESPIRiT is Cartesian only: a
trajectory is refused with ``maps="espirit"`` (``maps="acs"`` grids its central samples).
"""

from __future__ import annotations

import dataclasses
import json
import math
from importlib import resources
from pathlib import Path

import torch

from ..data._textfile import read_small_text
from ..data.coils import rss
from ..data.fastmri import MRISlice, center_crop_or_pad
from ..errors import ConfigError, InputError
from ..operators import CartesianMRI, LinearOperator, NonCartesianMRI, PolarRadar, ifft2c
from .fista import fista
from .linear import cg_sense, zero_filled
from .noise import estimate_noise_sigma, sampled_fraction
from .radar import omp_range_cells, polar_format, radar_geometry, range_doppler
from .tv import tv

__all__ = [
    "METHODS",
    "METHODS_FOR",
    "ITERATIVE",
    "MAPS",
    "calibration_box",
    "estimate_coil_maps",
    "slice_coil_maps",
    "load_params",
    "reconstruct",
    "relative_lam",
    "NOISE_RULE",
    "mri_operator",
    "recon_mri_slice",
    "radar_operator",
    "recon_radar_frame",
]

METHODS = ("zf", "cg", "fista", "tv", "rd", "pfa", "omp")
METHODS_FOR = {"mri": ("zf", "cg", "fista", "tv"), "radar": METHODS}
ITERATIVE = ("cg", "fista", "tv")
MAPS = ("acs", "espirit")  # coil-map estimates (module docstring)
_MIN_ACS = 4  # calibration lines needed along each axis to estimate coil maps
_MAP_FLOOR = 0.05
_NC_ACS_PIXELS = 24  # non-Cartesian: calibration disc of this many k-space pixels across
_TUNED = "baselines_tuned.json"


# --------------------------------------------------------------------------- parameters
def load_params(kind: str, method: str, path: str | Path | None = None) -> dict:
    """Default parameters of ``method`` on ``kind`` (``"mri"``/``"radar"``) data: the tuned
    ``params`` plus ``max_iter`` stored by ``benchmarks/baselines.py`` in
    ``discofold/configs/baselines_tuned.json`` (or ``path``).

    Raises
    ------
    InputError
        ``path`` is not a regular file (FIFO, device, folder), is over 1 MiB or not UTF-8.
    ConfigError
        Not JSON, or the entry is not an object of finite numbers (``max_iter`` an integer
        >= 1); the message names the file and the key.
    """
    name = path or _TUNED
    if path is None:
        text = resources.files("discofold").joinpath("configs", _TUNED).read_text()
    else:
        text = read_small_text(path, "tuned-weights file (--params)")
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"cannot read the tuned weights '{name}': {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get(kind, {}), dict):
        raise ConfigError(f"tuned weights '{name}': expected a JSON object holding an object "
                          f"'{kind}' of methods, got {type(doc).__name__}")
    entry = doc.get(kind, {}).get(method)
    if entry is None:
        return {}
    if not isinstance(entry, dict) or not isinstance(entry.get("params", {}), dict):
        raise ConfigError(f"tuned weights '{name}': entry {kind}.{method} must be an "
                          f"object with 'params', got {entry!r}")
    out = {k: _finite_param(name, f"{kind}.{method}.params.{k}", v)
           for k, v in entry.get("params", {}).items()}
    if "max_iter" in entry:
        it = _finite_param(name, f"{kind}.{method}.max_iter", entry["max_iter"])
        if it != int(it) or it < 1:
            raise ConfigError(f"tuned weights '{name}': {kind}.{method}.max_iter must be an "
                              f"integer >= 1, got {it!r}")
        out["max_iter"] = int(it)
    return out


def _finite_param(name, key: str, value) -> float | int:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    try:
        ok = ok and math.isfinite(value)
    except OverflowError:  # an integer beyond float
        ok = False
    if not ok:
        raise ConfigError(f"tuned weights '{name}': {key} must be a finite number, got "
                          f"{value!r}")
    return value


# --------------------------------------------------------------------------- generic solve
def _norm_sq(op: LinearOperator, like: torch.Tensor) -> float:
    """``‖A‖²`` times 1.001 (a safe step size): for ``CartesianMRI`` the bound
    ``max_r Σ_c |S_c(r)|²`` (orthonormal FFT, mask ≤ 1; 1 single-coil), otherwise 30 steps of
    power iteration."""
    if isinstance(op, CartesianMRI):
        maps = op.coil_maps
        lam = 1.0 if maps is None else float((maps.abs() ** 2).sum(dim=-3).max())
        return max(lam, 1e-12) * 1.001
    lam = op.compute_norm(max_iter=30, tol=1e-4, dtype=like.dtype)
    if not math.isfinite(lam) or lam <= 0:
        raise InputError(f"{op.name}: operator norm estimate is {lam}")
    return lam * 1.001


#: keys of the noise rule of :func:`relative_lam` (an explicit ``lam`` replaces them)
NOISE_RULE = ("lam_sigma", "lam_power", "lam_rho_power")


def relative_lam(params: dict, yn: torch.Tensor, op: LinearOperator) -> float:
    """The relative weight of ``params`` on the normalised data ``yn`` (peak of the zero-filled
    image 1): ``lam`` when given, else ``lam_sigma · σ̂ ** lam_power · ρ ** lam_rho_power``
    (powers default 1 and 0) with ``σ̂`` the noise estimate of ``yn`` and ``ρ`` the sampled
    fraction of ``op`` (module docstring), else 0.

    Raises
    ------
    InputError
        A noise rule for an operator without a noise estimate (radar, block CS).
    """
    if "lam" in params:
        return float(params["lam"])
    if "lam_sigma" not in params:
        return 0.0
    sigma, rho = estimate_noise_sigma(yn, op), sampled_fraction(op)
    if sigma is None or rho is None:
        raise InputError(f"{op.name}: no noise estimate for this operator, so the noise rule "
                         "'lam_sigma' does not apply; give 'lam' (--lam)")
    return (float(params["lam_sigma"]) * sigma ** float(params.get("lam_power", 1.0))
            * rho ** float(params.get("lam_rho_power", 0.0)))


def reconstruct(y: torch.Tensor, op: LinearOperator, method: str, params: dict,
                sparsity: str = "wavelet") -> torch.Tensor:
    """Run ``method`` (``zf``/``cg``/``fista``/``tv``) on measurements ``y`` with operator ``op``.

    Parameters
    ----------
    y : complex Tensor ``(..., *op.out_shape)``
    op : LinearOperator
    method : str
    params : dict
        ``lam`` (relative, see the module docstring) or the noise rule ``lam_sigma`` /
        ``lam_power`` (:func:`relative_lam`), ``lam_l1`` (``tv`` only), ``max_iter``.
    sparsity : {"wavelet", "identity"}
        FISTA's ℓ1 basis: Daubechies-4 wavelets (MRI) or pixels (sparse radar scenes).

    Returns
    -------
    complex Tensor ``(..., *op.in_shape)``: the image in the units of ``y``.
    """
    x0 = zero_filled(y, op)
    if method == "zf":
        return x0
    if method not in ITERATIVE:
        raise InputError(f"reconstruct: unknown method {method!r}; valid: zf, "
                         f"{', '.join(ITERATIVE)}")
    scale = float(x0.abs().max())
    if scale == 0.0:
        return torch.zeros_like(x0)
    yn = y / scale
    lip = _norm_sq(op, x0)
    lam = relative_lam(params, yn, op) * lip
    it = params.get("max_iter")
    kw = {} if it is None else {"max_iter": int(it)}
    if method == "cg":
        x = cg_sense(yn, op, lam=lam, **kw)
    elif method == "fista":
        levels = 3 if min(x0.shape[-2:]) >= 32 else 1
        x = fista(yn, op, lam, transform=sparsity, levels=levels, step=1.0 / lip, **kw)
    else:
        lam_l1 = float(params.get("lam_l1", 0.0)) * lip
        x = tv(yn, op, lam, lam_l1=lam_l1, L=lip, **kw)
    return x * scale


# --------------------------------------------------------------------------- coil maps
def _centre_run(line: torch.Tensor) -> tuple[int, int]:
    """``[start, stop)`` of the run of True values containing the centre index ``n//2``."""
    n = line.numel()
    c = n // 2
    if not bool(line[c]):
        return c, c
    lo, hi = c, c + 1
    while lo > 0 and bool(line[lo - 1]):
        lo -= 1
    while hi < n and bool(line[hi]):
        hi += 1
    return lo, hi


def calibration_box(mask: torch.Tensor | None, shape: tuple[int, int]) -> tuple[slice, slice]:
    """The fully sampled centred box ``(rows, cols)`` of a Cartesian mask.

    ``mask`` ``(W,)`` (column mask: every row of a sampled column is measured) or ``(H, W)``;
    ``None`` (fully sampled) gives the whole grid.  A 2-D box is the centred rectangle spanned by
    the sampled runs through the centre row and column, shrunk until fully sampled.
    """
    h, w = shape
    if mask is None:
        return slice(0, h), slice(0, w)
    m = torch.as_tensor(mask).to(torch.bool).cpu()
    if m.ndim == 1:
        return slice(0, h), slice(*_centre_run(m))
    r0, r1 = _centre_run(m[:, w // 2])
    c0, c1 = _centre_run(m[h // 2, :])
    while r1 - r0 > 0 and c1 - c0 > 0 and not bool(m[r0:r1, c0:c1].all()):
        r0, r1 = min(r0 + 1, h // 2), max(r1 - 1, h // 2 + 1)
        c0, c1 = min(c0 + 1, w // 2), max(c1 - 1, w // 2 + 1)
        if (r1 - r0, c1 - c0) == (1, 1):
            break
    return slice(r0, r1), slice(c0, c1)


def _hann(n: int) -> torch.Tensor:
    """Symmetric Hann window of ``n`` points with non-zero end points."""
    return torch.hann_window(n + 2, periodic=False, dtype=torch.float64)[1:-1]


def _maps_from_lowres(low: torch.Tensor) -> torch.Tensor:
    r = rss(low)
    return (low / r.clamp_min(_MAP_FLOOR * float(r.max())).unsqueeze(-3)).to(torch.complex64)


def estimate_coil_maps(kspace: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Coil maps ``(C, H, W)`` complex64 from the calibration box of Cartesian ``kspace``
    ``(C, H, W)`` (see the module docstring).

    Raises
    ------
    InputError
        When the calibration box has fewer than 4 lines along an axis.
    """
    c, h, w = kspace.shape
    rows, cols = calibration_box(mask, (h, w))
    nr, nc = rows.stop - rows.start, cols.stop - cols.start
    if min(nr, nc) < _MIN_ACS:
        raise InputError(f"the mask has a fully sampled calibration region of {nr}×{nc} "
                         f"k-space lines around the centre; at least {_MIN_ACS}×{_MIN_ACS} are "
                         "needed to estimate coil maps (multi-coil files carry none)")
    win = torch.zeros(h, w, dtype=torch.float64)
    win[rows, cols] = _hann(nr)[:, None] * _hann(nc)[None, :]
    return _maps_from_lowres(ifft2c(kspace.to(torch.complex64) * win.to(torch.float32)))


def _estimate_nc_maps(kspace: torch.Tensor, traj: torch.Tensor, shape, dcf) -> torch.Tensor:
    """Coil maps from the centre of non-Cartesian ``kspace`` ``(C, K)``: samples within a disc
    of 24 k-space pixels across, Hann-tapered in ``|k|`` and density compensated."""
    radius = math.pi * _NC_ACS_PIXELS / min(shape)
    kr = traj.double().norm(dim=-1) / radius
    taper = torch.where(kr < 1, torch.cos(0.5 * math.pi * kr) ** 2, torch.zeros_like(kr))
    if not bool((taper > 0).any()):
        raise InputError("the trajectory has no sample near the k-space centre; cannot "
                         "estimate coil maps")
    op = NonCartesianMRI(traj, shape)
    return _maps_from_lowres(op.A_adjoint(kspace * (taper * dcf).to(torch.float32)))


# --------------------------------------------------------------------------- MRI
def mri_operator(sl: MRISlice, dcf: torch.Tensor | None = None,
                 coils: bool = True, maps: str = "acs") -> LinearOperator:
    """The operator of one slice: ``CartesianMRI`` (``mask``, estimated maps) or
    ``NonCartesianMRI`` (``trajectory``, ``dcf``); ``coils=False`` leaves the maps out (a
    multi-coil slice is then a batch of single-coil images); ``maps`` is the estimate
    (``"acs"``/``"espirit"``, :func:`slice_coil_maps`)."""
    shape = tuple(sl.matrix)
    smaps = slice_coil_maps(sl, dcf, maps) if coils and sl.multicoil else None
    if sl.trajectory is not None:
        return NonCartesianMRI(sl.trajectory, shape, coil_maps=smaps, dcf=dcf)
    mask = torch.ones(shape, dtype=torch.bool) if sl.mask is None else sl.mask
    return CartesianMRI(mask, coil_maps=smaps, image_shape=shape)


def slice_coil_maps(sl: MRISlice, dcf: torch.Tensor | None = None,
                    method: str = "acs") -> torch.Tensor:
    """Coil maps ``(C, H, W)`` of one multi-coil slice: ``method="acs"``
    :func:`estimate_coil_maps` from the calibration box of a Cartesian mask, or from the central
    samples of a trajectory (density compensated by ``dcf``); ``method="espirit"``
    :func:`~discofold.solvers.espirit.espirit_maps` from the calibration box (Cartesian only;
    see the module docstring).

    Raises
    ------
    InputError
        No calibration region large enough (the message says how large it is), an unknown
        ``method``, or ``"espirit"`` on a non-Cartesian slice.
    """
    if method not in MAPS:
        raise InputError(f"unknown coil-map method {method!r}; valid: {', '.join(MAPS)}")
    if method == "espirit":
        if sl.trajectory is not None:
            raise InputError("ESPIRiT coil maps need Cartesian k-space (a calibration box); "
                             "this slice has a non-Cartesian trajectory: use maps 'acs'")
        from .espirit import espirit_maps

        return espirit_maps(sl.kspace, sl.mask)
    if sl.trajectory is not None:
        if dcf is None:
            from ..operators import pipe_menon_dcf

            dcf = pipe_menon_dcf(sl.trajectory, tuple(sl.matrix))
        return _estimate_nc_maps(sl.kspace, sl.trajectory, tuple(sl.matrix), dcf)
    return estimate_coil_maps(sl.kspace, sl.mask)


def _data_scale(y: torch.Tensor) -> float:
    """A power of two near ``max |y|`` (1 when ``y`` is all zero): dividing by it is exact, and
    the scaled data keep every intermediate of a reconstruction (the squares of an RSS, the coil
    maps) far from float32 overflow and underflow, whatever the units of the file."""
    peak = float(y.abs().max()) if y.numel() else 0.0
    if peak == 0.0 or not math.isfinite(peak):
        return 1.0
    return math.ldexp(1.0, math.frexp(peak)[1])


def recon_mri_slice(sl: MRISlice, method: str, params: dict,
                    dcf: torch.Tensor | None = None, maps: str = "acs") -> torch.Tensor:
    """Magnitude reconstruction ``(h, w)`` float32 of one slice: ``|x|`` single-coil, the RSS of
    the coil images ``S_c x`` multi-coil (plain RSS of the zero-filled coil images for ``zf``),
    centre-cropped to the target size when the file has a target.

    The k-space is reconstructed divided by :func:`_data_scale` and the magnitude multiplied
    back (every method is scale-equivariant), so only a result that itself exceeds float32 is
    non-finite.  ``maps`` is the coil-map estimate of multi-coil iterative methods
    (``"acs"``/``"espirit"``, :func:`slice_coil_maps`)."""
    scale = _data_scale(sl.kspace)
    if scale != 1.0:
        sl = dataclasses.replace(sl, kspace=sl.kspace / scale)
    return _recon_mri_scaled(sl, method, params, dcf, maps) * scale


def _recon_mri_scaled(sl: MRISlice, method: str, params: dict,
                      dcf: torch.Tensor | None, maps: str = "acs") -> torch.Tensor:
    y = sl.kspace.to(torch.complex64)
    if sl.trajectory is not None and not sl.multicoil:
        y = y[0]  # single-coil non-Cartesian files store (1, K) per slice
    if sl.trajectory is None and sl.mask is not None:
        mask = sl.mask if sl.mask.ndim == 2 else sl.mask[None, :]
        y = y * mask
    if method == "zf" or not sl.multicoil:
        op = mri_operator(sl, dcf, coils=False)
        x = reconstruct(y, op, method, params)
        mag = rss(x) if sl.multicoil else x.abs()
    else:
        op = mri_operator(sl, dcf, coils=True, maps=maps)
        x = reconstruct(y, op, method, params)
        mag = rss(x.unsqueeze(-3) * op.coil_maps)
    if sl.output_shape is not None:  # the target's size, else the header's recon matrix
        mag = center_crop_or_pad(mag, sl.output_shape)
    return mag.float()


# --------------------------------------------------------------------------- radar
def radar_operator(frame) -> PolarRadar:
    """``PolarRadar`` of one :class:`~discofold.data.radar_io.RadarFrame`."""
    return PolarRadar(frame.angles_rad, frame.frequencies_hz, frame.attrs["image_shape"],
                      frame.attrs["extent_m"], mask=frame.mask)


def recon_radar_frame(frame, method: str, params: dict) -> torch.Tensor:
    """Complex image ``(H, W)`` complex64 of one radar frame (``rd``/``pfa``/``omp`` use the
    classical imaging of :mod:`discofold.solvers.radar`; the rest run on ``PolarRadar``).

    As for MRI the echo is reconstructed divided by :func:`_data_scale` and the image
    multiplied back (every method is scale-equivariant; ``omp``'s tolerance is relative)."""
    echo = frame.echo.to(torch.complex64)
    scale = _data_scale(echo)
    return _recon_radar_scaled(frame, echo / scale, method, params) * scale


def _recon_radar_scaled(frame, echo: torch.Tensor, method: str, params: dict) -> torch.Tensor:
    op = radar_operator(frame)
    if method in ("rd", "pfa", "omp"):
        geom = radar_geometry(op)
        if method == "rd":
            return range_doppler(echo, **geom).to(torch.complex64)
        if method == "pfa":
            return polar_format(echo, **geom).to(torch.complex64)
        kw = {k: params[k] for k in ("n_atoms", "tol") if k in params}
        return omp_range_cells(echo, **geom, **kw).to(torch.complex64)
    up = int(params.get("upsample", 1))
    if up < 1:
        raise InputError(f"radar parameter upsample must be an integer >= 1, got {up}")
    if up == 1 or method == "zf":
        rest = {k: v for k, v in params.items() if k != "upsample"}
        return reconstruct(echo, op, method, rest, sparsity="identity").to(torch.complex64)
    return _recon_radar_upsampled(frame, echo, method, params, up)


def _recon_radar_upsampled(frame, echo, method: str, params: dict, up: int) -> torch.Tensor:
    """Sparse recovery on a pixel grid ``up`` times finer over the same window, returned as the
    full-aperture image of the recovered scene on the file's grid.

    Off-grid point scatterers are not sparse on the image grid (each is a 2-D sinc), but they
    are nearly sparse on a finer grid; imaging the recovered fine scene through the complete
    aperture (``PolarRadar.reference_image`` of its noise-free echo) gives the estimate of the
    full-aperture reference image defined in DESIGN.md.
    """
    (h, w), ext = frame.attrs["image_shape"], frame.attrs["extent_m"]
    fine_shape = (up * int(h), up * int(w))
    geo = (frame.angles_rad, frame.frequencies_hz)
    fine = PolarRadar(*geo, fine_shape, ext, mask=frame.mask)
    rest = {k: v for k, v in params.items() if k != "upsample"}
    x = reconstruct(echo, fine, method, rest, sparsity="identity").to(torch.complex64)
    full_fine = PolarRadar(*geo, fine_shape, ext)
    full = PolarRadar(*geo, (int(h), int(w)), ext)
    return full.reference_image(full_fine.A(x)).to(torch.complex64)
