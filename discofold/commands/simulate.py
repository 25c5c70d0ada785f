"""``discofold simulate mri|radar|blockcs``: write simulated data sets in the DESIGN.md formats.

``mri``
    ``--n`` fastMRI-format files ``mri_00000.h5, ...``, one volume of ``--slices`` slices each.
    Cartesian patterns (``discofold.sampling.list_patterns("mri_1d" | "mri_2d")``): ``kspace``
    ``(slices, coils, H, W)`` (or ``(slices, H, W)`` with ``--coils 0|1``) holding
    ``mask ⊙ F(S x) + noise``, one ``mask`` per file (``(W,)`` or ``(H, W)``), the target
    ``reconstruction_rss`` / ``reconstruction_esc`` = RSS of the inverse FFT of the fully sampled,
    noise-free k-space.  Images are simulated on a grid ``--oversample`` times finer
    (:class:`discofold.data.SimulatedMRIDataset`), so no inverse crime.
    Trajectories ``radial_traj`` / ``spiral_traj`` (phantoms only) write the non-Cartesian
    extension: ``kspace (slices, coils, K)``, ``trajectory (K, 2)``, attr ``matrix``, with the
    ANALYTIC k-space of the ellipses (:func:`discofold.data.ellipse_kspace`, pixel-box
    averaged); multi-coil maps are birdcage maps truncated to their central ``7 × 7`` Fourier
    modes, so that ``F(S_c x)`` stays analytic (a finite sum of shifted ellipse transforms).
    The ``acceleration`` attr is always the TRUE one: ``H·W / measured samples``.
    ``--layout`` (Cartesian only for the fastMRI ones; ``docs/formats.md``): ``combined``
    (default) is the layout above, masked k-space, ``mask`` and the target in one file;
    ``fastmri-train`` writes fastMRI's train / val layout, the FULL noisy k-space and the target,
    no mask; ``fastmri-test`` fastMRI's test layout, the masked k-space and ``mask``, no target.
    Every file carries the ``ismrmrd_header`` fastMRI's ``SliceDataset`` reads.  The noise of
    ``fastmri-train`` has the σ that ``--snr-db`` gives on the samples ``--pattern`` measures,
    drawn as for the other layouts, so the three layouts of one ``(--seed, i)`` and options agree
    exactly: test / combined k-space = ``mask ⊙`` train k-space.
``radar``
    ``--n`` radar HDF5 files ``radar_00000.h5, ...`` of ``--frames`` frames each
    (:func:`discofold.data.simulate_radar_file`): echo, aperture mask, reference image and
    scatterers.
``blockcs``
    One HDF5 file ``blockcs.h5``: ``train`` / ``test`` float32 ``(N, b, b)`` luminance patches
    split BY IMAGE, ``train_source`` / ``test_source`` int64 ``(N,)`` (index of each patch's
    image), ``train_images`` / ``test_images`` (names), ``phi`` float32 ``(M, b²)`` Gaussian
    sampling matrix with orthonormal rows for ``--ratio``; attrs ``block``, ``ratio`` (achieved
    ``M / b²``), ``nominal_ratio``, ``measurements``, ``seed``.

File ``i`` depends only on ``(--seed, i)`` and the options: re-running reproduces it bit for bit.
Existing files are never replaced without ``--overwrite``; every write is atomic.
"""

from __future__ import annotations

import argparse
import difflib
import math
from pathlib import Path

import h5py
import numpy as np
import torch

from ..data import (
    ImageSource,
    PatternSpec,
    SimulatedMRIDataset,
    SimulatedRadarDataset,
    add_noise,
    atomic_write,
    birdcage_maps,
    ellipse_kspace,
    make_blockcs_split,
    radar_preset,
    random_ellipses,
    simulate_radar_file,
    write_mri_file,
)
from ..data.noise import complex_randn, noise_sigma
from ..data.phantoms import pixel_centres, rasterize_ellipses
from ..data.radar_sim import preset_table as radar_preset_table
from ..errors import InputError
from ..operators import gaussian_block_matrix, measurements_for_ratio
from ..sampling import list_patterns, make_mask, make_trajectory
from ._common import (
    add_output_args,
    check_new_files,
    derive_seed,
    parse_shape,
    positive_int,
    prepare_out_dir,
    progress,
)

__all__ = ["register", "run", "LAYOUTS", "TRAJECTORIES"]

