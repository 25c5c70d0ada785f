"""Pure-torch non-uniform FFT (Kaiser–Bessel gridding) with a Toeplitz normal operator.

Convention (docs/conventions.md): trajectory ``(K, 2)`` in radians per pixel in ``[−π, π)``,
column 0 ↔ H (rows), column 1 ↔ W, and

    y_k = (HW)^(-1/2) Σ_n x[n] exp(−i k·(n − N//2)),

so a trajectory on the Cartesian grid ``k = 2π(m − N//2)/N`` reproduces ``fft2c``.

Forward: deapodise, place on the ``α``-oversampled grid (wrap-around), FFT, interpolate with a
sparse CSR matrix (built once, vectorised).  Adjoint: the transposed CSR, inverse FFT, crop,
deapodise.  Both run inside custom autograd functions (each is the other's backward), so
gradients flow to the image (forward) and to the data (adjoint).  Not differentiable with
respect to the trajectory.
"""

from __future__ import annotations

import math

import torch

from ..errors import InputError, ShapeError
from . import _kb, _toeplitz
from ._base import LinearOperator

__all__ = ["NUFFT", "check_trajectory"]

#: accuracy presets: measured relative error vs the dense NDFT ≈ 7e-6 ("default"),
#: 8e-8 ("high") for random complex images (tests/operators/test_nufft.py checks ≤ 1e-4 / 1e-6).
_PRESETS = {
    "default": {"oversamp": 2.0, "width": 6, "eps": 1e-5},
    "high": {"oversamp": 2.0, "width": 8, "eps": 1e-8},
}


def check_trajectory(traj, name: str = "traj") -> torch.Tensor:
    """Validate a trajectory and return it as a floating-point ``(K, 2)`` tensor.

    Raises
    ------
    InputError
        Not real floating point, non-finite values, or values outside ``[−π, π)``.
    ShapeError
        Not of shape ``(K, 2)`` with ``K ≥ 1``.
    """
    if not isinstance(traj, torch.Tensor):
        traj = torch.as_tensor(traj)
    if torch.is_complex(traj) or not traj.is_floating_point():
        raise InputError(f"{name} must be a real floating-point tensor, got dtype {traj.dtype}")
    if traj.ndim != 2 or traj.shape[1] != 2 or traj.shape[0] < 1:
        raise ShapeError(f"{name} must have shape (K, 2) with K >= 1, got {tuple(traj.shape)}")
    if not bool(torch.isfinite(traj).all()):
        bad = int((~torch.isfinite(traj)).any(1).sum())
        raise InputError(f"{name} contains NaN or Inf in {bad} of {len(traj)} samples")
    lo, hi = float(traj.min()), float(traj.max())
    tol = 1e-6  # float32(−π) lies slightly below −π; the kernel wraps such values exactly
    if lo < -math.pi - tol or hi >= math.pi:
        raise InputError(
            f"{name} must lie in [-pi, pi) radians per pixel, got min {lo:.6g} and max {hi:.6g}; "
            "wrap it with torch.remainder(traj + pi, 2 * pi) - pi"
        )
    return traj


class _ForwardFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, op):
        ctx.op = op
        return op._raw_forward(x)

    @staticmethod
    def backward(ctx, grad):
        return _AdjointFn.apply(grad, ctx.op), None


class _AdjointFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, y, op):
        ctx.op = op
        return op._raw_adjoint(y)

    @staticmethod
    def backward(ctx, grad):
        return _ForwardFn.apply(grad, ctx.op), None


