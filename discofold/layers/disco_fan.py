"""DISCO convolution on a polar grid (the radar "fan"), with kernels that turn with the angle.

Samples sit at ``x_pf = rho_f (cos theta_p, sin theta_p)`` (P angles in radians, F radii in k-space
units, cycles/m).  The layer computes, for every sample ``u = x_o`` of the same grid,

    out(u) = sum_i kappa(R(-theta_o) (u - x_i)) f(x_i) q_i m_i,

with ``kappa = sum_k w_k psi_k`` a continuous kernel of support ``radius`` (same units as the
radii) and ``R(-theta_o)`` the rotation into the LOCAL frame of the output point: the offset is
expressed in the radial direction ``e_r = (cos theta_o, sin theta_o)`` and the tangential direction
``e_t = (-sin theta_o, cos theta_o)``; the basis sees ``r = |u - x_i| / radius`` and
``phi = atan2((u - x_i).e_t, (u - x_i).e_r)``.  Rotating target and geometry together (a shift of
the data along theta together with the angles) therefore commutes with the layer.

Quadrature (polar area element ``rho d rho d theta``): ``q_pf = w_p * rho_f * v_f`` with the
trapezoid rule in each coordinate: ``v_f = (rho_{f+1} - rho_{f-1}) / 2`` inside and
``(rho_1 - rho_0) / 2``, ``(rho_{F-1} - rho_{F-2}) / 2`` at the two ends; ``w_p`` likewise in
theta for an open arc, and ``w_p = (theta_{p+1} - theta_{p-1}) / 2`` taken cyclically
(``2 pi / P`` for uniform angles) when the angles cover the full circle.  Like the planar layers the
sum is not normalised (it scales with ``radius**2``; the weights are initialised to compensate).

Missing samples (``mask``, 0/1 or bool, ``(P, F)`` or ``(B, P, F)``) get ``m_i = 0`` and, per output
point ``o``, the sum is rescaled by ``S_o / S_o^m`` with ``S_o = sum_i q_i chi_io`` and
``S_o^m = sum_i q_i m_i chi_io`` where ``chi_io = 1`` if ``|x_o - x_i| <= radius (1 + 1e-9)``
(the margin makes samples exactly at the support edge count whatever the rounding): the
quadrature mass of the kernel support is restored to its unmasked value (0 output where
``S_o^m = 0``).  Without a mask no rescaling is done (also not at the ends of an open arc: zero
padding, as in the planar layers).

Uniform angles (ascending, one step ``dtheta`` up to ``1e-6 (dtheta + max(1, max |theta|))``,
which absorbs float32 rounding): the local offset depends only on the angle difference, so ``psi``
is precomputed ONCE as ``(K, F_out, S, band)`` for angular offsets ``s = -h .. h`` and the band of
input radii near each output radius, and shared by all angles.  It is applied as a correlation
along theta, circular on a full circle and zero-padded otherwise, executed either directly (the
shared stencil expanded into a banded sparse matrix that holds only its non-zeros, default for
short stencils), as a grouped ``conv1d`` (``path="conv1d"``) or by FFT along theta (long stencils,
e.g. near the centre of a full-circle grid), chosen by a cost model.  Other angle sets use the
point-cloud path (neighbour search, sparse local-frame matrix).  Plans are cached per
(angles, radii) and per (dtype, device).
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as tF
from torch import nn

from discofold._limits import check_stencil
from discofold.errors import InputError, ShapeError
from discofold.layers._basis import basis_size, evaluate_basis
from discofold.layers._fan_sparse import SparsePair, point_triplets, spmm, stencil_triplets

from .._finite import all_finite

__all__ = ["DiscoConvFan", "fan_quadrature_weights"]

_CACHE_SIZE = 8
_UNIFORM_RTOL = 1e-6
_EDGE = 1.0 + 1e-9  # samples at the support edge count in chi whatever the rounding
# cost model (units: one real multiply-add of a dense loop), from CPU timings of the three
# executions (benchmarks/layers_extra.py): a stored non-zero of the sparse product, a complex
# multiply-add of the batched frequency-domain einsum, an FFT butterfly per sample
_SPARSE_COST = 3.0
_FFT_MUL_COST = 30.0
_FFT_LOG_COST = 2.5


def _trapezoid(t: torch.Tensor, periodic: bool) -> torch.Tensor:
    """Trapezoid weights of sorted nodes ``t``; cyclic over ``2 pi`` when ``periodic``."""
    if t.numel() == 1:
        return torch.ones_like(t)
    if periodic:
        nxt = torch.roll(t, -1)
        nxt[-1] += 2 * math.pi
        prv = torch.roll(t, 1)
        prv[0] -= 2 * math.pi
        return (nxt - prv) / 2
    d = torch.diff(t)
    return torch.cat([d[:1], d[1:] + d[:-1], d[-1:]]) / 2


def _angle_layout(angles: torch.Tensor) -> tuple[bool, bool, float]:
    """``(uniform, periodic, step)``.

    Uniform: ascending, every step within ``1e-6 * step + 1e-6 * max(1, max |theta|)`` of the mean
    step (the absolute part absorbs float32 rounding of the angles).
    """
    P = angles.numel()
    d = torch.diff(angles)
    step = float(d.mean()) if P > 1 else 2 * math.pi
    tol = _UNIFORM_RTOL * (step + max(1.0, float(angles.abs().max())))
    uniform = P > 1 and step > 0 and bool((d - step).abs().max() <= tol)
    span = float(angles.max() - angles.min())
    gap = 2 * math.pi - span
    if uniform:
        periodic = abs(gap - step) <= _UNIFORM_RTOL * 2 * math.pi
    else:
        srt = torch.sort(angles).values
        periodic = P > 2 and 0 < gap <= 1.5 * float(torch.diff(srt).max())
    return uniform, periodic, step


def fan_quadrature_weights(angles_rad: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """Polar quadrature weights ``q_pf = w_p rho_f v_f`` of a fan (module docstring).

    Parameters
    ----------
    angles_rad : torch.Tensor
        ``(P,)`` angles in radians (any order).
    radii : torch.Tensor
        ``(F,)`` strictly increasing, non-negative radii (k-space units).

    Returns
    -------
    torch.Tensor
        ``(P, F)`` float64, units of area (radii units squared).
    """
    a = angles_rad.detach().cpu().double()
    r = radii.detach().cpu().double()
    _, periodic, _ = _angle_layout(a)
    order = torch.argsort(a)
    w = torch.empty_like(a)
    w[order] = _trapezoid(a[order], periodic)
    return w[:, None] * (r * _trapezoid(r, False))[None, :]


def _local(dx: torch.Tensor, dy: torch.Tensor, radius: float):
    """``(r, phi)`` of local offsets ``(dx, dy)`` = (radial, tangential) components."""
    return torch.sqrt(dx * dx + dy * dy) / radius, torch.atan2(dy, dx)


def _reach(step: float, radii: torch.Tensor, radius: float, smax: int) -> int:
    """Largest angular offset (in steps) at which some pair of radii is within ``radius``."""
    h = 0
    ro, ri = radii[:, None], radii[None, :]
    for s in range(1, smax + 1):  # the smallest pair distance grows with |s| up to pi
        a = s * step
        # the antipodal offset (a = pi up to rounding of the step) is a real neighbour
        if a > math.pi * (1 + 1e-9) or not bool(
            (ro**2 + ri**2 - 2 * ro * ri * math.cos(a) <= (radius * _EDGE) ** 2).any()
        ):
            break
        h = s
    return h


def _uniform_stencil(step, P, periodic, radii, radius, basis, kernel_shape):
    """Banded stencil of the uniform path.

    Returns ``psi (K, F, S, Bw)``, ``chi (1, F, S, Bw)`` (support indicator), ``gidx (F, Bw)``
    (input radius of each band slot) and the angular offsets ``(S,)``.
    """
    h = _reach(step, radii, radius, P // 2 if periodic else P - 1)
    F = radii.numel()  # its size was bounded by _uniform_plan, the only caller
    if periodic and 2 * h + 1 > P:
        offsets = torch.arange(-(P // 2), P - P // 2)
    else:
        offsets = torch.arange(-h, h + 1)
    a = offsets.double() * step
    ro, ri = radii[:, None, None], radii[None, None, :]
    v_r = ro - ri * torch.cos(a)[None, :, None]  # u - x_i in the frame of u
    v_t = -ri * torch.sin(a)[None, :, None]
    r, phi = _local(v_r, v_t.expand_as(v_r), radius)
    inside = r <= _EDGE  # (F, S, F_in)
    psi = evaluate_basis(basis, kernel_shape, r, phi)
    any_g = inside.any(dim=1)  # (F, F_in)
    g = torch.arange(F)
    lo = torch.where(any_g, g[None, :], F).min(dim=1).values.clamp(max=F - 1)
    hi = torch.where(any_g, g[None, :], -1).max(dim=1).values
    bw = int(max(1, (hi - lo + 1).max()))
    slot = lo[:, None] + torch.arange(bw)[None, :]  # (F, Bw)
    valid = slot <= hi[:, None]
    gidx = slot.clamp(max=F - 1)
    take = gidx[:, None, :].expand(F, offsets.numel(), bw)
    psi_b = torch.gather(psi, 3, take[None].expand(psi.shape[0], -1, -1, -1)) * valid[:, None]
    chi_b = torch.gather(inside.double(), 2, take) * valid[:, None]
    return psi_b, chi_b[None], gidx, offsets


def _fast_len(n: int) -> int:
    """Smallest integer >= n whose prime factors are 2, 3 and 5."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


