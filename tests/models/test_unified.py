"""Resolution- and pattern-agnostic models: UDNO, the unified model and its recursive version."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from discofold.models import AcquisitionMeta, build, get_spec
from discofold.models._ops import calibration_data, coil_operator
from discofold.models.udno import UDNO
from discofold.models.unet import Unet
from discofold.sampling import make_mask

from ._problems import mri_problem, noncartesian_problem

MULTIRES = ["udno", "unified", "r_unified"]


def _smooth(n: int) -> torch.Tensor:
    """Two smooth functions on [-1, 1]² sampled at the centres of an n×n grid, (1, 2, n, n)."""
    u = (torch.arange(n, dtype=torch.float64) + 0.5) / n * 2 - 1
    a, b = torch.meshgrid(u, u, indexing="ij")
    return torch.stack([torch.sin(2 * a + 1) * torch.cos(3 * b),
                        torch.exp(-(a**2 + b**2))])[None].float()


def _discretisation_gaps(net) -> list[float]:
    """‖avgpool(net(f_2n)) − net(f_n)‖ / ‖net(f_n)‖ for n = 32, 64."""
    net.eval()
    with torch.no_grad():
        outs = {n: net(_smooth(n)) for n in (32, 64, 128)}
    return [float((F.avg_pool2d(outs[2 * n], 2) - outs[n]).norm() / outs[n].norm())
            for n in (32, 64)]


def test_udno_weights_define_one_continuous_operator():
    """Refining the grid converges for the UDNO (O(h)) and not for a pixel-stencil U-Net."""
    torch.manual_seed(0)
    udno = _discretisation_gaps(UDNO(2, 2, chans=4, num_pools=2, radius=0.25))
    unet = _discretisation_gaps(Unet(2, 2, chans=4, num_pools=2))
    assert udno[1] < 0.08 and udno[1] < udno[0] / 2
    assert min(unet) > 0.3


def _impulse_responses(net, shapes):
    conv = net.down[0].convs[0]
    out = []
    for h, w in shapes:
        if net.pixel_units:
            net._set_domain((h, w))
        x = torch.zeros(1, 2, h, w)
        x[0, 0, h // 2, w // 2] = 1.0
        with torch.no_grad():
            out.append(conv(x)[0, :, h // 2 - 2: h // 2 + 3, w // 2 - 2: w // 2 + 3])
    return out


def test_udno_pixel_units_keep_the_stencil_in_grid_spacings():
    """``domain_length=None`` (k-space): the kernel radius is in spacings Δk, so the impulse
    response is the same numbers on a 9×7 and a 21×17 grid; in field-of-view units it is not."""
    torch.manual_seed(0)
    a, b = _impulse_responses(UDNO(2, 2, 4, 1, radius=1.5, domain_length=None), [(9, 7),
                                                                                 (21, 17)])
    torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    a, b = _impulse_responses(UDNO(2, 2, 4, 1, radius=0.5), [(9, 7), (21, 17)])
    assert float((a - b).abs().max()) > 0.1 * float(a.abs().max())


@pytest.mark.parametrize("name", MULTIRES)
def test_same_weights_two_resolutions_two_patterns(name):
    model = build(name, seed=0, **get_spec(name).tiny).eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    seen = set()
    for shape in ((15, 13), (24, 20)):
        for pattern, acc in (("equispaced", 3.0), ("poisson_2d", 2.5)):
            pr = mri_problem(shape=shape, pattern=pattern, acceleration=acc, coils=2)
            with torch.no_grad():
                out = model(pr.y, pr.op, pr.meta)
            assert out.shape == pr.x.shape and torch.isfinite(torch.view_as_real(out)).all()
            seen.add((shape, pattern, float(out.abs().mean())))
    assert len(seen) == 4
    for k, v in model.state_dict().items():  # nothing was rebuilt or re-initialised
        assert torch.equal(v, state[k]), k


@pytest.mark.parametrize("name", ["unified", "r_unified"])
@pytest.mark.parametrize("shape,pattern", [((15, 13), "equispaced"), ((24, 20), "poisson_2d")])
def test_kspace_operator_keeps_every_measured_sample(name, shape, pattern):
    """Cartesian: k = M ⊙ y + (1 − M) ⊙ NO(y), so the measured k-space is returned exactly."""
    pr = mri_problem(shape=shape, pattern=pattern, acceleration=3.0, coils=2)
    model = build(name, seed=0, **get_spec(name).tiny).eval()
    with torch.no_grad():
        k = model.fill_kspace(pr.y, pr.op, pr.meta)
    mask = coil_operator(pr.op).mask.expand_as(k)
    assert torch.equal(k[mask], pr.y[mask])
    assert float(k[~mask].abs().max()) > 0  # unmeasured samples were filled


@pytest.mark.parametrize("shape", [(15, 13), (24, 20)])
def test_kspace_weight_is_the_normalised_radius_about_the_centred_dc(shape):
    """w = max(|k|, 1) / max|k| with the DC at (h // 2, w // 2) of the centred FFT grid."""
    from discofold.models.unified import _kspace_weight

    h, w = shape
    wk = _kspace_weight(h, w, None, torch.float64)
    ky, kx = torch.meshgrid(torch.arange(h) - h // 2, torch.arange(w) - w // 2, indexing="ij")
    r = (ky.double() ** 2 + kx.double() ** 2).sqrt().clamp_min(1.0)
    torch.testing.assert_close(wk, r / r.max())
    assert float(wk.max()) == 1.0 and float(wk[h // 2, w // 2]) == float(1.0 / r.max())


def test_weighted_kspace_operator_keeps_data_and_starts_near_zero_filling():
    """The weighted k-space operator still returns every measured sample and, untrained,
    changes the unmeasured k-space by a small fraction of the data (near-identity start)."""
    pr = mri_problem(shape=(24, 20), pattern="poisson_2d", acceleration=3.0, coils=2)
    model = build("unified", seed=0, kspace_weighted=True, **get_spec("unified").tiny).eval()
    with torch.no_grad():
        k = model.fill_kspace(pr.y, pr.op, pr.meta)
    mask = coil_operator(pr.op).mask.expand_as(k)
    assert torch.equal(k[mask], pr.y[mask])
    assert 0 < float(k[~mask].norm()) < 0.05 * float(pr.y.norm())


def test_unified_runs_on_noncartesian_data():
    pr = noncartesian_problem()
    model = build("unified", seed=0, **get_spec("unified").tiny).eval()
    with torch.no_grad():
        out = model(pr.y, pr.op, pr.meta)
    assert out.shape == pr.x.shape and torch.isfinite(torch.view_as_real(out)).all()


@pytest.mark.parametrize("pattern", ["equispaced", "poisson_2d", "gaussian_2d"])
def test_calibration_region_is_the_fully_sampled_centre_box(pattern):
    """Found in the mask: contains the pattern's ACS box and is fully sampled."""
    shape = (31, 27)
    pat = make_mask(pattern, shape, 3.0, generator=1)
    pr = mri_problem(shape=shape, pattern=pattern, acceleration=3.0, coils=2)
    from discofold.operators import CartesianMRI

    mask = pat.mask if pat.mask.ndim == 2 else pat.mask[None]
    op = CartesianMRI(mask, coil_maps=pr.op.coil_maps, image_shape=shape)
    ones = torch.ones(1, 2, *shape, dtype=torch.complex64) * mask
    found = calibration_data(op, ones, AcquisitionMeta())[0, 0].real.bool()
    given = calibration_data(op, ones, AcquisitionMeta.from_pattern(pat))[0, 0].real.bool()
    assert bool((given <= found).all()) and bool((found <= mask.expand(shape)).all())
    rows, cols = found.any(1).nonzero().flatten(), found.any(0).nonzero().flatten()
    assert int(found.sum()) == rows.numel() * cols.numel()  # a box
    assert int(rows.min()) <= shape[0] // 2 <= int(rows.max())


def test_learned_sensitivities_are_normalised():
    pr = mri_problem(shape=(15, 13), pattern="poisson_2d", acceleration=2.5, coils=3)
    model = build("unified", seed=0, **get_spec("unified").tiny).eval()
    with torch.no_grad():
        maps = model.sens(pr.y, pr.op, pr.meta)
    torch.testing.assert_close((maps.abs() ** 2).sum(1), torch.ones(2, 15, 13), atol=1e-5,
                               rtol=0)
