"""How models talk to MRI operators without calling an FFT themselves.

- :func:`coil_operator`: the same acquisition without sensitivity maps, acting coil by coil
  (coil images ``(B, C, H, W)`` → per-coil data shaped like ``y``).  Soft data consistency on
  coil images with it is exactly VarNet's k-space soft DC for Cartesian data.
- :func:`grid_operator`: a fully sampled single-coil :class:`CartesianMRI`, i.e. the centred
  orthonormal DFT as an operator; the k-space networks work on its output grid.
- :func:`calibration_data`: ``y`` restricted to the calibration (ACS) region.
- :func:`check_inputs`: the consistency checks between ``y``, ``op`` and ``meta``.
"""

from __future__ import annotations

import copy
import math

import torch

from ..errors import InputError, ShapeError
from ..operators import CartesianMRI, LinearOperator, NonCartesianMRI
from ._meta import AcquisitionMeta

__all__ = ["coil_operator", "dc_operator", "dcf_gain", "SqrtWeighted",
           "DensityCompensated", "grid_operator",
           "calibration_data", "check_inputs", "true_acceleration", "is_two_d", "initial_adjoint"]

_DEFAULT_CAL_FRACTION = 0.08
_ACC_TOLERANCE = 0.05


def _mri(op) -> bool:
    return isinstance(op, (CartesianMRI, NonCartesianMRI))


def coil_operator(op: LinearOperator) -> LinearOperator:
    """The operator without coil maps, applied coil by coil (``op`` itself when single-coil)."""
    if getattr(op, "coil_maps", None) is None:
        return op
    if isinstance(op, CartesianMRI):
        mask = op.mask.unsqueeze(-3) if op.mask.ndim >= 3 else op.mask
        return CartesianMRI(mask, image_shape=op.image_shape)
    if isinstance(op, NonCartesianMRI):
        new = copy.copy(op)  # shares the NUFFT and its Toeplitz kernel cache
        new.coil_maps, new.out_shape, new.batch_shape = None, (op.out_shape[-1],), ()
        return new
    raise InputError(f"{type(op).__name__} has coil maps but no coil-wise form is known")


class SqrtWeighted(LinearOperator):
    """``B = W^{1/2} A`` for non-negative weights ``W`` on the measurements of ``op``.

    The data-consistency operator of the non-Cartesian and radar models: ``BᴴB = Aᴴ W A``
    (``normal`` when given, e.g. a Toeplitz embedding; otherwise ``A`` then ``Aᴴ``).

    Parameters
    ----------
    op : LinearOperator
    weights : Tensor
        Broadcasting to ``op``'s measurements.
    normal : callable, optional
        ``x -> Aᴴ W A x``.
    """

    def __init__(self, op: LinearOperator, weights: torch.Tensor, normal=None):
        self.op, self.weights, self._weighted_normal = op, weights, normal
        self.in_shape, self.out_shape, self.batch_shape = op.in_shape, op.out_shape, op.batch_shape

    def _w(self, like: torch.Tensor, sqrt: bool) -> torch.Tensor:
        w = self.weights.to(device=like.device, dtype=like.real.dtype)
        return w.sqrt() if sqrt else w

    def _forward(self, x):
        s = self.op.A(x)
        return s * self._w(s, True)

    def _adjoint(self, y):
        return self.op.A_adjoint(y * self._w(y, True))

    def _normal(self, x):
        if self._weighted_normal is not None:
            return self._weighted_normal(x)
        s = self.op.A(x)
        return self.op.A_adjoint(s * self._w(s, False))


class DensityCompensated(SqrtWeighted):
    """``B = (g W)^{1/2} A`` for a non-Cartesian MRI operator with density weights
    ``W = diag(dcf)``.

    ``BᴴB = g Aᴴ W A`` is the operator's Toeplitz ``weighted_normal`` and ``Bᴴ(W^{1/2} y)`` the
    gridding image ``A_dagger(y)``.  ``g = 1 / ‖Aᴴ W A‖`` (power iteration, once per operator),
    so ``‖BᴴB‖ = 1`` as for a Cartesian mask, whatever the convention or the quality of the
    weights.  Data consistency on ``B`` is a density-preconditioned step
    ``z − λ (BᴴB z − Bᴴ W^{1/2} y)`` with the same fixed point as ``Aᴴ W A z = Aᴴ W y``: with
    the plain ``AᴴA``, whose norm grows with the sample density at the k-space centre, a unit
    step (soft DC with λ = 1, trained on Cartesian masks where ``AᴴA`` is a projection)
    diverges.
    """

    def __init__(self, op: NonCartesianMRI):
        gain = _cached(op, "dc_gain", lambda: 1.0 / float(
            SqrtWeighted(op, op.dcf, op.weighted_normal).compute_norm(max_iter=30, tol=1e-3)))
        super().__init__(op, op.dcf * gain, lambda x: op.weighted_normal(x) * gain)
        self.gain, self.name = gain, f"DensityCompensated({op.name})"


