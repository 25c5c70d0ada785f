"""Benchmark rows of the radar-fan and sphere DISCO layers (issue 4).

Each case is ``case(cfg) -> list[dict]``; a dict has the fields of ``benchmarks/layers.py``'s
``Row`` (name, ours, other, t_ours, t_other, target, passed, note), so ``layers.py`` imports
:data:`EXTRA_CASES` and adds the rows to ``docs/benchmarks/layers.md``.  ``cfg`` needs ``batch``,
``channels``, ``repeats`` and ``device``.  Stand-alone (prints the rows, writes nothing):

    python benchmarks/layers_extra.py [--quick] [--threads N]

Setup: CPU, forward + backward, batch 8, 32 -> 32 channels, medians of round-robin repeats.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from types import SimpleNamespace

import torch

from discofold.layers import DiscoConvFan, DiscoConvPoints, DiscoConvS2
from discofold.layers.disco_fan import fan_quadrature_weights

C_LIGHT = 299_792_458.0


def _timed(fns: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """Median seconds of each closure, round robin, one untimed warm-up round."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for rep in range(repeats + 1):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            if rep:
                times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def _fwd_bwd(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> Callable[[], None]:
    x = x.detach().requires_grad_()

    def run():
        out = fn(x)
        out.backward(torch.ones_like(out))

    return run


def _row(name, ours, other, t_ours, t_other, target="", passed=None, note="") -> dict:
    return dict(name=name, ours=ours, other=other, t_ours=t_ours, t_other=t_other,
                target=target, passed=passed, note=note)  # fmt: skip


def _radar_fan(P: int = 64, F: int = 64):
    """X-band ISAR fan: 9.4-10.6 GHz (k = 2 f / c, cycles/m) over a 0.18 rad aperture."""
    freqs = torch.linspace(9.4e9, 10.6e9, F, dtype=torch.float64)
    radii = 2 * freqs / C_LIGHT
    angles = torch.linspace(-0.09, 0.09, P, dtype=torch.float64)
    return angles, radii


def fan_vs_points(cfg) -> list[dict]:
    """DiscoConvFan (uniform path) vs DiscoConvPoints and the fan's own point path, same fan."""
    B, C, dev = cfg.batch, cfg.channels, cfg.device
    angles, radii = _radar_fan()
    P, F = angles.numel(), radii.numel()
    radius = 3.5 * float(radii[1] - radii[0])  # ~7 x 7 samples
    fan = DiscoConvFan(C, C, (3, 4), radius).to(dev)
    fan_pts = DiscoConvFan(C, C, (3, 4), radius, path="points").to(dev)
    fan_conv = DiscoConvFan(C, C, (3, 4), radius, path="conv1d").to(dev)
    pts = DiscoConvPoints(C, C, (3, 4), radius).to(dev)
    th, rho = angles.repeat_interleave(F), radii.repeat(P)
    xy = torch.stack([rho * torch.cos(th), rho * torch.sin(th)], 1).float().to(dev)
    q = fan_quadrature_weights(angles, radii).reshape(-1).float().to(dev)
    a, r = angles.float().to(dev), radii.float().to(dev)
    x = torch.randn(B, C, P, F, device=dev)
    t0 = time.perf_counter()
    fan(x, a, r)
    build = time.perf_counter() - t0
    fan_pts(x, a, r)
    pts(x.reshape(B, C, -1), xy, q, xy)
    t = _timed({
        "fan": _fwd_bwd(lambda v: fan(v, a, r), x),
        "pts": _fwd_bwd(lambda v: pts(v.reshape(B, C, -1), xy, q, xy), x),
        "fan_pts": _fwd_bwd(lambda v: fan_pts(v, a, r), x),
        "fan_conv": _fwd_bwd(lambda v: fan_conv(v, a, r), x),
        "mix": _fwd_bwd(lambda v: _mix_only(v, fan.weight), x),
    }, cfg.repeats)  # fmt: skip
    path = fan.plan(a, r, x.dtype, x.device)["mode"]
    kib = fan.cached_psi_bytes() / 1024
    note = (f"fan {P}x{F}, radius {radius:.3f} cycles/m; plan build {build:.2f} s; cached psi "
            f"{kib:.1f} KiB (DiscoConvPoints {pts.cached_psi_bytes() / 2**20:.2f} MiB, "
            f"fan point path {fan_pts.cached_psi_bytes() / 2**20:.2f} MiB)")  # fmt: skip
    return [
        _row("DiscoConvFan radar fan", f"DiscoConvFan ({path})", "DiscoConvPoints", t["fan"],
             t["pts"], "<= 1/3", 3 * t["fan"] <= t["pts"], note),  # fmt: skip
        _row("DiscoConvFan radar fan", f"DiscoConvFan ({path})", "DiscoConvFan (points path)",
             t["fan"], t["fan_pts"], "", None, "same local-frame kernel, neighbour search"),
        _row("DiscoConvFan radar fan", f"DiscoConvFan ({path})", "DiscoConvFan (conv1d)",
             t["fan"], t["fan_conv"], "", None, "grouped conv1d along theta"),
        _row("DiscoConvFan radar fan", "channel mixing alone", "DiscoConvPoints", t["mix"],
             t["pts"], "", None,
             f"the K*C*O multiply-adds per sample that every DISCO layer does, whatever its "
             f"stencil (one GEMM, K = {fan.weight.shape[2]}): no fan path can beat DiscoConvPoints "
             f"by more than {t['pts'] / t['mix']:.1f}x on this fan"),
    ]  # fmt: skip


def _mix_only(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The channel mixing of a DISCO layer without any stencil, as one GEMM:
    ``(B, C, P, F)`` -> ``(N B, K O)``."""
    B, C, P, F = x.shape
    xr = x.permute(2, 3, 0, 1).reshape(P * F * B, C)
    return xr @ weight.permute(1, 2, 0).reshape(C, -1)


def fan_full_circle(cfg) -> list[dict]:
    """Full-circle polar grid 128 x 32 (radii 0.1 .. 1): auto path vs the point path."""
    B, C, dev = cfg.batch, cfg.channels, cfg.device
    P, F = 128, 32
    a = (torch.arange(P) * (2 * math.pi / P)).to(dev)
    r = torch.linspace(0.1, 1.0, F).to(dev)
    radius = 0.1
    fan = DiscoConvFan(C, C, (3, 4), radius).to(dev)
    fan_pts = DiscoConvFan(C, C, (3, 4), radius, path="points").to(dev)
    x = torch.randn(B, C, P, F, device=dev)
    t = _timed({"fan": _fwd_bwd(lambda v: fan(v, a, r), x),
                "pts": _fwd_bwd(lambda v: fan_pts(v, a, r), x)}, cfg.repeats)  # fmt: skip
    plan = fan.plan(a, r, x.dtype, x.device)
    path = plan["mode"]
    S = min(P, 2 * plan["h"] + 1)
    note = (f"{S} angular offsets (the stencil wraps near the centre); cached psi "
            f"{fan.cached_psi_bytes() / 1024:.1f} KiB")  # fmt: skip
    return [_row("DiscoConvFan full circle", f"DiscoConvFan ({path})", "DiscoConvFan (points path)",
                 t["fan"], t["pts"], "", None, note)]  # fmt: skip


def s2_vs_torch_harmonics(cfg) -> list[dict]:
    """DiscoConvS2 vs torch-harmonics 0.8.0 DiscreteContinuousConvS2 (CPU torch path)."""
    try:
        import torch_harmonics as th
    except ImportError:
        return [_row("DiscoConvS2", "DiscoConvS2", "-", math.nan, math.nan,
                     note="torch-harmonics absent")]  # fmt: skip
    B, C, dev = cfg.batch, cfg.channels, cfg.device
    rows = []
    for shape_in, shape_out in (((64, 128), (64, 128)), ((64, 128), (32, 64))):
        ours = DiscoConvS2(C, C, shape_in, shape_out, (3, 4)).to(dev)
        ref = th.DiscreteContinuousConvS2(C, C, shape_in, shape_out, (3, 4),
                                          basis_type="piecewise linear").to(dev)  # fmt: skip
        x = torch.randn(B, C, *shape_in, device=dev)
        t = _timed({"ours": _fwd_bwd(ours, x), "ref": _fwd_bwd(ref, x)}, cfg.repeats)
        ref_bytes = sum(b.numel() * b.element_size() for b in (ref.psi_vals, ref.psi_idx))
        note = (f"cached psi {ours.psi_memory_bytes() / 2**20:.2f} MiB incl. float64 copy "
                f"(torch-harmonics {ref_bytes / 2**20:.2f} MiB)")  # fmt: skip
        name = f"DiscoConvS2 {shape_in[0]}x{shape_in[1]}->{shape_out[0]}x{shape_out[1]}"
        rows.append(_row(name, "DiscoConvS2 (FFT)", "torch-harmonics 0.8.0", t["ours"], t["ref"],
                         "<= 1.0", t["ours"] <= t["ref"], note))  # fmt: skip
    return rows


EXTRA_CASES = [fan_vs_points, fan_full_circle, s2_vs_torch_harmonics]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 repeats")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = SimpleNamespace(batch=8, channels=32, repeats=3 if args.quick else 5,
                          device=torch.device("cpu"))  # fmt: skip
    torch.manual_seed(0)
    for fn in EXTRA_CASES:
        for r in fn(cfg):
            ratio = r["t_ours"] / r["t_other"]
            print(f"{r['name']:30s} {r['ours']:24s} vs {r['other']:28s} "
                  f"{1e3 * r['t_ours']:9.1f} ms {1e3 * r['t_other']:9.1f} ms ratio {ratio:6.3f} "
                  f"{r['target']:7s} {r['passed']} {r['note']}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
