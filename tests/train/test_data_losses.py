"""Training data adapters (operators built from batches) and losses, against direct formulas."""

from __future__ import annotations

import pytest
import torch

from discofold.metrics import SSIMLoss
from discofold.operators import PolarRadar
from discofold.train import load_config
from discofold.train.data import BatchAdapter, build_datasets, collate_for
from discofold.train.losses import compute_loss, prepare

CPU = torch.device("cpu")


def _batch(cfg, keys):
    train_ds, _ = build_datasets(cfg.data)
    return collate_for(cfg.data)([train_ds[k] for k in keys])


def test_mri_batch_builds_the_operator_with_a_mask_per_sample():
    cfg = load_config("tiny_mri", overrides=["data.shape=[15, 13]", "data.num_coils=3"])
    train_ds, _ = build_datasets(cfg.data)
    items = [train_ds[(0, i)] for i in range(3)]
    y, op, meta, target = BatchAdapter(cfg.data, CPU, 0)(collate_for(cfg.data)(items), 0)
    assert op.mask.shape[0] == 3 and target.shape == (3, 15, 13)
    for i, (yi, params, _, _) in enumerate(items):
        torch.testing.assert_close(y[i], yi, rtol=0, atol=0)
        torch.testing.assert_close(op.mask[i].expand(15, 13), params["mask"].expand(15, 13))
        torch.testing.assert_close(op.coil_maps[i], params["coil_maps"])
    # nothing is measured outside each sample's own mask, and the masks differ
    torch.testing.assert_close(y * op.mask[:, None], y, rtol=0, atol=0)
    assert not torch.equal(op.mask[0].expand(15, 13), op.mask[1].expand(15, 13))
    assert not bool(op.mask.all())


def test_blockcs_measurements_are_phi_times_each_block():
    cfg = load_config("tiny_blockcs")
    batch = _batch(cfg, [(0, i) for i in range(4)])
    adapter = BatchAdapter(cfg.data, CPU, seed=3)
    y, op, meta, x = adapter(batch, step=5)
    b = cfg.data.block
    ref = torch.einsum("mk,nk->nm", op.phi.double(), x.reshape(4, b * b).double())
    torch.testing.assert_close(y.reshape(4, -1).double(), ref, rtol=1e-5, atol=1e-6)
    assert op.ratio == pytest.approx(op.phi.shape[0] / b**2)
    assert min(abs(op.ratio - r) for r in cfg.data.ratios) <= 1.0 / b**2
    again = BatchAdapter(cfg.data, CPU, seed=3)(batch, step=5)[1]
    assert torch.equal(again.phi, op.phi)  # every rank draws the same matrix at a step
    phis = {BatchAdapter(cfg.data, CPU, seed=3)(batch, step=s)[1].phi.shape[0] for s in range(8)}
    assert len(phis) == 2  # random projections visit both ratios


def test_radar_operator_reuses_the_nufft_and_equals_a_fresh_one():
    cfg = load_config("tiny_radar")
    batch = _batch(cfg, [(0, 0), (0, 1)])
    adapter = BatchAdapter(cfg.data, CPU, 0)
    y, op, meta, target = adapter(batch, 0)
    _, params, _, _ = batch
    fresh = PolarRadar(params["angles_rad"][0], params["frequencies_hz"][0],
                       tuple(int(v) for v in params["image_shape"][0]),
                       tuple(float(v) for v in params["extent_m"][0]), mask=params["mask"])
    torch.testing.assert_close(op.A_adjoint(y), fresh.A_adjoint(y))
    x = torch.randn(2, *op.in_shape, dtype=torch.complex64, generator=torch.Generator()
                    .manual_seed(0))
    torch.testing.assert_close(op.A(x), fresh.A(x))
    assert adapter(batch, 1)[1].nufft is op.nufft
    assert meta.acceleration.shape == (2,) and target.is_complex()


def test_losses_against_direct_formulas():
    g = torch.Generator().manual_seed(1)
    target = torch.rand(3, 9, 7, generator=g) * torch.tensor([1.0, 5.0, 0.2])[:, None, None]
    pred = torch.randn(3, 11, 10, dtype=torch.complex64, generator=g)
    crop = pred[:, 1:10, 1:8].abs()  # centre crop of an odd/even size difference
    peak = target.amax(dim=(1, 2))
    scale = torch.maximum(peak, 0.1 * peak.max())[:, None, None]  # floored per batch
    p, t = crop / scale, target / scale
    assert float(compute_loss("l1", pred, target)) == pytest.approx(float((p - t).abs().mean()))
    assert float(compute_loss("mse", pred, target)) == pytest.approx(float(((p - t) ** 2).mean()))
    ssim = SSIMLoss()(p, t, data_range=torch.ones(3))
    assert float(compute_loss("ssim", pred, target)) == pytest.approx(float(ssim), rel=1e-6)
    # invariant to the data scale; zero for a perfect prediction
    for name in ("l1", "mse", "ssim"):
        assert float(compute_loss(name, 7 * pred, 7 * target)) == pytest.approx(
            float(compute_loss(name, pred, target)), rel=1e-5)
        assert float(compute_loss(name, target.to(torch.complex64), target)) == \
            pytest.approx(0.0, abs=1e-6)