def dcf_gain(op: NonCartesianMRI) -> float:
    """Scale that puts ``op.dcf`` in image units, whatever its convention.

    Density weights come as areas per grid cell (:func:`~discofold.operators.radial_dcf`,
    where ``Aᴴ W A ≈ I`` on the sampled band) or as fractions of k-space
    (:mod:`discofold.sampling.trajectories`, ``H·W`` times smaller).  Models must not depend
    on that choice: the gain is the least-squares ``α = ⟨z, 1⟩ / ⟨z, z⟩`` of ``z = Aᴴ W A 1``
    (a constant image, single coil), as :func:`discofold.solvers.zero_filled` uses.
    """
    def compute() -> float:
        single = coil_operator(op) if op.coil_maps is not None else op
        ones = torch.ones(single.in_shape, dtype=torch.complex64, device=op.dcf.device)
        z = single.A_dagger(single.A(ones))
        return float((z.conj() * ones).real.sum() / (z.abs() ** 2).sum().clamp_min(1e-30))

    return _cached(op, "image_gain", compute)


def _cached(op: NonCartesianMRI, key: str, compute) -> float:
    """``compute()`` once per operator (and its coil-wise copies, which share the cache); the
    dcf scalars would otherwise cost NUFFTs and a power iteration at every forward call."""
    cache = getattr(op, "_cache_scale", None)
    if cache is None:
        with torch.no_grad():
            return compute()
    if key not in cache:
        with torch.no_grad():
            cache[key] = compute()
    return cache[key]


def dc_operator(op: LinearOperator, y: torch.Tensor):
    """``(operator, right-hand side)`` of the data-consistency steps for the (coil-wise) ``op``.

    Non-Cartesian MRI with ``dcf``: :class:`DensityCompensated` and ``A_dagger(y)``; otherwise
    ``op`` and ``Aᴴy``.
    """
    if isinstance(op, NonCartesianMRI) and op.dcf is not None:
        dop = DensityCompensated(op)
        return dop, op.A_dagger(y) * dop.gain
    return op, op.A_adjoint(y)


def grid_operator(shape, device=None) -> CartesianMRI:
    """Fully sampled single-coil Cartesian operator on an ``(H, W)`` grid (the centred DFT)."""
    h, w = int(shape[0]), int(shape[1])
    return CartesianMRI(torch.ones(h, w, dtype=torch.bool, device=device), image_shape=(h, w))


def initial_adjoint(op: LinearOperator, y: torch.Tensor) -> torch.Tensor:
    """``Aᴴ y``, density compensated when the operator has weights (non-Cartesian ``dcf``,
    in image units whatever its convention: :func:`dcf_gain`)."""
    if getattr(op, "dcf", None) is not None:
        return op.A_dagger(y) * dcf_gain(op)
    return op.A_adjoint(y)


def _full_mask(op: CartesianMRI) -> torch.Tensor:
    """``op.mask`` broadcast to ``(B', H, W)`` (``B' = 1`` when shared)."""
    m = op.mask
    h, w = op.image_shape
    return m.reshape(-1, *m.shape[-2:]).expand(-1, h, w)


def true_acceleration(op: LinearOperator, batch: int) -> torch.Tensor:
    """``(B,)`` float32 true acceleration of each sample's sampling."""
    if isinstance(op, CartesianMRI):
        m = _full_mask(op)
        acc = m[0].numel() / m.flatten(1).sum(1).to(torch.float32)
        return acc.expand(batch) if acc.numel() == 1 else acc
    if isinstance(op, NonCartesianMRI):
        h, w = op.image_shape
        return torch.full((batch,), h * w / op.out_shape[-1], device=op.device)
    raise InputError(f"cannot compute an MRI acceleration for {type(op).__name__}")


def is_two_d(op: LinearOperator) -> bool:
    """True for 2-D masks and non-Cartesian trajectories, False for 1-D column masks."""
    return not (isinstance(op, CartesianMRI) and op.mask.shape[-2] == 1)


