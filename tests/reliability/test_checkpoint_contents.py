"""Checkpoint contents: a well-formed checkpoint whose weights are of another kind than the
model's (complex or integer where real floating point is expected) or whose stored config asks
for unbounded work is refused by ``eval`` and ``recon --checkpoint`` before any work starts, with
one line naming the tensor key or the config key."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from discofold.data import write_mri_file
from discofold.train import load_checkpoint

from .._checkpoints import tampered, untrained_checkpoint
from .._cli import cli_lines as _cli

ONE_THREAD = True  # one torch thread per test (tests/conftest.py)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt_contents")
    g = torch.Generator().manual_seed(0)
    k = torch.complex(torch.randn(2, 16, 15, generator=g), torch.randn(2, 16, 15, generator=g))
    return {"root": root, "ckpt": untrained_checkpoint(root / "tiny.pt", "tiny_mri"),
            "input": write_mri_file(root / "in.h5", k[None].numpy())}


def _reconfigured(src: Path, dst: Path, model: dict) -> Path:
    """``src`` with its stored config's ``model`` section updated by ``model`` (``args`` merged)."""
    ckpt = load_checkpoint(src)
    cfg = json.loads(ckpt["config"])
    cfg["model"]["args"].update(model.pop("args", {}))
    cfg["model"].update(model)
    ckpt["config"] = json.dumps(cfg)
    torch.save(ckpt, dst)
    return dst


def _eval(ckpt: Path, tmp_path: Path, setup) -> tuple[int, list[str]]:
    return _cli("eval", "--checkpoint", str(ckpt), "--data", "sim:mri?n=1&size=32", "--out",
                str(tmp_path / "eval"), "--quiet")


def _recon(ckpt: Path, tmp_path: Path, setup) -> tuple[int, list[str]]:
    return _cli("recon", "--checkpoint", str(ckpt), "--input", str(setup["input"]), "--output",
                str(tmp_path / "out.h5"), "--quiet")


def _floating_key(state: dict) -> str:
    return next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)


def test_weights_of_another_dtype_kind_are_refused(fault_log, setup, tmp_path):
    fault_log.describe("untrusted checkpoints: weights of another dtype kind",
                       "one real weight of an untrained tiny_mri checkpoint replaced by a "
                       "complex, an int64, a bool tensor (same shape) or a plain number, given "
                       "to `eval` and `recon --checkpoint`: exit 2, one line naming the key")
    state = load_checkpoint(setup["ckpt"])["state_dict"]
    key = _floating_key(state)
    w = state[key]
    swaps = {"complex": torch.complex(w, w), "int64": w.round().to(torch.int64),
             "bool": w > 0, "number": 1.5}
    for name, value in swaps.items():
        bad = tampered(setup["ckpt"], tmp_path / f"{name}.pt",
                        state_dict={**state, key: value})
        for verb in (_eval, _recon):
            rc, err = verb(bad, tmp_path, setup)
            assert rc == 2 and len(err) == 1, (name, verb.__name__, err)
            assert f"'{key}'" in err[0] and str(bad) in err[0], err
            fault_log.case(f"{verb.__name__.strip('_')}: refused")
    rc, err = _eval(tampered(setup["ckpt"], tmp_path / "five.pt", state_dict=5), tmp_path,
                    setup)
    assert rc == 2 and len(err) == 1 and "not a dictionary" in err[0], err
    fault_log.case("eval: refused")


def test_a_double_precision_checkpoint_still_loads(setup, tmp_path):
    state = load_checkpoint(setup["ckpt"])["state_dict"]
    double = {k: v.double() if v.is_floating_point() else v for k, v in state.items()}
    ok = tampered(setup["ckpt"], tmp_path / "double.pt", state_dict=double)
    rc, err = _recon(ok, tmp_path, setup)
    assert rc == 0, err


def test_a_stored_config_asking_for_unbounded_work_is_refused_quickly(fault_log, setup,
                                                                      tmp_path):
    fault_log.describe("untrusted checkpoints: stored config asking for unbounded work",
                       "an untrained tiny_mri (VarNet) checkpoint whose stored config asks for "
                       "1e7 recursions (no weights of their own: strict loading passes), 1e7 "
                       "eval recursions, 1e6 cascades, 40 pools, 1e5 channels, and a unified "
                       "checkpoint with DISCO radius 40: `eval` and `recon --checkpoint` exit 2 "
                       "with one line naming the key, each in under 10 s")
    cases = [
        (setup["ckpt"], dict(args=dict(recursions=10_000_000)), "model.args.recursions"),
        (setup["ckpt"], dict(eval_recursions=10_000_000), "model.eval_recursions"),
        (setup["ckpt"], dict(args=dict(num_cascades=1_000_000)), "model.args.num_cascades"),
        (setup["ckpt"], dict(args=dict(pools=40)), "model.args.pools"),
        (setup["ckpt"], dict(args=dict(chans=100_000)), "parameters"),
    ]
    unified = untrained_checkpoint(tmp_path / "unified.pt", "mri_unified_cpu",
                                   overrides=["model.args.cascades=1"])
    cases.append((unified, dict(args=dict(radius=40.0)), "radius 40"))
    for i, (src, change, named) in enumerate(cases):
        bad = _reconfigured(src, tmp_path / f"big{i}.pt", dict(change))
        for verb in (_eval, _recon):
            start = time.perf_counter()
            rc, err = verb(bad, tmp_path, setup)
            took = time.perf_counter() - start
            assert rc == 2 and len(err) == 1 and named in err[0], (change, verb.__name__, err)
            assert took < 10, (change, verb.__name__, took)
            fault_log.case(f"{verb.__name__.strip('_')}: refused")
