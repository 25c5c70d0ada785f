"""Training at several matrix sizes and coil counts (``data.shapes``, ``data.coil_counts``):
batches never mix groups, each item is seen once per epoch, ranks split each global batch,
resumes are exact, and a run over two sizes trains."""

from __future__ import annotations

import pytest
import torch

from discofold.errors import ConfigError
from discofold.train import load_config, train
from discofold.train.data import StepBatchSampler, build_datasets, group_batches

SETS = ["data.shapes=[[16, 15], [21, 18]]", "data.coil_counts=[2, 3]"]


def _groups(n: int, k: int) -> list[int]:
    g = torch.Generator().manual_seed(3)
    return torch.randint(0, k, (n,), generator=g).tolist()


@pytest.mark.parametrize("world", [1, 2])
def test_grouped_batches_are_homogeneous_and_cover_an_epoch(world):
    length, batch, groups = 53, 4, _groups(53, 3)
    size = batch * world
    counts = torch.bincount(torch.as_tensor(groups))
    per_epoch = int((counts // size).sum())
    ranks = [StepBatchSampler(length, batch, world, r, seed=5, start=0, total=3 * per_epoch,
                              groups=groups) for r in range(world)]
    assert ranks[0].per_epoch == per_epoch
    for epoch in range(3):
        seen = []
        for step in range(epoch * per_epoch, (epoch + 1) * per_epoch):
            whole = [i for s in ranks for e, i in s.indices(step) if e == epoch]
            assert len(whole) == size and len({groups[i] for i in whole}) == 1
            seen += whole
        assert len(set(seen)) == len(seen)  # no item twice in an epoch
        # every group loses fewer than one global batch to the remainder
        for grp, c in enumerate(counts.tolist()):
            assert c - sum(groups[i] == grp for i in seen) < size
    # the order changes between epochs, and a resumed sampler replays the same batches
    s = ranks[0]
    assert [s.indices(k) for k in range(per_epoch)] != \
        [[(0, i) for _, i in s.indices(k)] for k in range(per_epoch, 2 * per_epoch)]
    late = StepBatchSampler(length, batch, world, 0, seed=5, start=7, total=3 * per_epoch,
                            groups=groups)
    assert list(late) == [s.indices(k) for k in range(7, 3 * per_epoch)]


def test_a_group_smaller_than_a_batch_everywhere_is_refused():
    with pytest.raises(ConfigError, match="per batch group"):
        StepBatchSampler(6, 4, 1, 0, seed=0, start=0, total=2, groups=[0, 0, 0, 1, 1, 1])


def test_group_batches_keep_order_within_groups():
    class DS:
        def __len__(self):
            return 7

        def groups(self):
            return [0, 1, 0, 1, 0, 0, 1]

    assert group_batches(DS(), 2) == [[0, 2], [4, 5], [1, 3], [6]]
    assert group_batches(list(range(5)), 2) == [[0, 1], [2, 3], [4]]


def test_simulated_mri_over_sizes_and_coils():
    cfg = load_config("tiny_mri", overrides=SETS)
    tr, va = build_datasets(cfg.data)
    want = {0: ((16, 15), 2), 1: ((16, 15), 3), 2: ((21, 18), 2), 3: ((21, 18), 3)}
    for ds in (tr, va):
        groups = ds.groups()
        assert set(groups) == set(want)
        for i in range(8):
            y, meta, target, _ = ds[i]
            shape, coils = want[groups[i]]
            assert tuple(target.shape) == shape and y.shape[0] == coils
    # one group only: the datasets of a single-shape config, item for item
    one = load_config("tiny_mri", overrides=["data.shapes=[[16, 15]]"])
    plain = load_config("tiny_mri")
    a, b = build_datasets(one.data)[0], build_datasets(plain.data)[0]
    assert a.groups() is None
    assert torch.equal(a[3][0], b[3][0])


@pytest.mark.parametrize("sets, match", [
    (["data.shapes=[[4, 16]]"], "data.shapes"),
    (["data.coil_counts=[0]"], "data.coil_counts"),
    (["data.kind='blockcs'", "data.shapes=[[16, 16]]"], "mri_simulated"),
])
def test_bad_group_config(sets, match):
    with pytest.raises(ConfigError, match=match):
        load_config("tiny_mri", overrides=sets)


def test_training_over_two_sizes(tmp_path):
    cfg = load_config("tiny_mri", overrides=[*SETS, "train.steps=4", "train.val_every=4",
                                             "train.batch_size=2"])
    result = train(cfg, tmp_path / "run", quiet=True)
    assert result.step == 4
    assert (tmp_path / "run" / "best.pt").exists()
