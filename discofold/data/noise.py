"""Complex white Gaussian noise at a prescribed signal-to-noise ratio.

Definition used everywhere in discofold: for measured samples ``y_k`` (``k`` over the samples
where ``mask`` is true, all coils),

``SNR_dB = 10 log10( mean_k |y_k|² / σ² )``,

where ``σ² = E|n_k|²`` is the per-sample complex noise power (``σ²/2`` in each of the real and
imaginary parts).  Unmeasured samples stay exactly zero.
"""

from __future__ import annotations

import math

import torch

from ..errors import InputError
from .phantoms import as_generator

__all__ = ["noise_sigma", "add_noise", "complex_randn"]


def complex_randn(
    shape, generator: torch.Generator | None = None, dtype=torch.complex64, device=None
) -> torch.Tensor:
    """Circular complex standard normal samples (``E|n|² = 1``), drawn on the CPU."""
    real = torch.float64 if dtype == torch.complex128 else torch.float32
    z = torch.randn(*shape, 2, generator=as_generator(generator), dtype=real)  # CPU generator
    return torch.view_as_complex(z * math.sqrt(0.5)).to(dtype=dtype, device=device)


def _measured(y: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return torch.ones_like(y, dtype=torch.bool)
    try:
        return torch.broadcast_to(torch.as_tensor(mask, device=y.device).to(torch.bool), y.shape)
    except RuntimeError as exc:
        raise InputError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to y {tuple(y.shape)}"
        ) from exc


def noise_sigma(y: torch.Tensor, snr_db: float, mask: torch.Tensor | None = None) -> float:
    """Per-sample complex noise standard deviation ``σ`` for the requested SNR (dB)."""
    sel = _measured(y, mask)
    if not bool(sel.any()):
        raise InputError("no measured sample: cannot define the signal power for the SNR")
    power = float((y.abs() ** 2)[sel].double().mean())
    if not math.isfinite(float(snr_db)):
        raise InputError(f"snr_db must be finite, got {snr_db}")
    return math.sqrt(power / 10 ** (float(snr_db) / 10))


def add_noise(
    y: torch.Tensor,
    snr_db: float | None,
    generator: torch.Generator | None = None,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, float]:
    """Add complex white Gaussian noise to ``y`` at ``snr_db`` on the measured samples.

    Parameters
    ----------
    y : Tensor, complex, any shape
        Noise-free measurements.
    snr_db : float or None
        Target SNR in dB (see the module docstring); ``None`` returns ``y`` unchanged, ``σ = 0``.
    generator : torch.Generator, optional
    mask : Tensor, bool, broadcasting to ``y``, optional
        Measured samples; noise is added only there.  ``None``: every sample.

    Returns
    -------
    (Tensor, float)
        Noisy ``y`` (same shape and dtype) and the noise standard deviation ``σ``.
    """
    if not torch.is_complex(y):
        raise InputError(f"y must be complex, got dtype {y.dtype}")
    if snr_db is None:
        return y, 0.0
    sigma = noise_sigma(y, snr_db, mask)
    sel = _measured(y, mask)
    noise = complex_randn(y.shape, generator, dtype=y.dtype, device=y.device) * sigma
    return y + noise * sel, sigma
