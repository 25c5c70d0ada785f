"""Sparse local-frame DISCO matrices for :mod:`discofold.layers.disco_fan` (private).

Two builders give the triplets ``(row, col, value)`` of ``Psi[k * N + o, i] = psi_k(local offset)``
on a fan of ``N = P * F`` samples (index ``p * F + f``): one expands the theta-shared stencil of
uniform angles (no neighbour search), the other searches neighbours of any angle set.  Both keep
only non-zero values and store the matrix and its transpose in CSR, so that the backward pass is a
second sparse product instead of a run-time transpose.
"""

from __future__ import annotations

import torch

from discofold._limits import check_stencil
from discofold.layers._basis import basis_size, evaluate_basis

__all__ = ["SparsePair", "spmm", "stencil_triplets", "point_triplets"]


class SparsePair:
    """A CSR matrix ``(R, N)`` and its transpose, in one dtype and on one device."""

    def __init__(self, rows, cols, vals, shape, dtype=torch.float64, device=None) -> None:
        keep = vals != 0
        rows, cols, vals = rows[keep], cols[keep], vals[keep].to(dtype)
        kw = {"size": shape, "check_invariants": False}
        self.a = torch.sparse_coo_tensor(torch.stack([rows, cols]), vals, **kw)
        self.a = self.a.coalesce().to_sparse_csr().to(device)
        kw["size"] = (shape[1], shape[0])
        self.at = torch.sparse_coo_tensor(torch.stack([cols, rows]), vals, **kw)
        self.at = self.at.coalesce().to_sparse_csr().to(device)
        self.shape = shape

    def to(self, dtype: torch.dtype, device: torch.device) -> SparsePair:
        out = object.__new__(SparsePair)
        out.a, out.at = (
            self.a.to(device=device, dtype=dtype),
            self.at.to(device=device, dtype=dtype),
        )
        out.shape = self.shape
        return out

    def nbytes(self) -> int:
        """Bytes of both CSR matrices (values and indices)."""
        parts = [
            t for m in (self.a, self.at) for t in (m.values(), m.col_indices(), m.crow_indices())
        ]
        return sum(t.numel() * t.element_size() for t in parts)


class _SpMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, pair):
        ctx.pair = pair
        return pair.a @ x

    @staticmethod
    def backward(ctx, grad):
        return ctx.pair.at @ grad.contiguous(), None


def spmm(pair: SparsePair, x: torch.Tensor) -> torch.Tensor:
    """``pair.a @ x`` for dense ``x (N, M)``, differentiable in ``x``."""
    return _SpMM.apply(x.contiguous(), pair)


def stencil_triplets(w: torch.Tensor, gidx: torch.Tensor, offsets: torch.Tensor, P: int,
                     periodic: bool):  # fmt: skip
    """Expand a theta-shared stencil ``w (K, F, S, Bw)`` over ``P`` angles.

    Entry ``(k, f, s, d)`` links output ``(p, f)`` to input ``(p + offsets[s], gidx[f, d])``
    (cyclic when ``periodic``, dropped outside ``0 .. P - 1`` otherwise).
    """
    K, F = w.shape[:2]
    k, f, s, d = torch.nonzero(w, as_tuple=True)
    v = w[k, f, s, d]
    p = torch.arange(P)[:, None]
    pin = p + offsets[s][None, :]
    ok = torch.ones_like(pin, dtype=torch.bool) if periodic else (pin >= 0) & (pin < P)
    pin = torch.remainder(pin, P)
    rows = (k[None, :] * (P * F) + p * F + f[None, :])[ok]
    cols = (pin * F + gidx[f, d][None, :])[ok]
    return rows, cols, v[None, :].expand(P, -1)[ok]


def _local(dx, dy, radius):
    return torch.sqrt(dx * dx + dy * dy) / radius, torch.atan2(dy, dx)


def point_triplets(angles, radii, radius, edge, basis, kernel_shape):
    """Neighbour search (``|x_o - x_i| <= radius * edge``) and local-frame basis values.

    Returns ``(rows, cols, vals)`` of ``Psi (K * N, N)``, the support pairs ``(o, i)`` and the
    largest number of neighbours (other than itself) of one sample.
    """
    from scipy.spatial import cKDTree

    th = angles[:, None].expand(-1, radii.numel()).reshape(-1)
    rho = radii[None, :].expand(angles.numel(), -1).reshape(-1)
    pts = torch.stack([rho * torch.cos(th), rho * torch.sin(th)], 1)
    tree = cKDTree(pts.numpy())
    count = int(tree.count_neighbors(tree, radius * edge))  # counted, nothing stored
    check_stencil("DiscoConvFan", basis_size(basis, kernel_shape) * count,
                  f"{basis_size(basis, kernel_shape)} basis functions x {count} neighbour "
                  f"pairs: radius {radius:g} on {pts.shape[0]} samples")
    pairs = tree.sparse_distance_matrix(tree, radius * edge, output_type="ndarray")
    o = torch.from_numpy(pairs["i"].astype("int64"))
    i = torch.from_numpy(pairs["j"].astype("int64"))
    v = pts[o] - pts[i]  # u - x_i, rotated into the frame of u
    c, s = torch.cos(th[o]), torch.sin(th[o])
    r, phi = _local(v[:, 0] * c + v[:, 1] * s, -v[:, 0] * s + v[:, 1] * c, radius)
    vals = evaluate_basis(basis, kernel_shape, r, phi)  # (K, nnz)
    K, N = vals.shape[0], pts.shape[0]
    rows = (torch.arange(K)[:, None] * N + o[None, :]).reshape(-1)
    most = int((torch.bincount(o, minlength=N) - 1).max())
    return rows, i.repeat(K), vals.reshape(-1), (o, i), most
