"""Variable-density Poisson-disc masks generated at any matrix size (nothing is cached).

Definition
----------
Outside the calibration box every grid sample ``i`` has a local radius
``r_i = s * (1 + vd * |u_i|)`` in pixels (``u`` normalised k-space coordinates of
:mod:`discofold.sampling.masks_2d`, ``vd`` the variable-density slope, ``s`` a global scale).
Two accepted samples ``i, j`` must satisfy the disc condition

    ``||i - j||_2 >= (r_i + r_j) / 2``    (pixel units, exact: samples sit on the grid).

The pattern is random sequential dart throwing restricted to grid points: candidates are
visited in a random order and accepted when they respect the condition with every sample
accepted before.  It is computed in parallel rounds (a candidate is decided once it precedes all
its undecided conflicting neighbours), which gives exactly the sequential result.
The scale ``s`` is tuned (secant steps on ``count ~ s^-2`` inside a bracket) until the count is
at least the budget and within 1 % above it; the last-visited extra samples are then dropped, so
the mask has exactly ``round(H W / R)`` samples and still satisfies the disc condition.
"""

from __future__ import annotations

import math

import torch

from ..errors import InputError
from ._types import GeneratorLike, SamplingPattern
from .masks_2d import batched_2d, norm_radius

__all__ = ["poisson_2d", "poisson_radius"]


def poisson_radius(shape: tuple[int, int], vd: float) -> torch.Tensor:
    """Unit-scale local radius ``1 + vd * |u|``, float64 ``(H, W)`` (multiply by ``s``)."""
    return 1.0 + vd * norm_radius(*shape)


class _Neighbours:
    """For each candidate, the candidates within ``reach`` pixels and the ratio d / q."""

    def __init__(self, shape, cand: torch.Tensor, radius: torch.Tensor, reach: int) -> None:
        h, w = shape
        idx = cand.flatten().nonzero().squeeze(1)
        lut = torch.full((h * w,), -1, dtype=torch.int64)
        lut[idx] = torch.arange(idx.numel())
        dy, dx = torch.meshgrid(
            torch.arange(-reach, reach + 1), torch.arange(-reach, reach + 1), indexing="ij"
        )
        keep = (dy**2 + dx**2 <= reach**2) & ((dy != 0) | (dx != 0))
        dy, dx = dy[keep], dx[keep]
        rows = idx[:, None] // w + dy
        cols = idx[:, None] % w + dx
        inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
        nb = torch.where(inside, lut[(rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1))], -1)
        r = radius.flatten()[idx]
        q = 0.5 * (r[:, None] + r[nb.clamp_min(0)])
        dist = torch.sqrt((dy**2 + dx**2).to(torch.float64))
        self.ratio = torch.where(nb >= 0, dist / q, math.inf)  # conflict iff ratio < s
        self.nb = nb.clamp_min(0)
        self.reach = reach
        self.index = idx


def _greedy(nbrs: _Neighbours, s: float, prio: torch.Tensor) -> torch.Tensor:
    """Sequential dart throwing in ``prio`` order, computed in parallel rounds."""
    n = prio.numel()
    nb = torch.where(nbrs.ratio < s, nbrs.nb, n)  # sentinel n = no conflict
    undecided = torch.ones(n, dtype=torch.bool)
    accepted = torch.zeros(n + 1, dtype=torch.bool)
    big = torch.tensor([n + 1])
    while True:
        u = undecided.nonzero().squeeze(1)
        if u.numel() == 0:
            return accepted[:n]
        pr = torch.cat([torch.where(undecided, prio, n + 1), big])
        nbu = nb[u]
        win = u[prio[u] < pr[nbu].min(1).values]
        accepted[win] = True
        undecided[win] = False
        undecided[u[accepted[nbu].any(1)]] = False


def _tune(shape, cand, radius, need, prio, r_max):
    """Find a scale with ``need <= count <= 1.01 need``; returns (accepted, s, evaluations)."""
    n = int(cand.sum())
    if need >= n:  # every candidate is needed: any scale below 1 / r_max keeps them all
        return torch.ones(n, dtype=torch.bool), 0.999 / r_max, 0, cand.flatten().nonzero()[:, 0]
    lo, hi, best = None, None, None  # lo: count >= need ; hi: count < need
    s = math.sqrt(0.7 * n / max(need, 1)) / float(radius[cand].mean())
    nbrs, evals = None, 0
    while evals < 24:
        evals += 1
        reach = max(1, int(math.ceil(s * r_max)))
        if nbrs is None or reach > nbrs.reach:
            nbrs = _Neighbours(shape, cand, radius, reach)
        acc = _greedy(nbrs, s, prio)
        c = int(acc.sum())
        if c >= need:
            lo = s
            if best is None or c < best[0]:
                best = (c, acc, s)
            if c <= 1.01 * need:
                break
        else:
            hi = s
        step = s * math.sqrt(max(c, 1) / need)
        if lo is not None and hi is not None and not lo < step < hi:
            step = math.sqrt(lo * hi)
        if lo is None and hi is not None and step >= hi:
            step = 0.5 * hi
        s = step
    if best is None:  # every candidate fits below scale 1 / r_max
        s = 0.999 / r_max
        best = (n, torch.ones(n, dtype=torch.bool), s)
    return best[1], best[2], evals, nbrs.index


def _poisson_draw(vd: float):
    def draw(shape, box_mask, need, gen):
        cand = ~box_mask
        radius = poisson_radius(shape, vd)
        n = int(cand.sum())
        prio = torch.randperm(n, generator=gen)
        acc, s, evals, index = _tune(shape, cand, radius, need, prio, float(radius.max()))
        kept = acc.nonzero().squeeze(1)
        extra = kept.numel() - need
        if extra > 0:  # drop the last-visited samples: the disc condition still holds
            kept = kept[torch.argsort(prio[kept])[:need]]
        mask = torch.zeros(shape[0] * shape[1], dtype=torch.bool)
        mask[index[kept]] = True
        meta = {"radius_scale": s, "vd": vd, "trimmed": max(extra, 0), "evaluations": evals}
        return mask.reshape(shape), meta

    return draw


def poisson_2d(
    shape: tuple[int, int],
    acceleration: float,
    *,
    generator: GeneratorLike = None,
    batch: int | None = None,
    center_fraction: float | None = None,
    vd: float = 1.5,
) -> SamplingPattern:
    """Variable-density Poisson-disc mask with exactly ``round(H W / R)`` samples.

    See the module docstring for the disc condition; ``meta["radius_scale"]`` is ``s`` and
    ``meta["vd"]`` the slope, so ``poisson_radius(shape, vd) * s`` gives each sample's radius.

    Parameters
    ----------
    shape : (int, int)
        ``(H, W)``, any size.
    acceleration : float
        Nominal ``R >= 1``.
    generator, batch, center_fraction
        See :func:`discofold.sampling.make_mask`.
    vd : float
        Variable-density slope: the radius grows from ``s`` at the centre to ``s (1 + vd)`` at the
        edge midpoints (density falls by ``(1 + vd)^2``).
    """
    if not vd >= 0:
        raise InputError(f"poisson_2d: vd must be >= 0, got {vd}")
    return batched_2d(
        "poisson_2d", shape, acceleration, generator, batch, center_fraction,
        _poisson_draw(float(vd)),
    )
