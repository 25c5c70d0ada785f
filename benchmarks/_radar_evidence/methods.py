"""Samples, methods (classical and learned), tuning and training of the radar evidence run."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from types import SimpleNamespace

import torch
from torch import nn

from discofold.data import SimulatedRadarDataset
from discofold.data.radar_sim import RadarGeometry
from discofold.models import build
from discofold.models._blocks import ComplexNet
from discofold.models._meta import AcquisitionMeta
from discofold.models.unet import Unet
from discofold.operators import PolarRadar
from discofold.solvers import polar_format
from discofold.solvers.pipeline import recon_radar_frame
from discofold.solvers.radar import radar_geometry
from discofold.train.losses import compute_loss

__all__ = ["Sample", "make_samples", "run_classical", "tune", "PfaUnet", "build_model",
           "train_model", "run_learned", "CLASSICAL", "LEARNED"]

CLASSICAL = ("rd", "pfa", "zf", "omp", "fista", "tv")
LEARNED = ("ista_net_radar", "pfa_unet", "unified_radar", "r_unified_radar")


@dataclass
class Sample:
    """One test or training item: echo ``y`` (P, F), mask, reference image, scene."""

    geo: RadarGeometry
    y: torch.Tensor
    mask: torch.Tensor
    target: torch.Tensor
    scatterers: torch.Tensor
    pattern: str
    acceleration: float
    snr_db: float

    def op(self, mask: bool = True) -> PolarRadar:
        g = self.geo
        return PolarRadar(g.angles_rad, g.frequencies_hz, g.image_shape, g.extent_m,
                          mask=self.mask[None] if mask else None)

    def frame(self) -> SimpleNamespace:
        """Duck-typed :class:`~discofold.data.radar_io.RadarFrame` for ``recon_radar_frame``."""
        g = self.geo
        return SimpleNamespace(echo=self.y, angles_rad=g.angles_rad,
                               frequencies_hz=g.frequencies_hz, mask=self.mask,
                               attrs={"image_shape": list(g.image_shape),
                                      "extent_m": list(g.extent_m)})

    def meta(self) -> AcquisitionMeta:
        g = self.geo
        return AcquisitionMeta(pattern=self.pattern,
                               acceleration=torch.tensor([self.acceleration]),
                               pixel_size=(g.extent_m[0] / g.image_shape[0],
                                           g.extent_m[1] / g.image_shape[1]))


def make_samples(geo: RadarGeometry, scene: str, n: int, pattern, acceleration: float,
                 snr_db: float | None, seed: int, echo_fn=None) -> list[Sample]:
    """``n`` samples from :class:`SimulatedRadarDataset` (seeded by ``seed``); ``echo_fn(scene,
    geo, mask, generator)`` replaces the echo simulation (mismatch experiments)."""
    ds = SimulatedRadarDataset(geo, scene=scene, length=n, pattern=pattern,
                               acceleration=acceleration, snr_db=snr_db, seed=seed,
                               reference="nufft")
    out = []
    for i in range(n):
        y, params, target, meta, sc = ds.sample(i)
        if echo_fn is not None:
            gen = torch.Generator().manual_seed(seed * 1009 + i)
            y = echo_fn(sc, geo, params["mask"], gen)
        out.append(Sample(geo, y.to(torch.complex64), params["mask"],
                          target.to(torch.complex64), sc.scatterers, meta["pattern"],
                          float(meta["acceleration"]),
                          float("nan") if snr_db is None else float(snr_db)))
    return out


# ----------------------------------------------------------------------------- classical
def run_classical(sample: Sample, method: str, params: dict | None = None) -> torch.Tensor:
    """Complex image ``(H, W)`` of a classical method (``discofold recon``'s pipeline)."""
    return recon_radar_frame(sample.frame(), method, dict(params or {}))


def tune(samples: list[Sample], method: str, grid: list[dict], score) -> tuple[dict, list]:
    """Grid search on validation samples: the params with the lowest mean ``score(target,
    image)`` (NMSE dB) and the table ``[(params, mean score)]``."""
    table = []
    for params in grid:
        try:
            vals = [score(s.target, run_classical(s, method, params)) for s in samples]
            table.append((params, sum(vals) / len(vals)))
        except Exception as exc:  # a diverging weight is a legitimate tuning outcome
            table.append((params, math.inf))
            print(f"  tune {method} {params}: {type(exc).__name__}: {exc}", flush=True)
    best = min(table, key=lambda t: t[1])[0]
    return best, table


# ----------------------------------------------------------------------------- learned
class PfaUnet(nn.Module):
    """U-Net post-processing of the polar-format image: ``x̂ = x₀ + U(x₀)``, ``x₀ = PFA(y)``."""

    def __init__(self, chans: int = 32, num_pools: int = 4):
        super().__init__()
        self.net = ComplexNet(Unet(2, 2, chans, num_pools))

    def forward(self, y: torch.Tensor, op, meta=None) -> torch.Tensor:
        with torch.no_grad():
            x0 = polar_format(y, **radar_geometry(op)).to(y.dtype)
        return x0 + self.net(x0[:, None])[:, 0]


def build_model(name: str, args: dict, seed: int = 0) -> nn.Module:
    """A registered model, or the PFA U-Net (not a registered radar model)."""
    if name == "pfa_unet":
        torch.manual_seed(seed)  # the benchmark process owns its global RNG state
        return PfaUnet(**args)
    return build(name, seed=seed, **args)


def _batch(samples: list[Sample], dev: torch.device):
    g = samples[0].geo
    mask = torch.stack([s.mask for s in samples]).to(dev)
    op = PolarRadar(g.angles_rad.to(dev), g.frequencies_hz.to(dev), g.image_shape, g.extent_m,
                    mask=mask)
    meta = AcquisitionMeta(pattern="mixed",
                           acceleration=torch.tensor([s.acceleration for s in samples]),
                           pixel_size=samples[0].meta().pixel_size)
    y = torch.stack([s.y for s in samples]).to(dev)
    return y, op, meta, torch.stack([s.target for s in samples]).to(dev)


def train_device() -> torch.device:
    """CUDA when available (the ``paper`` scale), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def train_model(model: nn.Module, pool: list[Sample], steps: int, batch: int, lr: float,
                seed: int) -> list[tuple[int, float, float]]:
    """Adam + cosine schedule + gradient clipping on the complex-L1 loss of
    ``discofold.train`` (per-sample max normalisation) on :func:`train_device`; the model is
    returned to the CPU (all timings are CPU timings).  Returns ``(step, loss, s)`` rows."""
    dev = train_device()
    model.to(dev)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: 0.5 * (1 + math.cos(math.pi * min(k, steps) / max(steps, 1))))
    model.train()
    rows, t0 = [], time.perf_counter()
    for step in range(1, steps + 1):
        idx = torch.randperm(len(pool), generator=gen)[:batch].tolist()
        y, op, meta, target = _batch([pool[i] for i in idx], dev)
        loss = compute_loss("complex_l1", model(y, op, meta), target)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step == 1 or step % 10 == 0 or step == steps:
            rows.append((step, float(loss.detach()), time.perf_counter() - t0))
    model.to("cpu").eval()
    return rows


@torch.no_grad()
def run_learned(model: nn.Module, sample: Sample) -> torch.Tensor:
    """Complex image ``(H, W)`` of a trained model on one sample (on the sample's grid)."""
    return model(sample.y[None], sample.op(), sample.meta())[0]