def test_complex_l1_sees_the_phase():
    g = torch.Generator().manual_seed(2)
    target = torch.randn(2, 8, 8, dtype=torch.complex64, generator=g)
    flipped = -target  # same magnitude, opposite phase
    assert float(compute_loss("l1", flipped, target)) == pytest.approx(0.0, abs=1e-7)
    scale = target.abs().amax(dim=(1, 2))[:, None, None]
    expected = ((flipped - target).abs() / scale).mean()
    assert float(compute_loss("complex_l1", flipped, target)) == pytest.approx(float(expected))
    p, t = prepare(flipped, target, keep_complex=True)
    assert p.is_complex() and t.is_complex()


def test_training_on_fastmri_format_files_redraws_masks_per_epoch(tmp_path):
    from discofold.cli import main
    from discofold.train import train

    assert main(["simulate", "mri", "--out", str(tmp_path / "d"), "--n", "2", "--size", "32x31",
                 "--slices", "2", "--coils", "2", "--pattern", "equispaced",
                 "--acceleration", "1", "--quiet"]) == 0
    files = sorted(str(p) for p in (tmp_path / "d").glob("*.h5"))
    cfg = load_config("tiny_mri", overrides=[
        "data.kind=mri_files", f"data.train_files=[\"{files[0]}\"]",
        f"data.val_files=[\"{files[1]}\"]", "data.shape=[32, 31]",
        "data.patterns=[[\"random\", 2.0]]", "train.steps=2", "train.val_every=2"])
    train_ds, val_ds = build_datasets(cfg.data)
    assert len(train_ds) == 2 and len(val_ds) == 2
    masks = [train_ds[(e, 0)][1]["mask"] for e in (0, 1, 0)]
    assert torch.equal(masks[0], masks[2]) and not torch.equal(masks[0], masks[1])
    res = train(cfg, tmp_path / "run", quiet=True)
    assert res.step == 2 and res.best_val_loss is not None


def test_empty_target_does_not_blow_up_the_loss():
    """A black block-CS patch (target all zeros) next to normal ones gives a finite loss of the
    same order as the others, and an all-zero batch is compared on its own scale."""
    g = torch.Generator().manual_seed(2)
    target = torch.rand(3, 8, 8, generator=g)
    target[1] = 0.0
    pred = target + 0.01 * torch.randn(3, 8, 8, generator=g)
    for name in ("l1", "mse", "ssim"):
        loss = float(compute_loss(name, pred, target))
        assert loss == loss and loss < 1.0
    zeros = torch.zeros(2, 8, 8)
    assert float(compute_loss("mse", zeros + 0.5, zeros)) == pytest.approx(0.25)



@pytest.mark.parametrize("scene", ["points", "satellite"])
def test_radar_nmse_loss_ranks_no_constant_image_above_zero_filling(scene):
    """The radar training loss must not reward a black (or any constant) image: on simulated S0
    and S1 scenes with 25 % random pulses at 10 dB, the best constant image (the least-squares
    constant, black included) scores worse than the optimally scaled zero-filled image, whose
    scale the model can learn.  ``complex_l1`` on max-normalised images fails this for sparse
    scenes (the reason radar configs train on ``nmse``)."""
    from discofold.data import SimulatedRadarDataset

    for geometry in ("S0", "S1"):
        ds = SimulatedRadarDataset(geometry, scene, 4, ["random_pulses"], 4.0, 10.0, seed=2,
                                   reference="nufft")
        geo = ds.geometry
        for i in range(2):
            y, params, target, _ = ds[i]
            op = PolarRadar(geo.angles_rad, geo.frequencies_hz, geo.image_shape, geo.extent_m,
                            mask=params["mask"])
            zf = op.dc_adjoint(y)
            alpha = (zf.conj() * target).sum() / (zf.abs() ** 2).sum()  # least-squares scale
            best_zf = float(compute_loss("nmse", (alpha * zf)[None], target[None]))
            const = target.mean() * torch.ones_like(target)  # least-squares constant
            for c in (const, torch.zeros_like(target), 0.1 * const):
                assert float(compute_loss("nmse", c[None], target[None])) > best_zf
            assert best_zf < 1.0


def test_nmse_loss_is_the_normalised_squared_error_per_sample():
    g = torch.Generator().manual_seed(0)
    t = torch.randn(3, 5, 7, dtype=torch.complex64, generator=g)
    p = t + 0.3 * torch.randn(3, 5, 7, dtype=torch.complex64, generator=g)
    ref = ((p - t).abs() ** 2).sum((1, 2)) / (t.abs() ** 2).sum((1, 2))
    assert float(compute_loss("nmse", p, t)) == pytest.approx(float(ref.mean()), rel=1e-5)
    assert float(compute_loss("nmse", 2 * t, t)) == pytest.approx(1.0, rel=1e-5)
