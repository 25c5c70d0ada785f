"""Every registered model, untrained, starts at its data-consistent initial image.

An unrolled network whose branches start as random perturbations begins training several dB
below the image it was given (E2E-VarNet as published: 8 dB below zero-filling at 64×64), and a
short training budget is then spent undoing the initialisation.  Every model here must start
within 0.5 dB of its initial image, at its default size and at its ``tiny`` size:

- MRI: 64×64, 4 coils, random 4× and a 2-D Poisson 4× mask; PSNR of the magnitude against the
  root-sum-of-squares zero-filled image (coil images ``A_cᴴ y``), E2E-VarNet's initial image;
- radar: simulated S0 point scenes, random pulses at 2×; NMSE (after least-squares complex
  scaling, the radar metric) against the density-compensated adjoint ``op.dc_adjoint(y)``;
- block CS: 33×33 phantom blocks at ratio 0.25; PSNR against ``Φᵀy``.
"""

from __future__ import annotations

import pytest
import torch

from discofold.data import SimulatedRadarDataset
from discofold.data.coils import birdcage_maps
from discofold.data.phantoms import random_phantom
from discofold.metrics import psnr
from discofold.metrics._radar import radar_nmse_db
from discofold.models import AcquisitionMeta, build, get_spec, list_models
from discofold.models._ops import coil_operator, initial_adjoint
from discofold.operators import CartesianMRI, PolarRadar
from discofold.sampling import make_mask

from ._problems import blockcs_problem

TOLERANCE_DB = 0.5


def _mri(pattern: str, shape=(64, 64), coils=4, batch=2):
    g = torch.Generator().manual_seed(3)
    x = torch.stack([random_phantom(shape, generator=g) for _ in range(batch)])
    maps = birdcage_maps(shape, coils, generator=g)
    pat = make_mask(pattern, shape, 4.0, generator=g, batch=batch)
    mask = pat.mask[:, None, :] if pat.mask.ndim == 2 else pat.mask
    op = CartesianMRI(mask, coil_maps=maps, image_shape=shape)
    return x, op.A(x), op, AcquisitionMeta.from_pattern(pat)


def _radar(batch=2):
    ds = SimulatedRadarDataset("S0", "points", 8, ["random_pulses"], 2.0, 20.0, seed=1,
                               reference="nufft")
    items = [ds[i] for i in range(batch)]
    geo = ds.geometry
    mask = torch.stack([it[1]["mask"] for it in items])
    op = PolarRadar(geo.angles_rad, geo.frequencies_hz, geo.image_shape, geo.extent_m,
                    mask=mask)
    y = torch.stack([it[0] for it in items])
    target = torch.stack([it[2] for it in items])
    acc = torch.tensor([float(it[3]["acceleration"]) for it in items])
    shape, extent = geo.image_shape, geo.extent_m
    meta = AcquisitionMeta(pattern="random_pulses", acceleration=acc,
                           pixel_size=(extent[0] / shape[0], extent[1] / shape[1]))
    return target, y, op, meta


def _mean_psnr(ref: torch.Tensor, est: torch.Tensor) -> float:
    ref, est = ref.abs(), est.abs()
    return sum(float(psnr(ref[i:i + 1], est[i:i + 1])) for i in range(ref.shape[0])) / len(ref)


def _mean_nmse(ref: torch.Tensor, est: torch.Tensor) -> float:
    return sum(float(radar_nmse_db(ref[i], est[i])) for i in range(ref.shape[0])) / len(ref)


_CACHE: dict = {}


def _problem(family: str, variant: str):
    key = (family, variant)
    if key not in _CACHE:
        if family == "mri":
            x, y, op, meta = _mri(variant)
            init = initial_adjoint(coil_operator(op), y).abs().pow(2).sum(1).sqrt()
        elif family == "radar":
            x, y, op, meta = _radar()
            init = op.dc_adjoint(y)
        else:
            p = blockcs_problem(batch=2, seed=0, ratio=0.25, blocks=(2, 1))
            x, y, op, meta = p.x, p.y, p.op, p.meta
            init = op.A_adjoint(y)
        _CACHE[key] = (x, y, op, meta, init)
    return _CACHE[key]


# the radar models' tiny radii are sized for the 32-pixel test fan: at S0's 64 pixels their
# stencils cover the whole fan (a minute per call), so radar models run at their default size
_CASES = [(name, size, variant) for name in list_models()
          for size in (("default",) if get_spec(name).family == "radar" else ("tiny", "default"))
          for variant in ({"mri": ("random", "poisson_2d")}.get(get_spec(name).family,
                                                                ("default",)))]


@pytest.mark.parametrize("name,size,variant", _CASES,
                         ids=[f"{n}-{s}-{v}" for n, s, v in _CASES])
def test_untrained_model_starts_at_its_initial_image(name, size, variant):
    spec = get_spec(name)
    x, y, op, meta, init = _problem(spec.family, variant)
    kwargs = dict(spec.tiny) if size == "tiny" else {}
    model = build(name, seed=0, **kwargs).eval()
    with torch.no_grad():
        out = model(y, op, meta)
    if spec.family == "radar":
        start, ref = _mean_nmse(x, out), _mean_nmse(x, init)
        assert start <= ref + TOLERANCE_DB, (name, size, start, ref)
    else:
        start, ref = _mean_psnr(x, out), _mean_psnr(x, init)
        assert start >= ref - TOLERANCE_DB, (name, size, start, ref)
