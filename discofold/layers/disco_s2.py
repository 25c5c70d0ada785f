"""DISCO convolutions on the 2-sphere (Ocampo, Price & McEwen, ICLR 2023).

The layer follows the conventions of torch-harmonics 0.8.0 (``DiscreteContinuousConvS2``), so the
same weights give the same outputs (cross-checked in the tests), with an FFT contraction along
longitude instead of a loop over output longitudes.

Geometry.  Colatitudes ``theta`` run from the north pole; longitudes are ``2 pi l / nlon``.  For an
output point ``(theta_o, 0)`` and an input point ``(theta_i, lambda_i)`` the input is rotated by
``Y(-theta_o)`` (the output point goes to the north pole):
``x' = cos(theta_o) sin(theta_i) cos(lambda_i) - sin(theta_o) cos(theta_i)``,
``y' = sin(theta_i) sin(lambda_i)``,
``z' = sin(theta_o) sin(theta_i) cos(lambda_i) + cos(theta_o) cos(theta_i)``.
The kernel is evaluated at geodesic distance ``gamma = arccos(z')`` over the support radius
``theta_cutoff * (1 + 1e-3)`` (the small margin keeps samples at exactly the cutoff distance) and at
the local angle ``phi = atan2(y', x')`` measured from the local south direction ``e_theta`` towards
east ``e_lambda``.  Because the values depend on the longitude only through
``lambda_i - lambda_o``, the tensor ``psi`` is built for output longitude 0 and shared by all
output longitudes; the layer is therefore exactly equivariant to longitude shifts by whole output
grid steps.

Quadrature.  ``q_j = w_j / (2 nlon_in)`` with the latitude weights ``w_j`` of the input grid
(Clenshaw-Curtis for "equiangular", Gauss-Legendre for "legendre-gauss"); the weights integrate the
unit sphere to 1.  Normalisation (``normalization``): ``"mean"`` (default, torch-harmonics'
``basis_norm_mode="mean"``) divides basis function ``k`` by the mean over output latitudes of
``sum_i |psi_k| q_i``; ``"individual"`` divides by that sum at each output latitude; ``"none"``
keeps the plain quadrature sum.

Contraction.  ``out[t, p] = sum_{j, l} psi[t, j, l] x[j, (l + p s) mod nlon_in]`` with
``s = nlon_in / nlon_out`` is a cross-correlation along longitude: it is computed with ``rfft`` as
``conj(psi_hat) * x_hat``, restricted to the band of input latitudes within the cutoff of each
output latitude.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from discofold.errors import InputError, ShapeError
from discofold.layers._basis import basis_size, evaluate_basis
from discofold.layers._s2_grids import GRIDS, colatitudes, longitudes

from .._finite import all_finite

__all__ = ["DiscoConvS2", "DiscoConvTransposeS2"]

_THETA_EPS = 1e-3
_NORMS = ("mean", "individual", "none")


def _rotated_coords(theta_o: float, theta_i: torch.Tensor, lon: torch.Tensor):
    """Geodesic distance and local angle of inputs ``(theta_i[:, None], lon[None, :])``."""
    st, ct = math.sin(theta_o), math.cos(theta_o)
    si, ci = torch.sin(theta_i)[:, None], torch.cos(theta_i)[:, None]
    cl, sl = torch.cos(lon)[None, :], torch.sin(lon)[None, :]
    x = ct * si * cl - st * ci
    y = si * sl
    z = st * si * cl + ct * ci
    norm = torch.sqrt(x * x + y * y + z * z)
    return torch.arccos(torch.clamp(z / norm, -1.0, 1.0)), torch.atan2(y / norm, x / norm)


def _band_values(src, dst_theta, basis, kernel_shape, cutoff):
    """Basis values for output longitude 0, restricted to the latitude band of each output row.

    Returns ``vals (K, T, Jb, L)``, ``idx (T, Jb)`` and the largest number of input samples inside
    the support of one output point, not counting samples at the output point itself.
    """
    theta_in = src[0]
    lon = longitudes(src[2])
    K = basis_size(basis, kernel_shape)
    rows, bands, most = [], [], 0
    for th_o in dst_theta.tolist():
        band = torch.nonzero((theta_in - th_o).abs() <= cutoff * (1 + 1e-12)).flatten()
        gamma, phi = _rotated_coords(th_o, theta_in[band], lon)
        rows.append(evaluate_basis(basis, kernel_shape, gamma / cutoff, phi))
        bands.append(band)
        most = max(most, int(((gamma <= cutoff) & (gamma > 1e-9)).sum()))
    jb = max(1, max(len(b) for b in bands))
    vals = torch.zeros(K, len(bands), jb, src[2], dtype=torch.float64)
    idx = torch.zeros(len(bands), jb, dtype=torch.long)
    for t, (band, v) in enumerate(zip(bands, rows)):
        vals[:, t, : len(band)] = v
        idx[t, : len(band)] = band
    return vals, idx, most


def _normalise(vals, idx, q_rows, n_groups, group_of, mode):
    """Divide by ``sum |psi_k| q`` grouped by ``group_of`` (T, Jb) per torch-harmonics' modes."""
    if mode == "none":
        return vals
    K = vals.shape[0]
    mass = (vals.abs() * q_rows[None, :, :, None]).sum(-1)  # (K, T, Jb)
    vnorm = torch.zeros(K, n_groups, dtype=vals.dtype)
    vnorm.index_add_(1, group_of.flatten(), mass.reshape(K, -1))
    if mode == "mean":
        scale = vnorm.mean(dim=1)[:, None, None, None]
    else:  # individual
        scale = vnorm[:, group_of][..., None]
    return torch.where(scale > 0, vals / torch.where(scale > 0, scale, 1.0), 0.0)


