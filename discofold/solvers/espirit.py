"""ESPIRiT coil sensitivity maps (Uecker et al., MRM 71:990, 2014) from the calibration box.

The fully sampled calibration box of a Cartesian acquisition
(:func:`discofold.solvers.pipeline.calibration_box`) gives the block-Hankel calibration matrix
``A`` whose rows are the ``kr × kc`` patches of all coils.  Its dominant right singular vectors
``v_n`` (``σ_n ≥ threshold · σ_max``) span the patches of consistent k-space.  In image space
they become, at every pixel ``ρ``, the ``C × C`` Hermitian matrix

    G(ρ) = (HW / (kr·kc)) · Σ_n g_n(ρ) g_n(ρ)ᴴ,   g_n = ifft2c(zero-padded conj(v_n)),

whose eigenvalues lie in ``[0, 1]``; the coil sensitivities are the eigenvector of eigenvalue
≈ 1.  ``G`` is assembled in k-space (the product of two padded kernels is the circular
correlation of two small kernels, ``(2kr−1) × (2kc−1)`` taps) and brought to image space a
block of rows at a time by the separable inverse DFT of those taps, so neither an
``(n, C, H, W)`` stack of image kernels nor the ``(C, C, H, W)`` grid is ever held.

The maps are the unit eigenvectors (``Σ_c |S_c|² = 1``), with the phase of the first coil
removed (``S_0`` real and ≥ 0), and zero where the largest eigenvalue is below ``crop``.  FFTs
follow the convention of :func:`discofold.operators.fft2c` (docs/conventions.md).  The work is
done on the CPU (complex128 calibration matrix, complex64 ``G``) in blocks of rows, and the maps
are returned on the device of the k-space.
"""

from __future__ import annotations

import math

import torch

from ..errors import InputError, ShapeError
from .pipeline import calibration_box

__all__ = ["espirit_maps"]


_AUTO_KERNEL = 6  # widest automatic kernel; narrower on a short calibration axis
_AUTO_MIN_LINES = 4  # calibration lines needed along each axis for the automatic kernel
_CHUNK = 1 << 21  # entries of G (pixels · C²) built and decomposed at once (16 MiB complex64)