def _use_fft(nnz_per_out: float, P: int, n: int, K: int, bw: int) -> bool:
    """Cost model per output sample and channel (units: one real multiply-add of a dense loop).

    Sparse direct: ``_SPARSE_COST`` per stored non-zero.  FFT: a complex multiply-add per
    frequency, basis function and band slot, plus the transforms of the inputs and outputs.
    """
    sparse = _SPARSE_COST * nnz_per_out
    fft = K * bw * _FFT_MUL_COST * n / P + _FFT_LOG_COST * math.log2(max(n, 2)) * (bw + K)
    return fft < sparse


def _spectrum(w: torch.Tensor, offsets: torch.Tensor, n: int) -> torch.Tensor:
    """``conj(rfft)`` along the offset axis of ``w (K, F, S, Bw)`` -> ``(K, F, Bw, n // 2 + 1)``."""
    full = w.new_zeros(w.shape[0], w.shape[1], w.shape[3], n)
    full[..., torch.remainder(offsets, n)] = w.permute(0, 1, 3, 2)
    return torch.fft.rfft(full, dim=-1).conj()


def _correlate_uniform(plan: dict, xq: torch.Tensor, which: str) -> torch.Tensor:
    """``u[b, c, f, k, p] = sum_{s, d} w[k, f, s, d] xq[b, c, p + s, gidx[f, d]]``."""
    B, C, P, F = xq.shape
    xg = xq.transpose(2, 3)[:, :, plan["gidx"]]  # (B, C, F, Bw, P)
    bw = xg.shape[3]
    if plan["mode"] == "fft":
        n = plan["n_fft"]
        xh = torch.fft.rfft(xg, n=n, dim=-1)
        u = torch.einsum("bcfdw,kfdw->bcfkw", xh, plan[which])
        return torch.fft.irfft(u, n=n, dim=-1)[..., :P]
    h = plan["h"]
    inp = xg.reshape(B * C, F * bw, P)
    inp = tF.pad(inp, (h, h), mode="circular" if plan["periodic"] else "constant")
    out = tF.conv1d(inp, plan[which], groups=F)  # (B*C, F*K, P)
    return out.reshape(B, C, F, -1, P)