def _precompute(src, dst, basis, kernel_shape, cutoff, mode, transpose):
    """``psi (K, T, Jb, nlon_src)`` with quadrature merged, and ``idx (T, Jb)``.

    ``src``/``dst`` are ``(theta, weights, nlon)``.  ``transpose=False``: the convolution from
    ``src`` to ``dst``.  ``transpose=True``: the tensor of the transposed convolution from ``dst``
    to ``src`` in torch-harmonics' convention (quadrature of ``dst`` rows, norms grouped by ``src``
    latitude, scaled by ``nlon_src / nlon_dst``).
    """
    eff = cutoff * (1.0 + _THETA_EPS)
    vals, idx, most = _band_values(src, dst[0], basis, kernel_shape, eff)
    T, Jb = idx.shape
    if transpose:
        q = (dst[1] / src[2] / 2.0)[:, None].expand(T, Jb)
        vals = _normalise(vals, idx, q, len(src[0]), idx, mode)
        vals = vals * q[None, :, :, None] * (src[2] / dst[2])
    else:
        q = src[1][idx] / src[2] / 2.0
        group = torch.arange(T)[:, None].expand(T, Jb)
        vals = _normalise(vals, idx, q, T, group, mode) * q[None, :, :, None]
    return vals, idx, most


def _parse_shape(shape, name: str) -> tuple[int, int]:
    try:
        nlat, nlon = (int(v) for v in shape)
    except (TypeError, ValueError) as exc:
        raise ShapeError(f"{name} must be a pair (nlat, nlon), got {shape!r}") from exc
    if nlat < 2 or nlon < 1:
        raise ShapeError(f"{name} needs nlat >= 2 and nlon >= 1, got {(nlat, nlon)}")
    return nlat, nlon


def _check_longitudes(name: str, a_lon: int, b_lon: int, transpose: bool) -> None:
    if transpose and b_lon % a_lon:
        raise ShapeError(
            f"{name}: out_shape nlon ({b_lon}) must be a multiple of in_shape nlon ({a_lon}) so "
            "that every input longitude maps onto an output longitude"
        )
    if not transpose and a_lon % b_lon:
        raise ShapeError(
            f"{name}: in_shape nlon ({a_lon}) must be a multiple of out_shape nlon ({b_lon}) so "
            "that every output longitude is an input longitude"
        )


