"""Distributed training: sharding of the global batch, and 2 CPU processes under torchrun."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import torch

from discofold.models import build
from discofold.train import load_checkpoint, load_config, train
from discofold.train.data import StepBatchSampler


@pytest.mark.parametrize("world", [2, 3])
def test_ranks_split_each_global_batch_exactly(world):
    """Union over ranks of the step-s batches == the single-process batch of step s."""
    length, batch, total = 30, 6, 13  # several epochs, a remainder dropped each epoch
    single = StepBatchSampler(length, batch, 1, 0, seed=4, start=0, total=total)
    ranks = [StepBatchSampler(length, batch // world, world, r, seed=4, start=0, total=total)
             for r in range(world)]
    assert single.per_epoch == ranks[0].per_epoch == length // batch
    for step, whole in enumerate(single):
        parts = [s.indices(step) for s in ranks]
        assert sorted(k for p in parts for k in p) == sorted(whole)
        assert len(set(whole)) == batch
    # an epoch visits distinct samples; the next epoch is another permutation
    first = [i for s in range(single.per_epoch) for _, i in single.indices(s)]
    second = [i for s in range(single.per_epoch, 2 * single.per_epoch)
              for _, i in single.indices(s)]
    assert len(set(first)) == len(first) and first != second
    # resuming at step k yields the same batches as running from 0
    late = StepBatchSampler(length, batch, 1, 0, seed=4, start=7, total=total)
    assert list(late) == [single.indices(s) for s in range(7, total)]


@pytest.mark.skipif(shutil.which("torchrun") is None and not
                    os.path.exists(os.path.join(os.path.dirname(sys.executable), "torchrun")),
                    reason="torchrun not installed")
def test_two_cpu_processes_match_one_process_with_the_same_global_batch(tmp_path):
    """``torchrun --nproc_per_node 2`` (gloo, batch 2 per rank) vs one process (batch 4).

    About 16 s on one core (process start-up); within the default suite's budget.
    """
    sets = ["train.steps=3", "train.batch_size=4", "train.device=cpu"]
    cfg = load_config("tiny_blockcs", overrides=sets)
    torchrun = shutil.which("torchrun") or os.path.join(os.path.dirname(sys.executable),
                                                        "torchrun")
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "discofold", "train",
           "--config", "tiny_blockcs", "--out", str(tmp_path / "ddp"), "--quiet"]
    for s in sets:
        cmd += ["--set", s]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    one = train(cfg, tmp_path / "one", quiet=True)

    ddp = load_checkpoint(tmp_path / "ddp" / "last.pt")
    ref = load_checkpoint(one.last)["state_dict"]
    init = build(cfg.model.name, seed=cfg.model.seed, **cfg.model.args).state_dict()
    assert ddp["step"] == 3
    diff = torch.cat([(ddp["state_dict"][k] - ref[k]).flatten() for k in ref])
    moved = torch.cat([(ref[k] - init[k]).flatten() for k in ref])
    # same steps up to summation order: far smaller than what training changed
    assert float(diff.abs().max()) < 1e-4
    assert float(diff.norm()) < 0.02 * float(moved.norm())
    logs = (tmp_path / "ddp" / "log.jsonl").read_text()
    assert '"world": 2' in logs