#: ``--pattern`` names of non-Cartesian trajectories -> ``make_trajectory`` names.
TRAJECTORIES = {"radial_traj": "radial", "spiral_traj": "spiral"}
_COIL_MODES = 3  # coil maps keep Fourier modes -3..3 along each axis (non-Cartesian)
_SPIRAL_INTERLEAVES, _SPIRAL_ALPHA = 8, 1.5
_FULL = [PatternSpec("equispaced", 1.0)]  # acceleration 1: every column, the full k-space
#: ``--layout`` of ``simulate mri``: discofold's one-file layout and fastMRI's two splits.
LAYOUTS = ("combined", "fastmri-train", "fastmri-test")


# ----------------------------------------------------------------------------- parser
def _snr(text: str) -> float | None:
    if str(text).lower() in ("inf", "none", "off"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected dB, 'inf' or 'none', got {text!r}") from None
    if math.isnan(value):
        raise argparse.ArgumentTypeError("--snr-db must not be NaN")
    return None if math.isinf(value) and value > 0 else value


def _common_parent(noise: bool) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    add_output_args(p)
    p.add_argument("--seed", type=int, default=0, help="base seed; file i uses (seed, i)")
    if noise:
        p.add_argument("--snr-db", type=_snr, default=20.0, metavar="DB",
                       help="noise SNR on the measured samples in dB; 'inf'/'none': noise-free")
    return p


def register(subparsers) -> None:
    """Add ``simulate`` with the sub-commands ``mri``, ``radar`` and ``blockcs``."""
    parser = subparsers.add_parser(
        "simulate", help="write simulated MRI, radar or block-CS data files",
        description="Write simulated data in the discofold HDF5 formats (see DESIGN.md).")
    kinds = parser.add_subparsers(dest="kind", metavar="{mri,radar,blockcs}", required=True)
    noisy, plain = _common_parent(True), _common_parent(False)
    _add_mri(kinds.add_parser("mri", parents=[noisy], help="fastMRI-format k-space files"))
    _add_radar(kinds.add_parser(
        "radar", parents=[noisy], help="radar HDF5 files",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write radar HDF5 files (echo, aperture mask, reference image, scatterers; "
        "docs/formats.md).",
        epilog="geometry presets (--preset; the 19.2 m x 19.2 m window; docs/formats.md):\n\n"
        + radar_preset_table()))
    _add_blockcs(kinds.add_parser("blockcs", parents=[plain], help="block-CS patches + matrix"))
    parser.set_defaults(func=run)


def _add_mri(mri: argparse.ArgumentParser) -> None:
    mri.add_argument("--n", type=positive_int, required=True, help="number of files")
    mri.add_argument("--size", type=parse_shape, default=(128, 128), metavar="N|HxW",
                     help="image matrix: N for N×N or HxW (default 128)")
    mri.add_argument("--slices", type=positive_int, default=2,
                     help="slices per file (one volume per file; default 2)")
    mri.add_argument("--coils", type=int, default=8,
                     help="receive coils (birdcage maps; default 8); 0 or 1: single-coil")
    mri.add_argument("--source", choices=("phantom", "images", "mixed"), default="phantom",
                     help="random ellipse phantoms (default), natural images (extra "
                     "'images'), or both mixed")
    mri.add_argument("--image-dir", action="append", default=[], metavar="DIR",
                     help="image folder for --source images|mixed (repeatable; default: the "
                     "scikit-image sample images)")
    mri.add_argument("--pattern", default="poisson_2d",
                     help="sampling pattern (discofold.sampling.list_patterns()) or radial_traj"
                     " / spiral_traj (default poisson_2d)")
    mri.add_argument("--acceleration", type=float, default=4.0,
                     help="nominal acceleration of --pattern (default 4); the file's "
                     "'acceleration' attr holds the true one")
    mri.add_argument("--center-fraction", type=float, default=None,
                     help="fraction of the columns fully sampled at the centre, for the 1-D "
                     "patterns (default: the pattern's own)")
    mri.add_argument("--oversample", type=positive_int, default=2,
                     help="simulation grid refinement (Cartesian; 1 = inverse crime)")
    mri.add_argument("--layout", choices=LAYOUTS, default="combined",
                     help="combined: masked k-space, mask and target in one file (default); "
                     "fastmri-train: full k-space and target (fastMRI train/val); fastmri-test: "
                     "masked k-space and mask, no target (fastMRI test)")


def _add_radar(radar: argparse.ArgumentParser) -> None:
    radar.add_argument("--n", type=positive_int, required=True, help="number of files")
    radar.add_argument("--preset", default="S0",
                       help="geometry preset S0..S4 (default S0; table below)")
    radar.add_argument("--image-size", "--size", type=positive_int, default=None,
                       help="square image size (default: the preset's)")
    radar.add_argument("--total-angle-deg", type=float, default=None,
                       help="total rotation angle in degrees, (0, 360] (default: the "
                       "preset's); changes the number of pulses P")
    radar.add_argument("--scene", choices=("satellite", "points"), default="satellite",
                       help="parametric satellite (default) or random point scatterers")
    radar.add_argument("--aspect-dependent", action="store_true",
                       help="satellite panels with specular lobes around their normal (the "
                       "echo then depends on the angle)")
    radar.add_argument("--pattern", default="random_pulses",
                       help="aperture pattern (discofold.sampling.list_patterns('radar')) or "
                       "'full' (default random_pulses)")
    rate = radar.add_mutually_exclusive_group()
    rate.add_argument("--acceleration", type=float, default=None, help="1 / ratio (default 4)")
    rate.add_argument("--ratio", type=float, default=None, help="kept fraction of (P, F)")
    radar.add_argument("--frames", type=positive_int, default=1,
                       help="frames per file, each a new scene and aperture (default 1)")
    radar.add_argument("--reference", choices=("exact", "nufft"), default="exact",
                       help="reference image: direct sum over the fan (exact, default) or the "
                       "faster NUFFT adjoint")


def _add_blockcs(bcs: argparse.ArgumentParser) -> None:
    bcs.add_argument("--ratio", type=float, default=0.25,
                     help="measurement ratio M / b² of the Gaussian matrix (default 0.25)")
    bcs.add_argument("--block", type=positive_int, default=33,
                     help="block size b in pixels (default 33)")
    bcs.add_argument("--stride", type=positive_int, default=None,
                     help="step between patches in pixels (default: --block, no overlap)")
    bcs.add_argument("--test-fraction", type=float, default=0.2,
                     help="fraction of the images held out for the test split (default 0.2)")
    bcs.add_argument("--image-dir", default=None, metavar="DIR",
                     help="image folder (default: the scikit-image sample images)")
    bcs.add_argument("--n", type=positive_int, default=None,
                     help="keep at most N training patches (seeded random subset)")


def run(args: argparse.Namespace) -> int:
    """Dispatch to the selected kind; returns 0 (errors raise DiscofoldError)."""
    out = prepare_out_dir(args.out)
    writer = {"mri": _run_mri, "radar": _run_radar, "blockcs": _run_blockcs}[args.kind]
    message = writer(args, out)
    if not args.quiet:
        print(message)
    return 0


def _write_all(args, out: Path, stem: str, write_one) -> list:
    """Write files ``{stem}_00000.h5, ...``; returns what ``write_one(i, path)`` returned."""
    paths = [out / f"{stem}_{i:05d}.h5" for i in range(args.n)]
    check_new_files(paths, args.overwrite)
    bar = progress(range(args.n), total=args.n, desc=f"simulate {stem}", quiet=args.quiet)
    return [write_one(i, paths[i]) for i in bar]


def _unknown(kind: str, name: str, valid: list[str]) -> InputError:
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return InputError(f"unknown {kind} {name!r}{hint}; valid: {', '.join(valid)}")


# ----------------------------------------------------------------------------- MRI
def _check_mri(args) -> None:
    names = list_patterns("mri_1d") + list_patterns("mri_2d") + list(TRAJECTORIES)
    if args.pattern not in names:
        raise _unknown("MRI sampling pattern", args.pattern, names)
    if args.coils < 0:
        raise InputError(f"--coils must be >= 0 (0 or 1: single-coil), got {args.coils}")
    if args.pattern in TRAJECTORIES:
        if args.layout != "combined":
            raise InputError(f"--layout {args.layout}: fastMRI has no non-Cartesian layout; "
                             f"--pattern {args.pattern} needs --layout combined")
        if args.source != "phantom":
            raise InputError(f"--pattern {args.pattern}: non-Cartesian data is simulated from "
                             f"the analytic k-space of phantoms; use --source phantom")
        _trajectory(args, torch.Generator().manual_seed(0))  # validates the acceleration
    else:
        _draw_mask(args, torch.Generator().manual_seed(0))  # fail before writing anything


def _draw_mask(args, g: torch.Generator):
    kw = {} if args.center_fraction is None else {"center_fraction": args.center_fraction}
    return make_mask(args.pattern, tuple(args.size), args.acceleration, generator=g, **kw)


def _image_source(args) -> ImageSource:
    return ImageSource(folders=args.image_dir,
                       skimage_names="default" if not args.image_dir else None)


def _full_volume(args, seed: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Fully sampled noise-free k-space ``(S, [C,] H, W)``, target ``(S, H, W)``, sources."""
    coils = args.coils if args.coils > 1 else None
    sources = {}
    for name in ("phantom", "images"):
        if args.source in (name, "mixed"):
            src = "phantom" if name == "phantom" else _image_source(args)
            sources[name] = SimulatedMRIDataset(args.slices, args.size, _FULL, source=src,
                                                num_coils=coils, snr_db=None, seed=seed,
                                                oversample=args.oversample)
    pick = torch.Generator().manual_seed(seed)
    kspace, target, used = [], [], []
    for s in range(args.slices):
        name = args.source
        if name == "mixed":
            name = ("phantom", "images")[int(torch.randint(0, 2, (1,), generator=pick))]
        y, op, tgt, _ = sources[name][s]
        if not bool(op["mask"].all()):
            raise RuntimeError("internal: the full-sampling pattern dropped samples")
        kspace.append(y)
        target.append(tgt)
        used.append(name)
    return torch.stack(kspace), torch.stack(target), used


def _mri_cartesian(args, index: int, path: Path) -> float:
    pattern = _draw_mask(args, torch.Generator().manual_seed(derive_seed(args.seed, index, 0)))
    full, target, used = _full_volume(args, derive_seed(args.seed, index, 1))
    mask = pattern.mask.to(torch.bool)
    kmask = mask if mask.ndim == 2 else mask.expand(args.size[0], -1)
    kmask = kmask.expand(full.shape)
    noise_g = torch.Generator().manual_seed(derive_seed(args.seed, index, 2))
    source = "+".join(sorted(set(used)))
    if args.layout == "fastmri-train":  # full k-space + the noise add_noise would draw
        sigma = 0.0 if args.snr_db is None else noise_sigma(full * kmask, args.snr_db, kmask)
        y = full + complex_randn(full.shape, noise_g, dtype=full.dtype) * sigma
        attrs = _attrs(args, index, 1.0, source, sigma)
        for key in ("acceleration", "nominal_acceleration", "pattern"):
            del attrs[key]  # nothing is undersampled
        write_mri_file(path, y.to(torch.complex64), target=target, attrs=attrs,
                       overwrite=args.overwrite)
        return 1.0
    y, sigma = add_noise(full * kmask, args.snr_db, noise_g, mask=kmask)
    attrs = _attrs(args, index, pattern.acceleration, source, sigma)
    attrs.update(num_low_frequencies=int(pattern.num_low_frequencies),
                 center_fraction=pattern.meta.get("center_fraction"))
    keep = args.layout == "combined"  # fastMRI's test layout holds no target
    if not keep:
        attrs.update(max=float(target.max()),
                     norm=float(np.linalg.norm(target.numpy().astype(np.float64))))
    write_mri_file(path, (y * kmask).to(torch.complex64), mask=mask,
                   target=target if keep else None, attrs=attrs, overwrite=args.overwrite,
                   recon_size=tuple(target.shape[-2:]))
    return float(pattern.acceleration)


def _attrs(args, index: int, acceleration: float, source: str, sigma: float) -> dict:
    coils = args.coils if args.coils > 1 else 1
    return {
        "acquisition": f"simulated_{'multicoil' if coils > 1 else 'singlecoil'}_{source}",
        "acceleration": float(acceleration), "nominal_acceleration": float(args.acceleration),
        "pattern": args.pattern, "snr_db": args.snr_db, "noise_sigma": float(sigma),
        "source": source, "seed": int(args.seed), "index": int(index),
    }


def _trajectory(args, g: torch.Generator) -> torch.Tensor:
    """Trajectory ``(K, 2)`` with about ``H W / R`` samples (see the module docstring)."""
    h, w = args.size
    r, n = float(args.acceleration), max(h, w)
    if not (math.isfinite(r) and r >= 1):
        raise InputError(f"{args.pattern}: acceleration must be a finite number >= 1, got {r}")
    budget = h * w / r
    if args.pattern == "radial_traj":
        spokes = max(1, round(budget / n))
        traj, _, _ = make_trajectory("radial", spokes, n, angles="golden", generator=g)
    else:
        arms = _SPIRAL_INTERLEAVES
        samples = round(budget / arms)
        if samples < 2:
            raise InputError(f"spiral_traj: acceleration {r} leaves {budget:.1f} samples for "
                             f"a {h}x{w} matrix; {2 * arms} are needed")
        turns = max(1.0, _SPIRAL_ALPHA * n / (2 * arms * r))
        traj, _, _ = make_trajectory("spiral", arms, samples, turns, alpha=_SPIRAL_ALPHA,
                                     generator=g)
    return traj


def coil_fourier_modes(maps: torch.Tensor, modes: int = _COIL_MODES):
    """Coil maps ``(C, H, W)`` as finite sums of the lowest ``(2 modes + 1)²`` Fourier modes.

    The coefficients are the least-squares fit of ``maps`` on the unit disc of the normalised
    field of view (where phantoms live).  Returns ``(coef (C, M), omega (M, 2) rad/pixel,
    fitted maps (C, H, W))`` with ``fitted[c, n] = (HW)^(-1/2) Σ_m coef[c, m] exp(i omega_m ·
    (n - N//2))``, so that for an image ``x`` with NUFFT spectrum ``X(k)``:
    ``NUFFT(fitted[c] x)(k) = (HW)^(-1/2) Σ_m coef[c, m] X(k - omega_m)``, exactly.
    """
    c, h, w = maps.shape
    m = torch.arange(-modes, modes + 1, dtype=torch.float64)
    g0, g1 = torch.meshgrid(m, m, indexing="ij")
    omega = torch.stack([2 * math.pi * g0 / h, 2 * math.pi * g1 / w], -1).reshape(-1, 2)
    n0, n1 = (torch.arange(h) - h // 2).double(), (torch.arange(w) - w // 2).double()
    phase = omega[:, 0, None, None] * n0[:, None] + omega[:, 1, None, None] * n1[None, :]
    basis = torch.polar(torch.ones_like(phase), phase).reshape(len(omega), -1).T
    basis = basis / math.sqrt(h * w)  # (HW, M)
    u0, u1 = pixel_centres((h, w))
    disc = ((u0[:, None] ** 2 + u1[None, :] ** 2) <= 1.0).reshape(-1)
    target = maps.to(torch.complex128).reshape(c, -1).T
    coef = torch.linalg.lstsq(basis[disc], target[disc]).solution  # (M, C)
    return coef.T.contiguous(), omega, (basis @ coef).T.reshape(c, h, w)


def _nc_slice(args, g: torch.Generator, traj: torch.Tensor):
    """Analytic k-space ``(C, K)`` and target ``(H, W)`` of one random ellipse phantom."""
    h, w = args.size
    ell = random_ellipses(g)
    image = rasterize_ellipses(ell, (h, w), supersample=4)  # pixel averages of the object
    k = traj.to(torch.float64)
    if args.coils <= 1:
        return ellipse_kspace(ell, k, (h, w), pixel_box=True)[None], image.abs()
    maps = birdcage_maps((h, w), args.coils, g, dtype=torch.complex128)
    coef, omega, maps_t = coil_fourier_modes(maps)
    shifted = ellipse_kspace(ell, k[None] - omega[:, None], (h, w), pixel_box=True)  # (M, K)
    y = coef @ shifted / math.sqrt(h * w)
    return y, (maps_t * image).abs().pow(2).sum(0).sqrt()


def _mri_noncartesian(args, index: int, path: Path) -> float:
    traj = _trajectory(args, torch.Generator().manual_seed(derive_seed(args.seed, index, 0)))
    g = torch.Generator().manual_seed(derive_seed(args.seed, index, 1))
    parts = [_nc_slice(args, g, traj) for _ in range(args.slices)]
    full = torch.stack([p[0] for p in parts])
    target = torch.stack([p[1] for p in parts]).to(torch.float32)
    noise_g = torch.Generator().manual_seed(derive_seed(args.seed, index, 2))
    y, sigma = add_noise(full.to(torch.complex64), args.snr_db, noise_g)
    h, w = args.size
    attrs = _attrs(args, index, h * w / traj.shape[0], "phantom_analytic", sigma)
    write_mri_file(path, y, trajectory=traj, matrix=(h, w), target=target, attrs=attrs,
                   overwrite=args.overwrite)
    return attrs["acceleration"]


def _run_mri(args, out: Path) -> str:
    _check_mri(args)
    one = _mri_noncartesian if args.pattern in TRAJECTORIES else _mri_cartesian
    accel = _write_all(args, out, "mri", lambda i, p: one(args, i, p))
    if args.layout == "fastmri-train":
        return f"wrote {len(accel)} fully sampled MRI file(s) to {out} (fastMRI train layout)"
    return (f"wrote {len(accel)} MRI file(s) to {out} (layout {args.layout}, pattern "
            f"{args.pattern}, true acceleration {min(accel):.3f}-{max(accel):.3f}, nominal "
            f"{args.acceleration:g})")


# ----------------------------------------------------------------------------- radar
def _run_radar(args, out: Path) -> str:
    geometry = radar_preset(args.preset, total_angle_deg=args.total_angle_deg,
                            image_size=args.image_size)
    pattern = None if args.pattern == "full" else args.pattern
    accel = 4.0 if args.acceleration is None and args.ratio is None else args.acceleration
    if args.ratio is not None:
        if not 0 < args.ratio <= 1:
            raise InputError(f"--ratio must lie in (0, 1] (the kept fraction), got {args.ratio}")
        accel = 1.0 / args.ratio
    if pattern is not None:
        names = list_patterns("radar")
        if pattern not in names:
            raise _unknown("radar aperture pattern", pattern, names + ["full"])
        make_mask(pattern, geometry.data_shape, accel, generator=0)  # fail before writing

    def one(i: int, path: Path) -> None:
        ds = SimulatedRadarDataset(geometry, args.scene, args.frames, pattern, accel,
                                   args.snr_db, args.aspect_dependent,
                                   derive_seed(args.seed, i), args.reference)
        simulate_radar_file(path, ds, overwrite=args.overwrite)

    _write_all(args, out, "radar", one)
    return (f"wrote {args.n} radar file(s) to {out} (preset {args.preset}, pattern "
            f"{args.pattern}, nominal acceleration {accel:g}, (P, F) = {geometry.data_shape})")


# ----------------------------------------------------------------------------- block CS
def _run_blockcs(args, out: Path) -> str:
    if not 0 < args.ratio <= 1:
        raise InputError(f"--ratio must lie in (0, 1] (measurements per pixel), got {args.ratio}")
    path = out / "blockcs.h5"
    check_new_files([path], args.overwrite)
    split = make_blockcs_split(folder=args.image_dir, use_skimage=args.image_dir is None,
                               block=args.block, stride=args.stride,
                               test_fraction=args.test_fraction,
                               generator=derive_seed(args.seed, 0))
    train, src = split.train, split.train_source
    if args.n is not None and args.n < train.shape[0]:
        g = torch.Generator().manual_seed(derive_seed(args.seed, 1))
        keep = torch.randperm(train.shape[0], generator=g)[: args.n].sort().values
        train, src = train[keep], src[keep]
    phi = gaussian_block_matrix(args.ratio, args.block, derive_seed(args.seed, 2))
    m = measurements_for_ratio(args.ratio, args.block)
    with atomic_write(path, overwrite=args.overwrite) as tmp, h5py.File(tmp, "w") as f:
        for key, value in (("train", train), ("test", split.test), ("train_source", src),
                           ("test_source", split.test_source), ("phi", phi)):
            f.create_dataset(key, data=value.numpy())
        for key, names in (("train_images", split.train_images),
                           ("test_images", split.test_images)):
            f.create_dataset(key, data=np.array(names, dtype=object),
                             dtype=h5py.string_dtype())
        f.attrs.update(block=args.block, ratio=m / args.block**2, nominal_ratio=args.ratio,
                       measurements=m, seed=args.seed)
    return (f"wrote {path}: {train.shape[0]} train / {split.test.shape[0]} test patches, "
            f"phi {tuple(phi.shape)}")
