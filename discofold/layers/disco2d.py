"""DISCO convolution on equidistant planar grids.

``out(u) = sum_i kappa(u - x_i) f(x_i) q_i`` with ``kappa = sum_k w_k psi_k`` (continuous basis of
:mod:`discofold.layers._basis`, support radius ``radius`` in domain units) and ``q_i`` the cell
area.  Offsets use the grid convention of :mod:`discofold.layers._quadrature` (coordinate 0 along
axis H, coordinate 1 along axis W); the angle of an offset ``v`` is ``atan2(v_1, v_0)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from discofold._limits import check_stencil
from discofold.errors import ConfigError, InputError, ShapeError
from discofold.layers._basis import basis_size, evaluate_basis

from .._finite import all_finite

__all__ = ["DiscoConv2d"]

_PAD_MODES = {"zeros": "constant", "circular": "circular", "reflect": "reflect"}
# Cost model of the FFT path, in multiply-adds of a direct convolution: the FFT path is bound by
# memory traffic over (B (C_in + C_out) + 2 C_out C_in / groups) spectra of Hf x Wf points; the
# constant was measured on CPU (forward + backward, batch 8, 32 -> 32 channels, 64 x 64): the
# crossover lies between 9 x 9 and 11 x 11 stencils.
_FFT_COST_PER_POINT = 250.0


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


def _spectral_mix(X: torch.Tensor, Pr: torch.Tensor, Pi: torch.Tensor, weight: torch.Tensor,
                  groups: int) -> torch.Tensor:
    """``Y[b, o, f] = sum_c X[b, c, f] sum_k w[o, c, k] P[f, k]`` within groups.

    ``X`` ``(B, C, *F)`` complex; ``P = Pr + i Pi`` ``(F, K)``: spectra of the basis stencils
    (conjugated, for a correlation); ``weight`` ``(O, C / groups, K)``.  The kernel spectrum is
    contracted from the K basis spectra by one real matmul, and the channel mix is two real
    batched matmuls over frequencies (a complex ``bmm`` has a slow backward on CPU).
    """
    B, C = X.shape[:2]
    O, Cg, K = weight.shape
    G, Og = groups, O // groups
    fshape = X.shape[2:]
    wk = weight.reshape(G, Og, Cg, K).permute(3, 0, 2, 1).reshape(K, -1)  # (K, G Cg Og)
    Kr = (Pr @ wk).reshape(-1, Cg, Og)  # (F G, Cg, Og)
    Ki = (Pi @ wk).reshape(-1, Cg, Og)
    Xm = X.reshape(B, G, Cg, -1).permute(3, 1, 0, 2)  # (F, G, B, Cg)
    Xs = torch.cat([Xm.real, Xm.imag], dim=2).reshape(-1, 2 * B, Cg)  # (F G, 2B, Cg)
    A = torch.bmm(Xs, Kr).reshape(-1, G, 2, B, Og)
    Bm = torch.bmm(Xs, Ki).reshape(-1, G, 2, B, Og)
    Y = torch.complex(A[:, :, 0] - Bm[:, :, 1], Bm[:, :, 0] + A[:, :, 1])  # (F, G, B, Og)
    return Y.permute(2, 1, 3, 0).reshape(B, O, *fshape)


class DiscoConv2d(nn.Module):
    """Discrete-continuous convolution on an equidistant grid, resolution agnostic.

    Parameters
    ----------
    in_channels, out_channels : int
        Channel counts (both divisible by ``groups``).
    kernel_shape : int or (int, int)
        Basis size parameters ``nr`` or ``(nr, nphi)``, see :mod:`discofold.layers._basis`.
    radius : float
        Kernel support radius in domain units (never pixels), larger than one grid cell and at
        most the larger extent of ``domain_length`` (checked when the stencil is built).
    domain_length : (float, float)
        Physical extent ``(L_H, L_W)`` of the input grid; pixel size is ``L / shape``.
    basis : str
        Basis name (default the torch-harmonics >= 0.7.4 piecewise-linear convention).
    stride : int
        ``transpose=False``: output pixel ``i`` sits at input pixel ``stride * i``.
        ``transpose=True``: input pixel ``i`` sits at output pixel ``stride * i`` (upsampling:
        the continuous convolution of the coarse samples evaluated on the fine grid, with the
        coarse cell area as quadrature weight).
    transpose : bool
        Upsampling variant.
    groups : int
        Grouped convolution as in :class:`torch.nn.Conv2d`.
    bias : bool
        Learned per-channel bias.
    padding_mode : {"zeros", "circular", "reflect"}
        How samples outside the grid are defined (``reflect`` is not available with transpose).
    method : {"auto", "direct", "fft"}
        ``auto`` picks the cheaper of one ``conv2d`` and an FFT convolution by a cost model.

    Notes
    -----
    Input ``(B, C_in, H, W)`` real; output ``(B, C_out, ceil(H / s), ceil(W / s))`` or
    ``(B, C_out, s H, s W)`` for the transpose.  The stencil ``psi`` ``(K, kh, kw)`` is synthesised
    for the runtime grid and cached by ``(grid shape, dtype, device)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_shape: int | Sequence[int],
        radius: float,
        domain_length: Sequence[float] = (2.0, 2.0),
        basis: str = "piecewise_linear",
        stride: int = 1,
        transpose: bool = False,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        method: str = "auto",
    ):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ConfigError(
                f"in_channels ({in_channels}) and out_channels ({out_channels}) must be divisible "
                f"by groups ({groups})"
            )
        if padding_mode not in _PAD_MODES:
            raise ConfigError(
                f"padding_mode must be one of {tuple(_PAD_MODES)}, got {padding_mode!r}"
            )
        if transpose and padding_mode == "reflect":
            raise ConfigError("padding_mode='reflect' is not available with transpose=True")
        if method not in ("auto", "direct", "fft"):
            raise ConfigError(f"method must be 'auto', 'direct' or 'fft', got {method!r}")
        if not radius > 0 or int(stride) < 1:
            raise ConfigError(f"radius must be > 0 and stride >= 1, got {radius} and {stride}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_shape, self.basis = kernel_shape, basis
        self.kernel_size = basis_size(basis, kernel_shape)
        self.radius = float(radius)
        self.domain_length = (float(domain_length[0]), float(domain_length[1]))
        self.stride, self.transpose, self.groups = int(stride), bool(transpose), groups
        self.padding_mode, self.method = padding_mode, method
        scale = 1.0 / math.sqrt(in_channels // groups * self.kernel_size)
        # drawn from torch's default generator, like nn.Conv2d (seed with torch.manual_seed)
        w = torch.empty(out_channels, in_channels // groups, self.kernel_size)
        #: ``K / (π r²)``: the weights are this much larger than a plain convolution's (basis
        #: integrals ~ π r² / K), so an optimiser's step must be as much larger to change the
        #: kernel at the same relative rate (see :func:`discofold.train.parameter_groups`)
        self.lr_scale = self.kernel_size / (math.pi * self.radius**2)
        std = scale * self.lr_scale
        self.weight = nn.Parameter(nn.init.normal_(w, std=std))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self._psi_cache: dict[tuple, torch.Tensor] = {}
        self._spectrum_cache: dict[tuple, torch.Tensor] = {}

    # ------------------------------------------------------------------ stencil
    def psi(self, grid_shape: Sequence[int], dtype=torch.float32, device=None) -> torch.Tensor:
        """Stencil for a grid of ``grid_shape`` samples over the domain, cell area included.

        ``psi[k, a, b] = psi_k(-(a - n_H) h_H, -(b - n_W) h_W) * h_H * h_W`` so that ``conv2d``
        (a correlation) evaluates ``sum_i kappa(u - x_i) f(x_i) q_i``.

        Returns
        -------
        torch.Tensor
            ``(K, 2 n_H + 1, 2 n_W + 1)``, cached.
        """
        H, W = int(grid_shape[0]), int(grid_shape[1])
        key = (H, W, dtype, torch.device(device) if device is not None else torch.device("cpu"))
        if key not in self._psi_cache:  # built once per (grid, dtype, device); no grad needed
            self._psi_cache[key] = self._build_psi(H, W).to(dtype=dtype, device=key[3])
        return self._psi_cache[key]

    def _build_psi(self, H: int, W: int) -> torch.Tensor:
        hh, hw = self.domain_length[0] / H, self.domain_length[1] / W
        if self.radius <= max(hh, hw):
            raise InputError(
                f"DiscoConv2d radius {self.radius} is not larger than one grid cell "
                f"({hh:.4g} x {hw:.4g} for a {H}x{W} grid over {self.domain_length}): the stencil "
                f"would be 1x1 along at least one axis and the layer a pointwise scaling. Use a "
                f"larger radius or a finer grid."
            )
        if self.radius > max(self.domain_length):
            raise InputError(
                f"DiscoConv2d radius {self.radius:g} is larger than the whole grid (extent "
                f"{self.domain_length[0]:g} x {self.domain_length[1]:g}): the stencil would be "
                f"wider than twice the {H}x{W} input and cost grows with its area; use a radius "
                f"of at most the grid extent (a model's radius doubles at every pooling level)."
            )
        nh, nw = math.floor(self.radius / hh), math.floor(self.radius / hw)
        check_stencil("DiscoConv2d", self.kernel_size * (2 * nh + 1) * (2 * nw + 1),
                      f"{self.kernel_size} basis functions x {2 * nh + 1}x{2 * nw + 1} grid "
                      f"points: radius {self.radius:g} on a {H}x{W} grid over "
                      f"{self.domain_length}")
        a = -torch.arange(-nh, nh + 1, dtype=torch.float64) * hh
        b = -torch.arange(-nw, nw + 1, dtype=torch.float64) * hw
        A, B = torch.meshgrid(a, b, indexing="ij")
        r = torch.sqrt(A**2 + B**2) / self.radius
        return evaluate_basis(self.basis, self.kernel_shape, r, torch.atan2(B, A)) * (hh * hw)

    def cached_psi_bytes(self) -> int:
        """Memory held by the cached stencils and their spectra (FFT path), in bytes."""
        tensors = [*self._psi_cache.values(), *self._spectrum_cache.values()]
        return sum(t.numel() * t.element_size() for t in tensors)

    def clear_cache(self) -> None:
        """Drop every cached stencil and spectrum."""
        self._psi_cache.clear()
        self._spectrum_cache.clear()

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layer to ``x`` ``(B, C_in, H, W)``; see the class notes for the output."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ShapeError(
                f"DiscoConv2d expects x of shape (B, {self.in_channels}, H, W), "
                f"got {tuple(x.shape)}"
            )
        if x.is_complex():
            raise InputError("DiscoConv2d takes real input; pack complex data as channels first")
        if not all_finite(x):
            raise InputError("DiscoConv2d input x contains NaN or Inf values")
        H, W = x.shape[-2:]
        s = self.stride
        grid = (H * s, W * s) if self.transpose else (H, W)
        psi = self.psi(grid, dtype=x.dtype, device=x.device)
        weight = self.weight.to(x.dtype)
        if self.transpose:
            weight = weight * (s * s)  # quadrature weight is the coarse cell area
        use_fft = self._choose_fft(x.shape, (self.out_channels, weight.shape[1], *psi.shape[1:]))
        if self.transpose:
            out = self._transpose(x, psi, weight, use_fft)
        elif use_fft:
            out = self._correlate(x, psi, weight, use_fft)[..., ::s, ::s]
        else:  # conv2d adds the bias itself (one pass over the output fewer)
            return self._direct(x, psi, weight)
        if self.bias is not None:
            out = out + self.bias.to(out.dtype).view(1, -1, 1, 1)
        return out

    def _choose_fft(self, xshape, kshape) -> bool:
        if self.method != "auto":
            return self.method == "fft"
        B, C, H, W = xshape
        O, Cg, kh, kw = kshape
        s = self.stride
        Ho, Wo = (H * s, W * s) if self.transpose else (-(-H // s), -(-W // s))
        direct = B * O * Cg * Ho * Wo * kh * kw
        Hf, Wf = (Ho + kh - 1, Wo + kw - 1) if self.transpose else (H + kh - 1, W + kw - 1)
        fft = _FFT_COST_PER_POINT * (B * (C + O) + 2 * O * Cg) * Hf * Wf
        return fft < direct

    def _pad(self, x: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
        nh, nw = kh // 2, kw // 2
        return F.pad(x, (nw, nw, nh, nh), mode=_PAD_MODES[self.padding_mode])

    @staticmethod
    def _kernel(psi: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``conv2d`` kernel ``(O, C / groups, kh, kw) = sum_k w[..., k] psi[k]`` (one matmul)."""
        O, Cg, K = weight.shape
        return (weight.reshape(O * Cg, K) @ psi.reshape(K, -1)).reshape(O, Cg, *psi.shape[1:])

    def _direct(self, x: torch.Tensor, psi: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        kernel = self._kernel(psi, weight)
        kh, kw = kernel.shape[-2:]
        bias = None if self.bias is None else self.bias.to(kernel.dtype)
        if self.padding_mode == "zeros":
            pad = (kh // 2, kw // 2)
            return F.conv2d(x, kernel, bias, stride=self.stride, padding=pad, groups=self.groups)
        return F.conv2d(self._pad(x, kh, kw), kernel, bias, stride=self.stride,
                        groups=self.groups)

    def _correlate(self, x: torch.Tensor, psi: torch.Tensor, weight: torch.Tensor,
                   use_fft: bool) -> torch.Tensor:
        """Stride-1 'same' correlation with padding, by ``conv2d`` or by FFT."""
        kh, kw = psi.shape[-2:]
        if not use_fft:
            kernel = self._kernel(psi, weight)
            if self.padding_mode == "zeros":
                return F.conv2d(x, kernel, padding=(kh // 2, kw // 2), groups=self.groups)
            return F.conv2d(self._pad(x, kh, kw), kernel, groups=self.groups)
        H, W = x.shape[-2:]
        xp = self._pad(x, kh, kw)
        Hf, Wf = _fast_len(xp.shape[-2]), _fast_len(xp.shape[-1])
        X = torch.fft.rfft2(xp, s=(Hf, Wf))
        Pr, Pi = self._psi_spectrum(psi, (Hf, Wf))
        Y = _spectral_mix(X, Pr, Pi, weight, self.groups)
        return torch.fft.irfft2(Y, s=(Hf, Wf))[..., :H, :W]

    def _psi_spectrum(self, psi: torch.Tensor, fft_shape: tuple[int, int]):
        """Real and imaginary parts ``(F, K)`` of conj(rfft2(psi)), cached with the stencil."""
        key = (tuple(psi.shape), fft_shape, psi.dtype, psi.device)
        if key not in self._spectrum_cache:
            P = torch.fft.rfft2(psi, s=fft_shape).conj().reshape(psi.shape[0], -1).t()
            self._spectrum_cache[key] = torch.stack([P.real, P.imag]).contiguous()
        P = self._spectrum_cache[key]
        return P[0], P[1]

    def _transpose(self, x: torch.Tensor, psi: torch.Tensor, weight: torch.Tensor,
                   use_fft: bool) -> torch.Tensor:
        s = self.stride
        kh, kw = psi.shape[-2:]
        if self.padding_mode == "zeros" and not use_fft:
            kernel = self._kernel(psi, weight)
            wt = kernel.flip(-1, -2).reshape(self.groups, -1, *kernel.shape[1:])
            wt = wt.transpose(1, 2).reshape(-1, kernel.shape[0] // self.groups, kh, kw)
            return F.conv_transpose2d(
                x, wt, stride=s, padding=(kh // 2, kw // 2), output_padding=s - 1,
                groups=self.groups,
            )
        B, C, H, W = x.shape
        z = x.new_zeros(B, C, H * s, W * s)
        z[..., ::s, ::s] = x
        return self._correlate(z, psi, weight, use_fft)