def _kernel(kernel_width, nr: int, nc: int) -> tuple[int, int]:
    """The kernel ``(kr, kc)``: ``kernel_width`` (an int or a pair), or for ``None``
    ``min(6, (n + 1) // 2)`` per axis, so at least ``k`` patch positions fit along each axis."""
    if kernel_width is None:
        if min(nr, nc) < _AUTO_MIN_LINES:
            raise InputError(f"the fully sampled calibration region is {nr}×{nc} k-space lines; "
                             f"ESPIRiT needs at least {_AUTO_MIN_LINES}×{_AUTO_MIN_LINES} (use "
                             "a mask with a larger fully sampled centre)")
        return min(_AUTO_KERNEL, (nr + 1) // 2), min(_AUTO_KERNEL, (nc + 1) // 2)
    kw = (kernel_width, kernel_width) if isinstance(kernel_width, int) else tuple(kernel_width)
    if len(kw) != 2 or any(int(k) != k or k < 1 for k in kw):
        raise InputError(f"ESPIRiT kernel_width must be a positive int or a pair of them, "
                         f"got {kernel_width!r}")
    if nr < kw[0] or nc < kw[1]:
        raise InputError(f"the fully sampled calibration region is {nr}×{nc} k-space lines; "
                         f"ESPIRiT with a {kw[0]}×{kw[1]} kernel needs at least "
                         f"{kw[0]}×{kw[1]} (pass a smaller kernel_width, or None to fit it)")
    return int(kw[0]), int(kw[1])


def _calibration(kspace: torch.Tensor, mask, calib) -> torch.Tensor:
    """The calibration data ``(C, nr, nc)``: the box ``calib`` (``(rows, cols)`` slices or
    ``(nr, nc)`` sizes of a centred box) or the fully sampled box of ``mask``."""
    _, h, w = kspace.shape
    if calib is None:
        rows, cols = calibration_box(mask, (h, w))
    elif all(isinstance(s, slice) for s in calib):
        rows, cols = calib
    else:
        nr, nc = (int(n) for n in calib)
        if not (0 < nr <= h and 0 < nc <= w):
            raise InputError(f"ESPIRiT calib box {nr}×{nc} does not fit the {h}×{w} grid")
        rows = slice(h // 2 - nr // 2, h // 2 - nr // 2 + nr)
        cols = slice(w // 2 - nc // 2, w // 2 - nc // 2 + nc)
    return kspace[:, rows, cols]


def _row_space(cal: torch.Tensor, kr: int, kc: int, threshold: float) -> torch.Tensor:
    """Rows ``(n, C, kr, kc)`` of ``Vᴴ`` of the calibration matrix with ``σ ≥ threshold·σ_max``
    (from the eigen-decomposition of ``AᴴA`` in complex128: ``σ² = eig``)."""
    c = cal.shape[0]
    patches = cal.unfold(1, kr, 1).unfold(2, kc, 1)  # (C, pr, pc, kr, kc)
    a = patches.permute(1, 2, 0, 3, 4).reshape(-1, c * kr * kc).to(torch.complex128)
    evals, evecs = torch.linalg.eigh(a.mH @ a)  # ascending; AᴴA = V Σ² Vᴴ
    sig = evals.clamp_min(0).sqrt().flip(0)
    v = evecs.flip(1)
    if float(sig[0]) == 0.0:
        raise InputError("ESPIRiT: the calibration region holds only zeros")
    keep = sig >= threshold * sig[0]
    return v[:, keep].mH.reshape(-1, c, kr, kc)  # rows of Vᴴ


def _gram_kspace(vh: torch.Tensor) -> torch.Tensor:
    """``K_cd[Δ] = Σ_n Σ_o vh_nc[o] conj(vh_nd[o − Δ])`` ``(C, C, 2kr−1, 2kc−1)``, Δ = 0 at
    ``(kr−1, kc−1)``: the k-space kernel of ``Σ_n g_n g_nᴴ``."""
    n, c, kr, kc = vh.shape
    flat = vh.reshape(n, c, kr * kc)
    m = torch.einsum("nco,ndp->cdop", flat, flat.conj())  # (C, C, kr·kc, kr·kc)
    o = torch.arange(kr * kc)
    orow, ocol = o // kc, o % kc
    drow = orow[:, None] - orow[None, :] + kr - 1
    dcol = ocol[:, None] - ocol[None, :] + kc - 1
    index = (drow * (2 * kc - 1) + dcol).reshape(-1)
    out = torch.zeros(c, c, (2 * kr - 1) * (2 * kc - 1), dtype=m.dtype)
    out.index_add_(2, index, m.reshape(c, c, -1))
    return out.reshape(c, c, 2 * kr - 1, 2 * kc - 1)


def _phases(n: int, k: int, rows: slice) -> torch.Tensor:
    """``exp(2πi Δ (p − n//2) / n)`` ``(len(rows), 2k−1)`` for Δ = −(k−1)…k−1: the unnormalised
    centred inverse DFT of :func:`~discofold.operators.ifft2c` at the pixels ``p`` of ``rows``."""
    p = torch.arange(n, dtype=torch.float64)[rows] - n // 2
    delta = torch.arange(-(k - 1), k, dtype=torch.float64)
    angle = 2 * math.pi * p[:, None] * delta[None, :] / n
    return torch.polar(torch.ones_like(angle), angle)


def _gram_rows(small: torch.Tensor, h: int, w: int, rows: slice) -> torch.Tensor:
    """``G(ρ)`` (module docstring) at the pixels of image rows ``rows``, ``(rows·W, C, C)``:
    the small k-space kernel ``(C, C, 2kr−1, 2kc−1)`` times the phases of both axes (the same as
    ``√(HW)·ifft2c`` of the zero-padded kernel, without the ``(C, C, H, W)`` grid)."""
    c, _, dr, dc = small.shape
    kr, kc = (dr + 1) // 2, (dc + 1) // 2
    er = _phases(h, kr, rows).to(small.dtype)
    ec = _phases(w, kc, slice(None)).to(small.dtype)
    g = torch.einsum("pi,cdij,qj->pqcd", er, small, ec) / (kr * kc)
    g = g.reshape(-1, c, c)
    return 0.5 * (g + g.mH)


def _top_eigvec(g: torch.Tensor, max_iter: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Largest eigenvalue ``(P,)`` and its unit eigenvector ``(P, C)`` of Hermitian ``g``
    ``(P, C, C)``: exact (``eigh``) or ``max_iter`` power iterations."""
    if max_iter is None:
        evals, evecs = torch.linalg.eigh(g)
        return evals[:, -1], evecs[:, :, -1]
    x = torch.ones(g.shape[:2], dtype=g.dtype)
    x = x / x.norm(dim=1, keepdim=True)
    for _ in range(int(max_iter)):
        x = (g @ x.unsqueeze(-1)).squeeze(-1)
        x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-30)
    lam = torch.einsum("pc,pcd,pd->p", x.conj(), g, x).real
    return lam, x


def espirit_maps(kspace: torch.Tensor, mask: torch.Tensor | None = None, *,
                 calib: tuple | None = None,
                 kernel_width: int | tuple[int, int] | None = None,
                 threshold: float = 0.02, crop: float = 0.95,
                 max_iter: int | None = None) -> torch.Tensor:
    """ESPIRiT coil maps ``(C, H, W)`` complex64 of Cartesian multi-coil ``kspace``.

    Parameters
    ----------
    kspace : complex Tensor ``(C, H, W)``
        Centred k-space (zeros where not measured); any ``H``, ``W``, odd or even.
    mask : bool Tensor ``(W,)`` or ``(H, W)``, optional
        Sampling mask whose fully sampled centred box is the calibration region
        (:func:`~discofold.solvers.pipeline.calibration_box`); ``None``: fully sampled.
    calib : ``(rows, cols)`` slices or ``(nr, nc)`` sizes of a centred box, optional
        The calibration region itself (overrides ``mask``).
    kernel_width : int or (int, int), optional
        Patch size ``kr × kc`` in k-space pixels (rows, columns).  ``None``: 6, narrowed to
        ``(n + 1) // 2`` along a calibration axis of ``n ≤ 10`` lines: a kernel nearly as wide
        as the box leaves too few patch positions to tell the signal space from the null space
        (on the 5-line box of ``tests/solvers/test_espirit.py`` a 6×4 kernel gives worse
        CG-SENSE than the ACS maps, the automatic 6×3 kernel much better).
    threshold : float
        Singular vectors with ``σ ≥ threshold · σ_max`` span the signal space.
    crop : float
        Maps are zeroed where the largest eigenvalue of ``G`` is below ``crop``.
    max_iter : int, optional
        Power iterations for the eigenvector; ``None``: exact batched ``eigh``.

    Returns
    -------
    complex64 Tensor ``(C, H, W)`` on the device of ``kspace``, ``Σ_c |S_c|² = 1`` where kept.

    Raises
    ------
    ShapeError
        ``kspace`` is not ``(C, H, W)`` complex.
    InputError
        The calibration region is smaller than the kernel, or than 4 lines for the automatic
        kernel (the message gives both sizes), holds only zeros, or a parameter is out of range.
    """
    if kspace.ndim != 3 or not torch.is_complex(kspace):
        raise ShapeError(f"ESPIRiT needs complex k-space (C, H, W), got {kspace.dtype} "
                         f"{tuple(kspace.shape)}")
    if not (0 <= threshold < 1) or not (0 <= crop <= 1):
        raise InputError(f"ESPIRiT threshold must be in [0, 1) and crop in [0, 1], got "
                         f"{threshold}, {crop}")
    if max_iter is not None and int(max_iter) < 1:
        raise InputError(f"ESPIRiT max_iter must be >= 1 or None, got {max_iter}")
    device = kspace.device
    c, h, w = kspace.shape
    cal = _calibration(kspace.detach().cpu(), mask, calib)
    kr, kc = _kernel(kernel_width, *cal.shape[1:])
    small = _gram_kspace(_row_space(cal, kr, kc, float(threshold))).to(torch.complex64)
    step = max(1, _CHUNK // (w * c * c))
    parts = [_top_eigvec(_gram_rows(small, h, w, slice(r, r + step)), max_iter)
             for r in range(0, h, step)]
    lam, vec = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    ref = vec[:, :1]
    phase = torch.where(ref.abs() > 0, ref.conj() / ref.abs().clamp_min(1e-30),
                        torch.ones_like(ref))
    maps = vec * phase * (lam > crop).unsqueeze(-1)
    return maps.T.reshape(c, h, w).to(device=device, dtype=torch.complex64)
