"""Sparse radar apertures on the ``(P pulses, F frequencies)`` grid.

Every pattern keeps an EXACT number of pulses / bins: ``n = round(N * ratio)`` with Python's
``round`` (half to even), ``N = P`` for pulse patterns, ``F`` for ``random_subbands`` and
``P * F`` for ``random_2d``; ``n`` must be at least 1.

``random_pulses``    ``n`` pulses drawn uniformly without replacement, all frequencies.
``gaps``             the ``P - n`` missing pulses form 1-3 contiguous gaps (``num_gaps``, drawn
                     uniformly from the feasible values in {1, 2, 3} unless given), with random
                     lengths and positions, separated by at least one kept pulse.
``periodic``         pulses ``o + (i P) // n`` for ``i < n`` with an integer offset ``o`` in
                     ``[0, P / n)`` (``offset``, drawn uniformly when not given); plain
                     decimation ``o, o + P/n, ...`` when ``n`` divides ``P``.
``random_subbands``  ``n`` frequency bins in ``num_subbands`` (default 2) contiguous random bands,
                     all pulses.
``random_2d``        ``n`` entries of the ``P x F`` grid drawn uniformly without replacement.
"""

from __future__ import annotations

import torch

from ..errors import InputError
from ._types import GeneratorLike, SamplingPattern, as_generator, assemble, check_batch, check_shape

__all__ = ["RADAR_PATTERNS", "radar_aperture"]

RADAR_PATTERNS = ("random_pulses", "gaps", "periodic", "random_subbands", "random_2d")


def _composition(total: int, parts: int, minimum: int, gen: torch.Generator) -> torch.Tensor:
    """Uniform random composition of ``total`` into ``parts`` integers ``>= minimum``."""
    free = total - parts * minimum
    bars = torch.sort(torch.randperm(free + parts - 1, generator=gen)[: parts - 1]).values
    edges = torch.cat([torch.tensor([-1]), bars, torch.tensor([free + parts - 1])])
    return edges.diff() - 1 + minimum


def _runs(length: int, n_true: int, n_runs: int, gen: torch.Generator) -> torch.Tensor:
    """bool ``(length,)`` with exactly ``n_true`` True forming exactly ``n_runs`` runs."""
    out = torch.zeros(length, dtype=torch.bool)
    if n_true == 0:
        return out
    true_len = _composition(n_true, n_runs, 1, gen)
    false_len = _composition(length - n_true - (n_runs - 1), n_runs + 1, 0, gen)
    false_len[1:-1] += 1  # interior gaps separate the runs
    pos = 0
    for k in range(n_runs):
        pos += int(false_len[k])
        out[pos : pos + int(true_len[k])] = True
        pos += int(true_len[k])
    return out


def _count(total: int, ratio: float, name: str) -> int:
    n = round(total * ratio)
    if n < 1:
        raise InputError(f"{name}: ratio {ratio} keeps round({total} * ratio) = 0 samples")
    return n


