"""Fourier-neural-operator spectral convolution and the FNO block.

``SpectralConv2d`` keeps the lowest Fourier modes of its input, multiplies them by learned complex
weights (one ``in x out`` matrix per kept mode) and transforms back.  The FFTs use
``norm="forward"``: the forward transform divides by ``H * W``, so a kept coefficient is the
Fourier-series coefficient of the underlying continuous function, whatever the sampling; the
inverse does not rescale.  The same weights therefore act identically on a band-limited function
sampled at any resolution that resolves the kept modes (tested).

Mode convention (the one of neuraloperator >= 0.3 ``SpectralConv``): ``modes = (n1, n2)`` is the
number of kept frequencies along each dimension, centred on zero:
``k in [-(n // 2), n - n // 2 - 1]`` (``n = 8`` keeps ``-4 .. 3``, ``n = 7`` keeps ``-3 .. 3``).
For real data the last dimension uses ``rfft`` and keeps ``k2 in [0, n2 // 2]``
(``n2 // 2 + 1`` columns; the negative half is the complex conjugate).  For complex data
(``complex_data=True``, native complex tensors) both dimensions use the full FFT and keep ``±``
frequencies.  Frequencies that the input grid cannot represent (``k`` outside
``[-(H // 2), (H - 1) // 2]``) are skipped, and so are those the output grid cannot represent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from discofold.errors import InputError, ShapeError

from .._finite import all_finite

__all__ = ["SpectralConv2d", "FNOBlock"]


def _centred_freqs(n: int) -> torch.Tensor:
    """Frequencies ``-(n // 2) .. n - n // 2 - 1`` (the weight layout along a full-FFT axis)."""
    return torch.arange(n) - n // 2


def _select(freqs: torch.Tensor, size: int, full: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight positions and FFT indices of the frequencies an axis of ``size`` can represent."""
    if full:
        ok = (freqs >= -(size // 2)) & (freqs <= (size - 1) // 2)
    else:  # rfft axis: 0 .. size // 2
        ok = (freqs >= 0) & (freqs <= size // 2)
    pos = torch.nonzero(ok).flatten()
    return pos, torch.remainder(freqs[pos], size)


def _check_input(x: torch.Tensor, name: str, channels: int, complex_data: bool) -> None:
    if x.dim() != 4 or x.shape[1] != channels:
        raise ShapeError(f"{name}: x must be (B, {channels}, H, W), got {tuple(x.shape)}")
    if complex_data != torch.is_complex(x):
        kind = "a complex" if complex_data else "a real"
        raise InputError(
            f"{name} (complex_data={complex_data}) expects {kind} tensor, got {x.dtype}"
        )
    if not all_finite(x):
        raise InputError(f"{name}: the input x contains NaN or Inf values")


class SpectralConv2d(nn.Module):
    """FNO spectral convolution on a 2-D grid.

    Parameters
    ----------
    in_channels, out_channels : int
        Channel counts.
    modes : int or (int, int)
        Kept frequencies ``(n1, n2)`` per dimension (module docstring); an int means ``(n, n)``.
    complex_data : bool
        ``False``: real input, ``rfft2``; ``True``: native complex input, full ``fft2``.
    out_shape : (int, int), optional
        Default output grid; ``None`` returns the input grid.  ``forward(x, out_shape=...)``
        overrides it.  The spectrum is zero-padded (or truncated) to the output grid, so this is
        band-limited (trigonometric) interpolation of the layer's output.
    fft_norm : str
        Normalisation of the forward FFT; ``"forward"`` (default) makes weights transfer across
        resolutions.  ``"ortho"`` and ``"backward"`` are accepted for compatibility.
    bias : bool
        Add a learned per-channel bias (real, also for complex data).

    Notes
    -----
    ``weight`` is a complex parameter ``(in_channels, out_channels, n1, n2')`` with
    ``n2' = n2 // 2 + 1`` for real data and ``n2`` for complex data, in centred frequency order
    (index ``i`` holds frequency ``i - n1 // 2``), initialised complex-normal with standard
    deviation ``sqrt(2 / (in + out))`` as in neuraloperator.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        modes: int | Sequence[int],
        complex_data: bool = False,
        out_shape: Sequence[int] | None = None,
        fft_norm: str = "forward",
        bias: bool = False,
    ) -> None:
        super().__init__()
        m = (int(modes), int(modes)) if isinstance(modes, int) else tuple(int(v) for v in modes)
        if len(m) != 2 or min(m) < 1:
            raise InputError(f"modes must be a positive int or a pair of them, got {modes!r}")
        if fft_norm not in ("forward", "ortho", "backward"):
            raise InputError(f"fft_norm must be 'forward', 'ortho' or 'backward', got {fft_norm!r}")
        if in_channels < 1 or out_channels < 1:
            raise InputError(f"channel counts must be >= 1, got {in_channels}, {out_channels}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.modes, self.complex_data, self.fft_norm = m, bool(complex_data), fft_norm
        self.out_shape = None if out_shape is None else (int(out_shape[0]), int(out_shape[1]))
        n2 = m[1] if complex_data else m[1] // 2 + 1
        std = (2.0 / (in_channels + out_channels)) ** 0.5
        w = torch.randn(in_channels, out_channels, m[0], n2, dtype=torch.cfloat) * std
        self.weight = nn.Parameter(w)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def _freqs(self) -> tuple[torch.Tensor, torch.Tensor]:
        f2 = (
            _centred_freqs(self.modes[1])
            if self.complex_data
            else torch.arange(self.modes[1] // 2 + 1)
        )
        return _centred_freqs(self.modes[0]), f2

    def forward(self, x: torch.Tensor, out_shape: Sequence[int] | None = None) -> torch.Tensor:
        """Apply the layer.

        Parameters
        ----------
        x : torch.Tensor
            ``(B, in_channels, H, W)``, real (or complex when ``complex_data``).
        out_shape : (int, int), optional
            Output grid ``(H', W')``; defaults to ``self.out_shape`` or ``(H, W)``.

        Returns
        -------
        torch.Tensor
            ``(B, out_channels, H', W')``, real or complex like ``x``.
        """
        _check_input(x, "SpectralConv2d", self.in_channels, self.complex_data)
        H, W = x.shape[-2:]
        Ho, Wo = out_shape or self.out_shape or (H, W)
        full = self.complex_data
        f1, f2 = self._freqs()
        p1, i1 = _select(f1, H, True)
        p2, i2 = _select(f2, W, full)
        q1, o1 = _select(f1[p1], Ho, True)
        q2, o2 = _select(f2[p2], Wo, full)
        dev = x.device
        if full:
            xf = torch.fft.fft2(x, norm=self.fft_norm)
        else:
            xf = torch.fft.rfft2(x, norm=self.fft_norm)
        xs = xf[:, :, i1.to(dev)][..., i2.to(dev)][:, :, q1.to(dev)][..., q2.to(dev)]
        w = self.weight[:, :, p1[q1].to(dev)][..., p2[q2].to(dev)].to(xs.dtype)
        ys = torch.einsum("bixy,ioxy->boxy", xs, w)
        Wf = Wo if full else Wo // 2 + 1
        out = xs.new_zeros(x.shape[0], self.out_channels, Ho, Wf)
        out[:, :, o1.to(dev)[:, None], o2.to(dev)[None, :]] = ys
        if full:
            y = torch.fft.ifft2(out, s=(Ho, Wo), norm=self.fft_norm)
        else:
            y = torch.fft.irfft2(out, s=(Ho, Wo), norm=self.fft_norm)
        if self.bias is not None:
            y = y + self.bias.reshape(1, -1, 1, 1).to(y.dtype)
        return y

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, modes={self.modes}, "
            f"complex_data={self.complex_data}, fft_norm={self.fft_norm!r}"
        )


class FNOBlock(nn.Module):
    """One Fourier-neural-operator block: ``act(SpectralConv2d(x) + Conv1x1(x))``.

    Parameters
    ----------
    channels : int
        Input and output channels.
    modes : int or (int, int)
        Kept frequencies of the spectral path (see :class:`SpectralConv2d`).
    activation : callable or nn.Module class
        Nonlinearity; a class (e.g. ``nn.GELU``, the default) is instantiated.  For complex data it
        is applied to the real and the imaginary parts separately.
    complex_data : bool
        Native complex input ``(B, C, H, W)``; the pointwise path is then a complex matrix.

    Notes
    -----
    The pointwise path is a ``1 x 1`` convolution with bias (for complex data, a complex
    ``channels x channels`` matrix plus a complex bias), so it is resolution independent too.
    """

    def __init__(
        self,
        channels: int,
        modes: int | Sequence[int],
        activation: Callable[..., nn.Module] | nn.Module = nn.GELU,
        complex_data: bool = False,
    ) -> None:
        super().__init__()
        self.spectral = SpectralConv2d(channels, channels, modes, complex_data=complex_data)
        self.complex_data = bool(complex_data)
        if complex_data:
            bound = channels**-0.5
            w = (torch.rand(channels, channels, dtype=torch.cfloat) * 2 - (1 + 1j)) * bound
            self.pointwise_weight = nn.Parameter(w)
            self.pointwise_bias = nn.Parameter(torch.zeros(channels, dtype=torch.cfloat))
        else:
            self.pointwise = nn.Conv2d(channels, channels, kernel_size=1)
        if isinstance(activation, type):
            activation = activation()
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` → ``(B, C, H, W)`` (real, or complex when ``complex_data``)."""
        y = self.spectral(x)
        if self.complex_data:
            lin = torch.einsum("oc,bchw->bohw", self.pointwise_weight, x)
            y = y + lin + self.pointwise_bias.reshape(1, -1, 1, 1)
            return torch.complex(self.activation(y.real), self.activation(y.imag))
        return self.activation(y + self.pointwise(x))
