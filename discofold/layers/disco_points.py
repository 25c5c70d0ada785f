"""DISCO convolution on arbitrary 2-D point clouds.

``out(u_j) = sum_i kappa(u_j - x_i) f(x_i) q_i`` with ``kappa = sum_k w_k psi_k`` (basis of
:mod:`discofold.layers._basis`, radius in coordinate units).  The sparse matrix
``Psi[k * N_out + j, i] = psi_k(u_j - x_i) q_i`` is built once per point set (neighbour search by
``scipy.spatial.cKDTree``), stored in CSR format and cached by the content of the point tensors.
Angles are ``atan2(v_1, v_0)`` of the offset ``v``; points are ``(N, 2)`` with column 0 along the
first image axis, as in :func:`discofold.layers._quadrature.grid_points`.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from discofold.errors import ConfigError, InputError, ShapeError
from discofold.layers._basis import basis_integrals, basis_size, evaluate_basis
from discofold.layers._quadrature import voronoi_areas

from .._finite import all_finite

__all__ = ["DiscoConvPoints"]

_CACHE_SIZE = 8


def _fingerprint(*tensors: torch.Tensor | None) -> tuple:
    h = hashlib.blake2b(digest_size=16)
    for t in tensors:
        if t is None:
            h.update(b"none")
            continue
        a = t.detach().cpu().contiguous()
        h.update(str((tuple(a.shape), a.dtype)).encode())
        h.update(a.numpy().tobytes())
    return (h.hexdigest(),)


def _check_points(name: str, p: torch.Tensor) -> None:
    if not isinstance(p, torch.Tensor) or p.dim() != 2 or p.shape[1] != 2:
        shape = tuple(p.shape) if isinstance(p, torch.Tensor) else type(p).__name__
        raise ShapeError(f"{name} must be a tensor of shape (N, 2), got {shape}")
    if not bool(torch.isfinite(p).all()):
        raise InputError(f"{name} contains NaN or Inf coordinates")


class DiscoConvPoints(nn.Module):
    """Discrete-continuous convolution between two 2-D point clouds.

    Parameters
    ----------
    in_channels, out_channels : int
        Channel counts.
    kernel_shape : int or (int, int)
        ``nr`` or ``(nr, nphi)``, see :mod:`discofold.layers._basis`.
    radius : float
        Kernel support radius in coordinate units.
    basis : str
        Basis name (default: torch-harmonics >= 0.7.4 piecewise linear).
    normalization : {"none", "nodal"}
        ``"nodal"`` rescales, for every basis function and every output point, the discrete kernel
        so that ``sum_i psi_k(u_j - x_i) q_i`` equals the continuous integral of ``psi_k``.
    transpose : bool
        ``True`` gives the exact transpose (adjoint) of the forward layer that maps ``points_out``
        to ``points_in``: ``out(u_j) = q_j sum_i kappa(x_i - u_j) f(x_i)``; its quadrature weights
        are those of ``points_out`` (``weights_out``) and ``"nodal"`` normalises over ``u_j`` for
        each ``x_i``, as in that forward layer.
    bias : bool
        Learned per-channel bias.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_shape: int | Sequence[int],
        radius: float,
        basis: str = "piecewise_linear",
        normalization: str = "none",
        transpose: bool = False,
        bias: bool = True,
    ):
        super().__init__()
        if normalization not in ("none", "nodal"):
            raise ConfigError(f"normalization must be 'none' or 'nodal', got {normalization!r}")
        if not radius > 0:
            raise ConfigError(f"radius must be > 0, got {radius}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_shape, self.basis = kernel_shape, basis
        self.kernel_size = basis_size(basis, kernel_shape)
        self.radius, self.normalization, self.transpose = float(radius), normalization, transpose
        fan_in = math.sqrt(in_channels * self.kernel_size)
        #: weight scale against a plain convolution (see :attr:`DiscoConv2d.lr_scale`)
        self.lr_scale = self.kernel_size / (math.pi * self.radius**2)
        std = self.lr_scale / fan_in
        w = torch.empty(out_channels, in_channels, self.kernel_size)
        self.weight = nn.Parameter(nn.init.normal_(w, std=std))  # torch default RNG, like nn.Conv2d
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self._psi_cache: OrderedDict[tuple, torch.Tensor] = OrderedDict()

    # ------------------------------------------------------------------ psi
    def psi(
        self,
        points_in: torch.Tensor,
        weights_in: torch.Tensor | None,
        points_out: torch.Tensor,
        weights_out: torch.Tensor | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Sparse CSR matrix ``(K * N_out, N_in)`` with quadrature weights folded in (cached)."""
        key = _fingerprint(points_in, weights_in, points_out, weights_out) + (
            dtype, points_in.device, self.transpose)
        if key in self._psi_cache:
            self._psi_cache.move_to_end(key)
            return self._psi_cache[key]
        if self.transpose:
            rows, cols, vals = self._triplets(points_out, weights_out, points_in)
            rows, cols = cols, rows
        else:
            rows, cols, vals = self._triplets(points_in, weights_in, points_out)
        n_in, n_out = points_in.shape[0], points_out.shape[0]
        K = self.kernel_size
        k = torch.arange(K).repeat_interleave(rows.numel())
        keep = vals.reshape(-1) != 0
        idx = torch.stack([(k * n_out + rows.repeat(K))[keep], cols.repeat(K)[keep]])
        coo = torch.sparse_coo_tensor(
            idx, vals.reshape(-1)[keep], (K * n_out, n_in), check_invariants=False)
        psi = coo.coalesce().to_sparse_csr().to(dtype=dtype, device=points_in.device)
        self._psi_cache[key] = psi
        if len(self._psi_cache) > _CACHE_SIZE:
            self._psi_cache.popitem(last=False)
        return psi

    def _triplets(self, src: torch.Tensor, q: torch.Tensor | None, dst: torch.Tensor):
        """Rows (dst index), cols (src index) and values ``(K, nnz)`` of ``psi_k(dst - src) q``."""
        from scipy.spatial import cKDTree

        if q is None:
            q = voronoi_areas(src)
        elif q.dim() != 1 or q.shape[0] != src.shape[0]:
            raise ShapeError(
                f"quadrature weights have shape {tuple(q.shape)} but there are {src.shape[0]} "
                f"points: expected shape ({src.shape[0]},)"
            )
        s = src.detach().cpu().double().numpy()
        d = dst.detach().cpu().double().numpy()
        pairs = cKDTree(d).sparse_distance_matrix(cKDTree(s), self.radius, output_type="ndarray")
        rows = torch.from_numpy(pairs["i"].astype(np.int64))
        cols = torch.from_numpy(pairs["j"].astype(np.int64))
        self._check_density(rows, d.shape[0], s.shape[0])
        v = torch.from_numpy(d[pairs["i"]] - s[pairs["j"]])
        r = torch.sqrt(v[:, 0] ** 2 + v[:, 1] ** 2) / self.radius
        vals = evaluate_basis(self.basis, self.kernel_shape, r, torch.atan2(v[:, 1], v[:, 0]))
        vals = vals * q.detach().cpu().double()[cols]
        if self.normalization == "nodal":
            sums = torch.zeros(self.kernel_size, d.shape[0], dtype=torch.float64)
            sums.index_add_(1, rows, vals)
            target = basis_integrals(self.basis, self.kernel_shape) * self.radius**2
            scale = torch.where(sums.abs() > 1e-12, target[:, None] / sums, torch.zeros_like(sums))
            vals = vals * scale[:, rows]
        return rows, cols, vals

    def _check_density(self, rows: torch.Tensor, n_dst: int, n_src: int) -> None:
        counts = torch.bincount(rows, minlength=n_dst)
        median = counts.median().item() if n_dst else 0
        if n_src < self.kernel_size or median < 2:
            raise InputError(
                f"too few input points for the kernel: {n_src} points for {self.kernel_size} basis "
                f"functions, median {median} points within radius {self.radius} of an output "
                f"point (need >= 2, or the kernel only sees the point itself). Use a larger "
                f"radius or more input points."
            )

    def cached_psi_bytes(self) -> int:
        """Memory held by the cached sparse matrices (values and indices), in bytes."""
        total = 0
        for p in self._psi_cache.values():
            for t in (p.values(), p.col_indices(), p.crow_indices()):
                total += t.numel() * t.element_size()
        return total

    def clear_cache(self) -> None:
        """Drop every cached matrix."""
        self._psi_cache.clear()

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        x: torch.Tensor,
        points_in: torch.Tensor,
        weights_in: torch.Tensor | None = None,
        points_out: torch.Tensor | None = None,
        weights_out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Apply the layer.

        Parameters
        ----------
        x : torch.Tensor
            ``(B, C_in, N_in)`` real samples at ``points_in``.
        points_in, points_out : torch.Tensor
            ``(N_in, 2)`` and ``(N_out, 2)`` coordinates; ``points_out`` defaults to ``points_in``.
        weights_in, weights_out : torch.Tensor, optional
            ``(N_in,)`` / ``(N_out,)`` quadrature weights (areas); ``None`` computes Voronoi areas.
            The forward layer uses ``weights_in``, the transpose ``weights_out``.

        Returns
        -------
        torch.Tensor
            ``(B, C_out, N_out)``.
        """
        points_out = points_in if points_out is None else points_out
        _check_points("points_in", points_in)
        _check_points("points_out", points_out)
        if x.dim() != 3 or x.shape[1] != self.in_channels or x.shape[2] != points_in.shape[0]:
            raise ShapeError(
                f"DiscoConvPoints expects x of shape (B, {self.in_channels}, {points_in.shape[0]}) "
                f"for {points_in.shape[0]} input points, got {tuple(x.shape)}"
            )
        if x.is_complex() or not all_finite(x):
            raise InputError("DiscoConvPoints input x must be real and finite (no NaN or Inf)")
        psi = self.psi(points_in, weights_in, points_out, weights_out, dtype=x.dtype)
        B, C, N = x.shape
        K, n_out = self.kernel_size, points_out.shape[0]
        y = psi @ x.reshape(B * C, N).t()  # (K * N_out, B * C)
        y = y.reshape(K, n_out, B, C)
        out = torch.einsum("kjbc,ock->boj", y, self.weight.to(x.dtype))
        if self.bias is not None:
            out = out + self.bias.to(out.dtype).view(1, -1, 1)
        return out