def _draw(pattern: str, p: int, f: int, ratio: float, gen: torch.Generator, kw: dict):
    mask = torch.zeros(p, f, dtype=torch.bool)
    meta: dict = {}
    if pattern == "random_pulses":
        mask[torch.randperm(p, generator=gen)[: _count(p, ratio, pattern)]] = True
    elif pattern == "gaps":
        n_miss = p - _count(p, ratio, pattern)
        feasible = [g for g in (1, 2, 3) if g <= n_miss and g - 1 <= p - n_miss] or [0]
        n_gaps = kw.get("num_gaps")
        if n_gaps is None:
            n_gaps = feasible[int(torch.randint(len(feasible), (1,), generator=gen))]
        elif n_gaps not in feasible:
            raise InputError(f"gaps: num_gaps={n_gaps} impossible with {n_miss} of {p} missing")
        missing = _runs(p, n_miss, n_gaps, gen)
        mask[~missing] = True
        meta["num_gaps"] = n_gaps
    elif pattern == "periodic":
        n = _count(p, ratio, pattern)
        n_off = -(-p // n)  # offsets o with o < P / n
        o = kw.get("offset")
        o = int(torch.randint(n_off, (1,), generator=gen)) if o is None else int(o)
        if not 0 <= o < p / n:
            raise InputError(f"periodic: offset must lie in [0, P/n) = [0, {p / n:g}), got {o}")
        mask[o + (torch.arange(n) * p) // n] = True
        meta["offset"] = o
    elif pattern == "random_subbands":
        n = _count(f, ratio, pattern)
        n_bands = int(kw.get("num_subbands", 2))
        if not 1 <= n_bands <= n or n_bands - 1 > f - n:
            raise InputError(f"random_subbands: {n_bands} bands impossible with {n} of {f} bins")
        mask[:, _runs(f, n, n_bands, gen)] = True
        meta["num_subbands"] = n_bands
    elif pattern == "random_2d":
        flat = torch.zeros(p * f, dtype=torch.bool)
        flat[torch.randperm(p * f, generator=gen)[: _count(p * f, ratio, pattern)]] = True
        mask = flat.reshape(p, f)
    return mask, meta


def _resolve_ratio(acceleration, ratio, name: str) -> float:
    if ratio is None and acceleration is None:
        raise InputError(f"{name}: give ratio= (kept fraction) or acceleration= (1 / ratio)")
    if ratio is not None and acceleration is not None:
        if abs(float(ratio) * float(acceleration) - 1.0) > 1e-9:
            raise InputError(f"{name}: ratio={ratio} and acceleration={acceleration} disagree")
    try:
        r = float(ratio) if ratio is not None else 1.0 / float(acceleration)
    except (TypeError, ValueError, ZeroDivisionError):
        raise InputError(f"{name}: invalid ratio/acceleration {ratio!r}/{acceleration!r}") from None
    if not 0.0 < r <= 1.0:
        raise InputError(
            f"{name}: the sampling ratio must lie in (0, 1] (acceleration >= 1), got {r}"
        )
    return r


def radar_aperture(
    pattern: str,
    shape: tuple[int, int],
    ratio: float | None = None,
    *,
    acceleration: float | None = None,
    generator: GeneratorLike = None,
    batch: int | None = None,
    **kw,
) -> SamplingPattern:
    """Draw a sparse aperture mask.

    Parameters
    ----------
    pattern : str
        One of :data:`RADAR_PATTERNS` (module docstring).
    shape : (int, int)
        ``(P, F)``: pulses (angles) x frequency samples.
    ratio : float, optional
        Kept fraction in (0, 1]; or give ``acceleration = 1 / ratio``.
    generator, batch
        See :func:`discofold.sampling.make_mask`.
    **kw
        ``num_gaps`` (gaps), ``offset`` (periodic), ``num_subbands`` (random_subbands).

    Returns
    -------
    SamplingPattern
        bool mask ``(P, F)`` or ``(B, P, F)``; ``acceleration`` is the exact ``1 / ratio``
        achieved and ``meta["ratio"]`` the achieved ratio; no calibration region.
    """
    if pattern not in RADAR_PATTERNS:
        raise InputError(f"unknown radar pattern {pattern!r}; valid: {', '.join(RADAR_PATTERNS)}")
    allowed = {"gaps": {"num_gaps"}, "periodic": {"offset"}, "random_subbands": {"num_subbands"}}
    extra = set(kw) - allowed.get(pattern, set())
    if extra:
        raise InputError(f"{pattern}: unexpected options {sorted(extra)}")
    p, f = check_shape(shape, 2, pattern)
    r = _resolve_ratio(acceleration, ratio, pattern)
    batch, gen = check_batch(batch), as_generator(generator)
    draws = [_draw(pattern, p, f, r, gen, kw) for _ in range(batch or 1)]
    masks = [m for m, _ in draws]
    out = assemble(pattern, masks, batch, 1.0 / r, (slice(0, 0), slice(0, 0)), 0, {})
    out.meta.update(
        {"family": "radar", "nominal_ratio": r, "ratio": 1.0 / out.acceleration, **draws[0][1]}
    )
    if batch is not None:
        out.meta["per_sample"] = [m for _, m in draws]
    return out