class _DiscoS2Base(nn.Module):
    """Shared set-up of the sphere layers: weights, grids, psi in the longitude-frequency domain."""

    _transpose = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        in_shape: Sequence[int],
        out_shape: Sequence[int],
        kernel_shape: int | Sequence[int],
        basis: str = "piecewise_linear",
        grid_in: str = "equiangular",
        grid_out: str = "equiangular",
        theta_cutoff: float | None = None,
        bias: bool = True,
        grid: str | None = None,
        normalization: str = "mean",
    ) -> None:
        super().__init__()
        if grid is not None:
            grid_in = grid_out = grid
        for g in (grid_in, grid_out):
            if g not in GRIDS:
                raise InputError(f"grid must be one of {GRIDS}, got {g!r}")
        if normalization not in _NORMS:
            raise InputError(f"normalization must be one of {_NORMS}, got {normalization!r}")
        self.in_shape = _parse_shape(in_shape, "in_shape")
        self.out_shape = _parse_shape(out_shape, "out_shape")
        (a_lat, a_lon), (b_lat, b_lon) = self.in_shape, self.out_shape
        _check_longitudes(type(self).__name__, a_lon, b_lon, self._transpose)
        coarse = a_lat if self._transpose else b_lat
        if theta_cutoff is None:
            theta_cutoff = math.pi / (coarse - 1)
        if not theta_cutoff > 0:
            raise InputError(f"theta_cutoff must be positive, got {theta_cutoff}")
        self.kernel_shape, self.basis = kernel_shape, basis
        self.theta_cutoff, self.normalization = float(theta_cutoff), normalization
        self.grid_in, self.grid_out = grid_in, grid_out
        K = basis_size(basis, kernel_shape)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, K
        scale = math.sqrt(1.0 / in_channels / K)
        self.weight = nn.Parameter(scale * torch.randn(out_channels, in_channels, K))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        grid_a = (*colatitudes(a_lat, grid_in), a_lon)
        grid_b = (*colatitudes(b_lat, grid_out), b_lon)
        src, dst = (grid_b, grid_a) if self._transpose else (grid_a, grid_b)
        psi, idx, most = _precompute(
            src, dst, basis, kernel_shape, self.theta_cutoff, normalization, self._transpose
        )
        if most == 0:
            spacing = float(torch.diff(src[0]).min())
            raise InputError(
                f"theta_cutoff={self.theta_cutoff:.4g} rad is smaller than the grid spacing "
                f"({spacing:.4g} rad in latitude, {2 * math.pi / src[2]:.4g} rad in longitude): "
                "every kernel would see a single sample; use a larger theta_cutoff"
            )
        self.psi_idx = idx
        self._psi_hat64 = torch.fft.rfft(psi, dim=-1)  # (K, T, Jb, nlon_src // 2 + 1)
        self._cache: dict = {}

    def _psi_hat(self, dtype: torch.dtype, device: torch.device):
        key = (dtype, device)
        if key not in self._cache:
            cdt = torch.complex128 if dtype == torch.float64 else torch.complex64
            psi = self._psi_hat64.to(device=device, dtype=cdt)
            if not self._transpose:
                psi = psi.conj().resolve_conj()
            self._cache[key] = (psi, self.psi_idx.to(device))
        return self._cache[key]

    def psi_memory_bytes(self) -> int:
        """Bytes held by the cached ``psi`` tensors (every dtype/device, plus the float64 copy)."""
        tensors = [self._psi_hat64] + [p for p, _ in self._cache.values()]
        return sum(t.numel() * t.element_size() for t in tensors)

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels or tuple(x.shape[2:]) != self.in_shape:
            raise ShapeError(
                f"{type(self).__name__}: x must be (B, {self.in_channels}, {self.in_shape[0]}, "
                f"{self.in_shape[1]}), got {tuple(x.shape)}"
            )
        if x.is_complex() or not x.is_floating_point():
            raise InputError(f"{type(self).__name__}: x must be a real float tensor, got {x.dtype}")
        if not all_finite(x):
            raise InputError(f"{type(self).__name__}: the input x contains NaN or Inf values")

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, in_shape={self.in_shape}, "
            f"out_shape={self.out_shape}, kernel_shape={self.kernel_shape}, basis={self.basis!r}, "
            f"theta_cutoff={self.theta_cutoff:.4g}, normalization={self.normalization!r}"
        )


