"""Classical ISAR imaging: range-Doppler, the polar-format algorithm, and OMP per range cell.

All three read the polar-format geometry of ``docs/conventions.md`` (angles in radians,
frequencies in Hz, image grid ``x_i = (i − H//2)·Lx/H`` down-range, ``y_j = (j − W//2)·Ly/W``
cross-range) and return complex images ``(..., H, W)`` normalised so that a unit point scatterer
at the image centre images to 1 from complete data.  Take the geometry from a ``PolarRadar`` with
:func:`radar_geometry`.

The images are formed in the frame of a reference angle ``θ_c`` (0 when the aperture contains
0, else the mean angle).  The final "2-D FFT" is evaluated as a DFT directly at the pixel centres:
this equals an FFT followed by exact band-limited (trigonometric) interpolation onto the
``(H, W)`` grid of ``extent_m``, without resampling error.
"""

from __future__ import annotations

import math

import torch

from ..errors import InputError, ShapeError

__all__ = ["radar_geometry", "range_doppler", "polar_format", "omp_range_cells"]

SPEED_OF_LIGHT = 299_792_458.0


def radar_geometry(op) -> dict:
    """``{angles_rad, frequencies_hz, image_shape, extent_m, mask}`` of a ``PolarRadar``-like
    object, to splat into the functions of this module (``range_doppler(echo, **geom)``)."""
    keys = ("angles_rad", "frequencies_hz", "image_shape", "extent_m")
    missing = [k for k in keys if not hasattr(op, k)]
    if missing:
        raise InputError(f"{type(op).__name__} has no radar geometry attributes {missing}")
    return {**{k: getattr(op, k) for k in keys}, "mask": getattr(op, "mask", None)}


