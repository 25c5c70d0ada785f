"""The unified neural-operator CS-MRI model (``unified``) and its recursive version
(``r_unified``).

Pipeline (one model for every pattern, acceleration and resolution):

1. **k-space neural operator.**  The measured data are put on the Cartesian k-space grid with
   the operator itself: coil images ``A_cᴴ y`` (density compensated when the operator has a
   ``dcf``) through :func:`~discofold.models._ops.grid_operator` (a fully sampled
   :class:`~discofold.operators.CartesianMRI`, i.e. the centred DFT as an operator; no FFT is
   called here).  For Cartesian data this grid is ``y`` itself.  A UDNO on that grid (real and
   imaginary parts as channels, coils folded into the batch, kernel radii in units of the grid
   spacing ``Δk``) predicts the k-space; for Cartesian operators the measured samples are kept
   and only unmeasured ones are filled (``k = M ⊙ y + (1 − M) ⊙ NO(y)``), for non-Cartesian
   operators (no sample lies on the grid) the NO output is a residual correction of the gridded
   data.  ``kspace="fno"`` uses an FNO instead.
2. **Sensitivities** from a small image UDNO on the calibration region (for 2-D masks the fully
   sampled centre box, from ``meta.calibration`` or found in the mask).
3. **Cascades** ``z ← dc(z, −E(UDNO(R(z))))`` on coil images, with the soft DC of E2E-VarNet
   through the coil-wise operator (``dc="gradient"`` / ``"prox"`` also available).  The image
   UDNO's radii are in field-of-view units, so a larger matrix over the same field of view
   refines the stencils without changing weights.
   The output has E2E-VarNet's magnitude, the root-sum-of-squares of the final coil images,
   with the phase of the map-combined image (:func:`~discofold.models._blocks.combine_coils`);
   non-Cartesian data consistency runs on the density-compensated operator
   (:class:`~discofold.models._ops.DensityCompensated`).
   ``state="sense"`` (MoDL, Aggarwal et al. 2019) keeps one image per item instead and runs
   the data consistency through the SENSE operator built with the model's maps
   (:func:`sense_operator`); with ``dc="prox"`` each cascade solves
   ``(AᴴA + μ I) x = Aᴴy + μ (z + r)`` by conjugate gradients, which unfolds the coil aliasing
   as CG-SENSE does, and the output is that image.
4. **Meta.**  ``[1/R, ln R/ln 32, is_2d]`` feeds a shared
   :class:`~discofold.layers.modulation.RecursionModulation` that scales the last decoder
   features of every image UDNO.  ``r_unified`` applies ``stages`` shared cascades
   ``recursions`` times each (R drawn from ``U{1..R_max}`` in training).

Initialisation: every UDNO head is scaled by 1e-2 (:func:`~discofold.models._blocks.small_head`),
the residual branches are not shifted by the image mean and the sensitivity network refines the
calibration-box coil images, so the untrained model reproduces the zero-filled image (with
calibration-box coil maps) and training only has to learn improvements.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ConfigError
from ..layers.modulation import make_modulation
from ..operators import CartesianMRI, NonCartesianMRI
from ._blocks import ComplexNet, reduce_coils, small_head
from ._meta import MRI_CONDITION_SIZE, as_meta
from ._ops import check_inputs, coil_operator, dc_operator, grid_operator, initial_adjoint
from ._registry import register
from .data_consistency import make_dc
from .fno import FNOBackbone
from .sens import SensitivityNet, is_placeholder
from .udno import UDNO
from .unrolled import Stage, StageContext, Unrolled
from .varnet import CoilRegulariser, mri_condition, run_cascades

__all__ = ["KspaceNO", "Unified", "r_unified", "sense_operator", "STATES"]

STATES = ("coil", "sense")
MAP_SOURCES = ("calibration", "operator")


def sense_operator(op, maps: torch.Tensor):
    """The acquisition of ``op`` with the coil maps ``maps`` ``(B, C, H, W)`` (SENSE model
    ``A x = (M F S_c x)_c`` of one image per item), for Cartesian and non-Cartesian MRI."""
    if isinstance(op, CartesianMRI):
        return CartesianMRI(op.mask, coil_maps=maps, image_shape=op.image_shape)
    if isinstance(op, NonCartesianMRI):
        new = copy.copy(op)  # shares the NUFFT and its Toeplitz kernel cache
        new.coil_maps, new.batch_shape = maps, tuple(maps.shape[:-3])
        return new
    raise ConfigError(f"state='sense' needs an MRI operator, got {type(op).__name__}")


def _kspace_weight(h: int, w: int, device, dtype) -> torch.Tensor:
    """``max(|k|, 1) / max|k|`` on the centred ``(h, w)`` grid (``|k|`` in grid spacings)."""
    ky = torch.arange(h, device=device, dtype=dtype) - h // 2
    kx = torch.arange(w, device=device, dtype=dtype) - w // 2
    r = torch.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2).clamp_min(1.0)
    return r / r.max()


class KspaceNO(nn.Module):
    """k-space neural operator that fills unmeasured k-space (module docstring, step 1).

    Parameters
    ----------
    kind : {"udno", "fno", "none"}
        ``"none"`` (ablation) passes the gridded data through unchanged.
    chans, num_pools : int
        UDNO width and depth (``kind="udno"``); ``chans`` is the FNO width otherwise.
    radius : float
        First-level kernel radius in grid spacings ``Δk``.
    modes : int
        FNO modes (``kind="fno"``).
    weighted : bool
        Learn on weighted k-space (Han, Sunwoo and Ye, "k-space deep learning for accelerated
        MRI", 2019): the network sees ``w ⊙ k`` and predicts ``w ⊙ k̂`` with
        ``w = max(|k|, 1) / max|k|`` (``|k|`` in grid spacings from the centre), so that the
        outer k-space, 2–3 orders of magnitude below the centre, is not flattened to zero by
        the per-sample normalisation (:class:`ComplexNet`).
    """

    def __init__(self, kind: str = "udno", chans: int = 8, num_pools: int = 2,
                 radius: float = 2.5, modes: int = 16, weighted: bool = False):
        super().__init__()
        self.weighted = bool(weighted)
        if kind == "udno":
            backbone = UDNO(2, 2, chans, num_pools, radius, domain_length=None)
        elif kind == "fno":
            backbone = FNOBackbone(2, 2, chans, modes, n_layers=max(num_pools, 1) * 2)
        elif kind == "none":  # ablation: the measured data as they are (zero-filled k-space)
            self.net = None
            return
        else:
            from ..errors import ConfigError

            raise ConfigError(f"kspace must be 'udno', 'fno' or 'none', got {kind!r}")
        self.net = ComplexNet(backbone, add_mean=False)

    def forward(self, y: torch.Tensor, op) -> torch.Tensor:
        """Filled per-coil k-space on the grid, shaped like the coil images ``(B, [C,] H, W)``."""
        cop = coil_operator(op)
        cartesian = isinstance(cop, CartesianMRI)
        # Cartesian data already lie on the grid: y is M ⊙ F(S x) sample for sample
        k0 = y if cartesian else grid_operator(op.in_shape, y.device).A(initial_adjoint(cop, y))
        if self.net is None:
            return k0
        h, w = k0.shape[-2:]
        wk = _kspace_weight(h, w, k0.device, k0.real.dtype) if self.weighted else None
        inp = k0 if wk is None else k0 * wk
        pred = self.net(inp.reshape(-1, 1, h, w)).reshape(k0.shape)
        if wk is not None:
            pred = pred / wk
        return torch.where(cop.mask, k0, pred) if cartesian else k0 + pred


class Unified(nn.Module):
    """Unified neural-operator model (module docstring); registered as ``unified``.

    Parameters
    ----------
    cascades : int
        Number of cascades (shared stages when ``recursions > 1``).
    chans, pools, radius : int, int, float
        Image UDNO width, depth and first-level radius (field-of-view units; the image spans
        ``[-1, 1]²``).
    kspace : {"udno", "fno", "none"}
        k-space operator kind (``"none"``: no k-space operator, an ablation);
        ``kspace_chans``, ``kspace_pools``, ``kspace_radius`` (in ``Δk``) configure it.
    sens_chans, sens_pools : int
        Sensitivity UDNO width and depth (``sens_chans = 0``: the calibration-box maps without
        learned refinement, an ablation).
    dc : {"soft", "gradient", "prox"}
    recursions : int
        ``R_max`` (1: per-stage cascades).
    modulate : bool
        Condition the cascades on the meta through a shared modulation (forced on when
        ``recursions > 1``).
    kernel_shape : (int, int)
        DISCO basis shape of every UDNO.
    modulation : {"counters", "features", "both", "none"}
        What the shared modulation sees when it is on (:mod:`discofold.layers.modulation`; the
        feature kinds pool the last decoder features of each image backbone); ``"none"``
        turns it off even for recursive cascades.
    state : {"coil", "sense"}
        ``"coil"`` (E2E-VarNet): the cascades update coil images and data consistency acts
        coil by coil; the coil maps only reduce and expand.  ``"sense"`` (MoDL): the state is
        one image per item and data consistency runs through the SENSE operator built with
        the model's maps (:func:`sense_operator`), so with ``dc="prox"`` every cascade solves
        ``(AᴴA + μ I) x = Aᴴy + μ (z + r)`` by conjugate gradients and unfolds the coil
        aliasing as CG-SENSE does (the coil-wise step cannot: each coil's k-space is only
        kept where it was measured).  Multi-coil only; single-coil data run as ``"coil"``.
    cg_iters : int
        Conjugate-gradient steps of ``dc="prox"``.
    mu : float
        Initial ``μ`` of ``dc="prox"``.
    maps : {"calibration", "operator"}
        Where the coil maps come from: ``"calibration"`` estimates them from the calibration
        region (refined by the sensitivity network when ``sens_chans > 0``); ``"operator"``
        takes the maps the operator carries (those CG-SENSE uses on the same call: estimated
        from the calibration box by ``recon`` and ``eval`` for files, the simulator's for
        simulated data) and estimates them only when it carries none (or the uniform
        placeholders of :func:`~discofold.models.sens.placeholder_maps`).
    """

    def __init__(self, cascades: int = 6, chans: int = 12, pools: int = 3,
                 radius: float = 0.05, kspace: str = "udno", kspace_chans: int = 8,
                 kspace_pools: int = 2, kspace_radius: float = 2.5, sens_chans: int = 4,
                 sens_pools: int = 2, dc: str = "soft", recursions: int = 1,
                 modulate: bool = True, kernel_shape: Sequence[int] = (5, 4),
                 kspace_weighted: bool = False, modulation: str = "counters",
                 state: str = "coil", cg_iters: int = 10, mu: float = 1.0,
                 maps: str = "calibration"):
        super().__init__()
        if state not in STATES:
            raise ConfigError(f"unified state must be one of {STATES}, got {state!r}")
        if maps not in MAP_SOURCES:
            raise ConfigError(f"unified maps must be one of {MAP_SOURCES}, got {maps!r}")
        self.state, self.map_source = state, maps
        dc_args = dict(mu=mu, n_iter=cg_iters) if dc == "prox" else {}
        self.kspace = KspaceNO(kspace, kspace_chans, kspace_pools, kspace_radius,
                               weighted=kspace_weighted)
        sens_net = (ComplexNet(UDNO(2, 2, sens_chans, sens_pools, radius, kernel_shape),
                               add_mean=False) if sens_chans > 0 else None)
        self.sens = SensitivityNet(sens_net, residual=True)
        stages = [Stage(CoilRegulariser(ComplexNet(UDNO(2, 2, chans, pools, radius,
                                                        kernel_shape), add_mean=False)),
                        make_dc(dc, **dc_args))
                  for _ in range(cascades)]
        mod = make_modulation(modulation if modulate or recursions > 1 else "none",
                              MRI_CONDITION_SIZE, chans)
        self.unrolled = Unrolled(stages, r_max=recursions, modulation=mod)
        # start near the data-consistent zero-filled image with calibration-box coil maps
        small_head(self.kspace)
        small_head(self.sens)
        small_head(self.unrolled)

    def set_recursions(self, recursions: int | str | None) -> None:
        """Passes per stage at evaluation, or ``"auto"`` (see :meth:`Unrolled.set_recursions`)."""
        self.unrolled.set_recursions(recursions)

    @property
    def last_passes(self) -> torch.Tensor:
        """Passes per item and stage of the last call ``(B, stages)`` (:class:`Unrolled`)."""
        return self.unrolled.last_passes

    def fill_kspace(self, y: torch.Tensor, op, meta=None) -> torch.Tensor:
        """The k-space operator's output on the grid ``(B, [C,] H, W)`` (step 1 alone)."""
        check_inputs("unified", y, op, as_meta(meta))
        return self.kspace(y, op)

    def coil_maps(self, y: torch.Tensor, op, meta, batch: int) -> torch.Tensor | None:
        """Coil maps ``(B, C, H, W)`` of the cascades (``maps`` in the class docstring)."""
        own = getattr(op, "coil_maps", None)
        if self.map_source != "operator" or own is None:
            return self.sens(y, op, meta)
        own = own.to(y.dtype).expand(batch, *own.shape[-3:])
        blank = is_placeholder(own)  # recon found no calibration region for these items
        if bool(blank.any()):
            own = torch.where(blank[:, None, None, None], self.sens(y, op, meta), own)
        return own

    def forward(self, y: torch.Tensor, op, meta=None) -> torch.Tensor:
        """``y`` ``(B, *op.out_shape)`` → complex image ``(B, H, W)``."""
        meta = as_meta(meta)
        batch = check_inputs("unified", y, op, meta)
        z0 = grid_operator(op.in_shape, device=y.device).A_adjoint(self.kspace(y, op))
        maps = self.coil_maps(y, op, meta, batch)
        cond = mri_condition(y, op, meta, batch) if self.unrolled.modulation else None
        if self.state == "coil" or maps is None:
            return run_cascades(self.unrolled, y, op, meta, maps, z0=z0, condition=cond)
        sop = sense_operator(op, maps)
        dop, aty = dc_operator(sop, y)
        ctx = StageContext(op=dop, aty=aty, maps=None)
        return self.unrolled(reduce_coils(z0, maps), ctx, cond)


_TINY = dict(chans=4, pools=2, radius=0.2, kspace_chans=4, kspace_pools=1, kspace_radius=1.5,
             sens_chans=2, sens_pools=1)
_PAPER = dict(chans=16, pools=4, radius=0.02, kspace_chans=16, kspace_pools=4, sens_chans=8,
              sens_pools=4)

register("unified", tiny=dict(cascades=2, **_TINY), paper=dict(cascades=12, **_PAPER),
         multires=True,
         description="unified NO: k-space UDNO + cascades of soft DC and image UDNO")(Unified)


@register("r_unified", tiny=dict(stages=1, recursions=2, **_TINY),
          paper=dict(stages=4, recursions=3, **_PAPER), recursive=True, multires=True,
          description="recursive unified NO: shared cascades with recursion modulation")
def r_unified(stages: int = 2, recursions: int = 3, chans: int = 12, pools: int = 3,
              radius: float = 0.05, kspace: str = "udno", kspace_chans: int = 8,
              kspace_pools: int = 2, kspace_radius: float = 2.5, sens_chans: int = 4,
              sens_pools: int = 2, dc: str = "soft",
              kernel_shape: Sequence[int] = (5, 4), modulation: str = "counters") -> Unified:
    """Recursive unified model: ``stages`` shared cascades, each run up to ``recursions``
    times (default 2 × 3 against the 6 cascades of ``unified``); ``modulation`` as in
    :class:`Unified`."""
    return Unified(stages, chans, pools, radius, kspace, kspace_chans, kspace_pools,
                   kspace_radius, sens_chans, sens_pools, dc, recursions, True, kernel_shape,
                   modulation=modulation)