def _correlate(plan: dict, xq: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Stencil contraction then channel mixing: ``(B, C, P, F) -> (B, O, P, F)``."""
    B, C, P, F = xq.shape
    if plan["mode"] != "sparse":
        return torch.einsum("bcfkp,ock->bopf", _correlate_uniform(plan, xq, "psi"), weight)
    # mix first, into the layout the sparse product reads: v[k, (i, b), o]; only the small input
    # and output tensors are transposed, never the K-times larger intermediate
    N, O = P * F, weight.shape[0]
    xr = xq.permute(2, 3, 0, 1).reshape(N * B, C)
    v = torch.cat([xr @ weight[:, :, k].t() for k in range(weight.shape[2])])  # (K N B, O)
    y = spmm(plan["psi"], v.view(-1, B * O))  # psi (N, K * N) -> (N, B * O)
    return y.view(P, F, B, O).permute(2, 3, 0, 1).contiguous()


def _support_mass(plan: dict, qm: torch.Tensor) -> torch.Tensor:
    """``sum_i chi_io qm_i`` for ``qm (B, P, F)`` -> ``(B, P, F)``."""
    B, P, F = qm.shape
    if plan["mode"] == "sparse":
        return spmm(plan["chi"], qm.reshape(B, P * F).t()).t().reshape(B, P, F)
    return _correlate_uniform(plan, qm[:, None], "chi")[:, 0, :, 0].transpose(1, 2)


def _fingerprint(*tensors: torch.Tensor) -> str:
    h = hashlib.blake2b(digest_size=16)
    for t in tensors:
        a = t.detach().cpu().double().contiguous()
        h.update(str(tuple(a.shape)).encode())
        h.update(a.numpy().tobytes())
    return h.hexdigest()


def _uniform_plan(angles, radii, radius, basis, kernel_shape, path):
    """Plan of the uniform path, or ``None`` when an open arc nearly closes within the radius."""
    _, periodic, step = _angle_layout(angles)
    P = angles.numel()
    h = _reach(step, radii, radius, P // 2 if periodic else P - 1)
    F, K = radii.numel(), basis_size(basis, kernel_shape)
    n_s = P if periodic and 2 * h + 1 > P else 2 * h + 1
    check_stencil("DiscoConvFan", K * F * F * n_s,
                  f"{K} basis functions x {F} output radii x {F} input radii x {n_s} angular "
                  f"offsets: radius {radius:g} on {P} x {F} samples")
    if not periodic and 2 * math.pi - (P - 1) * step <= (h + 1e-9) * step:
        return None  # samples across the gap of the arc interact: use the point path
    psi, chi, gidx, offsets = _uniform_stencil(step, P, periodic, radii, radius, basis,
                                               kernel_shape)  # fmt: skip
    K, F, S, bw = psi.shape
    full_wrap = periodic and 2 * h + 1 > P
    if full_wrap and path == "conv1d":
        raise InputError(
            f"path='conv1d' cannot wrap a stencil of {S} angular offsets around {P} angles; "
            "use path='auto', 'direct' or 'fft'"
        )
    n = P if periodic else _fast_len(P + h)
    mode = {"direct": "sparse", "conv1d": "conv1d", "fft": "fft"}.get(path)
    if mode is None:  # auto
        nnz = float((psi != 0).sum()) * P / (P * F)
        mode = "fft" if _use_fft(nnz, P, n, K, bw) else "sparse"
    plan = {"mode": mode, "geometry": "uniform", "periodic": periodic, "gidx": gidx, "h": h,
            "n_fft": n, "neighbours": int(chi.sum(dim=(0, 2, 3)).max()) - 1}  # fmt: skip
    for name, w in (("psi", psi), ("chi", chi)):
        if mode == "fft":
            plan[name] = _spectrum(w, offsets, n)
        elif mode == "conv1d":
            plan[name] = w.permute(1, 0, 3, 2).reshape(F * w.shape[0], bw, S)
        else:
            rows, cols, vals = stencil_triplets(w, gidx, offsets, P, periodic)
            plan[name] = _sparse_psi(rows, cols, vals, w.shape[0], P * F)
    return plan


def _sparse_psi(rows, cols, vals, K: int, N: int) -> SparsePair:
    """Triplets of ``Psi[k * N + o, i]`` -> the ``(N, K * N)`` matrix ``[o, k * N + i]``."""
    return SparsePair(
        rows % N, torch.div(rows, N, rounding_mode="floor") * N + cols, vals, (N, K * N)
    )


def _point_plan(angles, radii, radius, basis, kernel_shape) -> dict:
    rows, cols, vals, (o, i), most = point_triplets(angles, radii, radius, _EDGE, basis,
                                                    kernel_shape)  # fmt: skip
    N = angles.numel() * radii.numel()
    psi = _sparse_psi(rows, cols, vals, vals.numel() // o.numel(), N)
    chi = SparsePair(o, i, torch.ones(o.numel(), dtype=torch.float64), (N, N))
    return {"mode": "sparse", "geometry": "points", "psi": psi, "chi": chi, "neighbours": most}


def _build_plan(angles, radii, radius, basis, kernel_shape, path) -> dict:
    """Geometry of one fan in float64 on the CPU (see the module docstring)."""
    uniform, _, _ = _angle_layout(angles)
    plan = None
    if uniform and path != "points":
        plan = _uniform_plan(angles, radii, radius, basis, kernel_shape, path)
    if plan is None:
        plan = _point_plan(angles, radii, radius, basis, kernel_shape)
    if plan["neighbours"] < 1:
        dr = float(torch.diff(radii).min())
        arc = float(radii.max()) * float(torch.diff(torch.sort(angles).values).min())
        raise InputError(
            f"DiscoConvFan radius {radius:g} is smaller than one grid cell (smallest radial step "
            f"{dr:.4g}, smallest arc step at the outer radius {arc:.4g}, same units as radii): "
            "every kernel would see only its own sample (a 1x1 stencil); use a larger radius"
        )
    plan["q"] = fan_quadrature_weights(angles, radii)
    plan["denom"] = _support_mass(plan, plan["q"][None])[0]
    return plan


def _to(plan: dict, dtype: torch.dtype, device: torch.device) -> dict:
    out = {}
    for k, v in plan.items():
        if isinstance(v, torch.Tensor) and (v.is_floating_point() or v.is_complex()):
            cdt = (
                dtype
                if v.is_floating_point()
                else (torch.complex128 if dtype == torch.float64 else torch.complex64)
            )
            out[k] = v.to(device=device, dtype=cdt)
        elif isinstance(v, torch.Tensor):
            out[k] = v.to(device)
        elif isinstance(v, SparsePair):
            out[k] = v.to(dtype, device)
        else:
            out[k] = v
    return out


def _check_inputs(x, angles, radii, mask, in_channels):
    if x.dim() != 4 or x.shape[1] != in_channels:
        raise ShapeError(f"DiscoConvFan: x must be (B, {in_channels}, P, F), got {tuple(x.shape)}")
    P, F = x.shape[2:]
    for name, t, n in (("angles_rad", angles, P), ("radii", radii, F)):
        if not isinstance(t, torch.Tensor) or t.dim() != 1 or t.numel() != n:
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ShapeError(f"DiscoConvFan: {name} must have shape ({n},) to match x, got {got}")
        if not bool(torch.isfinite(t).all()):
            raise InputError(f"DiscoConvFan: {name} contains NaN or Inf values")
    if x.is_complex() or not x.is_floating_point():
        raise InputError(f"DiscoConvFan: x must be a real float tensor, got {x.dtype}")
    if not all_finite(x):
        raise InputError("DiscoConvFan: the input x contains NaN or Inf values")
    if F > 1 and not (bool((torch.diff(radii) > 0).all()) and float(radii.min()) >= 0):
        raise InputError("DiscoConvFan: radii must be non-negative and strictly increasing")
    if mask is not None and (
        mask.dim() not in (2, 3)
        or tuple(mask.shape[-2:]) != (P, F)
        or (mask.dim() == 3 and mask.shape[0] not in (1, x.shape[0]))
    ):
        raise ShapeError(
            f"DiscoConvFan: mask must be ({P}, {F}) or ({x.shape[0]}, {P}, {F}), "
            f"got {tuple(mask.shape)}"
        )


class DiscoConvFan(nn.Module):
    """DISCO convolution on a polar grid with kernels in the local (radial, tangential) frame.

    Parameters
    ----------
    in_channels, out_channels : int
        Channel counts.
    kernel_shape : int or (int, int)
        ``nr`` or ``(nr, nphi)`` (see :mod:`discofold.layers._basis`).
    radius : float
        Kernel support radius in the units of the radii (k-space cycles/m for radar).
    basis : str
        Basis name; ``phi = 0`` points radially outward, ``phi = pi / 2`` along increasing theta.
    bias : bool
        Learned per-channel bias.
    path : {"auto", "direct", "conv1d", "fft", "points"}
        Force a contraction (tests, benchmarks).  Uniform angles: ``"direct"`` expands the
        theta-shared stencil into a banded sparse matrix (non-zeros only), ``"conv1d"`` runs it as
        a grouped ``conv1d`` along theta, ``"fft"`` as an FFT correlation along theta; ``"auto"``
        chooses ``"direct"`` or ``"fft"`` by a cost model (FFT whenever the stencil wraps the
        whole circle).  ``"points"`` (and any non-uniform angle set) uses the neighbour-search
        point-cloud path.

    Notes
    -----
    ``weight`` is ``(out_channels, in_channels, K)``, initialised with standard deviation
    ``K / (pi radius^2 sqrt(in_channels K))`` (the sum scales with the support area), as
    :class:`~discofold.layers.disco_points.DiscoConvPoints`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_shape: int | Sequence[int],
        radius: float,
        basis: str = "piecewise_linear",
        bias: bool = True,
        path: str = "auto",
    ) -> None:
        super().__init__()
        if not radius > 0 or not math.isfinite(radius):
            raise InputError(f"DiscoConvFan: radius must be positive and finite, got {radius}")
        paths = ("auto", "direct", "conv1d", "fft", "points")
        if path not in paths:
            raise InputError(f"path must be one of {paths}, got {path!r}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_shape, self.basis, self.radius, self.path = kernel_shape, basis, radius, path
        self.kernel_size = K = basis_size(basis, kernel_shape)
        #: weight scale against a plain convolution (see :attr:`DiscoConv2d.lr_scale`)
        self.lr_scale = K / (math.pi * radius**2)
        std = self.lr_scale / math.sqrt(in_channels * K)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, K) * std)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self._plans: OrderedDict = OrderedDict()
        self._cache: OrderedDict = OrderedDict()

    def plan(
        self, angles_rad: torch.Tensor, radii: torch.Tensor, dtype=torch.float32, device=None
    ) -> dict:
        """Cached geometry (``psi``, support indicator, quadrature) for one fan."""
        device = torch.device("cpu") if device is None else torch.device(device)
        geo = _fingerprint(angles_rad, radii)
        key = (geo, dtype, device)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        if geo not in self._plans:
            a, r = angles_rad.detach().cpu().double(), radii.detach().cpu().double()
            if a.numel() * r.numel() < self.kernel_size or min(a.numel(), r.numel()) < 2:
                raise ShapeError(
                    f"DiscoConvFan needs at least 2 angles, 2 radii and {self.kernel_size} samples "
                    f"(one per basis function), got {a.numel()} x {r.numel()}"
                )
            self._plans[geo] = _build_plan(
                a, r, self.radius, self.basis, self.kernel_shape, self.path
            )
            if len(self._plans) > _CACHE_SIZE:
                self._plans.popitem(last=False)
        self._cache[key] = _to(self._plans[geo], dtype, device)
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return self._cache[key]

    def cached_psi_bytes(self) -> int:
        """Bytes of the cached stencils / sparse matrices (all dtypes and devices)."""
        total = 0
        for plan in list(self._plans.values()) + list(self._cache.values()):
            t = plan["psi"]
            total += t.nbytes() if isinstance(t, SparsePair) else t.numel() * t.element_size()
        return total

    def forward(
        self,
        x: torch.Tensor,
        angles_rad: torch.Tensor,
        radii: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Apply the layer.

        Parameters
        ----------
        x : torch.Tensor
            ``(B, C_in, P, F)`` real samples on the polar grid.
        angles_rad : torch.Tensor
            ``(P,)`` angles in radians.
        radii : torch.Tensor
            ``(F,)`` radii (k-space units), strictly increasing.
        mask : torch.Tensor, optional
            ``(P, F)`` or ``(B, P, F)``, 1/True where measured.

        Returns
        -------
        torch.Tensor
            ``(B, C_out, P, F)`` on the same grid.
        """
        _check_inputs(x, angles_rad, radii, mask, self.in_channels)
        plan = self.plan(angles_rad, radii, x.dtype, x.device)
        B, C, P, F = x.shape
        q = plan["q"]
        m = None if mask is None else mask.to(device=x.device, dtype=x.dtype).reshape(-1, P, F)
        xq = x * q if m is None else x * (q * m)[:, None]
        y = _correlate(plan, xq, self.weight.to(x.dtype))
        if m is not None:
            num = _support_mass(plan, q * m)
            ok = num > 1e-12 * plan["denom"]
            y = y * torch.where(ok, plan["denom"] / torch.where(ok, num, 1.0), 0.0)[:, None]
        if self.bias is not None:
            y = y + self.bias.to(y.dtype).reshape(1, -1, 1, 1)
        return y

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_shape={self.kernel_shape}, "
            f"radius={self.radius}, basis={self.basis!r}, path={self.path!r}"
        )