class DiscoConvS2(_DiscoS2Base):
    """DISCO convolution on the sphere, ``(B, C_in, *in_shape) -> (B, C_out, *out_shape)``.

    Parameters
    ----------
    in_channels, out_channels : int
        Channel counts.
    in_shape, out_shape : (int, int)
        ``(nlat, nlon)`` of the input and output grids; ``nlon_in`` must be a multiple of
        ``nlon_out``.
    kernel_shape : int or (int, int)
        Basis shape (see :mod:`discofold.layers._basis`).
    basis : str
        Filter basis, default ``"piecewise_linear"`` (torch-harmonics' "piecewise linear").
    grid_in, grid_out : {"equiangular", "legendre-gauss"}
        Latitude grids; ``grid`` sets both.
    theta_cutoff : float, optional
        Kernel support radius in radians; default ``pi / (nlat_out - 1)``.
    bias : bool
        Learned per-channel bias.
    normalization : {"mean", "individual", "none"}
        Basis normalisation (module docstring).

    Notes
    -----
    ``weight`` is ``(out_channels, in_channels, K)``, initialised ``N(0, 1 / (in_channels K))``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, C_in, nlat_in, nlon_in)`` real → ``(B, C_out, nlat_out, nlon_out)``."""
        self._check(x)
        psi, idx = self._psi_hat(x.dtype, x.device)
        nlon_in, nlon_out = self.in_shape[1], self.out_shape[1]
        xh = torch.fft.rfft(x, dim=-1)[:, :, idx]  # (B, C, T, Jb, F)
        u = torch.einsum("bctjf,ktjf->bcktf", xh, psi)
        y = torch.einsum("bcktfz,ock->botfz", torch.view_as_real(u), self.weight.to(x.dtype))
        y = torch.fft.irfft(torch.view_as_complex(y.contiguous()), n=nlon_in, dim=-1)
        y = y[..., :: nlon_in // nlon_out]
        if self.bias is not None:
            y = y + self.bias.to(y.dtype).reshape(1, -1, 1, 1)
        return y


class DiscoConvTransposeS2(_DiscoS2Base):
    """Transposed DISCO convolution on the sphere (upsampling), torch-harmonics convention.

    Same parameters as :class:`DiscoConvS2`, except that ``nlon_out`` must be a multiple of
    ``nlon_in`` and ``theta_cutoff`` defaults to ``pi / (nlat_in - 1)``.  The contraction is the
    adjoint (in longitude and latitude indices) of the convolution from the output grid to the
    input grid; the quadrature weights are those of the input grid, scaled by
    ``nlon_out / nlon_in``.
    """

    _transpose = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, C_in, nlat_in, nlon_in)`` real → ``(B, C_out, nlat_out, nlon_out)``."""
        self._check(x)
        psi, idx = self._psi_hat(x.dtype, x.device)
        (nlat_out, nlon_out), nlon_in = self.out_shape, self.in_shape[1]
        v = torch.einsum("bctp,ock->boktp", x, self.weight.to(x.dtype))
        freqs = torch.arange(nlon_out // 2 + 1, device=x.device) % nlon_in
        vh = torch.fft.fft(v, dim=-1)[..., freqs]  # spectrum of the zero-interleaved input
        p = torch.einsum("boktf,ktjf->botjf", vh, psi)
        B, O, T, Jb, F = p.shape
        out = p.new_zeros(B, O, nlat_out, F)
        out.index_add_(2, idx.flatten(), p.reshape(B, O, T * Jb, F))
        y = torch.fft.irfft(out, n=nlon_out, dim=-1)
        if self.bias is not None:
            y = y + self.bias.to(y.dtype).reshape(1, -1, 1, 1)
        return y
