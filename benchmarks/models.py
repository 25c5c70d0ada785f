"""Model benchmark: inference latency, training step time, peak memory and parameters per model.

Setup (issue 6): every registered model at its DEFAULT configuration (``build(name)``) on
- MRI: 128 × 128, 8 birdcage coils, equispaced 1-D mask at 4× (true acceleration in meta);
- radar: the S1 preset (10 GHz, 1 GHz, 5.7°, 128 × 128), random pulses at ratio 0.5;
- block CS: one 99 × 99 image (3 × 3 blocks of 33²), ratio 0.25.
Inference: batch 1, eval mode, no grad, median over repeats after one warm-up.  Training step:
batch 4, forward + L2 loss + backward + Adam step, median after one warm-up.  Peak memory on
CPU is the growth of the process's peak resident set during the training steps, measured in a
fresh subprocess per model (so models do not see each other's peaks); on CUDA it is
``torch.cuda.max_memory_allocated``.  A CUDA column appears when a GPU is available.

    python benchmarks/models.py [--quick] [--models a,b] [--threads N] [--repeats R]

writes docs/benchmarks/models.md (``--out`` to change).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from discofold.data.coils import birdcage_maps
from discofold.data.phantoms import random_phantom
from discofold.models import AcquisitionMeta, build, count_parameters, get_spec, list_models
from discofold.operators import BlockCS, CartesianMRI, PolarRadar, gaussian_block_matrix
from discofold.sampling import make_mask

OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "models.md"


def _images(shape, batch, g, device):
    return torch.stack([random_phantom(shape, generator=g) for _ in range(batch)]).to(device)


def _mri(batch, device):
    g = torch.Generator().manual_seed(0)
    shape = (128, 128)
    pat = make_mask("equispaced", shape, 4, generator=g)
    op = CartesianMRI(pat.mask.to(device), coil_maps=birdcage_maps(shape, 8).to(device),
                      image_shape=shape)
    x = _images(shape, batch, g, device)
    return x, op.A(x), op, AcquisitionMeta.from_pattern(pat)


def _radar(batch, device):
    from discofold.data.radar_sim import preset

    g = torch.Generator().manual_seed(0)
    geo = preset("S1")
    p, f = len(geo.angles_rad), len(geo.frequencies_hz)
    pat = make_mask("random_pulses", (p, f), 2.0, generator=g)
    op = PolarRadar(geo.angles_rad.to(device), geo.frequencies_hz.to(device), geo.image_shape,
                    geo.extent_m, mask=pat.mask.to(device))
    x = _images(geo.image_shape, batch, g, device)
    px = (geo.extent_m[0] / geo.image_shape[0], geo.extent_m[1] / geo.image_shape[1])
    return x, op.A(x), op, AcquisitionMeta(pattern="random_pulses",
                                          acceleration=pat.acceleration, pixel_size=px)


def _blockcs(batch, device):
    g = torch.Generator().manual_seed(0)
    op = BlockCS(gaussian_block_matrix(0.25, 33, generator=g).to(device), 33)
    x = _images((99, 99), batch, g, device).abs().float()
    return x, op.A(x), op, AcquisitionMeta(pattern="gaussian_block", acceleration=4.0)


_PROBLEMS = {"mri": _mri, "radar": _radar, "blockcs": _blockcs}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _median_time(fn, repeats, device) -> float:
    fn()  # warm-up: stencils, Toeplitz kernels, allocator
    times = []
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(name: str, device: torch.device, repeats: int, train_repeats: int) -> dict:
    """Latency (s), training step (s), peak memory (MiB) and parameters of one model."""
    family = get_spec(name).family
    model = build(name, seed=0).to(device)
    x1, y1, op1, meta1 = _PROBLEMS[family](1, device)
    x4, y4, op4, meta4 = _PROBLEMS[family](4, device)
    model.eval()

    def infer():
        with torch.no_grad():
            model(y1, op1, meta1)

    latency = _median_time(infer, repeats, device)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = (model(y4, op4, meta4) - x4).abs().pow(2).mean()
        loss.backward()
        opt.step()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    train = _median_time(step, train_repeats, device)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024  # kB -> MiB
    return dict(name=name, family=family, params=count_parameters(model), latency=latency,
                train=train, peak_mib=peak)


def _in_subprocess(name, args, device) -> dict:
    cmd = [sys.executable, __file__, "--one", name, "--device", device, "--repeats",
           str(args.repeats), "--train-repeats", str(args.train_repeats), "--threads",
           str(args.threads)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"benchmark of {name} on {device} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _fmt_ms(s):
    return "–" if s is None or math.isnan(s) else f"{1e3 * s:,.1f}"


def _table(rows, cuda: bool) -> list[str]:
    head = ("| model | family | parameters | CPU latency b=1 (ms) | CPU train step b=4 (ms) "
            "| CPU peak RSS growth (MiB) |")
    rule = "|---|---|---:|---:|---:|---:|"
    if cuda:
        head += " CUDA latency b=1 (ms) | CUDA train step b=4 (ms) | CUDA peak (MiB) |"
        rule += "---:|---:|---:|"
    lines = [head, rule]
    for r in rows:
        line = (f"| {r['name']} | {r['family']} | {r['params']:,} | {_fmt_ms(r['latency'])} | "
                f"{_fmt_ms(r['train'])} | {r['peak_mib']:,.0f} |")
        if cuda:
            c = r.get("cuda") or {}
            line += (f" {_fmt_ms(c.get('latency'))} | {_fmt_ms(c.get('train'))} | "
                     f"{c.get('peak_mib', float('nan')):,.0f} |")
        lines.append(line)
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (3 / 1)")
    parser.add_argument("--models", default=None, help="comma-separated names (default: all)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--train-repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 7)
    args.train_repeats = args.train_repeats or (1 if args.quick else 3)
    torch.set_num_threads(args.threads)
    if args.one:
        print(json.dumps(measure(args.one, torch.device(args.device), args.repeats,
                                 args.train_repeats)))
        return 0
    names = args.models.split(",") if args.models else list_models()
    cuda = torch.cuda.is_available()
    rows = []
    for name in names:
        try:
            row = _in_subprocess(name, args, "cpu")
            if cuda:
                row["cuda"] = _in_subprocess(name, args, "cuda")
        except RuntimeError as exc:  # keep the other rows; the failure is reported in the table
            print(exc, file=sys.stderr)
            row = dict(name=f"{name} (failed)", family=get_spec(name).family, params=0,
                       latency=float("nan"), train=float("nan"), peak_mib=float("nan"))
        print(f"{name}: {row}", file=sys.stderr)
        rows.append(row)
    cmd = "python benchmarks/models.py " + " ".join(argv if argv is not None else sys.argv[1:])
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if cuda else ", no GPU"
    text = [
        "# Model benchmark", "",
        "Generated by `benchmarks/models.py` (setup in its docstring); do not edit by hand.", "",
        f"Command: `{cmd.strip()}`  ",
        f"Machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, {args.threads} CPU thread(s){gpu}.  ",
        f"Repeats: {args.repeats} (inference), {args.train_repeats} (training), medians after "
        "one warm-up.  Default configurations (`discofold models` lists the paper ones).  "
        "CPU timings on a shared machine are noisy; compare rows measured in one run.", "",
        *_table(rows, cuda), "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(text))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
