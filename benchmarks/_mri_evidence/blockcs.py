"""E3 block CS: COAST vs R-COAST and ISTA-Net+ vs recursive ISTA-Net+, full and 3 % data.

Models are trained with :func:`discofold.train.train` from the ``blockcs_e3_*`` configs (the
block-CS pipeline splits the scikit-image pictures by image); the final weights (``last.pt``,
no validation-based selection) are tested on the held-out pictures' patches.  PSNR/SSIM are
per test picture (all its patches), peak 1.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

import torch

from discofold.commands._common import derive_seed
from discofold.data import make_blockcs_split
from discofold.metrics import ssim
from discofold.models import AcquisitionMeta
from discofold.operators import BlockCS
from discofold.operators.blockcs import gaussian_block_matrix
from discofold.train import build_from_checkpoint, load_config, train

from .scales import Scale
from .training import _unrolled, count_params, with_args

__all__ = ["PAIRS", "run_blockcs"]

#: (recursive, baseline) config pairs
PAIRS = (("blockcs_e3_r_coast", "blockcs_e3_coast"),
         ("blockcs_e3_r_ista_net_plus", "blockcs_e3_ista_net_plus"))


def _config(name: str, scale: Scale, fraction: float, n_train: int):
    sets = [f"train.steps={scale.blockcs_steps}", f"train.batch_size={scale.blockcs_batch}",
            f"data.block={scale.blockcs_block}",
            f"data.ratios=[{', '.join(str(r) for r in scale.blockcs_ratios)}]"]
    if fraction < 1:
        sets.append(f"data.train_length={max(scale.blockcs_batch, math.ceil(fraction * n_train))}")
    cfg = load_config(name, overrides=sets)
    return with_args(cfg, scale.overrides.get(cfg.model.name))


def _test_metrics(model, split, ratios, block: int, seed: int) -> list[dict]:
    rows = []
    src = split.test_source
    for k, ratio in enumerate(ratios):
        g = torch.Generator().manual_seed(derive_seed(seed, 99, k))
        op = BlockCS(gaussian_block_matrix(ratio, block, generator=g), block)
        x = split.test
        meta = AcquisitionMeta(pattern="gaussian_block", acceleration=block**2 / op.phi.shape[0])
        t0 = time.perf_counter()
        with torch.no_grad():
            xh = model(op.A(x), op, meta).clamp(0, 1)
        per_image = (time.perf_counter() - t0) / len(set(src.tolist()))
        for img in sorted(set(src.tolist())):
            sel = src == img
            mse = (xh[sel] - x[sel]).pow(2).mean()
            rows.append({"ratio": ratio, "image": int(img),
                         "psnr": float(-10 * torch.log10(mse.clamp_min(1e-20))),
                         "ssim": float(ssim(x[sel], xh[sel], data_range=1.0)),
                         "time_s": per_image})
    return rows


def run_blockcs(scale: Scale, work: Path, log) -> dict:
    """Train and test every block-CS model at full and 3 % data; rows and model facts."""
    base = load_config(PAIRS[0][0])
    split = make_blockcs_split(use_skimage=True, block=scale.blockcs_block,
                               generator=base.data.seed)
    n_train = int(split.train.shape[0])
    rows, facts, sweeps = [], [], []
    for fraction in (1.0, 0.03):
        for name in (n for pair in PAIRS for n in pair):
            cfg = _config(name, scale, fraction, n_train)
            out = work / f"{name}_{int(fraction * 100)}pct"
            shutil.rmtree(out, ignore_errors=True)  # our own scratch run folder
            stamps: list[float] = []
            train(cfg, out, quiet=True,
                  callbacks=[lambda step, loss, s=stamps: s.append(time.perf_counter())])
            # optimiser-step time, setup excluded: first to last step, scaled to all steps
            wall = (stamps[-1] - stamps[0]) * len(stamps) / max(1, len(stamps) - 1)
            model, _, _ = build_from_checkpoint(out / "last.pt")
            if cfg.model.eval_recursions is not None:
                model.set_recursions(cfg.model.eval_recursions)
            res = _test_metrics(model, split, scale.blockcs_ratios, scale.blockcs_block,
                                cfg.data.seed)
            for r in res:
                rows.append({"model": cfg.model.name, "data": f"{fraction:.0%}", **r})
            facts.append({"model": cfg.model.name, "data": f"{fraction:.0%}",
                          "params": count_params(model),
                          "unrolled_params": count_params(_unrolled(model)),
                          "train_s": wall, "steps": cfg.train.steps,
                          "train_patches": min(n_train, cfg.data.train_length)})
            log(f"block CS {cfg.model.name} {fraction:.0%}: {wall:.1f} s")
            if fraction == 1.0 and cfg.model.eval_recursions is not None:
                r_max = cfg.model.eval_recursions
                for r in range(1, 2 * r_max + 1):
                    model.set_recursions(r)
                    res = _test_metrics(model, split, scale.blockcs_ratios,
                                        scale.blockcs_block, cfg.data.seed)
                    sweeps += [{"model": cfg.model.name, "R": r, **x} for x in res]
    return {"rows": rows, "facts": facts, "sweep": sweeps, "n_train": n_train,
            "n_test_images": len(split.test_images), "test_names": list(split.test_images)}