class NUFFT(LinearOperator):
    """2-D non-uniform FFT ``(..., H, W) → (..., K)`` (final).

    Parameters
    ----------
    traj : Tensor (K, 2)
        Sample positions in radians per pixel in ``[−π, π)``; column 0 ↔ H, column 1 ↔ W.
        The operator lives on ``traj``'s device; a float64 trajectory gives a float64 plan.
    image_shape : (H, W)
    oversamp, width : float, int, optional
        Grid oversampling ratio ``α`` and kernel width (grid cells); default: the preset's.
    backend : {"torch", "finufft"}
        ``"finufft"`` needs the optional ``finufft`` extra and runs on the CPU only.
    eps : float, optional
        finufft tolerance (default: the preset's, 1e-5 or 1e-8).
    accuracy : {"default", "high"}
        Preset: ``"default"`` (oversampling 2, width 6; relative error ≈ 7e-6 vs the exact
        NDFT) or ``"high"`` (width 8; ≈ 8e-8 in complex128).
    toeplitz : bool
        ``normal`` by the Toeplitz embedding (default, fast) or as ``A_adjoint(A(x))`` (exactly
        the composition, e.g. for tests that compare to rounding).

    Notes
    -----
    ``normal`` is a Toeplitz embedding (``AᴴA`` as a ``2H × 2W`` FFT convolution) whose kernel is
    computed on first use and cached; its agreement with ``A_adjoint(A(x))`` is at the NUFFT's
    accuracy (≈ 1e-5), not to rounding (``toeplitz=False`` gives the exact composition).
    """

    name = "NUFFT"

    def __init__(self, traj, image_shape, oversamp: float | None = None, width: int | None = None,
                 backend: str = "torch", eps: float | None = None, accuracy: str = "default",
                 toeplitz: bool = True):
        self.traj = check_trajectory(traj)
        if accuracy not in _PRESETS:
            raise InputError(f"accuracy must be one of {sorted(_PRESETS)}, got {accuracy!r}")
        if backend not in ("torch", "finufft"):
            raise InputError(f"backend must be 'torch' or 'finufft', got {backend!r}")
        shape = tuple(int(s) for s in image_shape)
        if len(shape) != 2 or min(shape) < 1:
            raise ShapeError(f"image_shape must be (H, W) with positive sizes, got {image_shape}")
        preset = _PRESETS[accuracy]
        self.oversamp = float(preset["oversamp"] if oversamp is None else oversamp)
        self.width = int(preset["width"] if width is None else width)
        if self.oversamp < 1.0 or self.width < 2:
            raise InputError(
                f"need oversamp >= 1 and width >= 2, got {self.oversamp} and {self.width}"
            )
        self.eps = float(preset["eps"] if eps is None else eps)
        self.backend = backend
        self.toeplitz = bool(toeplitz)
        self.image_shape = shape
        self.in_shape, self.out_shape = shape, (int(self.traj.shape[0]),)
        self._cache_mats: dict = {}
        self._cache_toeplitz: dict = {}
        self._cache_finufft: dict = {}
        if backend == "finufft":
            from ..errors import require

            require("finufft", "finufft", "NUFFT backend='finufft'")
            if self.traj.device.type != "cpu":
                raise InputError(
                    f"NUFFT backend='finufft' runs on the CPU only, but traj is on "
                    f"{self.traj.device}; use backend='torch'"
                )
        else:
            self._build_plan()

    # ------------------------------------------------------------------ plan
    def _build_plan(self) -> None:
        h, w = self.image_shape
        self.grid_shape = (_kb.grid_size(h, self.oversamp, self.width),
                           _kb.grid_size(w, self.oversamp, self.width))
        gh, gw = self.grid_shape
        betas = (_kb.beatty_beta(self.width, gh / h), _kb.beatty_beta(self.width, gw / w))
        real = torch.float64 if self.traj.dtype == torch.float64 else torch.float32
        cols, vals = _kb.interp_entries(self.traj.to(torch.float64), self.grid_shape,
                                        self.width, betas)
        self._interp, self._interp_adj = _kb.csr_pair(cols, vals, gh * gw, real)
        deapod = torch.outer(_kb.deapodisation(h, gh, self.width, betas[0]),
                             _kb.deapodisation(w, gw, self.width, betas[1])) / math.sqrt(h * w)
        self._deapod = deapod.to(device=self.traj.device, dtype=real)

    def _mats(self, dtype: torch.dtype):
        """Interpolation CSR pair and deapodisation in the real dtype matching ``dtype``."""
        real = torch.float64 if dtype == torch.complex128 else torch.float32
        if self._deapod.dtype == real:
            return self._interp, self._interp_adj, self._deapod
        if real not in self._cache_mats:
            self._cache_mats[real] = tuple(
                t.to(real) for t in (self._interp, self._interp_adj, self._deapod)
            )
        return self._cache_mats[real]

    def toeplitz_kernel(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """FFT of the ``(2H, 2W)`` Toeplitz kernel of ``AᴴA`` (real; built once, cached)."""
        if torch.float64 not in self._cache_toeplitz:
            self._cache_toeplitz[torch.float64] = _toeplitz.toeplitz_kernel(
                self.traj, self.image_shape
            )
        if dtype not in self._cache_toeplitz:
            self._cache_toeplitz[dtype] = self._cache_toeplitz[torch.float64].to(dtype)
        return self._cache_toeplitz[dtype]

    def plan_nbytes(self, include_toeplitz: bool = True) -> int:
        """Bytes held by the plan: both CSR matrices, the deapodisation and the Toeplitz kernel."""
        total = 0
        if self.backend == "torch":
            for m in (self._interp, self._interp_adj):
                total += sum(t.numel() * t.element_size()
                             for t in (m.crow_indices(), m.col_indices(), m.values()))
            total += self._deapod.numel() * self._deapod.element_size()
        if include_toeplitz:
            real = self._deapod.dtype if self.backend == "torch" else torch.float64
            total += _toeplitz.kernel_nbytes(self.toeplitz_kernel(real))
        return total

    # ------------------------------------------------------------------ raw transforms
    def _raw_forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.backend == "finufft":
            from ._finufft import finufft_forward

            return finufft_forward(self, x)
        fwd, _, deapod = self._mats(x.dtype)
        h, w = self.image_shape
        gh, gw = self.grid_shape
        lead = x.shape[:-2]
        xb = x.reshape(-1, h, w)
        b = xb.shape[0]
        z = (xb * deapod).permute(1, 2, 0)
        grid = z.new_zeros(gh, gw, b)
        h0, w0 = h // 2, w // 2  # index of the origin n' = 0
        grid[: h - h0, : w - w0] = z[h0:, w0:]
        grid[: h - h0, gw - w0:] = z[h0:, :w0]
        grid[gh - h0:, : w - w0] = z[:h0, w0:]
        grid[gh - h0:, gw - w0:] = z[:h0, :w0]
        grid = torch.fft.fft2(grid, dim=(0, 1))
        out = torch.sparse.mm(fwd, torch.view_as_real(grid).reshape(gh * gw, 2 * b))
        y = torch.view_as_complex(out.reshape(-1, b, 2))
        return y.transpose(0, 1).reshape(*lead, -1)

    def _raw_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        if self.backend == "finufft":
            from ._finufft import finufft_adjoint

            return finufft_adjoint(self, y)
        _, adj, deapod = self._mats(y.dtype)
        h, w = self.image_shape
        gh, gw = self.grid_shape
        k = y.shape[-1]
        lead = y.shape[:-1]
        yt = y.reshape(-1, k).transpose(0, 1).contiguous()
        b = yt.shape[1]
        g = torch.sparse.mm(adj, torch.view_as_real(yt).reshape(k, 2 * b))
        grid = torch.fft.ifft2(torch.view_as_complex(g.reshape(gh, gw, b, 2)), dim=(0, 1),
                               norm="forward")
        h0, w0 = h // 2, w // 2
        z = grid.new_empty(h, w, b)
        z[h0:, w0:] = grid[: h - h0, : w - w0]
        z[h0:, :w0] = grid[: h - h0, gw - w0:]
        z[:h0, w0:] = grid[gh - h0:, : w - w0]
        z[:h0, :w0] = grid[gh - h0:, gw - w0:]
        return (z.permute(2, 0, 1) * deapod).reshape(*lead, h, w)

    # ------------------------------------------------------------------ operator interface
    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ForwardFn.apply(x, self)

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return _AdjointFn.apply(y, self)

    def _normal(self, x: torch.Tensor) -> torch.Tensor:
        if not self.toeplitz:
            return self._adjoint(self._forward(x))
        real = torch.float64 if x.dtype == torch.complex128 else torch.float32
        return _toeplitz.toeplitz_apply(x, self.toeplitz_kernel(real))

    def __repr__(self) -> str:
        return (f"NUFFT(K={self.out_shape[0]}, image_shape={self.image_shape}, "
                f"oversamp={self.oversamp}, width={self.width}, backend={self.backend!r})")