# ---------------------------------------------------------------------------- helpers
def _prepare(echo, angles, freqs, image_shape, extent, mask, name):
    if not isinstance(echo, torch.Tensor) or not echo.is_complex():
        raise InputError(f"{name}: echo must be a complex tensor (..., P, F), got "
                         f"{getattr(echo, 'dtype', type(echo).__name__)}")
    if not bool(torch.isfinite(torch.view_as_real(echo)).all()):
        raise InputError(f"{name}: echo of shape {tuple(echo.shape)} contains non-finite values")
    real = torch.float64
    th = torch.as_tensor(angles, dtype=real).reshape(-1).cpu()
    f = torch.as_tensor(freqs, dtype=real).reshape(-1).cpu()
    if echo.ndim < 2 or tuple(echo.shape[-2:]) != (th.numel(), f.numel()):
        raise ShapeError(f"{name}: echo must have shape (..., P={th.numel()}, F={f.numel()}) "
                         f"from angles_rad and frequencies_hz, got {tuple(echo.shape)}")
    if mask is not None:
        echo = echo * torch.as_tensor(mask, device=echo.device).to(echo.real.dtype)
    h, w = (int(s) for s in image_shape)
    lx, ly = (float(e) for e in extent)
    x = (torch.arange(h, dtype=real) - h // 2) * (lx / h)
    y = (torch.arange(w, dtype=real) - w // 2) * (ly / w)
    span = (float(th.min()), float(th.max()))
    theta_c = 0.0 if span[0] <= 0.0 <= span[1] else float(th.mean())
    return echo, th, f, x, y, theta_c


def _window(name, n: int) -> torch.Tensor:
    from scipy.signal import windows

    if name is None or n < 3:
        return torch.ones(n, dtype=torch.float64)
    if name == "hann":
        return torch.from_numpy(windows.hann(n, sym=True) + 0.0).clamp_min(1e-3)
    if name == "taylor":
        return torch.from_numpy(windows.taylor(n, nbar=4, sll=35, norm=True, sym=True))
    raise InputError(f"window must be 'hann', 'taylor' or None, got {name!r}")


def _grid_to_image(g, ku, kv, theta_c, x, y):
    """``Σ_nm g[..., n, m] exp(+i2π (k_nm · r_ij))`` with ``k_nm = R(θ_c)(ku_m, kv_n)`` at the
    pixel centres ``r_ij = (x_i, y_j)``; ``g`` is ``(..., N, M)``."""
    dev, cdt = g.device, g.dtype
    c, s = math.cos(theta_c), math.sin(theta_c)
    two_pi_i = 2j * math.pi
    if abs(s) < 1e-12:  # separable: two matrix products
        eu = torch.exp(two_pi_i * ku[:, None] * (c * x)[None, :]).to(dev, cdt)  # (M, H)
        ev = torch.exp(two_pi_i * kv[:, None] * (c * y)[None, :]).to(dev, cdt)  # (N, W)
        return (g @ eu).transpose(-1, -2) @ ev
    u = c * x[:, None] + s * y[None, :]  # rotated coordinates of the pixels (H, W)
    v = -s * x[:, None] + c * y[None, :]
    out = 0
    for n0 in range(0, kv.numel(), 16):  # blocks of 16 x 16 k-samples: memory ~ 16 H W, not M H W
        ev = torch.exp(two_pi_i * kv[n0:n0 + 16, None, None] * v).to(dev, cdt)  # (n, H, W)
        for m0 in range(0, ku.numel(), 16):
            eu = torch.exp(two_pi_i * ku[m0:m0 + 16, None, None] * u).to(dev, cdt)  # (m, H, W)
            part = torch.einsum("...nm,mhw->...nhw", g[..., n0:n0 + 16, m0:m0 + 16], eu)
            out = out + (part * ev).sum(dim=-3)
    return out


def _uniform_step(values: torch.Tensor, what: str, name: str) -> float:
    d = torch.diff(values)
    if values.numel() < 2 or bool((d <= 0).any()) or float(d.max() - d.min()) > 1e-6 * float(
        d.abs().max()
    ):
        raise InputError(f"{name}: {what} must be increasing and uniformly spaced")
    return float(d.mean())


def _lanczos(t: torch.Tensor, n: int, a: int = 4):
    """Indices ``(..., 2a)`` and normalised Lanczos weights for fractional positions ``t``."""
    base = torch.floor(t).long()
    idx = base[..., None] + torch.arange(-a + 1, a + 1)
    dist = t[..., None] - idx
    wgt = torch.sinc(dist) * torch.sinc(dist / a)
    wgt = torch.where((idx >= 0) & (idx < n) & (dist.abs() < a), wgt, torch.zeros_like(wgt))
    wgt = wgt / wgt.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    return idx.clamp(0, n - 1), wgt


# ---------------------------------------------------------------------------- public
def range_doppler(echo, angles_rad, frequencies_hz, image_shape, extent_m, window=None,
                  mask=None) -> torch.Tensor:
    """Range-Doppler image: the windowed 2-D (inverse) DFT of the echo matrix.

    The fan is treated as a rectangle: sample ``(p, q)`` is placed at down-range frequency
    ``2 f_q / c`` and cross-range frequency ``2 f_c (θ_p − θ_c) / c`` (``f_c`` the mean
    frequency), so the FFT grid is scaled to metres through the centre frequency and the
    angle span, and evaluated at the pixel centres of ``extent_m``.  This is exact at the centre
    and blurs scatterers far from it at wide bandwidth or angle (range and cross-range
    migration); use :func:`polar_format` there.

    Parameters
    ----------
    echo : complex Tensor ``(..., P, F)``
        Phase history (zeros where not measured).
    angles_rad, frequencies_hz : ``(P,)``, ``(F,)``
        Aspect angles (radians) and frequencies (Hz).
    image_shape, extent_m : (H, W), (Lx, Ly)
        Output pixel grid and its size in metres.
    window : {"hann", "taylor", None}
        Separable 2-D taper over pulses and frequencies (side-lobe control); default none,
        like the unwindowed full-aperture reference image.
    mask : Tensor ``(..., P, F)``, optional
        Measured samples; the echo is multiplied by it.

    Returns
    -------
    complex Tensor ``(..., H, W)``.
    """
    echo, th, f, x, y, theta_c = _prepare(echo, angles_rad, frequencies_hz, image_shape,
                                          extent_m, mask, "range_doppler")
    wgt = _window(window, th.numel())[:, None] * _window(window, f.numel())[None, :]
    g = echo * (wgt / wgt.sum()).to(echo.device, echo.real.dtype)
    ku = 2.0 * f / SPEED_OF_LIGHT
    kv = 2.0 * float(f.mean()) * (th - theta_c) / SPEED_OF_LIGHT
    return _grid_to_image(g, ku, kv, theta_c, x, y)


def polar_format(echo, angles_rad, frequencies_hz, image_shape, extent_m, window=None,
                 mask=None, taps: int = 8) -> torch.Tensor:
    """Polar-format algorithm: fan → inscribed Cartesian k-grid by two 1-D interpolations, then
    a windowed 2-D DFT onto the image grid.

    Pass 1 (range): for each pulse, resample along frequency onto a uniform down-range
    wavenumber grid ``u_m`` (``F`` points spanning ``[2f_min/c, 2f_max cos(max|Δθ|)/c]``).
    Pass 2 (azimuth): for each ``u_m``, resample along angle onto a uniform cross-range grid
    ``v_n`` (``P`` points) inside the fan.  Both passes use a ``taps``-tap Lanczos-windowed
    sinc; angles and frequencies must be uniformly spaced.  Parameters as in
    :func:`range_doppler`; returns a complex Tensor ``(..., H, W)``.
    """
    name = "polar_format"
    echo, th, f, x, y, theta_c = _prepare(echo, angles_rad, frequencies_hz, image_shape,
                                          extent_m, mask, name)
    dth = _uniform_step(th, "angles_rad", name)
    df = _uniform_step(f, "frequencies_hz", name)
    a = max(1, int(taps) // 2)
    rel = th - theta_c
    n_p, n_f = th.numel(), f.numel()
    two_c = 2.0 / SPEED_OF_LIGHT
    u = torch.linspace(two_c * float(f[0]), two_c * float(f[-1]) * math.cos(
        float(rel.abs().max())), n_f, dtype=torch.float64)
    # pass 1: frequency needed by pulse p to land on u_m
    t1 = (u[None, :] / (two_c * torch.cos(rel)[:, None]) - float(f[0])) / df  # (P, M)
    idx, w1 = _lanczos(t1, n_f, a)
    rows = torch.arange(n_p)[:, None, None]
    d = (echo[..., rows, idx.to(echo.device)] * w1.to(echo.device, echo.real.dtype)).sum(-1)
    # pass 2: angle needed by column m to land on v_n
    tmin, tmax = math.tan(float(rel.min())), math.tan(float(rel.max()))
    v_lo = (float(u[-1]) if tmin >= 0 else float(u[0])) * tmin
    v_hi = (float(u[0]) if tmax >= 0 else float(u[-1])) * tmax
    v = torch.linspace(v_lo, v_hi, n_p, dtype=torch.float64)
    t2 = (torch.atan(v[:, None] / u[None, :]) - float(rel[0])) / dth  # (N, M)
    idx, w2 = _lanczos(t2, n_p, a)
    cols = torch.arange(n_f)[None, :, None]
    g = (d[..., idx.to(echo.device), cols] * w2.to(echo.device, echo.real.dtype)).sum(-1)
    wgt = _window(window, n_p)[:, None] * _window(window, n_f)[None, :]
    g = g * (wgt / wgt.sum()).to(echo.device, echo.real.dtype)
    return _grid_to_image(g, u, v, theta_c, x, y)


def omp_range_cells(echo, angles_rad, frequencies_hz, image_shape, extent_m, n_atoms: int = 4,
                    tol: float = 0.05, mask=None) -> torch.Tensor:
    """Orthogonal matching pursuit per range cell (small scenes, sparse aperture).

    Range compression: an inverse DFT over the ``F`` (uniform) frequencies onto ``F`` range
    cells ``x_b = (b − F//2)·c/(2FΔf)``, ``r[p, b] = Σ_q s[p, q] e^{+i4π f_q x_b/c} / F``.  In each
    cell the slow-time signal is modelled as ``Σ_j z_j a_bj[p]`` with cross-range steering vectors
    ``a_bj[p] = exp(−i4π f_c/c (x_b (cos θ_p − 1) + y_j sin θ_p))`` over the ``W`` pixel columns
    (``f_c`` the mean frequency); OMP picks at most ``n_atoms`` columns per cell, stopping early
    when the residual is below ``tol`` times the largest cell energy.  Missing pulses
    (``mask``) are left out of the fit.  Each cell is written to the pixel row nearest ``x_b``.

    Assumptions (hence "small scenes"): no range migration (``|y| sin θ`` below a range cell) and
    scatterers at range-cell centres; others leak into the neighbouring cells.

    Returns
    -------
    complex Tensor ``(..., H, W)``: scatterer amplitudes on the pixel grid (zero elsewhere).
    """
    echo, th, f, x, y, _ = _prepare(echo, angles_rad, frequencies_hz, image_shape, extent_m,
                                    mask, "omp_range_cells")
    df = _uniform_step(f, "frequencies_hz", "omp_range_cells") if f.numel() > 1 else 1.0
    dev, cdt = echo.device, echo.dtype
    k4 = 4.0 * math.pi / SPEED_OF_LIGHT
    n_f, h = f.numel(), x.numel()
    xb = (torch.arange(n_f, dtype=torch.float64) - n_f // 2) * (SPEED_OF_LIGHT / (2 * n_f * df))
    dx = float(x[1] - x[0]) if h > 1 else float(extent_m[0])
    rows = torch.round(xb / dx).long() + h // 2
    keep = (rows >= 0) & (rows < h)
    xb, rows = xb[keep], rows[keep]
    measured = torch.ones(echo.shape[-2:], device=dev) if mask is None else torch.as_tensor(
        mask, device=dev).to(echo.real.dtype)
    count = measured.expand(echo.shape).sum(-1, keepdim=True)  # measured frequencies per pulse
    comp = torch.exp(1j * k4 * f[:, None] * xb[None, :]).to(dev, cdt)  # (F, B)
    r = (echo @ comp) / count.clamp_min(1)  # (..., P, B)
    demod = torch.exp(1j * k4 * float(f.mean()) * xb[None, :] * (torch.cos(th)[:, None] - 1))
    r = (r * demod.to(dev, cdt)).transpose(-1, -2)  # (..., B, P)
    pulses = (count[..., 0] > 0).to(echo.real.dtype)[..., None, :].expand(r.shape)
    steer = torch.exp(-1j * k4 * float(f.mean()) * torch.sin(th)[:, None] * y[None, :])
    z = _omp(r.reshape(-1, r.shape[-1]), pulses.reshape(-1, r.shape[-1]), steer.to(dev, cdt),
             n_atoms, tol).reshape(*r.shape[:-1], y.numel())
    out = torch.zeros(*r.shape[:-2], h, y.numel(), dtype=cdt, device=dev)
    return out.index_add_(out.ndim - 2, rows.to(dev), z)


def _omp(sig, rows, dico, n_atoms: int, tol: float) -> torch.Tensor:
    """Batched OMP: ``sig`` ``(B, P)``, row mask ``rows`` ``(B, P)``, dictionary ``(P, W)``."""
    sig = sig * rows
    n_b, n_w = sig.shape[0], dico.shape[1]
    res = sig
    floor = tol * float(sig.abs().square().sum(-1).sqrt().max())
    support = torch.zeros(n_b, 0, dtype=torch.long, device=sig.device)
    out = torch.zeros(n_b, n_w, dtype=sig.dtype, device=sig.device)
    active = res.abs().square().sum(-1).sqrt() > floor
    for _ in range(min(int(n_atoms), n_w)):
        if not bool(active.any()):
            break
        corr = (res @ dico.conj()).abs()
        corr.scatter_(1, support, -1.0)
        support = torch.cat([support, corr.argmax(-1, keepdim=True)], dim=1)
        phi = dico.T[support].transpose(1, 2) * rows[..., None]  # (B, P, k)
        coef = torch.linalg.lstsq(phi, sig[..., None]).solution  # (B, k, 1)
        res = sig - (phi @ coef)[..., 0]
        new = torch.zeros_like(out).scatter_(1, support, coef[..., 0])
        out = torch.where(active[:, None], new, out)
        active = active & (res.abs().square().sum(-1).sqrt() > floor)
    return out
