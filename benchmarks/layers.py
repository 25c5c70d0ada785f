"""Layer benchmark: DISCO convolutions against nn.Conv2d and neuraloperator, side by side.

Setup (issue 4): CPU, forward + backward, batch 8, 32 -> 32 channels, medians over repeats;
within one repeat every contender of a row runs once (round robin), so machine noise hits them
alike.  Image size 64 x 64 over the domain [-1, 1)^2 (cell 1/32): large enough for a 31 x 31
stencil to be meaningful, small enough that the direct 31 x 31 convolution stays a few seconds.

    python benchmarks/layers.py [--quick] [--threads N] [--repeats R]   (default: 1 thread)

writes docs/benchmarks/layers.md.

Extending: a benchmark case is a function ``case(cfg: Config) -> list[Row]`` decorated with
:func:`case` (appends it to :data:`CASES`); use :func:`compare` to time contenders side by side.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from discofold.layers import DiscoConv2d, DiscoConvPoints, grid_cell_areas, grid_points

OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "layers.md"


@dataclass
class Config:
    """Shared benchmark settings."""

    batch: int = 8
    channels: int = 32
    size: int = 64
    repeats: int = 5
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))


@dataclass
class Row:
    """One table row: ``ours`` vs ``other`` (median seconds) and the target on their ratio."""

    name: str
    ours: str
    other: str
    t_ours: float
    t_other: float
    target: str = ""
    passed: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.t_ours / self.t_other


CASES: list[Callable[[Config], list[Row]]] = []


def case(fn: Callable[[Config], list[Row]]) -> Callable[[Config], list[Row]]:
    """Register a benchmark case (appended to :data:`CASES`)."""
    CASES.append(fn)
    return fn


def fwd_bwd(module: Callable, *inputs: torch.Tensor) -> Callable[[], None]:
    """A closure running ``module(*inputs)`` forward and backward (grad w.r.t. the first input)."""
    x = inputs[0].detach().requires_grad_()

    def run():
        out = module(x, *inputs[1:])
        out.backward(torch.ones_like(out))

    return run


def compare(fns: dict[str, Callable[[], None]], cfg: Config) -> dict[str, float]:
    """Median wall time of each closure, run round robin (one warm-up round not counted)."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for rep in range(cfg.repeats + 1):
        for name, fn in fns.items():
            if cfg.device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn()
            if cfg.device.type == "cuda":
                torch.cuda.synchronize()
            if rep:
                times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def load_neuralop_disco():
    """neuraloperator's DISCO module, loaded without the package's data loaders, or ``None``."""
    spec = importlib.util.find_spec("neuralop")
    if spec is None or spec.origin is None or importlib.util.find_spec("torch_harmonics") is None:
        return None
    path = Path(spec.origin).parent / "layers" / "discrete_continuous_convolution.py"
    mod_spec = importlib.util.spec_from_file_location("_neuralop_disco", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module


def _grid_layers(cfg: Config, cells: int):
    """Our layer (auto), forced direct, and neuralop's, all with a (2 cells + 1)^2 stencil."""
    h = 2.0 / cfg.size
    C, dev = cfg.channels, cfg.device
    ours = DiscoConv2d(C, C, (3, 4), radius=(cells + 0.5) * h).to(dev)
    direct = DiscoConv2d(C, C, (3, 4), radius=(cells + 0.5) * h, method="direct").to(dev)
    nop = load_neuralop_disco()
    ref = None
    if nop is not None:
        ref = nop.EquidistantDiscreteContinuousConv2d(
            C, C, in_shape=(cfg.size, cfg.size), out_shape=(cfg.size, cfg.size),
            kernel_shape=[3, 4], radius_cutoff=cells * h, domain_length=[2.0, 2.0]).to(dev)
    return ours, direct, ref


@case
def disco2d_small_stencil(cfg: Config) -> list[Row]:
    """7 x 7 stencil: our DiscoConv2d vs nn.Conv2d 7 x 7 and neuralop's equidistant DISCO."""
    x = torch.randn(cfg.batch, cfg.channels, cfg.size, cfg.size, device=cfg.device)
    ours, _, ref = _grid_layers(cfg, 3)
    conv = torch.nn.Conv2d(cfg.channels, cfg.channels, 7, padding=3).to(cfg.device)
    fns = {"ours": fwd_bwd(ours, x), "conv": fwd_bwd(conv, x)}
    if ref is not None:
        fns["nop"] = fwd_bwd(ref, x)
    t = compare(fns, cfg)
    path = "fft" if ours._choose_fft(x.shape, (cfg.channels, cfg.channels, 7, 7)) else "direct"
    rows = [Row("DiscoConv2d 7x7", f"DiscoConv2d ({path})", "nn.Conv2d 7x7", t["ours"], t["conv"],
                "<= 1.25", t["ours"] <= 1.25 * t["conv"])]
    if ref is not None:
        rows.append(Row("DiscoConv2d 7x7", f"DiscoConv2d ({path})", "neuralop Equidistant 7x7",
                        t["ours"], t["nop"], "<= 1.0", t["ours"] <= t["nop"]))
    return rows


@case
def disco2d_large_stencil(cfg: Config) -> list[Row]:
    """31 x 31 stencil: FFT path (auto) vs forced direct conv2d and neuralop's equidistant DISCO."""
    x = torch.randn(cfg.batch, cfg.channels, cfg.size, cfg.size, device=cfg.device)
    ours, direct, ref = _grid_layers(cfg, 15)
    fns = {"ours": fwd_bwd(ours, x), "direct": fwd_bwd(direct, x)}
    if ref is not None:
        fns["nop"] = fwd_bwd(ref, x)
    # the direct 31 x 31 contenders take ~25 s per call on one core: two repeats suffice for a
    # ratio of ~20
    t = compare(fns, Config(cfg.batch, cfg.channels, cfg.size, min(cfg.repeats, 2), cfg.device))
    path = "fft" if ours._choose_fft(x.shape, (cfg.channels, cfg.channels, 31, 31)) else "direct"
    rows = [Row("DiscoConv2d 31x31", f"DiscoConv2d ({path})", "DiscoConv2d direct conv2d",
                t["ours"], t["direct"], "<= 1/3", 3 * t["ours"] <= t["direct"])]
    if ref is not None:
        rows.append(Row("DiscoConv2d 31x31", f"DiscoConv2d ({path})", "neuralop Equidistant 31x31",
                        t["ours"], t["nop"], "<= 1/3", 3 * t["ours"] <= t["nop"]))
    return rows


@case
def disco_points_grid(cfg: Config) -> list[Row]:
    """Point-cloud DISCO on the 64 x 64 grid points vs neuralop's DiscreteContinuousConv2d."""
    n, C = cfg.size, cfg.channels
    p = grid_points((n, n)).float()
    q = grid_cell_areas((n, n)).float()
    radius = 3.5 * 2.0 / n
    ours = DiscoConvPoints(C, C, (3, 4), radius)
    x = torch.randn(cfg.batch, C, n * n)
    t0 = time.perf_counter()
    ours(x, p, q, p)
    build = time.perf_counter() - t0
    fns = {"ours": fwd_bwd(lambda a: ours(a, p, q, p), x)}
    nop = load_neuralop_disco()
    ref = None
    if nop is not None:
        ref = nop.DiscreteContinuousConv2d(C, C, p.T.contiguous(), p.T.contiguous(), [3, 4],
                                           quadrature_weights=q, radius_cutoff=radius)
        fns["nop"] = fwd_bwd(ref, x)
    t = compare(fns, cfg)
    note = f"psi build {build:.2f} s; cached psi {ours.cached_psi_bytes() / 2**20:.2f} MiB"
    if ref is None:
        return [Row("DiscoConvPoints 64x64 pts", "DiscoConvPoints", "-", t["ours"], math.nan,
                    note=note + "; neuralop absent")]
    ref_bytes = sum(b.numel() * b.element_size() for b in (ref.psi_idx, ref.psi_vals))
    note += f" (neuralop {ref_bytes / 2**20:.2f} MiB)"
    return [Row("DiscoConvPoints 64x64 pts", "DiscoConvPoints", "neuralop DiscreteContinuousConv2d",
                t["ours"], t["nop"], "<= 1/2", 2 * t["ours"] <= t["nop"], note)]


@case
def disco2d_psi_memory(cfg: Config) -> list[Row]:
    """Memory of DiscoConv2d's cached stencils at three resolutions (no timing)."""
    layer = DiscoConv2d(cfg.channels, cfg.channels, (3, 4), radius=3.5 / 32)
    for n in (64, 128, 256):
        layer.psi((n, n))
    kib = layer.cached_psi_bytes() / 1024
    return [Row("DiscoConv2d psi cache", "64^2+128^2+256^2", "-", math.nan, math.nan,
                note=f"{kib:.1f} KiB for 3 grids (float32)")]


def _register_extra_cases() -> None:
    """Rows of the radar-fan and sphere layers, defined in ``benchmarks/layers_extra.py``."""
    path = Path(__file__).with_name("layers_extra.py")
    spec = importlib.util.spec_from_file_location("layers_extra", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for fn in module.EXTRA_CASES:
        case(lambda cfg, fn=fn: [Row(**r) for r in fn(cfg)])


_register_extra_cases()


def _markdown(rows: list[Row], cfg: Config, command: str) -> str:
    lines = [
        "# Layer benchmark", "",
        f"Command: `{command}`", "",
        f"Machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {cfg.device}.",
        f"Setup: forward + backward, batch {cfg.batch}, {cfg.channels} -> {cfg.channels} channels, "
        f"{cfg.size} x {cfg.size} grid, median of {cfg.repeats} round-robin repeats.", "",
        "| case | ours | other | ours [ms] | other [ms] | ratio | target | result | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        res = "" if r.passed is None else ("PASS" if r.passed else "MISS")
        fmt = (lambda v: "-" if math.isnan(v) else f"{1e3 * v:.1f}")  # noqa: E731
        ratio = "-" if math.isnan(r.t_ours) or math.isnan(r.t_other) else f"{r.ratio:.3f}"
        lines.append(f"| {r.name} | {r.ours} | {r.other} | {fmt(r.t_ours)} | {fmt(r.t_other)} | "
                     f"{ratio} | {r.target} | {res} | {r.note} |")
    lines += ["", "## Reading the misses", "", *_MISS_NOTES]
    return "\n".join(lines) + "\n"


_MISS_NOTES = [
    "- **DiscoConv2d 7x7 against neuraloperator's Equidistant layer.** Both materialise the "
    "same 7 x 7 kernel from the basis and call the same `conv2d`, so the target is parity. "
    "Our only extra work is input validation: the finiteness check is one reduction "
    "(`discofold._finite.all_finite`; `torch.isfinite(x).all()` cost four passes, about 2 % "
    "of the step, and put the ratio at 1.01-1.02). Ratios within about 1 % of 1.0 are "
    "machine noise.",
    "- **DiscoConvFan against DiscoConvPoints.** Every DISCO layer mixes channels per basis "
    "function (K x C x O multiply-adds per sample); only the stencil part differs between "
    "a fan and a point cloud. The row *channel mixing alone* times that one GEMM without any "
    "stencil: even a free stencil could not make the fan faster than DiscoConvPoints / "
    "mixing. That bound is below the issue's 3x on this fan, so the target is out of reach "
    "for any implementation that keeps DiscoConvPoints this fast (it is already about 4-5x "
    "faster than neuraloperator's point-cloud layer). Tried for the fan: a banded sparse "
    "product (fastest, used by `auto`), a grouped `conv1d` along theta, and FFT along theta "
    "(wins only for long stencils, e.g. the full circle near the centre).",
]


def main(argv: list[str] | None = None) -> list[Row]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 repeats (same sizes)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: stable ratios on a shared machine)")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = Config(repeats=args.repeats or (3 if args.quick else 5))
    torch.manual_seed(0)
    rows: list[Row] = []
    for fn in CASES:
        for r in fn(cfg):
            rows.append(r)
            res = "" if r.passed is None else ("PASS" if r.passed else "MISS")
            print(f"{r.name:28s} {r.ours:26s} vs {r.other:34s} "
                  f"{1e3 * r.t_ours:9.1f} ms {1e3 * r.t_other:9.1f} ms  ratio {r.ratio:6.3f} "
                  f"{r.target:7s} {res} {r.note}", flush=True)
    if not args.no_write:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        cmd = "python benchmarks/layers.py " + " ".join(argv if argv is not None else
                                                        __import__("sys").argv[1:])
        OUT.write_text(_markdown(rows, cfg, cmd.strip()))
        print(f"wrote {OUT}")
    return rows


if __name__ == "__main__":
    main()
