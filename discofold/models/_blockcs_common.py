"""Pieces shared by the block-CS unfolding models (ISTA-Net+, COAST and their recursive versions).

* :func:`blockcs_inputs` checks ``(y, op, meta)`` and returns the batched measurements and the
  sampling ratio the network is conditioned on;
* :func:`gradient_step` is the ISTA data step ``x - ρ Φᵀ(Φx - y)``, always through ``op``;
* :func:`to_blocks` / :func:`from_blocks` let a regulariser run tile by tile (as in the papers'
  33×33 training patches) instead of on the whole image;
* :class:`RecursionSchedule` draws how many times each shared stage is applied;
* :func:`random_projection` is COAST's random-projection augmentation (a fresh Gaussian sampling
  matrix at a random ratio for every training batch).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from ..errors import ConfigError, InputError, ShapeError
from ..operators.blockcs import BlockCS, gaussian_block_matrix
from ._adaptive import AdaptiveDepth, parse_recursions, run_stage

__all__ = [
    "blockcs_inputs",
    "gradient_step",
    "PositiveStep",
    "to_blocks",
    "from_blocks",
    "RecursionSchedule",
    "random_projection",
]


def _meta_ratio(meta) -> float | None:
    """Sampling ratio stated by ``meta`` (``None`` when it states none).

    Accepts a mapping with ``"ratio"`` or ``"acceleration"`` (ratio = 1 / acceleration) or an
    object with a ``ratio`` or ``acceleration`` attribute.
    """
    if meta is None:
        return None
    get = meta.get if isinstance(meta, Mapping) else (lambda k: getattr(meta, k, None))
    ratio, acc = get("ratio"), get("acceleration")
    if ratio is None and acc is None:
        return None
    value = ratio if ratio is not None else acc
    t = torch.as_tensor(value, dtype=torch.float64).reshape(-1)
    if t.numel() == 0 or not bool(torch.isfinite(t).all()) or bool((t != t[0]).any()):
        raise InputError(f"meta {'ratio' if ratio is not None else 'acceleration'} must be one "
                         f"finite value (block CS uses one Φ per batch), got {value!r}")
    r = float(t[0]) if ratio is not None else 1.0 / float(t[0])
    if not 0 < r <= 1:
        raise InputError(f"meta gives a sampling ratio of {r:g}; it must be in (0, 1]")
    return r


def blockcs_inputs(y: torch.Tensor, op, meta) -> tuple[torch.Tensor, float, bool]:
    """Check the inputs of a block-CS model.

    Parameters
    ----------
    y : Tensor ``(B, H/b, W/b, M)`` or ``(H/b, W/b, M)``
        Block measurements, real.
    op : BlockCS
        The operator that produced ``y``.
    meta : mapping, object or None
        Acquisition facts; its ``ratio`` (or ``1/acceleration``) must agree with ``op.ratio``
        to within one measurement per block.

    Returns
    -------
    y : Tensor ``(B, H/b, W/b, M)``
    ratio : float
        The sampling ratio (from ``meta`` when given, else ``op.ratio``).
    unbatched : bool
        Whether a batch axis was added (the caller removes it from the output).
    """
    if not isinstance(op, BlockCS):
        raise InputError(f"block-CS models need a discofold.operators.BlockCS operator, got "
                         f"{type(op).__name__}")
    if not isinstance(y, torch.Tensor) or torch.is_complex(y) or not y.is_floating_point():
        raise InputError(f"y must be a real floating-point tensor, got "
                         f"{getattr(y, 'dtype', type(y).__name__)}")
    m = int(op.phi.shape[0])
    if y.ndim not in (3, 4) or y.shape[-1] != m:
        raise ShapeError(f"y must have shape (B, H/{op.block}, W/{op.block}, M={m}) for this "
                         f"operator (phi is {tuple(op.phi.shape)}), got {tuple(y.shape)}")
    ratio = _meta_ratio(meta)
    if ratio is None:
        ratio = op.ratio
    elif abs(ratio - op.ratio) > 1.0 / op.block**2 + 1e-9:
        raise InputError(f"meta states a sampling ratio of {ratio:g} but the operator samples "
                         f"{m}/{op.block ** 2} = {op.ratio:g}")
    unbatched = y.ndim == 3
    return (y[None] if unbatched else y), float(ratio), unbatched


class PositiveStep(torch.nn.Module):
    """A learnable step ``ρ = softplus(raw) > 0`` (initially ``value``): a gradient step that can
    shrink but never reverse (final).  Checkpoints of the former unconstrained parameter (key
    ``lambda_step`` of the owning stage) are upgraded on loading."""

    def __init__(self, value: float = 0.5) -> None:
        super().__init__()
        self.raw = torch.nn.Parameter(torch.tensor([math.log(math.expm1(float(value)))]))

    def forward(self) -> torch.Tensor:
        return torch.nn.functional.softplus(self.raw)

    def upgrade_state_dict(self, state_dict: dict, prefix: str = "") -> None:
        """The owning stage's former ``lambda_step`` → ``raw`` (in place; ``prefix`` ends in
        this module's name and a dot)."""
        owner = prefix[: prefix.rstrip(".").rfind(".") + 1] if "." in prefix.rstrip(".") else ""
        self.upgrade_from(state_dict, owner + "lambda_step", prefix + "raw")

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        self.upgrade_state_dict(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @staticmethod
    def upgrade_from(state_dict: dict, old_key: str, new_key: str) -> None:
        """Replace an unconstrained step ``old_key`` by ``new_key`` = softplus⁻¹ (in place)."""
        old = state_dict.pop(old_key, None)
        if old is not None and new_key not in state_dict:
            lam = old.detach().double().clamp_min(1e-4)
            state_dict[new_key] = (lam + torch.log(-torch.expm1(-lam))).to(old.dtype)


def gradient_step(x: torch.Tensor, y: torch.Tensor, op, step: torch.Tensor) -> torch.Tensor:
    """ISTA data step ``x - step · Φᵀ(Φ x - y)`` for images ``(B, H, W)``."""
    return x - step * op.A_adjoint(op.A(x) - y)


def to_blocks(x: torch.Tensor, block: int) -> torch.Tensor:
    """``(B, H, W)`` → ``(B·H/b·W/b, 1, b, b)`` tiles (row-major over the tile grid)."""
    b, (n, h, w) = block, x.shape
    t = x.reshape(n, h // b, b, w // b, b).transpose(2, 3)
    return t.reshape(-1, 1, b, b)


def from_blocks(t: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Inverse of :func:`to_blocks`: ``(N, 1, b, b)`` tiles → image of ``shape`` ``(B, H, W)``."""
    b, (n, h, w) = t.shape[-1], shape
    return t.reshape(n, h // b, w // b, b, b).transpose(2, 3).reshape(n, h, w)


class RecursionSchedule:
    """How many times each of ``n_stages`` shared stages runs (same rules as
    :class:`discofold.models.Unrolled`).

    In training mode every call of :meth:`counts` draws ``R_l ~ U{1..r_max}`` independently per
    stage from :attr:`generator` (one draw per batch); in eval mode every stage runs ``r_max``
    times unless :meth:`set` fixed other counts (any positive integers, also above ``r_max``).

    Parameters
    ----------
    n_stages, r_max : int
    seed : int
        Seed of the generator for the training draws.
    """

    def __init__(self, n_stages: int, r_max: int, seed: int = 0) -> None:
        if n_stages < 1 or r_max < 1:
            raise ConfigError(f"recursive models need stages >= 1 and r_max >= 1, got "
                              f"stages={n_stages}, r_max={r_max}")
        self.n_stages, self.r_max = int(n_stages), int(r_max)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.fixed: list[int] | None = None
        self.adaptive: AdaptiveDepth | None = None
        self.last: list[int] = []

    def set(self, recursions: int | str | AdaptiveDepth | Sequence[int] | None) -> None:
        """Evaluation recursions: one int for every stage, one per stage, ``None`` (r_max), or
        adaptive depth (``"auto"``, ``"auto:TOL"``, an :class:`AdaptiveDepth`)."""
        self.fixed, self.adaptive = None, None
        if recursions is None:
            return
        if isinstance(recursions, (str, AdaptiveDepth)):
            value = parse_recursions(recursions)
            if isinstance(value, AdaptiveDepth):
                self.adaptive = value
                return
            recursions = value
        counts = ([int(recursions)] * self.n_stages if isinstance(recursions, int)
                  else [int(r) for r in recursions])
        if len(counts) != self.n_stages or min(counts) < 1:
            raise ConfigError(f"recursions must be one positive int or {self.n_stages} positive "
                              f"ints (one per stage), got {recursions!r}")
        self.fixed = counts

    def run(self, step, x: torch.Tensor, r_total: int, training: bool):
        """One stage through :func:`~discofold.models._adaptive.run_stage` (adaptive in
        evaluation when :meth:`set` asked for it); returns ``(x, passes (B,))``."""
        return run_stage(step, x, r_total, self.r_max, None if training else self.adaptive)

    def counts(self, training: bool) -> list[int]:
        """Recursions per stage for the next forward pass (also kept in :attr:`last`)."""
        if training:
            draw = torch.randint(1, self.r_max + 1, (self.n_stages,), generator=self.generator)
            self.last = [int(r) for r in draw]
        else:
            self.last = list(self.fixed) if self.fixed is not None else [self.r_max] * self.n_stages
        return list(self.last)


def random_projection(
    ratios: Sequence[float], block: int = 33, generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> BlockCS:
    """COAST's random-projection augmentation: a random ratio and a fresh Gaussian ``Φ``.

    Parameters
    ----------
    ratios : sequence of float
        Candidate sampling ratios (COAST trains on 0.1, 0.2, 0.3, 0.4, 0.5).
    block : int
        Block side.
    generator : torch.Generator, optional
        Source of randomness (both the ratio and the matrix are drawn from it).

    Returns
    -------
    BlockCS
        An operator with an orthonormal-row Gaussian matrix.
    """
    if len(ratios) == 0:
        raise ConfigError("random_projection needs at least one sampling ratio")
    i = int(torch.randint(len(ratios), (1,), generator=generator))
    phi = gaussian_block_matrix(float(ratios[i]), block, generator=generator)
    return BlockCS(phi if device is None else phi.to(device), block=block)