def _box_from_mask(mask2d: torch.Tensor, one_d: bool) -> tuple[slice, slice]:
    """Largest fully sampled box grown greedily around the k-space centre ``(H//2, W//2)``."""
    h, w = mask2d.shape
    r0, r1, c0, c1 = (0, h, w // 2, w // 2 + 1) if one_d else (h // 2, h // 2 + 1, w // 2,
                                                                  w // 2 + 1)
    if not bool(mask2d[r0:r1, c0:c1].all()):
        raise InputError("op.mask does not sample the k-space centre, so it has no calibration "
                         "region; pass meta.calibration or meta.num_low_frequencies")
    grown = True
    while grown:
        grown = False
        for dr0, dr1, dc0, dc1 in ((0, 0, -1, 0), (0, 0, 0, 1), (-1, 0, 0, 0), (0, 1, 0, 0)):
            if one_d and (dr0 or dr1):
                continue
            a, b, c, d = r0 + dr0, r1 + dr1, c0 + dc0, c1 + dc1
            if a >= 0 and b <= h and c >= 0 and d <= w and bool(mask2d[a:b, c:d].all()):
                r0, r1, c0, c1, grown = a, b, c, d, True
    return slice(r0, r1), slice(c0, c1)


def _cartesian_box(op: CartesianMRI, meta: AcquisitionMeta) -> torch.Tensor:
    """bool ``(B', H, W)`` calibration box(es), checked against ``op.mask``."""
    h, w = op.image_shape
    one_d = op.mask.shape[-2] == 1
    full = _full_mask(op)
    boxes = []
    if meta.calibration is not None:
        cal = meta.calibration
        rows, cols = (slice(0, h), cal[0]) if len(cal) == 1 else cal
        box = torch.zeros(h, w, dtype=torch.bool, device=full.device)
        box[rows, cols] = True
        if not bool(box.any()):
            raise InputError(f"meta.calibration {cal} is empty for the image shape {(h, w)}")
        bad = box[None] & ~full
        if bool(bad.any()):
            raise InputError(f"meta.calibration {cal} is not fully sampled by op.mask "
                             f"({int(bad.sum())} unmeasured k-space samples inside the box)")
        return box[None]
    if meta.num_low_frequencies is not None and one_d:
        n = int(meta.num_low_frequencies)
        if n > w:
            raise InputError(f"meta.num_low_frequencies = {n} exceeds the k-space width {w}")
        return _cartesian_box(op, AcquisitionMeta(calibration=(slice((w - n + 1) // 2,
                                                                     (w - n + 1) // 2 + n),)))
    for m in full:
        rows, cols = _box_from_mask(m, one_d)
        box = torch.zeros(h, w, dtype=torch.bool, device=full.device)
        box[rows, cols] = True
        boxes.append(box)
    return torch.stack(boxes)


def _noncartesian_weights(op: NonCartesianMRI, meta: AcquisitionMeta) -> torch.Tensor:
    """``(K,)`` weights selecting (and density compensating) the central trajectory samples."""
    h, w = op.image_shape
    if meta.calibration is not None:
        cal = meta.calibration
        rows, cols = (slice(0, h), cal[0]) if len(cal) == 1 else cal
        fh = (rows.stop - rows.start) / h
        fw = (cols.stop - cols.start) / w
    elif meta.num_low_frequencies is not None:
        fh = fw = int(meta.num_low_frequencies) / w
    else:
        fh = fw = _DEFAULT_CAL_FRACTION
    k = op.traj
    inside = (k[:, 0].abs() <= math.pi * fh) & (k[:, 1].abs() <= math.pi * fw)
    if not bool(inside.any()):
        raise InputError(f"no trajectory sample lies in the calibration box ({fh:.3g} x {fw:.3g}"
                         f" of k-space); enlarge meta.calibration / num_low_frequencies")
    wts = inside.to(torch.float32)
    return wts * op.dcf.to(torch.float32) if op.dcf is not None else wts


def calibration_data(op: LinearOperator, y: torch.Tensor, meta: AcquisitionMeta) -> torch.Tensor:
    """``y`` with everything outside the calibration region set to zero (same shape as ``y``)."""
    if isinstance(op, CartesianMRI):
        box = _cartesian_box(op, meta)
        return y * (box.unsqueeze(-3) if op.coil_maps is not None else box)
    if isinstance(op, NonCartesianMRI):
        return y * _noncartesian_weights(op, meta).to(y.real.dtype)
    raise InputError(f"sensitivity estimation needs an MRI operator, got {type(op).__name__}")


def _fmt(values: torch.Tensor) -> list[float]:
    return [round(float(v), 3) for v in values]


def check_inputs(model: str, y, op, meta: AcquisitionMeta, mri: bool = True) -> int:
    """Validate ``(y, op, meta)`` for an MRI model; returns the batch size ``B``."""
    if not isinstance(op, LinearOperator):
        raise InputError(f"{model}: op must be a discofold LinearOperator, got "
                         f"{type(op).__name__}")
    if mri and not _mri(op):
        raise InputError(f"{model}: needs an MRI operator (CartesianMRI or NonCartesianMRI), "
                         f"got {type(op).__name__}")
    if not isinstance(y, torch.Tensor):
        raise InputError(f"{model}: y must be a torch.Tensor, got {type(y).__name__}")
    trailing = tuple(op.out_shape)
    if y.ndim != len(trailing) + 1 or tuple(y.shape[1:]) != trailing:
        raise ShapeError(f"{model}: y must have shape (B, {', '.join(map(str, trailing))}) to "
                         f"match {op.name}.out_shape {trailing}, got {tuple(y.shape)}")
    batch = int(y.shape[0])
    if op.batch_shape and op.batch_shape[0] not in (1, batch):
        raise ShapeError(f"{model}: y has batch size {batch} but {op.name} holds "
                         f"{op.batch_shape[0]} masks/coil maps")
    if mri and meta.acceleration is not None:
        given = meta.acceleration_tensor(batch, device=op.device).float()
        true = true_acceleration(op, batch).to(given.device)
        rel = ((given - true).abs() / true).max()
        if float(rel) > _ACC_TOLERANCE:
            raise InputError(f"{model}: meta.acceleration {_fmt(given)} disagrees with the "
                             f"sampling of {op.name} (true acceleration {_fmt(true)})")
    return batch
